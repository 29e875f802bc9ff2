//! What one identity was granted in its calls, and what it used of it.
//!
//! Each call record lists every capability decided (action, resource,
//! allowed, deciding policies) and what the call used of its grants
//! (`effects.usage`). Folded over an identity's calls, per tool, that gives
//! each grant beside its use, and the grants it never used: the findings
//! an operator narrows policy with.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use airlock_audit::{CallEvent, CapabilityRecord, Event, Outcome, PrincipalRecord, Record, Usage};
use serde::Serialize;

use crate::slot::slot;

/// One capability as an identity's calls of one tool were granted it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GrantUse {
    /// The Cedar action (`fs.read`, `net.connect`, ...).
    pub action: String,
    /// The resource, as the call record writes it (`Path::"/workspace"`).
    pub resource: String,
    /// Calls that were granted it.
    pub granted: u64,
    /// Calls that were denied it.
    pub denied: u64,
    /// Granted calls that used it.
    pub used: u64,
    /// The policies that granted or denied it.
    pub policies: BTreeSet<String>,
    /// What the current policy decides for it, when the effective grants
    /// were computed ([`with_effective`]); absent for a capability the tool
    /// no longer requests, or a tool the configuration no longer serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<Effective>,
}

impl GrantUse {
    /// Whether the identity holds it: the current policy allows it (with
    /// effective grants), else a call in the window was granted it.
    pub fn held(&self) -> bool {
        self.effective.as_ref().map_or(self.granted > 0, |e| e.allowed)
    }
}

/// What the current policy decides for one capability, by the decision
/// code a call uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// Whether it is granted.
    pub allowed: bool,
    /// The policies that decided it (none: denied by default).
    pub policies: Vec<String>,
}

/// Every capability a tool requests, as policy decides it now for one
/// identity: the effective grants.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveTool {
    /// The tool's name.
    pub tool: String,
    /// Each capability and its decision, `invoke` first.
    pub capabilities: Vec<CapabilityRecord>,
}

/// An identity's calls of one tool, and each capability decided for them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ToolGrants {
    /// The tool's name.
    pub tool: String,
    /// Calls that ran (not refused before start, not filed for approval).
    pub calls: u64,
    /// Each capability decided, in the order first seen.
    pub grants: Vec<GrantUse>,
}

/// A grant the identity holds and did not use in the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The tool.
    pub tool: String,
    /// The action of the unused grant.
    pub action: String,
    /// Its resource.
    pub resource: String,
    /// What to say about it.
    pub message: String,
}

/// Puts the effective grants beside the recorded ones: each capability
/// policy decides now is added to its tool's grants (a tool never called
/// gets an entry with no calls), and its decision is set.
pub fn with_effective(recorded: Vec<ToolGrants>, effective: &[EffectiveTool]) -> Vec<ToolGrants> {
    let mut tools: BTreeMap<String, ToolGrants> =
        recorded.into_iter().map(|tool| (tool.tool.clone(), tool)).collect();
    for decided in effective {
        let tool = tools
            .entry(decided.tool.clone())
            .or_insert_with(|| ToolGrants { tool: decided.tool.clone(), ..ToolGrants::default() });
        for capability in &decided.capabilities {
            let grant = grant_mut(tool, &capability.action, &capability.resource);
            grant.effective =
                Some(Effective { allowed: capability.allowed, policies: capability.policies.clone() });
        }
    }
    tools.into_values().collect()
}

/// The grant of `tool` for (`action`, `resource`), added when missing.
fn grant_mut<'a>(tool: &'a mut ToolGrants, action: &str, resource: &str) -> &'a mut GrantUse {
    let index = match tool.grants.iter().position(|g| g.action == action && g.resource == resource) {
        Some(index) => index,
        None => {
            tool.grants.push(GrantUse {
                action: action.to_owned(),
                resource: resource.to_owned(),
                ..GrantUse::default()
            });
            tool.grants.len() - 1
        }
    };
    &mut tool.grants[index]
}

/// Every identity's grants per tool, folded one record at a time, and the
/// principal of each identity's last call (to decide its effective grants).
#[derive(Clone, Debug, Default)]
pub struct AllGrants {
    since: Option<String>,
    /// By issuer, then subject (looked up by `&str`: a record allocates no
    /// key).
    by_identity: BTreeMap<String, BTreeMap<String, Folding>>,
}

/// One identity's grants as they are folded.
#[derive(Clone, Debug, Default)]
struct Folding {
    tools: BTreeMap<String, ToolGrants>,
    last: Option<PrincipalRecord>,
    last_time: String,
}

impl AllGrants {
    /// Folds the calls at or after `since`.
    pub fn new(since: Option<&str>) -> Self {
        Self { since: since.map(str::to_owned), ..Self::default() }
    }

    /// Adds one record.
    pub fn add(&mut self, record: &Record) {
        if self.since.as_deref().is_some_and(|since| record.time.as_str() < since) {
            return;
        }
        let Event::Call(call) = &record.event else { return };
        let Some(principal) = &call.principal else { return };
        let folding = slot(slot(&mut self.by_identity, &principal.iss), &principal.sub);
        if folding.last.as_ref() != Some(principal) {
            folding.last = Some(principal.clone());
        }
        record.time.clone_into(&mut folding.last_time);
        let tool = slot(&mut folding.tools, &call.tool.name);
        if tool.tool.is_empty() {
            tool.tool.clone_from(&call.tool.name);
        }
        add(tool, call);
    }

    /// Per identity (issuer, `sub`): its grants per tool, by tool name, the
    /// principal of its last call and that call's time.
    pub fn finish(self) -> Vec<IdentityGrants> {
        self.by_identity
            .into_values()
            .flat_map(BTreeMap::into_values)
            .filter_map(|f| {
                Some(IdentityGrants {
                    tools: f.tools.into_values().collect(),
                    last: f.last?,
                    last_time: f.last_time,
                })
            })
            .collect()
    }
}

/// One identity's grants per tool.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentityGrants {
    /// Per tool, by name.
    pub tools: Vec<ToolGrants>,
    /// The principal of its last call in the window (claims and `act`).
    pub last: PrincipalRecord,
    /// When that call was.
    pub last_time: String,
}

/// Folds the calls of (`iss`, `sub`) at or after `since` into grants per
/// tool, by tool name.
pub fn grants_of<R: std::borrow::Borrow<Record>>(
    records: impl IntoIterator<Item = R>,
    iss: Option<&str>,
    sub: &str,
    since: Option<&str>,
) -> Vec<ToolGrants> {
    let mut tools: BTreeMap<String, ToolGrants> = BTreeMap::new();
    for record in records {
        let record = record.borrow();
        if since.is_some_and(|since| record.time.as_str() < since) {
            continue;
        }
        let Event::Call(call) = &record.event else { continue };
        let Some(principal) = &call.principal else { continue };
        if principal.sub != sub || iss.is_some_and(|iss| principal.iss != iss) {
            continue;
        }
        add(tools.entry(call.tool.name.clone()).or_default(), call);
    }
    tools.into_iter().map(|(tool, grants)| ToolGrants { tool, ..grants }).collect()
}

fn add(tool: &mut ToolGrants, call: &CallEvent) {
    let ran = !matches!(call.outcome, Outcome::Refused | Outcome::InvalidInput | Outcome::ApprovalRequired);
    if ran {
        tool.calls += 1;
    }
    for capability in &call.capabilities {
        let grant = grant_mut(tool, &capability.action, &capability.resource);
        grant.policies.extend(capability.policies.iter().cloned());
        if !capability.allowed {
            grant.denied += 1;
            continue;
        }
        grant.granted += 1;
        if ran && used(capability, &call.effects.usage) {
            grant.used += 1;
        }
    }
}

/// Whether `usage` shows the capability used.
pub(crate) fn used(capability: &CapabilityRecord, usage: &Usage) -> bool {
    let Some(name) = quoted(&capability.resource) else { return false };
    let name = name.as_ref();
    match capability.action.as_str() {
        "invoke" => true,
        "fs.read" => usage.mounts.get(name).is_some_and(|m| m.read),
        "fs.write" => usage.mounts.get(name).is_some_and(|m| m.written),
        "net.connect" => usage.destinations.iter().any(|d| admits(name, d)),
        "secret.use" | "secret.reveal" => usage.secrets.contains(name),
        "env.read" => usage.env.contains(name),
        _ => false,
    }
}

/// The id of the entity a recorded resource names, unescaped:
/// `Path::"/workspace"` gives `/workspace`, and `Secret::"OSV_TOKEN" for
/// https://api.osv.dev` gives `OSV_TOKEN`.
pub(crate) fn quoted(resource: &str) -> Option<Cow<'_, str>> {
    // The common case without escapes needs no parser (this runs for every
    // capability of every record).
    let start = resource.find('"')? + 1;
    let end = start + resource[start..].find('"')?;
    let plain = &resource[start..end];
    if !plain.contains('\\') {
        return Some(Cow::Borrowed(plain));
    }
    let parse = |text: &str| {
        text.parse::<cedar_policy::EntityUid>().ok().map(|uid| Cow::Owned(uid.id().unescaped().to_owned()))
    };
    parse(resource).or_else(|| resource.rsplit_once(" for ").and_then(|(entity, _)| parse(entity)))
}

/// Whether the granted destination `pattern` (`https://api.osv.dev`,
/// `https://*.github.com:8443`, `tcp://10.0.0.5:5432`) admits the reached
/// destination `reached` (`scheme://host:port`, as usage writes it).
fn admits(pattern: &str, reached: &str) -> bool {
    let (Some((scheme, rest)), Some((reached_scheme, reached_rest))) =
        (pattern.split_once("://"), reached.split_once("://"))
    else {
        return false;
    };
    let Some((reached_host, reached_port)) = reached_rest.rsplit_once(':') else { return false };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || port.chars().all(|c| c.is_ascii_digit()) => {
            (host, Some(port))
        }
        _ => (rest, None),
    };
    let default_port = match scheme {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    };
    let host_matches = match host.strip_prefix("*.") {
        Some(suffix) => reached_host.ends_with(&format!(".{suffix}")),
        None => host.eq_ignore_ascii_case(reached_host),
    };
    scheme == reached_scheme && host_matches && port.or(default_port) == Some(reached_port)
}

/// The grants held and not used in the window. A grant is held when the
/// current policy allows it (with effective grants), else when a call in
/// the window was granted it. A tool never called whose invoke is allowed
/// is one finding; a write grant on a mount that was only read says so.
pub fn findings(tools: &[ToolGrants]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for tool in tools {
        let invoke = tool.grants.iter().find(|g| g.action == "invoke");
        if invoke.is_some_and(|g| !g.held()) {
            continue; // it cannot be called: nothing else it holds is usable
        }
        if tool.calls == 0 {
            if let Some(invoke) = invoke.filter(|g| g.held()) {
                findings.push(Finding {
                    tool: tool.tool.clone(),
                    action: invoke.action.clone(),
                    resource: invoke.resource.clone(),
                    message: format!("{}: permitted, never called in the window", tool.tool),
                });
            }
            continue;
        }
        for grant in tool.grants.iter().filter(|g| g.held() && g.used == 0 && g.action != "invoke") {
            let read = tool
                .grants
                .iter()
                .any(|g| g.action == "fs.read" && g.resource == grant.resource && g.used > 0);
            let subject = quoted(&grant.resource).unwrap_or(Cow::Borrowed(&grant.resource));
            let message = match grant.action.as_str() {
                "fs.write" if read => {
                    format!("read-write {subject} for {}: only read in {} call(s)", tool.tool, tool.calls)
                }
                action => format!(
                    "{action} {subject} for {}: granted, never used in {} call(s)",
                    tool.tool, tool.calls
                ),
            };
            findings.push(Finding {
                tool: tool.tool.clone(),
                action: grant.action.clone(),
                resource: grant.resource.clone(),
                message,
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixture::{call, record};

    #[test]
    fn each_grant_is_put_beside_its_use_and_the_unused_ones_are_findings() {
        let mut used = call(Some("agent:osv"), "osv-query", "ok", None);
        used["capabilities"] = json!([
            {"action": "invoke", "resource": "Tool::\"osv-query\"", "allowed": true, "policies": ["osv"]},
            {"action": "net.connect", "resource": "Host::\"https://api.osv.dev\"", "allowed": true, "policies": ["osv"]},
            {"action": "secret.use", "resource": "Secret::\"OSV_TOKEN\" for https://api.osv.dev", "allowed": true, "policies": ["osv"]},
            {"action": "env.read", "resource": "EnvVar::\"LANG\"", "allowed": true, "policies": ["osv"]},
            {"action": "net.connect", "resource": "Host::\"https://evil.example\"", "allowed": false, "policies": []},
        ]);
        used["effects"]["usage"] =
            json!({"destinations": ["https://api.osv.dev:443"], "secrets": ["OSV_TOKEN"]});
        let mut refused = used.clone();
        refused["outcome"] = json!("refused");
        let records =
            [record(1, "2026-12-01T00:00:00.000Z", used), record(2, "2026-12-02T00:00:00.000Z", refused)];
        let tools = grants_of(&records, None, "agent:osv", None);
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].calls, 1, "a refused call did not run");
        let by = |action: &str, granted: bool| {
            tools[0].grants.iter().find(|g| g.action == action && (g.granted > 0) == granted).expect(action)
        };
        assert_eq!((by("net.connect", true).granted, by("net.connect", true).used), (2, 1));
        assert_eq!(by("secret.use", true).used, 1);
        assert_eq!(by("env.read", true).used, 0);
        assert_eq!(by("net.connect", false).denied, 2);
        let findings = findings(&tools);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].message, "env.read LANG for osv-query: granted, never used in 1 call(s)");
        assert!(grants_of(&records, Some("https://other.example"), "agent:osv", None).is_empty());
    }

    #[test]
    fn effective_grants_add_the_tools_never_called_and_decide_what_is_held() {
        let mut read = call(Some("agent:ci"), "patch-deps", "ok", None);
        read["capabilities"] = json!([
            {"action": "invoke", "resource": "Tool::\"patch-deps\"", "allowed": true, "policies": ["ci"]},
            {"action": "fs.read", "resource": "Path::\"/workspace\"", "allowed": true, "policies": ["ci"]},
            {"action": "fs.write", "resource": "Path::\"/workspace\"", "allowed": true, "policies": ["ci"]},
        ]);
        read["effects"]["usage"] = json!({"mounts": {"/workspace": {"read": true, "written": false}}});
        let recorded = grants_of([record(1, "2026-12-01T00:00:00.000Z", read)], None, "agent:ci", None);
        let capability = |action: &str, resource: &str, allowed: bool| CapabilityRecord {
            action: action.to_owned(),
            resource: resource.to_owned(),
            allowed,
            policies: if allowed { vec!["ci".to_owned()] } else { Vec::new() },
        };
        let effective = [
            EffectiveTool {
                tool: "patch-deps".to_owned(),
                capabilities: vec![
                    capability("invoke", "Tool::\"patch-deps\"", true),
                    capability("fs.read", "Path::\"/workspace\"", true),
                    // Narrowed since: no longer a finding.
                    capability("fs.write", "Path::\"/workspace\"", false),
                    capability("net.connect", "Host::\"https://api.osv.dev\"", true),
                ],
            },
            EffectiveTool {
                tool: "grep".to_owned(),
                capabilities: vec![capability("invoke", "Tool::\"grep\"", true)],
            },
            EffectiveTool {
                tool: "http-fetch".to_owned(),
                capabilities: vec![
                    capability("invoke", "Tool::\"http-fetch\"", false),
                    capability("net.connect", "Host::\"https://example.com\"", true),
                ],
            },
        ];
        let tools = with_effective(recorded, &effective);
        let names: Vec<&str> = tools.iter().map(|t| t.tool.as_str()).collect();
        assert_eq!(names, ["grep", "http-fetch", "patch-deps"]);
        let patch = &tools[2];
        assert_eq!(patch.grants.len(), 4);
        let net = patch.grants.iter().find(|g| g.action == "net.connect").expect("net");
        assert_eq!((net.granted, net.used), (0, 0), "never asked in a call");
        assert_eq!(net.effective, Some(Effective { allowed: true, policies: vec!["ci".to_owned()] }));
        let messages: Vec<String> = findings(&tools).into_iter().map(|f| f.message).collect();
        assert_eq!(
            messages,
            [
                "grep: permitted, never called in the window",
                "net.connect https://api.osv.dev for patch-deps: granted, never used in 1 call(s)",
            ],
            "a denied invoke holds nothing; a write policy no longer allows is no finding"
        );
    }

    #[test]
    fn destinations_match_their_grants_as_the_runtime_writes_them() {
        assert!(admits("https://api.osv.dev", "https://api.osv.dev:443"));
        assert!(!admits("https://api.osv.dev", "http://api.osv.dev:80"));
        assert!(!admits("https://api.osv.dev", "https://api.osv.dev:8443"));
        assert!(admits("https://api.osv.dev:8443", "https://api.osv.dev:8443"));
        assert!(admits("https://*.github.com", "https://api.github.com:443"));
        assert!(!admits("https://*.github.com", "https://github.com.evil:443"));
        assert!(admits("tcp://10.0.0.5:5432", "tcp://10.0.0.5:5432"));
        assert!(!admits("tcp://10.0.0.5:5432", "tcp://10.0.0.6:5432"));
        assert_eq!(quoted("Secret::\"OSV_TOKEN\" for https://api.osv.dev").as_deref(), Some("OSV_TOKEN"));
        assert_eq!(quoted("Path::\"/w\\\" x\"").as_deref(), Some("/w\" x"));
    }
}
