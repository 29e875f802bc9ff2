//! Where approval requests and break-glass windows are kept: the storage
//! operations, each atomic on its own, under [`crate::ApprovalStore`]'s
//! logic. The embedded default is SQLite in a directory
//! ([`crate::ApprovalStore::open`]); a fleet shares one in PostgreSQL
//! (airlock-state), so a request filed on one replica is approved and
//! redeemed on another, exactly once.
//!
//! Every state change names the state it expects (`WHERE approver IS
//! NULL`, `WHERE used_ms IS NULL AND approved_until_ms > now`) and says
//! whether it changed a row: that, not a read before it, is what makes an
//! approval usable by exactly one caller however many race.

use crate::{BreakGlass, State, StoreError};

/// One stored request, as stored (see [`crate::Filed`] for its meaning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRequest {
    /// `apr-` and 26 random characters.
    pub id: String,
    /// The request's hash.
    pub hash: String,
    /// The request's canonical JSON.
    pub request: String,
    /// Filed at (ms since the epoch).
    pub filed_ms: i64,
    /// Waits for a human until (ms).
    pub pending_until_ms: i64,
    /// The approver's `sub`, once approved.
    pub approver: Option<String>,
    /// The approver's `iss`.
    pub approver_iss: Option<String>,
    /// The approver's reason.
    pub reason: Option<String>,
    /// Approved at (ms).
    pub approved_ms: Option<i64>,
    /// The approval is usable until (ms).
    pub approved_until_ms: Option<i64>,
    /// Used at (ms).
    pub used_ms: Option<i64>,
}

/// The storage operations. Implementations must make each one atomic.
pub trait ApprovalBackend: Send + Sync + std::fmt::Debug {
    /// The id of a request with `hash` still pending at `now_ms`, or, if
    /// there is none, `new_id` after inserting the request under it.
    fn file(
        &self,
        new_id: &str,
        hash: &str,
        request: &str,
        now_ms: i64,
        pending_until_ms: i64,
    ) -> Result<String, StoreError>;

    /// The request `id`, if stored.
    fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError>;

    /// Requests not approved and still pending at `now_ms`, oldest first.
    fn pending(&self, now_ms: i64) -> Result<Vec<StoredRequest>, StoreError>;

    /// Records the approval of `id` if it has none yet; whether it did.
    fn approve(
        &self,
        id: &str,
        approver: &str,
        approver_iss: &str,
        reason: Option<&str>,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Marks the approval of `id` used at `now_ms` if it is unused and
    /// unexpired; whether it did. Exactly one of any number of concurrent
    /// callers gets `true`.
    fn redeem(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;

    /// Stores a break-glass window.
    fn open_break_glass(&self, window: &BreakGlass) -> Result<(), StoreError>;

    /// Windows for `(agent_iss, agent)` open at `now_ms`, newest first.
    fn break_glass(&self, agent: &str, agent_iss: &str, now_ms: i64) -> Result<Vec<BreakGlass>, StoreError>;

    /// How many requests stand in each state at `now_ms`: pending,
    /// approved, used, expired.
    fn counts(&self, now_ms: i64) -> Result<[(State, u64); 4], StoreError>;
}
