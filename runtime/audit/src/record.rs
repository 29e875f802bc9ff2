//! Building call events from what the runtime already has: the principal,
//! the policy decision, hashes of input and output.

use airlock_policy::Principal;
use airlock_policy::authz::{Decision, ToolIdentity};
use sha2::{Digest, Sha256};

use crate::event::{
    CallApproval, CallEvent, CapabilityRecord, Effects, Outcome, PrincipalRecord, ToolRecord,
    WorkspaceRecord, bounded,
};

impl PrincipalRecord {
    /// The caller as the log shows it: sub, iss, the scalar claims policy
    /// saw, and the `act` chain.
    pub fn of(principal: &Principal) -> Self {
        Self {
            sub: principal.sub().to_owned(),
            iss: principal.iss().to_owned(),
            claims: principal.claims().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v))).collect(),
            act: principal.act().to_vec(),
            token_lifetime_s: principal.token_lifetime(),
        }
    }
}

impl ToolRecord {
    /// The tool as policy saw it.
    pub fn of(tool: &ToolIdentity) -> Self {
        Self {
            name: tool.name.clone(),
            version: tool.version.clone(),
            digest: tool.digest.clone(),
            source: (tool.source != "file").then(|| tool.source.clone()),
            signer: tool.signer.clone(),
        }
    }
}

impl CapabilityRecord {
    /// Every verdict of `decision`, with the ids of the deciding policies.
    pub fn of(decision: &Decision) -> Vec<Self> {
        decision
            .verdicts()
            .iter()
            .map(|verdict| Self {
                action: verdict.capability.action().to_owned(),
                resource: verdict.resource(decision.tool()),
                allowed: verdict.allowed,
                policies: verdict.policies.iter().map(|p| p.id.clone()).collect(),
            })
            .collect()
    }
}

/// SHA-256 of `input`'s RFC 8785 canonical form, so the same arguments
/// hash the same however they were spaced or ordered; of its bytes when it
/// is not JSON.
pub fn input_sha256(input: &str) -> String {
    let canonical =
        serde_json::from_str::<serde_json::Value>(input).ok().and_then(|v| serde_jcs::to_vec(&v).ok());
    match canonical {
        Some(bytes) => sha256_hex(&bytes),
        None => sha256_hex(input.as_bytes()),
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// How a call ended, as the log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    /// The outcome.
    pub outcome: Outcome,
    /// The message, when it did not end `ok`.
    pub error: Option<String>,
    /// SHA-256 of the output, when there was one.
    pub output_sha256: Option<String>,
    /// SHA-256 of the content blocks returned besides it, when there were
    /// any (see [`CallEvent::content_sha256`]).
    pub content_sha256: Option<String>,
    /// Network use and refusals, redactions.
    pub effects: Effects,
    /// Wall-clock time of the call, in milliseconds.
    pub duration_ms: u64,
}

impl Ending {
    /// A call that ended before anything ran: refused by policy, invalid
    /// arguments, could not be prepared.
    pub fn before_start(outcome: Outcome, error: &str) -> Self {
        Self {
            outcome,
            error: Some(bounded(error)),
            output_sha256: None,
            content_sha256: None,
            effects: Effects::default(),
            duration_ms: 0,
        }
    }
}

/// A fresh call id: `call-` and 16 random bytes in hex. Falls back to the
/// clock and a counter if the system has no randomness to give (it is an
/// identifier, not a secret).
fn new_call_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    }
    format!("call-{}", hex::encode(bytes))
}

impl CallEvent {
    /// The event for a call of `tool` by `principal` (`None`: an operator
    /// override) with `input`, decided by `decision` (`None`: no policy),
    /// ended as `ending`. It gets a fresh [`CallEvent::call_id`].
    pub fn new(
        transport: &str,
        principal: Option<&Principal>,
        tool: &ToolIdentity,
        decision: Option<&Decision>,
        input: &str,
        ending: Ending,
    ) -> Self {
        Self {
            call_id: Some(new_call_id()),
            transport: transport.to_owned(),
            principal: principal.map(PrincipalRecord::of),
            tool: ToolRecord::of(tool),
            input_sha256: input_sha256(input),
            capabilities: decision.map(CapabilityRecord::of).unwrap_or_default(),
            effects: ending.effects,
            outcome: ending.outcome,
            error: ending.error,
            output_sha256: ending.output_sha256,
            content_sha256: ending.content_sha256,
            duration_ms: ending.duration_ms,
            approval: None,
            workspace: None,
        }
    }

    /// The same event, marked with how its approval was handled.
    pub fn with_approval(mut self, approval: Option<CallApproval>) -> Self {
        self.approval = approval;
        self
    }

    /// The same event, with what became of its staged workspace.
    pub fn with_workspace(mut self, workspace: Option<WorkspaceRecord>) -> Self {
        self.workspace = workspace;
        self
    }
}
