//! Progress of a long call, for the caller that asked to hear it (an MCP
//! client that sent a `progressToken` receives `notifications/progress`).
//!
//! `done` must grow from report to report; the host passes on at most one
//! report every 25 ms (always the one where `done` reaches `total`) and
//! ignores the rest, so reporting often costs little and floods no one.

use crate::bindings::airlock::tool::progress;

/// Reports `done` of `total` units of work (`None`: total unknown), with an
/// optional short message (redacted by the host like all output).
pub fn report(done: u64, total: Option<u64>, message: Option<&str>) {
    progress::report(done, total, message);
}
