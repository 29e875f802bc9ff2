//! From a token to a grant set: verify, decide, bind.

use airlock_host::LoadedTool;
use airlock_identity::Verified;
use airlock_policy::authz::{Decision, ToolIdentity};
use airlock_policy::{CapabilityRequest, GrantSet, NetGrant, Offer, Principal};
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

/// Verifies `token`, consuming it.
pub(crate) fn verify(config: &Config, token: &str) -> Result<Verified, Failure> {
    config.verifier.verify(token).map_err(|e| Failure::new(exit::for_token(&e), e))
}

/// How policy sees a loaded tool.
pub(crate) fn tool_identity(tool: &LoadedTool) -> ToolIdentity {
    ToolIdentity {
        name: tool.info().name.clone(),
        version: tool.info().version.clone(),
        digest: tool.digest().to_string(),
    }
}

/// What policy decides for a call: the tool's request plus the offered
/// destinations (each must lie inside a requested one).
pub(crate) fn request(tool: &LoadedTool, offered: &[NetGrant]) -> Result<CapabilityRequest, Failure> {
    tool.info().capabilities.with_offered_hosts(&tool.info().name, offered).map_err(Failure::usage)
}

/// Decides every capability in `request` for `principal` calling `tool`.
pub(crate) fn decide(
    config: &Config,
    principal: &Principal,
    tool: &LoadedTool,
    request: &CapabilityRequest,
) -> Result<Decision, Failure> {
    config.authorizer.decide(principal, &tool_identity(tool), request).map_err(Failure::internal)
}

/// The grants for a call, or a denial (exit 3) with the explanation when
/// the principal may not invoke the tool at all.
pub(crate) fn grants(
    decision: &Decision,
    tool: &LoadedTool,
    request: &CapabilityRequest,
    offer: &Offer,
) -> Result<GrantSet, Failure> {
    if !decision.invoke_allowed() {
        return Err(Failure::new(
            exit::DENIED,
            anyhow!("policy denies invoking tool `{}`:\n{decision}", tool.info().name),
        ));
    }
    decision.grants(request, offer).map_err(Failure::usage)
}
