//! Why an approval step was refused, or the store failed.

use std::path::PathBuf;
use std::time::Duration;

/// A refused approval step. Each message names the request and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// No request has this id.
    #[error(
        "no approval request `{0}` (ids look like `apr-…`; `airlock approve --list` shows the pending ones)"
    )]
    UnknownRequest(String),
    /// The approver's token does not match any human rule.
    #[error("`{sub}` (issuer `{iss}`) is not a human approver: {why}")]
    NotHuman {
        /// The approver's `sub`.
        sub: String,
        /// The approver's `iss`.
        iss: String,
        /// Which rule it failed.
        why: String,
    },
    /// The approver is the requester, its owner or in its delegation chain.
    #[error("`{approver}` may not approve this request: it is {relation} (no self-approval)")]
    SelfApproval {
        /// The approver's `sub`.
        approver: String,
        /// How the approver is related to the requester.
        relation: &'static str,
    },
    /// The request was approved already.
    #[error("request `{id}` is already approved (by `{by}`)")]
    AlreadyApproved {
        /// The request id.
        id: String,
        /// Who approved it.
        by: String,
    },
    /// The approval was used already: approvals are single-use.
    #[error(
        "approval `{id}` was already used (at {at}); approvals are single-use, so the call needs a new one"
    )]
    AlreadyUsed {
        /// The request id.
        id: String,
        /// When it was used.
        at: String,
    },
    /// The request or its approval expired.
    #[error("request `{id}` expired at {at}; the call needs a new approval")]
    Expired {
        /// The request id.
        id: String,
        /// When it expired.
        at: String,
    },
    /// The request is still waiting for a human.
    #[error("request `{0}` is not approved yet: a human must run `airlock approve {0}`")]
    NotApproved(String),
    /// The call presented is not the one approved.
    #[error(
        "approval `{id}` is for request {approved}, but this call is request {presented}: a changed input, tool, grant, binding or caller needs a new approval"
    )]
    Mismatch {
        /// The request id.
        id: String,
        /// The hash that was approved.
        approved: String,
        /// The hash of the call presented.
        presented: String,
    },
    /// The principal is not named as a break-glass principal.
    #[error("`{0}` may not break glass: only the principals in the config's `approvals.break_glass` may")]
    NotBreakGlass(String),
    /// Break-glass without a reason.
    #[error("break-glass needs a non-empty --reason; it is recorded in the audit log")]
    ReasonRequired,
    /// Break-glass without the agent's `sub` and issuer.
    #[error(
        "break-glass needs the agent's `sub` (--agent) and issuer (--agent-issuer); a window lets through only that pair"
    )]
    AgentRequired,
    /// A requested lifetime is over the maximum.
    #[error("{what} of {asked:?} is longer than the maximum, {max:?}")]
    TooLong {
        /// What was asked for.
        what: &'static str,
        /// The lifetime asked.
        asked: Duration,
        /// The maximum.
        max: Duration,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The approval store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory or database cannot be used.
    #[error("approval store `{}`: {reason}", path.display())]
    Open {
        /// The store directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No store directory is configured.
    #[error(
        "no approval store: set `[approvals] dir` in the config (or AIRLOCK_APPROVALS, XDG_STATE_HOME or HOME)"
    )]
    NotConfigured,
    /// A query failed.
    #[error("approval store: {0}")]
    Sql(String),
    /// A stored request does not parse (the database was edited).
    #[error("approval store: request `{id}` is corrupt: {reason}")]
    Corrupt {
        /// The request id.
        id: String,
        /// Why.
        reason: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e.to_string())
    }
}

impl From<rusqlite::Error> for ApprovalError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}
