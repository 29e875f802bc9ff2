//! The approval store: requests, approvals and break-glass windows, kept
//! by an [`ApprovalBackend`] (SQLite in a directory by default, shared by
//! every airlock process using it; PostgreSQL for a fleet), so they
//! survive restarts.
//!
//! The logic is here, once for every backend: what state a request is in,
//! who may approve it, whether a presented call is the one approved. Every
//! state change is a backend operation that names the state it expects;
//! using an approval succeeds for exactly one caller even when several
//! processes race.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_policy::Principal;

use crate::backend::{ApprovalBackend, StoredRequest};
use crate::sqlite::SqliteApprovals;
use crate::{ApprovalError, CallRequest, MAX_BREAK_GLASS, Requester, StoreError};

/// Where a filed request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for a human.
    Pending,
    /// Approved and not used yet.
    Approved,
    /// Approved and used (approvals are single-use).
    Used,
    /// Not approved in time, or approved and not used in time.
    Expired,
}

impl State {
    /// `pending`, `approved`, `used` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Used => "used",
            Self::Expired => "expired",
        }
    }
}

/// A human's approval of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The approver's `sub`.
    pub approver: String,
    /// The approver's `iss`.
    pub approver_iss: String,
    /// Why, as the approver wrote it.
    pub reason: Option<String>,
    /// When (ms since the epoch).
    pub approved_ms: i64,
    /// Usable until (ms since the epoch).
    pub until_ms: i64,
}

/// A filed request and where it stands.
#[derive(Clone, Debug)]
pub struct Filed {
    /// `apr-` and 26 random characters.
    pub id: String,
    /// [`CallRequest::hash`].
    pub hash: String,
    /// The request.
    pub request: CallRequest,
    /// When it was filed (ms since the epoch).
    pub filed_ms: i64,
    /// Waits for a human until (ms since the epoch).
    pub pending_until_ms: i64,
    /// The approval, once granted.
    pub approval: Option<Granted>,
    /// When the approval was used.
    pub used_ms: Option<i64>,
    /// Where it stands at the time it was read.
    pub state: State,
}

/// An open break-glass window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakGlass {
    /// `brk-` and 26 random characters.
    pub id: String,
    /// The agent `sub` whose calls it lets through.
    pub agent: String,
    /// The agent's issuer: a window lets through only tokens from this
    /// issuer, so a second trusted issuer minting the same `sub` gets
    /// nothing.
    pub agent_iss: String,
    /// Who opened it.
    pub opener: String,
    /// The opener's issuer.
    pub opener_iss: String,
    /// Why (required).
    pub reason: String,
    /// When it opened (ms since the epoch).
    pub opened_ms: i64,
    /// Open until (ms since the epoch).
    pub until_ms: i64,
}

/// What lets a call that needs approval run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authority {
    /// A human approved this very request; the approval is now used.
    Approval {
        /// The request id.
        id: String,
        /// The request hash.
        hash: String,
        /// The approval.
        granted: Granted,
    },
    /// A break-glass window is open for the agent.
    BreakGlass(BreakGlass),
}

/// The approval store: the logic over an [`ApprovalBackend`].
#[derive(Debug)]
pub struct ApprovalStore {
    backend: Box<dyn ApprovalBackend>,
    sqlite_dir: Option<std::path::PathBuf>,
}

impl ApprovalStore {
    /// Opens (creating if needed) the embedded store in `dir`: SQLite in
    /// `DIR/approvals.sqlite3`. The directory is created `0700`; one
    /// writable by group or others is refused, since whoever can write the
    /// database can approve anything. Every commit is synced before it
    /// returns.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Ok(Self { backend: Box::new(SqliteApprovals::open(dir)?), sqlite_dir: Some(dir.to_owned()) })
    }

    /// A store kept by `backend` (a fleet's database).
    pub fn shared(backend: Box<dyn ApprovalBackend>) -> Self {
        Self { backend, sqlite_dir: None }
    }

    /// The embedded store's directory (`None` for a shared store).
    pub fn dir(&self) -> Option<&Path> {
        self.sqlite_dir.as_deref()
    }

    /// Files `request` to wait for a human until `now + lifetime`. A
    /// request with the same hash that is still pending is returned
    /// instead, so retrying a call does not pile up requests.
    pub fn file(
        &self,
        request: &CallRequest,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<Filed, StoreError> {
        let now_ms = millis(now);
        let id = self.backend.file(
            &new_id("apr")?,
            &request.hash(),
            &request.canonical(),
            now_ms,
            now_ms.saturating_add(millis_of(lifetime)),
        )?;
        self.read(&id, now_ms)?.ok_or_else(|| StoreError::Sql(format!("request `{id}` vanished")))
    }

    /// The request `id` as it stands at `now`.
    pub fn get(&self, id: &str, now: SystemTime) -> Result<Filed, ApprovalError> {
        self.read(id, millis(now))?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned()))
    }

    /// How many requests stand in each [`State`] at `now`, in the order
    /// pending, approved (granted, not used yet), used, expired.
    pub fn counts(&self, now: SystemTime) -> Result<[(State, u64); 4], StoreError> {
        self.backend.counts(millis(now))
    }

    /// Requests still waiting for a human at `now`, oldest first.
    pub fn pending(&self, now: SystemTime) -> Result<Vec<Filed>, StoreError> {
        let now_ms = millis(now);
        self.backend.pending(now_ms)?.into_iter().map(|stored| filed(stored, now_ms)).collect()
    }

    /// Records `approver`'s approval of request `id`, usable for
    /// `lifetime` from `now`. The caller checked that `approver` is human
    /// ([`crate::Approvers::check_human`]); this refuses self-approval (the
    /// requester, its owner, its `act` chain), a request already approved
    /// or used, and an expired one.
    pub fn approve(
        &self,
        id: &str,
        approver: &Principal,
        reason: Option<&str>,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<Filed, ApprovalError> {
        let now_ms = millis(now);
        let filed = self.read(id, now_ms)?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned()))?;
        if let Some(relation) = filed.request.requester.relation_to(approver.sub()) {
            return Err(ApprovalError::SelfApproval { approver: approver.sub().to_owned(), relation });
        }
        match (&filed.approval, filed.state) {
            (_, State::Expired) => return Err(expired(id, filed.pending_until_ms)),
            (Some(granted), _) => {
                return Err(ApprovalError::AlreadyApproved {
                    id: id.to_owned(),
                    by: granted.approver.clone(),
                });
            }
            (None, _) => {}
        }
        let until_ms = now_ms.saturating_add(millis_of(lifetime));
        if !self.backend.approve(id, approver.sub(), approver.iss(), reason, now_ms, until_ms)? {
            let by = self.read(id, now_ms)?.and_then(|f| f.approval).map(|g| g.approver).unwrap_or_default();
            return Err(ApprovalError::AlreadyApproved { id: id.to_owned(), by });
        }
        self.read(id, now_ms)?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned()))
    }

    /// Uses the approval of request `id` for `call`: refused unless `call`
    /// hashes to the approved request and the approval is granted, unused
    /// and unexpired. Exactly one caller can use an approval.
    pub fn redeem(&self, id: &str, call: &CallRequest, now: SystemTime) -> Result<Authority, ApprovalError> {
        let now_ms = millis(now);
        let presented = call.hash();
        let filed = self.read(id, now_ms)?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned()))?;
        if filed.hash != presented {
            return Err(ApprovalError::Mismatch { id: id.to_owned(), approved: filed.hash, presented });
        }
        let granted = match (filed.state, filed.approval, filed.used_ms) {
            (State::Used, _, Some(used)) => {
                return Err(ApprovalError::AlreadyUsed { id: id.to_owned(), at: format_ms(used) });
            }
            (State::Pending, ..) => return Err(ApprovalError::NotApproved(id.to_owned())),
            (State::Expired, Some(granted), _) => return Err(expired(id, granted.until_ms)),
            (State::Expired, None, _) => return Err(expired(id, filed.pending_until_ms)),
            (_, Some(granted), _) => granted,
            (_, None, _) => return Err(ApprovalError::NotApproved(id.to_owned())),
        };
        if !self.backend.redeem(id, now_ms)? {
            return Err(ApprovalError::AlreadyUsed { id: id.to_owned(), at: format_ms(now_ms) });
        }
        Ok(Authority::Approval { id: id.to_owned(), hash: filed.hash, granted })
    }

    /// Opens a break-glass window for the calls of agent `agent` from
    /// issuer `agent_iss`, by `opener` (checked by
    /// [`crate::Approvers::check_break_glass`]), from `now` for `duration`
    /// (at most [`MAX_BREAK_GLASS`]), with a required reason.
    pub fn open_break_glass(
        &self,
        opener: &Principal,
        agent: &str,
        agent_iss: &str,
        reason: &str,
        now: SystemTime,
        duration: Duration,
    ) -> Result<BreakGlass, ApprovalError> {
        if reason.trim().is_empty() {
            return Err(ApprovalError::ReasonRequired);
        }
        if duration > MAX_BREAK_GLASS {
            return Err(ApprovalError::TooLong {
                what: "break-glass window",
                asked: duration,
                max: MAX_BREAK_GLASS,
            });
        }
        if agent.trim().is_empty() || agent_iss.trim().is_empty() {
            return Err(ApprovalError::AgentRequired);
        }
        if opener.sub() == agent {
            return Err(ApprovalError::SelfApproval {
                approver: opener.sub().to_owned(),
                relation: "the agent the window is for",
            });
        }
        let now_ms = millis(now);
        let window = BreakGlass {
            id: new_id("brk")?,
            agent: agent.to_owned(),
            agent_iss: agent_iss.to_owned(),
            opener: opener.sub().to_owned(),
            opener_iss: opener.iss().to_owned(),
            reason: reason.to_owned(),
            opened_ms: now_ms,
            until_ms: now_ms.saturating_add(millis_of(duration)),
        };
        self.backend.open_break_glass(&window)?;
        Ok(window)
    }

    /// The open break-glass windows that let `requester`'s calls through at
    /// `now`, newest first: those for its `(iss, sub)`. A window opened by the requester's owner or by
    /// anyone in its `act` chain does not count (no self-approval).
    pub fn break_glass_for(
        &self,
        requester: &Requester,
        now: SystemTime,
    ) -> Result<Vec<BreakGlass>, StoreError> {
        let windows = self.backend.break_glass(&requester.sub, &requester.iss, millis(now))?;
        Ok(windows.into_iter().filter(|window| requester.relation_to(&window.opener).is_none()).collect())
    }

    fn read(&self, id: &str, now_ms: i64) -> Result<Option<Filed>, StoreError> {
        self.backend.get(id)?.map(|stored| filed(stored, now_ms)).transpose()
    }
}

/// The counts in [`ApprovalStore::counts`]' order from the numbers a
/// backend's query gives (`all` includes the expired).
pub fn state_counts(pending: i64, approved: i64, used: i64, all: i64) -> [(State, u64); 4] {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let expired = all.saturating_sub(pending).saturating_sub(approved).saturating_sub(used);
    [
        (State::Pending, count(pending)),
        (State::Approved, count(approved)),
        (State::Used, count(used)),
        (State::Expired, count(expired)),
    ]
}

fn expired(id: &str, at_ms: i64) -> ApprovalError {
    ApprovalError::Expired { id: id.to_owned(), at: format_ms(at_ms) }
}

/// A stored request checked and read at `now_ms`: its content must hash
/// to its stored hash, and an approval must be whole.
fn filed(stored: StoredRequest, now_ms: i64) -> Result<Filed, StoreError> {
    let StoredRequest {
        id,
        hash,
        request: text,
        filed_ms,
        pending_until_ms,
        approver,
        approver_iss,
        reason,
        approved_ms,
        approved_until_ms,
        used_ms,
    } = stored;
    let corrupt = |reason: String| StoreError::Corrupt { id: id.clone(), reason };
    let request: CallRequest = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if request.hash() != hash {
        return Err(corrupt("its stored hash does not match its content".into()));
    }
    let approval = match (approver, approver_iss, approved_ms, approved_until_ms) {
        (Some(approver), Some(approver_iss), Some(approved_ms), Some(until_ms)) => {
            Some(Granted { approver, approver_iss, reason, approved_ms, until_ms })
        }
        (None, None, None, None) => None,
        _ => return Err(corrupt("a partial approval".into())),
    };
    let state = match (&approval, used_ms) {
        (_, Some(_)) => State::Used,
        (Some(granted), None) if granted.until_ms > now_ms => State::Approved,
        (None, None) if pending_until_ms > now_ms => State::Pending,
        _ => State::Expired,
    };
    Ok(Filed { id, hash, request, filed_ms, pending_until_ms, approval, used_ms, state })
}

/// `prefix-` and 26 lowercase base-32 characters (130 random bits).
fn new_id(prefix: &str) -> Result<String, StoreError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 26];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Sql(format!("no randomness for an id: {e}")))?;
    let tail: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect();
    Ok(format!("{prefix}-{tail}"))
}

/// Milliseconds since the epoch (0 before it).
pub(crate) fn millis(time: SystemTime) -> i64 {
    millis_of(time.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn millis_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// RFC 3339 UTC of `ms` since the epoch.
pub fn format_ms(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0);
    airlock_audit::rfc3339(ms / 1000, u32::try_from(ms % 1000).unwrap_or(0))
}
