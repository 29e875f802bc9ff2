//! The `airlock:tool/progress` import: reports of how far a call has come,
//! handed to the call's [`Watcher`] (the caller asked to hear them), never
//! kept. A report must grow `done`, and one comes through at most every
//! [`MIN_INTERVAL`] (the final one, `done == total`, always does): a tool
//! reporting in a tight loop cannot flood the caller. The message is
//! redacted for the call's secrets, cut to 1 KiB and escaped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_policy::text::printable;

use crate::bindings::airlock::tool::progress::Host;
use crate::call::{Progress, Watcher};
use crate::state::HostState;

/// Least time between two reports passed on.
pub const MIN_INTERVAL: Duration = Duration::from_millis(25);
/// Longest message passed on, in bytes.
const MAX_MESSAGE: usize = 1 << 10;

/// The call's watcher, and the last report passed on.
#[derive(Default)]
pub(crate) struct ProgressSink {
    watcher: Option<Arc<dyn Watcher>>,
    last: Option<(u64, Instant)>,
}

impl ProgressSink {
    pub(crate) fn new(watcher: Option<Arc<dyn Watcher>>) -> Self {
        Self { watcher, last: None }
    }
}

impl Host for HostState {
    fn report(&mut self, done: u64, total: Option<u64>, message: Option<String>) {
        let sink = &mut self.progress;
        let Some(watcher) = &sink.watcher else { return };
        let now = Instant::now();
        let final_report = total == Some(done);
        match sink.last {
            Some((last, _)) if done <= last => return,
            Some((_, at)) if !final_report && now.duration_since(at) < MIN_INTERVAL => return,
            _ => {}
        }
        sink.last = Some((done, now));
        let message = message.map(|text| {
            let text = match self.redactor.as_deref() {
                Some(redactor) => redactor.text(&text),
                None => text,
            };
            let mut end = text.len().min(MAX_MESSAGE);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            printable(&text[..end]).into_owned()
        });
        watcher.progress(&Progress { done, total, message });
    }
}
