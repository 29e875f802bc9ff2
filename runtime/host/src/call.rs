//! One call: fresh store, fresh instance, grants applied, limits enforced.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_policy::GrantSet;
use bytes::Bytes;
use serde::Serialize;
use wasmtime::component::{ResourceTable, ResourceTableError};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::{Tool, ToolPre, wit};
use crate::capability::content::{ContentBlock, ContentSink, ResourceBody};
use crate::capability::net::NetworkReport;
use crate::capability::net::headers::{HeaderBudget, HeadersExhausted};
use crate::capability::{self, log::LogSink, progress::ProgressSink};
use crate::descriptors::{Descriptors, DescriptorsExhausted};
use crate::engine::EPOCH_TICK;
use crate::error::{CallError, LimitExceeded};
use crate::limiter::MemoryLimiter;
use crate::redact::Redactor;
use crate::state::HostState;
use crate::usage::{MountTracker, Usage};

/// Why a tool said no. Mirrors the WIT `tool-error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ToolError {
    /// The input was not valid for the tool.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The tool tried to use something it was not granted.
    #[error("denied: {0}")]
    Denied(String),
    /// Anything else.
    #[error("failed: {0}")]
    Failed(String),
}

/// A completed call: the tool's answer plus what it printed and logged.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The JSON output, or the tool's own error.
    pub result: Result<String, ToolError>,
    /// Text, images, audio and resources the tool added
    /// (`airlock:tool/content`), in order, redacted.
    pub content: Vec<ContentBlock>,
    /// What the tool wrote to stdout (capped).
    pub stdout: Captured,
    /// What the tool wrote to stderr (capped).
    pub stderr: Captured,
    /// Structured log lines (capped).
    pub logs: Vec<LogLine>,
    /// Log lines dropped past the cap.
    pub logs_dropped: u64,
    /// Requests sent and refused, bytes moved.
    pub network: NetworkReport,
    /// Secret values (in any encoding redaction knows) replaced in the
    /// result, errors, stdout, stderr, logs and refusals, counted per
    /// secret name. Every granted secret has an entry, zero when nothing
    /// was found.
    pub redactions: BTreeMap<String, u64>,
    /// What the call used of its grants (mounts read or written,
    /// destinations contacted, secrets attached or revealed, environment
    /// variables read).
    pub usage: Usage,
    /// Wall-clock time of the call, including instantiation.
    pub elapsed: Duration,
}

/// Captured output of one stream.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// The first bytes written, up to the cap.
    pub bytes: Bytes,
    /// Bytes written past the cap and dropped.
    pub dropped: u64,
}

impl Captured {
    /// True when some output was dropped.
    pub fn truncated(&self) -> bool {
        self.dropped > 0
    }
}

/// One structured log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The message.
    pub message: String,
    /// Key/value fields.
    pub fields: Vec<(String, String)>,
}

/// Watches a running call: hears each log line the call keeps, as the tool
/// logs it (already redacted for the call's secrets and cut to size; lines
/// past the call's log limits are neither kept nor heard). Called on the
/// thread running the tool, inside a host call: it must return at once
/// (hand the line to a bounded queue, never wait for a client), or the
/// tool waits with it.
pub trait Watcher: Send + Sync {
    /// One kept log line.
    fn log(&self, line: &LogLine);

    /// A progress report the tool made (`airlock:tool/progress`), already
    /// checked to grow and throttled.
    fn progress(&self, report: &Progress) {
        let _ = report;
    }
}

/// How far a call has come, as its tool reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Units of work done; grows from report to report.
    pub done: u64,
    /// Units of work in all, when the tool knows.
    pub total: Option<u64>,
    /// A short message: redacted, escaped, at most 1 KiB.
    pub message: Option<String>,
}

/// Extra time the wall-clock backstop allows beyond the deadline. The epoch
/// callback normally interrupts the guest first; the backstop catches a
/// guest blocked inside a host call.
const BACKSTOP_GRACE: Duration = Duration::from_millis(50);

/// Runtime-wide settings every call needs (from [`crate::RuntimeConfig`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallSettings {
    pub(crate) max_memory_bytes: u64,
    pub(crate) blocking_file_io: bool,
}

/// What a call produced besides its value, whether or not it completed.
#[derive(Default)]
pub(crate) struct Leftovers {
    pub(crate) stdout: Captured,
    pub(crate) stderr: Captured,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) logs_dropped: u64,
    pub(crate) network: NetworkReport,
    /// The content blocks the call added, not yet redacted.
    pub(crate) content: ContentSink,
    /// Whether the memory limit refused a growth during the call.
    pub(crate) memory_refused: bool,
    /// The call's redactor, with the hits it counted in log lines and
    /// responses.
    pub(crate) redactor: Option<Arc<Redactor>>,
    /// What the call used of its grants.
    pub(crate) usage: Usage,
}

/// Runs `body` against a fresh instance built with `grants`.
pub(crate) async fn with_fresh_instance<R>(
    pre: &ToolPre<HostState>,
    grants: &GrantSet,
    settings: CallSettings,
    watcher: Option<Arc<dyn Watcher>>,
    body: impl AsyncFnOnce(&Tool, &mut Store<HostState>) -> wasmtime::Result<R>,
) -> (Result<R, CallError>, Leftovers) {
    let limits = *grants.limits();
    if let Err(e) = limits.validate(settings.max_memory_bytes) {
        return (Err(e.into()), Leftovers::default());
    }
    let prepared = match capability::prepare(grants, settings.blocking_file_io) {
        Ok(p) => p,
        Err(e) => return (Err(e), Leftovers::default()),
    };
    let capability::Prepared { mut wasi, stdout, stderr, egress, vault, redactor } = prepared;
    let state = HostState {
        wasi: wasi.build(),
        table: handle_table(limits.handles),
        limiter: MemoryLimiter::new(limits.memory_bytes),
        descriptors: Descriptors::new(limits.open_files),
        headers: HeaderBudget::new(limits.net.header_bytes),
        log: LogSink::new(limits.log_lines, limits.log_bytes, watcher.clone()),
        progress: ProgressSink::new(watcher),
        content: ContentSink::new(limits.output_bytes),
        http: http_ctx(),
        egress,
        vault,
        redactor,
        mounts: MountTracker::new(grants.mounts().iter().map(|m| m.guest.as_str().to_owned()).collect()),
        env_read: false,
    };
    let mut store = Store::new(pre.engine(), state);
    store.limiter(|s| &mut s.limiter);
    let deadline = Instant::now() + limits.timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline { Ok(UpdateDeadline::Interrupt) } else { Ok(UpdateDeadline::Yield(1)) }
    });

    let run = async {
        let tool = pre.instantiate_async(&mut store).await?;
        body(&tool, &mut store).await
    };
    let outcome = tokio::time::timeout(limits.timeout + EPOCH_TICK + BACKSTOP_GRACE, run).await;
    let result = match outcome {
        Err(_elapsed) => Err(LimitExceeded::Timeout(limits.timeout).into()),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(classify(&error, store.data().limiter.refused, &limits)),
    };
    let log = std::mem::take(&mut store.data_mut().log);
    let content = std::mem::take(&mut store.data_mut().content);
    let memory_refused = store.data().limiter.refused;
    let redactor = store.data_mut().redactor.take();
    let network = store.data().egress.report();
    let usage = Usage {
        mounts: store.data().mounts.used(),
        destinations: network.contacted.clone(),
        secrets: store.data().vault.used(),
        env: match store.data().env_read {
            true => grants.env().iter().map(|var| var.name.clone()).collect(),
            false => Default::default(),
        },
    };
    drop(store);
    let leftovers = Leftovers {
        stdout: stdout.take(),
        stderr: stderr.take(),
        logs: log.lines,
        logs_dropped: log.dropped,
        network,
        content,
        memory_refused,
        redactor,
        usage,
    };
    (result, leftovers)
}

/// Most bytes (in memory) of one `fields` resource a guest builds:
/// wasmtime-wasi-http's default is 128 KiB; with the default 4,096 handles
/// (`Limits::handles`) that let one call hold ~512 MiB of headers. 32 KiB
/// is four times what proxies allow on the wire, and bounds it at 128 MiB.
pub(crate) const MAX_FIELDS_BYTES: usize = 32 << 10;

fn http_ctx() -> WasiHttpCtx {
    let mut ctx = WasiHttpCtx::new();
    ctx.set_field_size_limit(MAX_FIELDS_BYTES);
    ctx
}

/// The call's resource table, holding at most `handles` at once.
fn handle_table(handles: u32) -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(handles as usize);
    table
}

/// Names the limit a failed call ran into, or reports the trap.
fn classify(error: &wasmtime::Error, memory_refused: bool, limits: &airlock_policy::Limits) -> CallError {
    if let Some(busy) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        return CallError::Busy(busy.to_string());
    }
    let table_full = error
        .chain()
        .any(|cause| matches!(cause.downcast_ref::<ResourceTableError>(), Some(ResourceTableError::Full)));
    if table_full {
        return LimitExceeded::Handles(limits.handles).into();
    }
    if let Some(DescriptorsExhausted(limit)) = error.chain().find_map(|cause| cause.downcast_ref()) {
        return LimitExceeded::OpenFiles(*limit).into();
    }
    if let Some(HeadersExhausted(limit)) = error.chain().find_map(|cause| cause.downcast_ref()) {
        return LimitExceeded::Headers(*limit).into();
    }
    let fields_full = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<wasmtime_wasi_http::FieldMapError>(),
            Some(
                wasmtime_wasi_http::FieldMapError::TotalSizeTooBig
                    | wasmtime_wasi_http::FieldMapError::TooManyFields
            )
        )
    });
    if fields_full {
        return LimitExceeded::Fields(MAX_FIELDS_BYTES).into();
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => LimitExceeded::Timeout(limits.timeout).into(),
        Some(Trap::StackOverflow) => LimitExceeded::Stack.into(),
        _ if memory_refused => LimitExceeded::Memory(limits.memory_bytes).into(),
        Some(trap) => CallError::Trap(trap.to_string()),
        None => CallError::Trap(format!("{error:#}")),
    }
}

/// Calls `invoke(input)` in a fresh instance. Everything it returns is
/// redacted for the call's secrets.
pub(crate) async fn invoke(
    pre: &ToolPre<HostState>,
    grants: &GrantSet,
    settings: CallSettings,
    input: &str,
    watcher: Option<Arc<dyn Watcher>>,
) -> (Result<CallOutcome, CallError>, Usage) {
    let started = Instant::now();
    let (result, leftovers) = with_fresh_instance(pre, grants, settings, watcher, async |tool, store| {
        tool.call_invoke(store, input).await
    })
    .await;
    // A call the runtime ended (a limit, a trap) used what it used too.
    let usage = leftovers.usage.clone();
    (outcome(grants, started, result, leftovers), usage)
}

/// The outcome of an `invoke` that ran: redacted, checked against the
/// output limit, its error classified.
fn outcome(
    grants: &GrantSet,
    started: Instant,
    result: Result<Result<String, wit::ToolError>, CallError>,
    leftovers: Leftovers,
) -> Result<CallOutcome, CallError> {
    let Leftovers {
        mut stdout,
        mut stderr,
        logs,
        logs_dropped,
        mut network,
        content,
        memory_refused,
        redactor,
        usage,
    } = leftovers;
    let limit = grants.limits().output_bytes;
    if let Some(actual) = content.exceeded {
        return Err(LimitExceeded::Output { limit, actual }.into());
    }
    // Everything is redacted before it is cut: captures that were capped
    // also lose a partial value at their end.
    if let Some(r) = redactor.as_deref() {
        for captured in [&mut stdout, &mut stderr] {
            let redacted =
                if captured.truncated() { r.bytes_cut(&captured.bytes) } else { r.bytes(&captured.bytes) };
            captured.bytes = Bytes::from(redacted);
        }
        for refusal in &mut network.refusals {
            *refusal = r.text(refusal);
        }
    }
    let scrub = |text: String| match redactor.as_deref() {
        Some(r) => r.text(&text),
        None => text,
    };
    let result = match result {
        Err(CallError::Trap(trap)) => {
            return Err(CallError::Trap(with_stderr_tail(scrub(trap), &stderr)));
        }
        Err(other) => return Err(other),
        Ok(value) => value,
    };
    let result = match result {
        Ok(output) => {
            let actual = (output.len() as u64).saturating_add(content.bytes);
            if actual > limit {
                return Err(LimitExceeded::Output { limit, actual }.into());
            }
            // The result is JSON: redacted after decoding too.
            Ok(match redactor.as_deref() {
                Some(r) => r.json(&output),
                None => output,
            })
        }
        // A tool that failed after its memory was refused failed for want
        // of memory, whatever its runtime called it (Python raises
        // `MemoryError`; Rust aborts, which is a trap, classified above).
        Err(wit::ToolError::Failed(_)) if memory_refused => {
            return Err(LimitExceeded::Memory(grants.limits().memory_bytes).into());
        }
        Err(wit::ToolError::InvalidInput(m)) => Err(ToolError::InvalidInput(scrub(m))),
        Err(wit::ToolError::Denied(m)) => Err(ToolError::Denied(scrub(m))),
        Err(wit::ToolError::Failed(m)) => Err(ToolError::Failed(scrub(m))),
    };
    let content = match redactor.as_deref() {
        Some(r) => content.blocks.into_iter().map(|block| redacted(block, r)).collect(),
        None => content.blocks,
    };
    let redactions = redactor.map(|r| r.counts()).unwrap_or_default();
    Ok(CallOutcome {
        result,
        content,
        stdout,
        stderr,
        logs,
        logs_dropped,
        network,
        redactions,
        usage,
        elapsed: started.elapsed(),
    })
}

/// Appends the end of the guest's stderr (where a Rust panic message goes)
/// to a trap message.
pub(crate) fn with_stderr_tail(trap: String, stderr: &Captured) -> String {
    const TAIL: usize = 512;
    let text = String::from_utf8_lossy(&stderr.bytes);
    let text = text.trim_end();
    if text.is_empty() {
        return trap;
    }
    let mut start = text.len().saturating_sub(TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("{trap}; tool stderr: {}", &text[start..])
}

/// `block` with every secret of the call masked in its text and bytes.
fn redacted(block: ContentBlock, r: &Redactor) -> ContentBlock {
    let text = |text: String| r.text(&text);
    let opt = |text: Option<String>| text.map(|t| r.text(&t));
    match block {
        ContentBlock::Text(t) => ContentBlock::Text(text(t)),
        ContentBlock::Image { mime_type, data } => ContentBlock::Image { mime_type, data: r.bytes(&data) },
        ContentBlock::Audio { mime_type, data } => ContentBlock::Audio { mime_type, data: r.bytes(&data) },
        ContentBlock::ResourceLink { uri, name, mime_type, description } => ContentBlock::ResourceLink {
            uri: text(uri),
            name: text(name),
            mime_type: opt(mime_type),
            description: opt(description),
        },
        ContentBlock::Resource { uri, mime_type, body } => ContentBlock::Resource {
            uri: text(uri),
            mime_type: opt(mime_type),
            body: match body {
                ResourceBody::Text(t) => ResourceBody::Text(text(t)),
                ResourceBody::Blob(data) => ResourceBody::Blob(r.bytes(&data)),
            },
        },
    }
}
