//! Effective grants: what the configuration's policy permits one identity
//! for every tool the configuration serves, decided by the code a call
//! uses (`airlock_gateway::decision`), so it equals what `policy explain`
//! says for a token with the same claims.

use std::path::Path;

use airlock_audit::{CapabilityRecord, PrincipalRecord};
use airlock_inventory::EffectiveTool;
use airlock_mcp::{Catalog, LoadEvent};
use airlock_policy::Principal;
use airlock_policy::authz::Authorizer;
use anyhow::anyhow;
use serde_json::{Map, Value};

use crate::args::CacheArgs;
use crate::exit::{self, Failure};
use crate::registry::ToolSet;
use crate::runtime;

/// The identity to decide for, and where its claims came from (for the
/// report: the decision is only as current as the claims).
pub(crate) struct Subject {
    pub(crate) principal: Principal,
    pub(crate) claims_from: String,
}

/// The claims in `file`: a JSON object as a token's payload carries them
/// (`sub`, `iss`, `act` and the claims policy reads). `sub` must be the
/// one asked about; `iss` is `--iss`, else the file's, else `seen_iss`.
pub(crate) fn subject_from_file(
    file: &Path,
    sub: &str,
    iss: Option<&str>,
    seen_iss: Option<&str>,
) -> Result<Subject, Failure> {
    let named = |e: &dyn std::fmt::Display| Failure::usage(anyhow!("--claims `{}`: {e}", file.display()));
    let text = std::fs::read_to_string(file).map_err(|e| named(&e))?;
    let claims: Map<String, Value> = match serde_json::from_str(&text).map_err(|e| named(&e))? {
        Value::Object(claims) => claims,
        _ => return Err(named(&"not a JSON object of claims")),
    };
    if let Some(file_sub) = claims.get("sub")
        && file_sub.as_str() != Some(sub)
    {
        return Err(named(&format!("its `sub` is {file_sub}, not `{sub}`")));
    }
    let iss = iss.or_else(|| claims.get("iss").and_then(Value::as_str)).or(seen_iss).ok_or_else(|| {
        named(&"no issuer: give `iss` in the file or --iss (the identity has no calls to take it from)")
    })?;
    let principal = Principal::from_claims(sub, iss, &claims).map_err(|e| named(&e))?;
    Ok(Subject { principal, claims_from: format!("--claims {}", file.display()) })
}

/// The claims the identity's last call presented, as the audit recorded
/// them (the scalar claims policy saw, and the delegation chain).
pub(crate) fn subject_from_record(principal: &PrincipalRecord, time: &str) -> Result<Subject, Failure> {
    let mut claims: Map<String, Value> = principal.claims.clone().into_iter().collect();
    // `act` nests outermost first: {"sub": a, "act": {"sub": b}}.
    let act = principal.act.iter().rev().fold(None, |inner: Option<Value>, sub| {
        let mut link = Map::from_iter([("sub".to_owned(), Value::String(sub.clone()))]);
        if let Some(inner) = inner {
            link.insert("act".to_owned(), inner);
        }
        Some(Value::Object(link))
    });
    if let Some(act) = act {
        claims.insert("act".to_owned(), act);
    }
    let principal = Principal::from_claims(&principal.sub, &principal.iss, &claims)
        .map_err(|e| Failure::new(exit::AUDIT_BROKEN, anyhow!("the claims recorded at {time}: {e}")))?;
    Ok(Subject { principal, claims_from: format!("the claims of its last call ({time})") })
}

/// The tools of the configuration at `config`, loaded as a server loads
/// them. Tools that fail to load are reported on stderr and left out, as a
/// server leaves them out; `None` when it names no tools.
pub(crate) async fn configured_tools(config: &Path, cache: &CacheArgs) -> Result<Option<Catalog>, Failure> {
    let tools = airlock_gateway::config::load_config_tools(config)
        .map(ToolSet::from_config_tools)
        .map_err(|e| Failure::new(exit::CONFIG, e))?;
    if tools.is_empty() {
        return Ok(None);
    }
    let rt = runtime::runtime(cache)?;
    let sources = tools.sources(cache, None).await?;
    let catalog = Catalog::load_sources(&rt, &sources, |event| {
        if let LoadEvent::Skipped(error) = event {
            eprintln!("airlock: skipped: {}", airlock_policy::text::printable_lines(&error.to_string()));
        }
    })
    .await
    .map_err(Failure::usage)?;
    Ok(Some(catalog))
}

/// Decides, for `principal`, every capability each tool of `catalog`
/// requests: its effective grants.
pub(crate) fn effective_grants(
    catalog: &Catalog,
    authorizer: &Authorizer,
    principal: &Principal,
) -> Result<Vec<EffectiveTool>, Failure> {
    catalog
        .iter()
        .map(|tool| {
            let tool_ref = airlock_gateway::ToolRef::new(&tool.tool, &tool.identity);
            let (_, decision) = airlock_gateway::decision(authorizer, principal, tool_ref, &[], None)
                .map_err(|e| Failure::internal(anyhow!("deciding for `{}`: {e:?}", tool.identity.name)))?;
            Ok(EffectiveTool {
                tool: tool.identity.name.clone(),
                capabilities: CapabilityRecord::of(&decision),
            })
        })
        .collect()
}
