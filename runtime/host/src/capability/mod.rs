//! Capabilities: each module turns one kind of grant into sandbox
//! configuration, and reads the same way:
//!
//! - `prepare(builder, grants)` configures the call's `WasiCtxBuilder` (or
//!   host state) from the grants, and nothing else;
//! - anything not granted is left unconfigured, which in WASI means absent.
//!
//! The order is fixed in [`prepare`]: stdio, fs, env, secret, net.
//! Capabilities never read each other's state, with one exception by
//! design: `net` holds the call's secret vault, because attaching a secret
//! to a request is checked and done where the request leaves.

pub mod content;
pub mod env;
pub mod fs;
pub mod log;
pub mod net;
pub mod progress;
pub mod secret;
pub mod stdio;

use std::sync::Arc;

use airlock_policy::GrantSet;
use wasmtime_wasi::WasiCtxBuilder;

use crate::error::CallError;
use crate::redact::Redactor;

/// Everything the call's store needs besides the WASI context.
pub(crate) struct Prepared {
    pub(crate) wasi: WasiCtxBuilder,
    pub(crate) stdout: stdio::CappedOutput,
    pub(crate) stderr: stdio::CappedOutput,
    pub(crate) egress: net::Egress,
    pub(crate) vault: secret::Vault,
    /// The call's one redactor (`None`: no secrets), shared by the log
    /// sink, the response streams and the outcome.
    pub(crate) redactor: Option<Arc<Redactor>>,
}

/// Builds a call's WASI context from its grants. Starts from nothing: no
/// args, no env, no stdin, no preopens, no network, no name lookup.
/// `blocking_file_io` is [`crate::RuntimeConfig::blocking_file_io`].
pub(crate) fn prepare(grants: &GrantSet, blocking_file_io: bool) -> Result<Prepared, CallError> {
    let mut wasi = WasiCtxBuilder::new();
    // Must precede the preopens: each directory captures it when opened.
    wasi.allow_blocking_current_thread(blocking_file_io);
    let (stdout, stderr) = stdio::prepare(&mut wasi, grants.limits().stdio_bytes);
    fs::prepare(&mut wasi, grants.mounts())?;
    env::prepare(&mut wasi, grants.env());
    let vault = secret::prepare(grants.secrets());
    let redactor = Redactor::new(grants.secrets()).map(Arc::new);
    let egress =
        net::prepare(&mut wasi, grants.hosts(), grants.limits().net, vault.clone(), redactor.clone());
    Ok(Prepared { wasi, stdout, stderr, egress, vault, redactor })
}
