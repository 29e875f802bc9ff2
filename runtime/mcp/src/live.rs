//! What a running call sends the MCP client that made it, while it runs:
//! the tool's log lines as `notifications/message` (when the client asked,
//! with `logging/setLevel`) and its progress reports as
//! `notifications/progress` (when the request carries a `progressToken`).
//!
//! Nothing is sent to a client that never asked. Everything goes only to
//! the client whose call produced it (over stdio its session; over HTTP the
//! stream answering that request). Log lines arrive redacted and cut by the
//! sandbox's log limits (1,000 lines, 256 KiB per call by default), progress
//! checked to grow and throttled by the sandbox; here control characters
//! are escaped, and both wait in a small queue: a client that does not keep
//! up loses messages (counted, and said once at the end), and the tool
//! never waits for it.

#![allow(
    deprecated,
    reason = "MCP logging is deprecated by SEP-2577 but still in the 2025-11-25 revision served"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use airlock_host::{LogLine, Progress, Watcher};
use airlock_policy::text::printable;
use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken};
use rmcp::service::Peer;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Messages waiting to be sent per call; more are dropped and counted.
const QUEUE: usize = 64;

/// A client's threshold as stored with its caller: 0 never asked, then
/// MCP's levels from `debug` (1) to `emergency` (8).
pub(crate) fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 1,
        LoggingLevel::Info => 2,
        LoggingLevel::Notice => 3,
        LoggingLevel::Warning => 4,
        LoggingLevel::Error => 5,
        LoggingLevel::Critical => 6,
        LoggingLevel::Alert => 7,
        LoggingLevel::Emergency => 8,
    }
}

/// MCP's level for a tool's (`airlock:tool/log`) level.
fn level_of(line: &LogLine) -> LoggingLevel {
    match line.level {
        "trace" | "debug" => LoggingLevel::Debug,
        "info" => LoggingLevel::Info,
        "warn" => LoggingLevel::Warning,
        _ => LoggingLevel::Error,
    }
}

/// Something to send.
enum Message {
    Log(LogLine),
    Progress(Progress),
}

/// Hears a running call and queues what its client asked for: log lines
/// at or above `threshold` (0: none), progress when there is a token.
pub(crate) struct Forwarder {
    queue: mpsc::Sender<Message>,
    threshold: u8,
    progress: bool,
    dropped: Arc<AtomicU64>,
}

impl Forwarder {
    fn queue(&self, message: Message) {
        if self.queue.try_send(message).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Watcher for Forwarder {
    fn log(&self, line: &LogLine) {
        if self.threshold > 0 && rank(level_of(line)) >= self.threshold {
            self.queue(Message::Log(line.clone()));
        }
    }

    fn progress(&self, report: &Progress) {
        if self.progress {
            self.queue(Message::Progress(report.clone()));
        }
    }
}

/// What a client asked to hear of its call.
pub(crate) struct Wanted {
    /// Its `logging/setLevel` threshold (1..=8; 0: never asked).
    pub(crate) threshold: u8,
    /// The request's `progressToken`.
    pub(crate) progress: Option<ProgressToken>,
}

/// A forwarder for one call of `tool` to `peer`, and the task sending what
/// it queues; `None` when the client wants nothing. The task ends once the
/// forwarder (and every clone of it) is dropped and the queue is sent:
/// await it before answering the call, so all of it arrives before the
/// result.
pub(crate) fn forward(
    peer: Peer<RoleServer>,
    tool: &str,
    wanted: Wanted,
) -> Option<(Arc<Forwarder>, JoinHandle<()>)> {
    if wanted.threshold == 0 && wanted.progress.is_none() {
        return None;
    }
    let (queue, mut messages) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let forwarder = Arc::new(Forwarder {
        queue,
        threshold: wanted.threshold,
        progress: wanted.progress.is_some(),
        dropped: dropped.clone(),
    });
    let logger = tool.to_owned();
    let Wanted { threshold, progress: token } = wanted;
    let task = tokio::spawn(async move {
        while let Some(message) = messages.recv().await {
            let sent = match message {
                Message::Log(line) => {
                    let message = LoggingMessageNotificationParam::new(level_of(&line), data(&line))
                        .with_logger(logger.clone());
                    peer.notify_logging_message(message).await
                }
                Message::Progress(report) => {
                    let Some(token) = &token else { continue };
                    peer.notify_progress(progress(token.clone(), report)).await
                }
            };
            if sent.is_err() {
                return;
            }
        }
        let dropped = dropped.load(Ordering::Relaxed);
        if dropped > 0 && threshold > 0 {
            let message =
                format!("{dropped} message(s) of this call were not sent: the client did not keep up");
            let note =
                LoggingMessageNotificationParam::new(LoggingLevel::Warning, json!({ "message": message }))
                    .with_logger(logger);
            let _ = peer.notify_logging_message(note).await;
        }
    });
    Some((forwarder, task))
}

/// A report as the client receives it (counts up to 2^53 are exact as JSON
/// numbers; a tool's units of work never come near).
#[allow(clippy::cast_precision_loss, reason = "units of work far below 2^53")]
fn progress(token: ProgressToken, report: Progress) -> ProgressNotificationParam {
    let mut param = ProgressNotificationParam::new(token, report.done as f64);
    if let Some(total) = report.total {
        param = param.with_total(total as f64);
    }
    if let Some(message) = report.message {
        param = param.with_message(message);
    }
    param
}

/// A line as the client receives it: `{"message": ..., "fields": {...}}`,
/// control characters and bidirectional overrides escaped.
fn data(line: &LogLine) -> Value {
    let fields: Map<String, Value> = line
        .fields
        .iter()
        .map(|(key, value)| (printable(key).into_owned(), Value::String(printable(value).into_owned())))
        .collect();
    json!({ "message": printable(&line.message), "fields": fields })
}
