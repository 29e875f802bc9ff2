//! The outcome of evaluating a call, and its explanation.

use std::fmt;

use cedar_policy::{Decision as CedarDecision, Response};
use serde::Serialize;

use super::{Capability, PolicyOrigin, ToolIdentity, entities};
use crate::{
    Access, CapabilityRequest, GrantError, GrantSet, MountRequest, NetGrant, Offer, SecretBinding,
    offered_hosts, resolve,
};

/// A policy that decided a verdict: a `permit` for an allow, a `forbid` for
/// a denial by policy. A default denial has none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecidingPolicy {
    /// The policy id (`@id` annotation, or `<file>:<line>`).
    pub id: String,
    /// Where it was written, as `<file>:<line>`.
    pub origin: Option<String>,
}

impl fmt::Display for DecidingPolicy {
    /// The id, then where it was written when that says more:
    /// `bots-may-grep (policies/agents.cedar:4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) if origin != &self.id => write!(f, "{} ({origin})", self.id),
            _ => f.write_str(&self.id),
        }
    }
}

/// The decision on one capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What was asked.
    pub capability: Capability,
    /// Whether it is granted.
    pub allowed: bool,
    /// The policies that decided it.
    pub policies: Vec<DecidingPolicy>,
    /// Policies that failed to evaluate for this request (they are skipped,
    /// as Cedar specifies).
    pub errors: Vec<String>,
    /// Allowed, but only by `permit`s marked `@approval`: the call runs only
    /// with a human's approval. A capability that any unmarked `permit`
    /// also allows needs none.
    pub needs_approval: bool,
}

impl Verdict {
    pub(super) fn from_response<'a>(
        capability: Capability,
        response: &Response,
        origin: impl Fn(&str) -> Option<&'a PolicyOrigin>,
    ) -> Self {
        let mut policies: Vec<DecidingPolicy> = response
            .diagnostics()
            .reason()
            .map(|id| {
                let id = id.to_string();
                let origin = origin(&id).map(|o| format!("{}:{}", o.file, o.line));
                DecidingPolicy { id, origin }
            })
            .collect();
        policies.sort_by(|a, b| a.id.cmp(&b.id));
        let allowed = response.decision() == CedarDecision::Allow;
        let needs_approval = allowed
            && !policies.is_empty()
            && policies.iter().all(|p| origin(&p.id).is_some_and(|o| o.requires_approval));
        Self {
            capability,
            allowed,
            policies,
            errors: response.diagnostics().errors().map(ToString::to_string).collect(),
            needs_approval,
        }
    }

    /// The Cedar resource, e.g. `Path::"/workspace"`.
    pub fn resource(&self, tool: &ToolIdentity) -> String {
        let uid =
            entities::resource_uid(&self.capability, tool).map(|uid| uid.to_string()).unwrap_or_default();
        match &self.capability {
            Capability::SecretUse { destination, .. } => format!("{uid} for {destination}"),
            _ => uid,
        }
    }
}

/// Every verdict for one call, `invoke` first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    principal: String,
    tool: ToolIdentity,
    verdicts: Vec<Verdict>,
}

impl Decision {
    pub(super) fn new(principal: String, tool: ToolIdentity, verdicts: Vec<Verdict>) -> Self {
        Self { principal, tool, verdicts }
    }

    /// Whether the principal may call the tool at all.
    pub fn invoke_allowed(&self) -> bool {
        self.verdicts.first().is_some_and(|v| v.capability == Capability::Invoke && v.allowed)
    }

    /// Every verdict, `invoke` first.
    pub fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }

    /// The verdicts that denied something.
    pub fn denials(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| !v.allowed)
    }

    /// The allowed capabilities that need a human's approval before the
    /// call may run (allowed only by `@approval` permits). Nothing when
    /// `invoke` is denied: such a call never runs at all.
    pub fn needing_approval(&self) -> impl Iterator<Item = &Verdict> {
        let invoke = self.invoke_allowed();
        self.verdicts.iter().filter(move |v| invoke && v.needs_approval)
    }

    /// The principal's `sub`.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The tool the decision is about.
    pub fn tool(&self) -> &ToolIdentity {
        &self.tool
    }

    fn allows(&self, capability: &Capability) -> bool {
        self.verdicts.iter().any(|v| v.allowed && &v.capability == capability)
    }

    /// The items whose capability this decision allows.
    fn kept<T: Clone>(&self, items: &[T], capability: impl Fn(&T) -> Capability) -> Vec<T> {
        items.iter().filter(|item| self.allows(&capability(item))).cloned().collect()
    }

    /// The part of `request` this decision permits. A mount needs `fs.read`;
    /// a read-write mount whose `fs.write` is denied is narrowed to
    /// read-only. Nothing is permitted if `invoke` is denied.
    pub fn permitted(&self, request: &CapabilityRequest) -> CapabilityRequest {
        if !self.invoke_allowed() {
            return CapabilityRequest::default();
        }
        let mounts = request
            .mounts
            .iter()
            .filter(|m| self.allows(&Capability::FsRead(m.guest_path.clone())))
            .map(|m| {
                let writable = self.allows(&Capability::FsWrite(m.guest_path.clone()));
                let access = if writable { m.access } else { Access::ReadOnly };
                MountRequest { access, ..m.clone() }
            })
            .collect();
        let hosts = self.kept(&request.hosts, Capability::net_connect);
        let bindings = self.secret_bindings(request);
        let secrets = request
            .secrets
            .iter()
            .filter(|s| bindings.iter().any(|b| b.name == s.name && (b.reveal || !b.destinations.is_empty())))
            .cloned()
            .collect();
        let env = self.kept(&request.env, |e| Capability::EnvRead(e.name.clone()));
        CapabilityRequest { mounts, hosts, secrets, env }
    }

    /// Where each requested secret may be used: destinations whose
    /// `secret.use` and `net.connect` are both permitted, and whether
    /// `secret.reveal` is. Nothing if `invoke` is denied.
    pub fn secret_bindings(&self, request: &CapabilityRequest) -> Vec<SecretBinding> {
        if !self.invoke_allowed() {
            return Vec::new();
        }
        request
            .secrets
            .iter()
            .map(|secret| SecretBinding {
                name: secret.name.clone(),
                destinations: request
                    .hosts
                    .iter()
                    .filter(|h| {
                        self.allows(&Capability::net_connect(h))
                            && self.allows(&Capability::SecretUse {
                                name: secret.name.clone(),
                                destination: h.destination.clone(),
                            })
                    })
                    .map(|h| h.destination.clone())
                    .collect(),
                reveal: secret.reveal && self.allows(&Capability::SecretReveal(secret.name.clone())),
            })
            .collect()
    }

    /// The grants for a call: the permitted part of `request`, bound to the
    /// host resources in `offer`. Offered bindings for capabilities the
    /// policy denied are dropped (the denial is in this decision); offering
    /// something the tool never requested is still an error.
    pub fn grants(&self, request: &CapabilityRequest, offer: &Offer) -> Result<GrantSet, GrantError> {
        let permitted = self.permitted(request);
        let mut bound = offer.clone();
        bound.mounts.retain(|m| {
            permitted.mounts.iter().any(|p| p.guest_path == m.guest)
                || !request.mounts.iter().any(|r| r.guest_path == m.guest)
        });
        bound.env.retain(|e| {
            permitted.env.iter().any(|p| p.name == e.name) || !request.env.iter().any(|r| r.name == e.name)
        });
        // Offered destinations must lie inside the request (an error
        // otherwise); the grant is exactly the permitted destinations, which
        // include the offered ones when the request was built with
        // `CapabilityRequest::with_offered_hosts`.
        offered_hosts(&self.tool.name, request, &offer.hosts)?;
        bound.hosts = permitted
            .hosts
            .iter()
            .map(|h| NetGrant { destination: h.destination.clone(), methods: h.methods.clone() })
            .collect();
        bound.secrets.retain(|s| {
            permitted.secrets.iter().any(|p| p.name == s.name)
                || !request.secrets.iter().any(|r| r.name == s.name)
        });
        let mut grants = resolve(&self.tool.name, &permitted, &bound)?;
        grants.bind_secrets(&self.secret_bindings(request));
        Ok(grants)
    }
}

impl fmt::Display for Decision {
    /// One line per capability: `allow`/`deny`, the action, the resource and
    /// the policies that decided it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "principal Agent::{:?}, tool {} {} ({})",
            self.principal, self.tool.name, self.tool.version, self.tool.digest
        )?;
        // Where it came from, when not a plain file: what `resource.source`
        // and `resource.signer` are for this call.
        if self.tool.source != "file" || self.tool.signer.is_some() {
            let signer = self
                .tool
                .signer
                .as_deref()
                .map_or_else(|| "unsigned".to_owned(), |s| format!("signed by {s}"));
            write!(f, " from {}, {signer}", self.tool.source)?;
        }
        writeln!(f)?;
        let resources: Vec<String> = self.verdicts.iter().map(|v| v.resource(&self.tool)).collect();
        let width = resources.iter().map(String::len).max().unwrap_or(0);
        for (verdict, resource) in self.verdicts.iter().zip(&resources) {
            let outcome = if verdict.allowed { "allow" } else { "deny " };
            write!(f, "  {outcome}  {:<11}  {resource:<width$}", verdict.capability.action())?;
            let ids: Vec<String> = verdict.policies.iter().map(ToString::to_string).collect();
            match (verdict.allowed, ids.is_empty()) {
                (true, _) if verdict.needs_approval => {
                    write!(f, "  permitted with a human's approval by {}", ids.join(", "))?
                }
                (true, _) => write!(f, "  permitted by {}", ids.join(", "))?,
                (false, false) => write!(f, "  forbidden by {}", ids.join(", "))?,
                (false, true) => write!(f, "  no policy permits it (default deny)")?,
            }
            for error in &verdict.errors {
                write!(f, "; policy error: {error}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
