//! Environment grants: the guest sees exactly the granted variables.
//!
//! The host's own environment is never inherited; a variable reaches the
//! guest only if the tool requested it and the operator offered it.

use airlock_policy::EnvGrant;
use wasmtime_wasi::WasiCtxBuilder;

/// Sets each granted variable.
pub(crate) fn prepare(wasi: &mut WasiCtxBuilder, env: &[EnvGrant]) {
    for var in env {
        wasi.env(&var.name, &var.value);
    }
}
