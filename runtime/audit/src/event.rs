//! What the log records: one [`Record`] per line, wrapping an [`Event`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The record format written by this version.
pub const SCHEMA: &str = "airlock.audit/v1";

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest free-text field kept (error messages, refusal reasons), in
/// bytes; longer text is cut at a character boundary and marked.
pub const MAX_TEXT: usize = 2048;

/// Most in-call refusals kept per event (the rest are counted).
pub const MAX_REFUSALS: usize = 32;

/// One line of the log: the event plus its place in the chain.
///
/// `hash` is the SHA-256 of the record's RFC 8785 canonical JSON without
/// the `hash` key; `prev` is the previous record's `hash`. The line itself
/// is the canonical JSON of the whole record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// 1 for the first record, then +1 per record, no gaps.
    pub seq: u64,
    /// When it was written: RFC 3339, UTC, milliseconds.
    pub time: String,
    /// The previous record's `hash` ([`GENESIS`] for the first).
    pub prev: String,
    /// What happened.
    pub event: Event,
    /// This record's hash (lowercase hex).
    pub hash: String,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A tool call, whatever its outcome.
    Call(Box<CallEvent>),
    /// On opening, a torn tail (a write cut short by a crash) was cut off.
    Recovered {
        /// Bytes removed after the last complete record.
        truncated_bytes: u64,
    },
    /// A human approved a request (`airlock approve ID`).
    Approval(Box<ApprovalEvent>),
    /// A break-glass window was opened (`airlock approve --break-glass`).
    /// Always `severity: high`.
    BreakGlass(Box<BreakGlassEvent>),
    /// An approval or break-glass attempt was refused (not a human,
    /// self-approval, expired, not named for break-glass, ...).
    ApprovalRefused(Box<ApprovalRefusedEvent>),
    /// An Ed25519 signature over the record just before this one: whoever
    /// rewrites history before it must also forge this signature.
    Checkpoint(CheckpointEvent),
    /// `run --workspace` found an apply a killed process left unfinished
    /// (in airlock's own sealed journal) and finished or undid it.
    WorkspaceRecovered(WorkspaceRecoveredEvent),
    /// Tokens refused before any call: one record per reason per window,
    /// counting the refusals it stands for, so a flood of forged tokens is
    /// seen without filling the log.
    TokensRefused(TokensRefusedEvent),
    /// A tool named by a registry tag (`allow_tag = true`) was resolved to
    /// a manifest digest when the server loaded it: what the tag meant then.
    ToolResolved(ToolResolvedEvent),
}

/// A registry tag resolved to the digest that was verified and loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolResolvedEvent {
    /// The reference as configured (`oci://REGISTRY/REPO:TAG`).
    pub reference: String,
    /// The manifest digest the tag resolved to (`sha256:<hex>`).
    pub manifest_digest: String,
    /// The component's digest: what call records name the tool by.
    pub component_digest: String,
}

/// An unfinished apply finished or undone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceRecoveredEvent {
    /// The checkout (canonical path).
    pub workspace: String,
    /// `rolled_back` (died before its commit point) or `rolled_forward`.
    pub outcome: String,
}

/// Refused tokens, grouped by reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensRefusedEvent {
    /// How the tokens arrived: `cli`, `mcp-stdio`, `mcp-http`.
    pub transport: String,
    /// Why they were refused (the verifier's message for the first one;
    /// never the token).
    pub reason: String,
    /// How many refusals this record stands for (1, or more when a flood
    /// was rate-limited: the ones suppressed since the last record).
    pub count: u64,
}

/// A signed checkpoint of the chain (see [`crate::Checkpointer`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEvent {
    /// The sequence number signed: always the record just before this one.
    pub signed_seq: u64,
    /// That record's hash.
    pub signed_head: String,
    /// The first 16 hex digits of SHA-256 over the public key.
    pub key_id: String,
    /// Ed25519 over [`crate::checkpoint_message`] (lowercase hex).
    pub signature: String,
}

/// A human's approval of one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalEvent {
    /// The request id (`apr-…`).
    pub request_id: String,
    /// The hash of the canonical request the approval is bound to.
    pub request_hash: String,
    /// The requesting agent's `sub`.
    pub requester: String,
    /// The tool's name.
    pub tool: String,
    /// The capabilities that needed the approval, as `action resource`.
    pub gated: Vec<String>,
    /// Who approved.
    pub approver: ApproverRecord,
    /// Why, as the approver wrote it.
    pub reason: Option<String>,
    /// Usable until (RFC 3339).
    pub expires: String,
}

/// A refused `airlock approve`: who tried what, and why it was refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRefusedEvent {
    /// The request id presented, or `break-glass` for a window.
    pub request_id: String,
    /// Who tried.
    pub approver: ApproverRecord,
    /// Why it was refused.
    pub error: String,
}

/// A break-glass window: one agent's calls run without per-request
/// approval until it closes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassEvent {
    /// The window id (`brk-…`).
    pub window_id: String,
    /// The agent `sub` it lets through.
    pub agent: String,
    /// The agent's issuer: only tokens from it are let through. Empty in
    /// records written before windows were bound to the issuer.
    #[serde(default)]
    pub agent_iss: String,
    /// Who opened it.
    pub opener: ApproverRecord,
    /// Why (always given).
    pub reason: String,
    /// Open until (RFC 3339).
    pub expires: String,
    /// Always `high`.
    pub severity: String,
}

/// A human principal acting on approvals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverRecord {
    /// `sub`.
    pub sub: String,
    /// `iss`.
    pub iss: String,
}

/// How a call that needed approval was handled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallApproval {
    /// `required`, `approved` or `break_glass`.
    pub status: ApprovalStatus,
    /// The request id (`apr-…`), or the break-glass window id (`brk-…`).
    pub id: String,
    /// The hash of the canonical request.
    pub request_hash: String,
    /// The capabilities that needed approval, as `action resource`.
    pub gated: Vec<String>,
    /// Who approved, or opened the window.
    pub approver: Option<String>,
    /// Their reason.
    pub reason: Option<String>,
}

/// What happened to a call that needed approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Filed for a human; the call did not run.
    Required,
    /// It ran on a human's approval of this request, now used up.
    Approved,
    /// It ran inside a break-glass window (flagged: review it).
    BreakGlass,
}

/// One tool call: who, what, with which authority, and how it ended.
/// Inputs and outputs are recorded as hashes; secret values and tokens
/// never appear.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallEvent {
    /// The call's own id (`call-` and 32 hex digits, random), also in the
    /// server's log lines about the call, so the two can be joined.
    /// Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// How the call arrived: `cli`, `mcp-stdio`, `mcp-http`.
    pub transport: String,
    /// The verified caller, or `None` for an operator override (no token).
    pub principal: Option<PrincipalRecord>,
    /// The tool called.
    pub tool: ToolRecord,
    /// SHA-256 of the input's canonical JSON (RFC 8785), or of its bytes
    /// when it is not JSON.
    pub input_sha256: String,
    /// Every capability decided, with the policies that decided it (empty
    /// for an operator override, which has no policy).
    pub capabilities: Vec<CapabilityRecord>,
    /// What the call did on the network, and what was refused inside it.
    pub effects: Effects,
    /// How it ended.
    pub outcome: Outcome,
    /// The error or refusal message, when it did not end `ok`.
    pub error: Option<String>,
    /// SHA-256 of the output, when there was one.
    pub output_sha256: Option<String>,
    /// SHA-256 of the content blocks (text, images, audio, resources) the
    /// call returned besides its output, when there were any: over one
    /// line per block, `KIND\tMIME\tSHA-256 of its text or bytes\n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
    /// Wall-clock time of the call, in milliseconds.
    pub duration_ms: u64,
    /// Set when the call needed a human's approval: whether it was filed
    /// or ran, and on whose authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<CallApproval>,
    /// Set for a call on a staged workspace: what the tool changed and
    /// whether it landed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<WorkspaceRecord>,
}

/// What became of a staged workspace call's changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceRecord {
    /// Whether they landed.
    pub status: WorkspaceStatus,
    /// Every change the tool made in its stage, in path order.
    pub changes: Vec<ChangeRecord>,
    /// The changes refused (by a rule or by policy), with why. When any
    /// is refused, none is applied.
    pub refused: Vec<RefusedChange>,
}

/// What became of a staged workspace call's changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceStatus {
    /// Every change was permitted and applied atomically.
    Applied,
    /// Every change was permitted and written as a patch (`--dry-run`);
    /// the workspace is untouched.
    DryRun,
    /// The tool changed nothing.
    Unchanged,
    /// At least one change was refused: nothing was applied.
    Refused,
    /// The tool failed, trapped or hit a limit: its stage was discarded
    /// unread.
    Discarded,
}

/// One changed path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRecord {
    /// Relative to the workspace root, `/`-separated.
    pub path: String,
    /// `added`, `modified`, `deleted` or `mode_changed`.
    pub kind: String,
    /// The size of the new file, for an added or modified file.
    pub size: Option<u64>,
    /// SHA-256 of the new file, for an added or modified file.
    pub sha256: Option<String>,
}

/// A change that may not land.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedChange {
    /// Relative to the workspace root.
    pub path: String,
    /// Why.
    pub reason: String,
    /// The deciding `forbid` policies, when policy refused it.
    pub policies: Vec<String>,
}

/// The verified caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalRecord {
    /// `sub`.
    pub sub: String,
    /// `iss`.
    pub iss: String,
    /// The scalar claims policy saw (never the token itself).
    pub claims: BTreeMap<String, serde_json::Value>,
    /// The delegation chain (`act`), outermost first.
    pub act: Vec<String>,
    /// How long the presented token lives (`exp` minus `iat`, seconds);
    /// absent when it has no `iat`, and in records written before it was
    /// recorded (they verify unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime_s: Option<u64>,
}

/// The tool called.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRecord {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `sha256:` digest of the component.
    pub digest: String,
    /// The pinned registry reference it was loaded from; absent for a
    /// component file or built-in tool (and in records written before
    /// registries, which verify unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The `[[tool_signers]]` name whose signature verified, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// One capability and its decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRecord {
    /// The Cedar action: `invoke`, `fs.read`, `net.connect`, ...
    pub action: String,
    /// The resource, as in explanations: `Path::"/workspace"`.
    pub resource: String,
    /// Whether it was allowed.
    pub allowed: bool,
    /// The policies that decided (empty: default deny).
    pub policies: Vec<String>,
}

/// What a call did beyond its result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    /// HTTP requests sent.
    pub requests: u32,
    /// Request-body bytes sent.
    pub bytes_sent: u64,
    /// Response-body bytes received.
    pub bytes_received: u64,
    /// Requests and socket uses refused inside the call (first
    /// [`MAX_REFUSALS`]).
    pub refusals: Vec<String>,
    /// Refusals not listed.
    pub refusals_dropped: u64,
    /// Secret values redacted from outputs, by secret name (never values).
    pub redactions: BTreeMap<String, u64>,
    /// What the call used of its grants. Absent when it used nothing, and
    /// in records written before it existed (they verify unchanged).
    #[serde(default, skip_serializing_if = "Usage::is_empty")]
    pub usage: Usage,
}

/// What a call used of the grants it was given; a grant that is absent
/// here was not used by the call. The grants themselves are the allowed
/// [`CapabilityRecord`]s beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Mounts used, by their path in the guest (the `Path` of `fs.read` and
    /// `fs.write`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mounts: BTreeMap<String, MountUse>,
    /// Destinations a request was sent to or a socket reached
    /// (`https://api.github.com:443`, `tcp://10.0.0.5:5432`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub destinations: BTreeSet<String>,
    /// Secrets attached to a request or revealed, by name.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub secrets: BTreeSet<String>,
    /// Environment variables the tool read, by name.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub env: BTreeSet<String>,
}

impl Usage {
    /// Whether the call used none of its grants.
    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty()
            && self.destinations.is_empty()
            && self.secrets.is_empty()
            && self.env.is_empty()
    }
}

/// How a mount was used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountUse {
    /// Something in it was opened for reading, listed or looked at.
    pub read: bool,
    /// Something in it was opened for writing, created, truncated,
    /// renamed, linked, removed or had its times set.
    pub written: bool,
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The tool returned output.
    Ok,
    /// Policy refused the call before anything ran (`invoke` denied, or the
    /// tool is unknown to the caller).
    Refused,
    /// The arguments did not match the tool's input schema; nothing ran.
    InvalidInput,
    /// The tool ran and returned its `denied` error (it was refused
    /// something it tried).
    Denied,
    /// The tool ran and returned an error.
    ToolError,
    /// A limit ended the call (timeout, memory, stack, output).
    Limit,
    /// The tool trapped.
    Trap,
    /// The client went away and the call was cancelled.
    Cancelled,
    /// The runtime could not start or finish the call.
    Internal,
    /// Policy allows the call only with a human's approval, which it did
    /// not have: a request was filed and nothing ran.
    ApprovalRequired,
}

impl Outcome {
    /// The name used in the log and by `audit query --outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::InvalidInput => "invalid_input",
            Self::Denied => "denied",
            Self::ToolError => "tool_error",
            Self::Limit => "limit",
            Self::Trap => "trap",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
            Self::ApprovalRequired => "approval_required",
        }
    }
}

/// `text`, cut to [`MAX_TEXT`] bytes at a character boundary.
pub fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &text[..end], text.len() - end)
}
