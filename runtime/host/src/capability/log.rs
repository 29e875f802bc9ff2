//! The `airlock:tool/log` import: structured log lines kept with the call's
//! outcome, bounded by the `log_lines` limit. Lines past it are counted and
//! dropped; each line's message and fields are truncated to 4 KiB.

use crate::bindings::airlock::tool::log::{Host, Level};
use crate::call::LogLine;
use crate::state::HostState;

/// Longest message or field value kept, in bytes.
const MAX_TEXT: usize = 4 << 10;
/// Most fields kept per line.
const MAX_FIELDS: usize = 32;

/// Collected log lines of one call.
#[derive(Debug, Default)]
pub(crate) struct LogSink {
    pub(crate) lines: Vec<LogLine>,
    pub(crate) dropped: u64,
    max_lines: usize,
}

impl LogSink {
    pub(crate) fn new(max_lines: u32) -> Self {
        Self { lines: Vec::new(), dropped: 0, max_lines: max_lines as usize }
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let sink = &mut self.log;
        if sink.lines.len() >= sink.max_lines {
            sink.dropped += 1;
            return;
        }
        sink.lines.push(LogLine {
            level: match level {
                Level::Trace => "trace",
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            },
            message: truncate(message),
            fields: fields.into_iter().take(MAX_FIELDS).map(|(k, v)| (truncate(k), truncate(v))).collect(),
        });
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
