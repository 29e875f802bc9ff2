//! Environment grants: the guest sees exactly the granted variables.
//!
//! The host's own environment is never inherited; a variable reaches the
//! guest only if the tool requested it and the operator offered it.

use airlock_policy::EnvGrant;
use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::WasiCliView;

use crate::state::HostState;

/// The `wasi:cli/environment` instance (the version wasmtime-wasi 48
/// defines; guests importing any 0.2.x match it).
const CLI_ENVIRONMENT: &str = "wasi:cli/environment@0.2.12";

/// Sets each granted variable.
pub(crate) fn prepare(wasi: &mut WasiCtxBuilder, env: &[EnvGrant]) {
    for var in env {
        wasi.env(&var.name, &var.value);
    }
}

/// Shadows `get-environment` with one that notes, for the audit, that the
/// guest read its environment ([`crate::usage`]), then answers as
/// wasmtime-wasi does: with exactly the granted variables.
pub(crate) fn add_read_tracking(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::cli::environment::Host as _;

    linker.allow_shadowing(true);
    linker.instance(CLI_ENVIRONMENT)?.func_wrap("get-environment", |mut store, (): ()| {
        let state = store.data_mut();
        state.env_read = true;
        Ok((state.cli().get_environment()?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
