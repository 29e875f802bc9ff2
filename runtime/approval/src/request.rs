//! What an approval is bound to: the call, canonicalised and hashed.

use airlock_policy::authz::Decision;
use airlock_policy::{Access, GrantSet, Principal};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The call a human approves: who asks, which tool (by digest), which
/// input (by hash), every capability the call would get and what the
/// operator bound to it. Any change to one of these is a different request
/// with a different [`hash`](Self::hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// The requesting agent.
    pub requester: Requester,
    /// The tool.
    pub tool: ToolLine,
    /// SHA-256 of the input's canonical JSON (as in the audit log).
    pub input_sha256: String,
    /// Every capability policy allowed for the call, `invoke` first.
    pub grants: Vec<GrantLine>,
    /// What the call is bound to: each mount's host directory and access
    /// (`mount /workspace = /srv/repo (rw)`), each env var's value by hash
    /// (`env TARGET = sha256:…`). An approval for one checkout does not
    /// run against another.
    pub bindings: Vec<String>,
}

/// The requesting agent, as far as approvals care: who it is and who
/// stands behind it (they may not approve its requests).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    /// `sub`.
    pub sub: String,
    /// `iss`.
    pub iss: String,
    /// The `owner` claim, if the token has one.
    pub owner: Option<String>,
    /// The delegation chain (`act`), outermost first.
    pub act: Vec<String>,
}

impl Requester {
    /// The requester behind a verified principal.
    pub fn of(principal: &Principal) -> Self {
        Self {
            sub: principal.sub().to_owned(),
            iss: principal.iss().to_owned(),
            owner: principal.claim("owner").map(str::to_owned),
            act: principal.act().to_vec(),
        }
    }

    /// How `sub` is related to this requester, if it is: approving its own
    /// request would be self-approval.
    pub fn relation_to(&self, sub: &str) -> Option<&'static str> {
        if self.sub == sub {
            Some("the requesting agent")
        } else if self.owner.as_deref() == Some(sub) {
            Some("the requesting agent's owner")
        } else if self.act.iter().any(|a| a == sub) {
            Some("in the requesting agent's delegation chain (`act`)")
        } else {
            None
        }
    }
}

/// The tool, by name, version and component digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolLine {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
}

/// One allowed capability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantLine {
    /// The Cedar action.
    pub action: String,
    /// The resource, as in explanations (`Path::"/workspace/.github"`).
    pub resource: String,
    /// Whether this capability is what needs the approval.
    pub needs_approval: bool,
}

impl CallRequest {
    /// The request for a call by `principal` decided as `decision`, about
    /// to run with `grants`, with input hash `input_sha256`.
    pub fn new(principal: &Principal, decision: &Decision, grants: &GrantSet, input_sha256: &str) -> Self {
        let tool = decision.tool();
        let mounts = grants.mounts().iter().map(|m| {
            let access = match m.access {
                Access::ReadOnly => "ro",
                Access::ReadWrite => "rw",
            };
            format!("mount {} = {} ({access})", m.guest, m.host.display())
        });
        let env = grants
            .env()
            .iter()
            .map(|e| format!("env {} = sha256:{}", e.name, hex::encode(Sha256::digest(e.value.as_bytes()))));
        Self {
            requester: Requester::of(principal),
            tool: ToolLine {
                name: tool.name.clone(),
                version: tool.version.clone(),
                digest: tool.digest.clone(),
            },
            input_sha256: input_sha256.to_owned(),
            grants: decision
                .verdicts()
                .iter()
                .filter(|v| v.allowed)
                .map(|v| GrantLine {
                    action: v.capability.action().to_owned(),
                    resource: v.resource(tool),
                    needs_approval: v.needs_approval,
                })
                .collect(),
            bindings: mounts.chain(env).collect(),
        }
    }

    /// The request as RFC 8785 canonical JSON: what is stored and hashed.
    pub fn canonical(&self) -> String {
        match serde_jcs::to_string(self) {
            Ok(text) => text,
            // Strings and booleans only: canonicalisation cannot fail.
            Err(e) => unreachable!("a call request always canonicalises: {e}"),
        }
    }

    /// `sha256:<hex>` of [`canonical`](Self::canonical).
    pub fn hash(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(self.canonical().as_bytes())))
    }

    /// The capabilities that need the approval, as `action resource`.
    pub fn gated(&self) -> impl Iterator<Item = String> + '_ {
        self.grants.iter().filter(|g| g.needs_approval).map(|g| format!("{} {}", g.action, g.resource))
    }
}
