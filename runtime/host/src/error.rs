//! Typed errors: loading a tool, calling it, and setting up the runtime.

use std::path::PathBuf;
use std::time::Duration;

/// The runtime could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// wasmtime rejected the engine configuration.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// The artifact cache directory is unusable.
    #[error("artifact cache `{path}`: {reason}")]
    Cache {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// A component was rejected at load time. Each variant says which check
/// failed; nothing of a rejected component ever runs a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read tool `{path}`: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not a separate source, so a
        /// chain printer shows it once).
        error: std::io::Error,
    },
    /// Not a WebAssembly binary at all.
    #[error(
        "not a WebAssembly binary (no `\\0asm` header): a tool must be a component built for wasm32-wasip2"
    )]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component: build the tool with `--target wasm32-wasip2` (or componentize it)"
    )]
    CoreModule,
    /// Some other wasm version or layer.
    #[error("unsupported WebAssembly binary version {0:#010x}: expected a component (layer 1)")]
    UnsupportedVersion(u32),
    /// The bytes are a component header but do not validate or compile.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// The component imports something airlock does not provide.
    #[error("component imports something airlock does not provide: {0}")]
    UnknownImport(String),
    /// The component does not export `describe` and `invoke` with the
    /// `airlock:tool@0.1.0` types.
    #[error("component does not implement the airlock:tool@0.1.0 world (describe + invoke): {0}")]
    WrongWorld(String),
    /// `describe()` trapped or ran out of a limit.
    #[error("describe() failed: {0}")]
    Describe(String),
    /// `describe()` returned something invalid (bad schema JSON, bad guest
    /// path, ...).
    #[error("describe() returned an invalid tool description: {0}")]
    BadDescription(String),
}

/// A limit a call ran into. The call is ended; the runtime keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// Wall-clock deadline.
    #[error("timeout after {}", humantime(*.0))]
    Timeout(Duration),
    /// Linear memory growth past the limit.
    #[error("memory limit {} exceeded", mib(*.0))]
    Memory(u64),
    /// WebAssembly call stack exhausted (runaway recursion).
    #[error("stack limit exceeded (call stack exhausted)")]
    Stack,
    /// The call held more resource handles at once than one call may
    /// (open files, streams, HTTP fields and bodies, ...).
    #[error("host resources limit: more than {0} handles (files, streams, HTTP fields) open at once")]
    Handles(u32),
    /// The call held as many host file descriptors (files, directories,
    /// sockets) as it may and asked for one more.
    #[error("file descriptors limit: more than {0} files, directories and sockets open at once")]
    OpenFiles(u32),
    /// HTTP headers the tool built were larger than one call may hold.
    #[error("host resources limit: HTTP headers over {} KiB in one fields object", .0 / 1024)]
    Fields(usize),
    /// The call built more HTTP header bytes, over all its fields objects,
    /// than `NetLimits::header_bytes`.
    #[error("host resources limit: HTTP headers built over {} in one call", kib(*.0))]
    Headers(u64),
    /// The JSON result was larger than allowed.
    #[error("output limit {} exceeded (result was {} bytes)", mib(*limit), actual)]
    Output {
        /// The limit in bytes.
        limit: u64,
        /// The result's size in bytes.
        actual: u64,
    },
}

/// A call did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// A resource limit ended the call.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The tool trapped (a panic, an invalid operation).
    #[error("tool trapped: {0}")]
    Trap(String),
    /// A grant could not be prepared (for example, a mount's host directory
    /// does not exist).
    #[error("cannot prepare grant: {0}")]
    Grant(String),
    /// The grant set's limits are out of range for this runtime.
    #[error("invalid limits: {0}")]
    Limits(#[from] airlock_policy::LimitsError),
    /// Every instance slot is in use (`RuntimeConfig::max_concurrent_calls`).
    /// Nothing ran; the call may be retried.
    #[error("runtime busy: {0}")]
    Busy(String),
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

fn kib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        mib(bytes)
    } else if bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) { format!("{} MiB", bytes >> 20) } else { format!("{bytes} bytes") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_messages_name_the_limit() {
        assert_eq!(LimitExceeded::Timeout(Duration::from_secs(2)).to_string(), "timeout after 2s");
        assert_eq!(LimitExceeded::Timeout(Duration::from_millis(250)).to_string(), "timeout after 250ms");
        assert_eq!(LimitExceeded::Memory(64 << 20).to_string(), "memory limit 64 MiB exceeded");
        assert_eq!(
            LimitExceeded::Output { limit: 1 << 20, actual: 2_000_000 }.to_string(),
            "output limit 1 MiB exceeded (result was 2000000 bytes)"
        );
    }
}
