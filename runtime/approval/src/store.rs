//! The approval store: requests, approvals and break-glass windows in one
//! SQLite database, so they survive restarts and are shared by every
//! airlock process using the directory.
//!
//! Every state change is one `IMMEDIATE` transaction whose `UPDATE` names
//! the state it expects; using an approval succeeds for exactly one caller
//! even when several processes race.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_policy::Principal;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{ApprovalError, CallRequest, MAX_BREAK_GLASS, Requester, StoreError};

/// The database file inside the store directory.
pub const DB_FILE: &str = "approvals.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    request TEXT NOT NULL,
    filed_ms INTEGER NOT NULL,
    pending_until_ms INTEGER NOT NULL,
    approver TEXT,
    approver_iss TEXT,
    reason TEXT,
    approved_ms INTEGER,
    approved_until_ms INTEGER,
    used_ms INTEGER
);
CREATE INDEX IF NOT EXISTS requests_by_hash ON requests (hash);
-- Windows bind the agent's (iss, sub). A store from before that has a
-- `break_glass` table keyed by sub alone; its windows are never read.
CREATE TABLE IF NOT EXISTS break_glass_windows (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    agent_iss TEXT NOT NULL,
    opener TEXT NOT NULL,
    opener_iss TEXT NOT NULL,
    reason TEXT NOT NULL,
    opened_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL
);
";

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

/// The SQLite-backed approval store.
#[derive(Debug)]
pub struct ApprovalStore {
    connection: Mutex<Connection>,
    dir: PathBuf,
}

impl ApprovalStore {
    /// Opens (creating if needed) the store in `dir`. The directory is
    /// created `0700`; one writable by group or others is refused, since
    /// whoever can write the database can approve anything. The database
    /// is `0600`, in WAL mode with `synchronous = FULL`: every commit is
    /// synced before it returns (one `fsync` of the log).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let fail = |reason: String| StoreError::Open { path: dir.to_owned(), reason };
        create_private_dir(dir).map_err(fail)?;
        let path = dir.join(DB_FILE);
        create_private_file(&path).map_err(fail)?;
        let connection = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .and_then(|()| connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"))
            .and_then(|()| connection.execute_batch(SCHEMA))
            .map_err(|e| fail(format!("not an airlock approval database: {e}")))?;
        Ok(Self { connection: Mutex::new(connection), dir: dir.to_owned() })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn with<T, E: From<StoreError> + From<rusqlite::Error>>(
        &self,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut connection = self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = body(&tx)?;
        tx.commit()?;
        Ok(value)
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
        let hash = request.hash();
        let now_ms = millis(now);
        self.with(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM requests WHERE hash = ?1 AND approver IS NULL AND pending_until_ms > ?2
                     ORDER BY filed_ms DESC LIMIT 1",
                    params![hash, now_ms],
                    |row| row.get(0),
                )
                .optional()?;
            let id = match existing {
                Some(id) => id,
                None => {
                    let id = new_id("apr")?;
                    tx.execute(
                        "INSERT INTO requests (id, hash, request, filed_ms, pending_until_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, hash, request.canonical(), now_ms, now_ms.saturating_add(millis_of(lifetime))],
                    )?;
                    id
                }
            };
            read(tx, &id, now_ms)?.ok_or_else(|| StoreError::Sql(format!("request `{id}` vanished")))
        })
    }

    /// The request `id` as it stands at `now`.
    pub fn get(&self, id: &str, now: SystemTime) -> Result<Filed, ApprovalError> {
        let now_ms = millis(now);
        self.with(|tx| read(tx, id, now_ms)?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned())))
    }

    /// How many requests stand in each [`State`] at `now`, in the order
    /// pending, approved (granted, not used yet), used, expired.
    pub fn counts(&self, now: SystemTime) -> Result<[(State, u64); 4], StoreError> {
        let now_ms = millis(now);
        let (pending, approved, used, all): (i64, i64, i64, i64) = self.with(|tx| {
            tx.query_row(
                "SELECT
                    COALESCE(SUM(used_ms IS NULL AND approver IS NULL AND pending_until_ms > ?1), 0),
                    COALESCE(SUM(used_ms IS NULL AND approver IS NOT NULL AND approved_until_ms > ?1), 0),
                    COALESCE(SUM(used_ms IS NOT NULL), 0),
                    COUNT(*)
                 FROM requests",
                params![now_ms],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(StoreError::from)
        })?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let expired = all.saturating_sub(pending).saturating_sub(approved).saturating_sub(used);
        Ok([
            (State::Pending, count(pending)),
            (State::Approved, count(approved)),
            (State::Used, count(used)),
            (State::Expired, count(expired)),
        ])
    }

    /// Requests still waiting for a human at `now`, oldest first.
    pub fn pending(&self, now: SystemTime) -> Result<Vec<Filed>, StoreError> {
        let now_ms = millis(now);
        self.with(|tx| {
            let ids: Vec<String> = {
                let mut statement = tx.prepare(
                    "SELECT id FROM requests WHERE approver IS NULL AND pending_until_ms > ?1 ORDER BY filed_ms",
                )?;
                statement.query_map(params![now_ms], |row| row.get(0))?.collect::<Result<_, _>>()?
            };
            let mut all = Vec::with_capacity(ids.len());
            for id in ids {
                all.extend(read(tx, &id, now_ms)?);
            }
            Ok(all)
        })
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
        self.with(|tx| {
            let filed = read(tx, id, now_ms)?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned()))?;
            if let Some(relation) = filed.request.requester.relation_to(approver.sub()) {
                return Err(ApprovalError::SelfApproval { approver: approver.sub().to_owned(), relation });
            }
            match (&filed.approval, filed.state) {
                (_, State::Expired) => return Err(expired(id, filed.pending_until_ms)),
                (Some(granted), _) => {
                    return Err(ApprovalError::AlreadyApproved { id: id.to_owned(), by: granted.approver.clone() });
                }
                (None, _) => {}
            }
            let changed = tx.execute(
                "UPDATE requests SET approver = ?2, approver_iss = ?3, reason = ?4, approved_ms = ?5, approved_until_ms = ?6
                 WHERE id = ?1 AND approver IS NULL",
                params![id, approver.sub(), approver.iss(), reason, now_ms, now_ms.saturating_add(millis_of(lifetime))],
            )?;
            if changed != 1 {
                return Err(StoreError::Sql(format!("request `{id}` changed while being approved")).into());
            }
            read(tx, id, now_ms)?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned()))
        })
    }

    /// Uses the approval of request `id` for `call`: refused unless `call`
    /// hashes to the approved request and the approval is granted, unused
    /// and unexpired. Exactly one caller can use an approval.
    pub fn redeem(&self, id: &str, call: &CallRequest, now: SystemTime) -> Result<Authority, ApprovalError> {
        let now_ms = millis(now);
        let presented = call.hash();
        self.with(|tx| {
            let filed = read(tx, id, now_ms)?.ok_or_else(|| ApprovalError::UnknownRequest(id.to_owned()))?;
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
            let changed = tx.execute(
                "UPDATE requests SET used_ms = ?2 WHERE id = ?1 AND used_ms IS NULL AND approved_until_ms > ?2",
                params![id, now_ms],
            )?;
            if changed != 1 {
                return Err(ApprovalError::AlreadyUsed { id: id.to_owned(), at: format_ms(now_ms) });
            }
            Ok(Authority::Approval { id: id.to_owned(), hash: filed.hash, granted })
        })
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
        self.with(|tx| {
            tx.execute(
                "INSERT INTO break_glass_windows
                     (id, agent, agent_iss, opener, opener_iss, reason, opened_ms, until_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    window.id,
                    window.agent,
                    window.agent_iss,
                    window.opener,
                    window.opener_iss,
                    window.reason,
                    window.opened_ms,
                    window.until_ms
                ],
            )?;
            Ok::<_, ApprovalError>(())
        })?;
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
        let now_ms = millis(now);
        self.with(|tx| {
            let mut statement = tx.prepare(
                "SELECT id, agent, agent_iss, opener, opener_iss, reason, opened_ms, until_ms
                 FROM break_glass_windows
                 WHERE agent = ?1 AND agent_iss = ?2 AND opened_ms <= ?3 AND until_ms > ?3
                 ORDER BY opened_ms DESC",
            )?;
            let windows = statement.query_map(params![requester.sub, requester.iss, now_ms], |row| {
                Ok(BreakGlass {
                    id: row.get(0)?,
                    agent: row.get(1)?,
                    agent_iss: row.get(2)?,
                    opener: row.get(3)?,
                    opener_iss: row.get(4)?,
                    reason: row.get(5)?,
                    opened_ms: row.get(6)?,
                    until_ms: row.get(7)?,
                })
            })?;
            let mut open = Vec::new();
            for window in windows {
                let window = window?;
                if requester.relation_to(&window.opener).is_none() {
                    open.push(window);
                }
            }
            Ok(open)
        })
    }
}

fn expired(id: &str, at_ms: i64) -> ApprovalError {
    ApprovalError::Expired { id: id.to_owned(), at: format_ms(at_ms) }
}

fn read(tx: &rusqlite::Transaction<'_>, id: &str, now_ms: i64) -> Result<Option<Filed>, StoreError> {
    type Row = (
        String,
        String,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = tx
        .query_row(
            "SELECT hash, request, filed_ms, pending_until_ms, approver, approver_iss, reason, approved_ms,
                    approved_until_ms, used_ms FROM requests WHERE id = ?1",
            params![id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            },
        )
        .optional()?;
    let Some((
        hash,
        text,
        filed_ms,
        pending_until_ms,
        approver,
        approver_iss,
        reason,
        approved_ms,
        until_ms,
        used_ms,
    )) = row
    else {
        return Ok(None);
    };
    let corrupt = |reason: String| StoreError::Corrupt { id: id.to_owned(), reason };
    let request: CallRequest = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if request.hash() != hash {
        return Err(corrupt("its stored hash does not match its content".into()));
    }
    let approval = match (approver, approver_iss, approved_ms, until_ms) {
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
    Ok(Some(Filed { id: id.to_owned(), hash, request, filed_ms, pending_until_ms, approval, used_ms, state }))
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

fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| format!("cannot create the directory: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).map_err(|e| e.to_string())?.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "the directory is writable by group or others (mode {:o}); whoever can write it can approve anything: chmod 700 it",
                mode & 0o777
            ));
        }
    }
    Ok(())
}

fn create_private_file(path: &Path) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|e| format!("cannot open `{}`: {e}", path.display()))
}
