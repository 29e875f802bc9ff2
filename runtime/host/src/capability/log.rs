//! The `airlock:tool/log` import: structured log lines kept with the call's
//! outcome, bounded by the `log_lines` and `log_bytes` limits. Lines past
//! either are counted and dropped; each line's message and fields are cut
//! to 4 KiB first (into a new string: the cut never keeps the whole lifted
//! allocation alive).

use crate::bindings::airlock::tool::log::{Host, Level};
use std::sync::Arc;

use crate::call::{LogLine, Watcher};
use crate::state::HostState;

/// Longest message or field value kept, in bytes.
const MAX_TEXT: usize = 4 << 10;
/// Most fields kept per line.
const MAX_FIELDS: usize = 32;

/// Collected log lines of one call.
#[derive(Default)]
pub(crate) struct LogSink {
    pub(crate) lines: Vec<LogLine>,
    pub(crate) dropped: u64,
    max_lines: usize,
    /// Bytes kept so far, and the most that may be.
    bytes: u64,
    max_bytes: u64,
    /// Hears each kept line as it is logged.
    watcher: Option<Arc<dyn Watcher>>,
}

impl LogSink {
    pub(crate) fn new(max_lines: u32, max_bytes: u64, watcher: Option<Arc<dyn Watcher>>) -> Self {
        Self { lines: Vec::new(), dropped: 0, max_lines: max_lines as usize, bytes: 0, max_bytes, watcher }
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let sink = &mut self.log;
        if sink.lines.len() >= sink.max_lines {
            sink.dropped += 1;
            return;
        }
        // Redacted whole, then cut: a cut never leaves half a secret.
        let redact = |text: &str| match self.redactor.as_deref() {
            Some(redactor) => truncate(&redactor.text(text)),
            None => truncate(text),
        };
        let message = redact(&message);
        let fields: Vec<(String, String)> =
            fields.iter().take(MAX_FIELDS).map(|(k, v)| (redact(k), redact(v))).collect();
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let size = size as u64;
        if sink.bytes.saturating_add(size) > sink.max_bytes {
            sink.dropped += 1;
            return;
        }
        sink.bytes += size;
        let line = LogLine {
            level: match level {
                Level::Trace => "trace",
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            },
            message,
            fields,
        };
        if let Some(watcher) = &sink.watcher {
            watcher.log(&line);
        }
        sink.lines.push(line);
    }
}

/// At most [`MAX_TEXT`] bytes of `s`, cut at a character boundary, in a
/// string of its own size.
fn truncate(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
