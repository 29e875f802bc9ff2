//! The command line's identity: the configuration and the token, verified;
//! how policy names a loaded tool.

use airlock_host::LoadedTool;
use std::sync::Arc;

use airlock_gateway::{Caller, Callers};
use airlock_policy::authz::ToolIdentity;
use anyhow::anyhow;

use crate::args::{self, IdentityArgs};
use crate::config::{self, Config};
use crate::exit::{self, Failure};

/// The configuration and the token named by `args`, loaded and read.
pub(crate) fn config_and_token(args: &IdentityArgs) -> Result<(Config, String), Failure> {
    let token = args.token.as_deref().ok_or_else(|| {
        Failure::usage(anyhow!(
            "no identity: pass --token (or set AIRLOCK_TOKEN), or --operator-override to grant exactly the command-line flags"
        ))
    })?;
    let token = args::read_token(token).map_err(Failure::usage)?;
    let config = config::load(args.config.config.as_deref())?;
    Ok((config, token))
}

/// Verifies `token`, consuming it (through the gateway's [`Callers`]: the
/// one place a token is verified).
pub(crate) fn verify(config: &Config, token: &str) -> Result<Arc<Caller>, Failure> {
    Callers::new(config.verifier.clone()).caller(token).map_err(|e| Failure::new(exit::for_token(&e), e))
}

/// How policy sees a loaded tool, named on the command line by `named`:
/// a pinned registry reference is its `source`, anything else is a `file`
/// (the caller adds the `signer`, see `registry::signer_of`).
pub(crate) fn tool_identity(tool: &LoadedTool, named: &std::path::Path) -> ToolIdentity {
    let mut identity = airlock_gateway::identity_of(tool);
    let text = named.to_string_lossy();
    if text.starts_with(airlock_registry::SCHEME) {
        identity.source = text.into_owned();
    }
    identity
}
