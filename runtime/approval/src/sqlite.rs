//! The embedded approval store: one SQLite database in a private
//! directory, shared by every airlock process using the directory. Every
//! operation is one `IMMEDIATE` transaction.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::backend::{ApprovalBackend, StoredRequest};
use crate::{BreakGlass, State, StoreError};

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

const REQUEST_COLUMNS: &str = "id, hash, request, filed_ms, pending_until_ms, approver, approver_iss, reason, \
                               approved_ms, approved_until_ms, used_ms";

/// Requests and windows in `DIR/approvals.sqlite3`.
#[derive(Debug)]
pub(crate) struct SqliteApprovals {
    connection: Mutex<Connection>,
}

impl SqliteApprovals {
    /// Opens (creating if needed) the store in `dir`. The directory is
    /// created `0700`; one writable by group or others is refused, since
    /// whoever can write the database can approve anything. The database
    /// is `0600`, in WAL mode with `synchronous = FULL`: every commit is
    /// synced before it returns (one `fsync` of the log).
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
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
        Ok(Self { connection: Mutex::new(connection) })
    }

    fn with<T>(
        &self,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = body(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

fn request_row(r: &rusqlite::Row<'_>) -> Result<StoredRequest, rusqlite::Error> {
    Ok(StoredRequest {
        id: r.get(0)?,
        hash: r.get(1)?,
        request: r.get(2)?,
        filed_ms: r.get(3)?,
        pending_until_ms: r.get(4)?,
        approver: r.get(5)?,
        approver_iss: r.get(6)?,
        reason: r.get(7)?,
        approved_ms: r.get(8)?,
        approved_until_ms: r.get(9)?,
        used_ms: r.get(10)?,
    })
}

impl ApprovalBackend for SqliteApprovals {
    fn file(
        &self,
        new_id: &str,
        hash: &str,
        request: &str,
        now_ms: i64,
        pending_until_ms: i64,
    ) -> Result<String, StoreError> {
        self.with(|tx| {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM requests WHERE hash = ?1 AND approver IS NULL AND pending_until_ms > ?2
                     ORDER BY filed_ms DESC LIMIT 1",
                    params![hash, now_ms],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                return Ok(id);
            }
            tx.execute(
                "INSERT INTO requests (id, hash, request, filed_ms, pending_until_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![new_id, hash, request, now_ms, pending_until_ms],
            )?;
            Ok(new_id.to_owned())
        })
    }

    fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        self.with(|tx| {
            tx.query_row(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"),
                params![id],
                request_row,
            )
            .optional()
        })
    }

    fn pending(&self, now_ms: i64) -> Result<Vec<StoredRequest>, StoreError> {
        self.with(|tx| {
            let mut statement = tx.prepare(&format!(
                "SELECT {REQUEST_COLUMNS} FROM requests WHERE approver IS NULL AND pending_until_ms > ?1 ORDER BY filed_ms"
            ))?;
            statement.query_map(params![now_ms], request_row)?.collect()
        })
    }

    fn approve(
        &self,
        id: &str,
        approver: &str,
        approver_iss: &str,
        reason: Option<&str>,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.with(|tx| {
            tx.execute(
                "UPDATE requests SET approver = ?2, approver_iss = ?3, reason = ?4, approved_ms = ?5, approved_until_ms = ?6
                 WHERE id = ?1 AND approver IS NULL",
                params![id, approver, approver_iss, reason, now_ms, until_ms],
            )
            .map(|changed| changed == 1)
        })
    }

    fn redeem(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.with(|tx| {
            tx.execute(
                "UPDATE requests SET used_ms = ?2 WHERE id = ?1 AND used_ms IS NULL AND approved_until_ms > ?2",
                params![id, now_ms],
            )
            .map(|changed| changed == 1)
        })
    }

    fn open_break_glass(&self, window: &BreakGlass) -> Result<(), StoreError> {
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
            )
            .map(drop)
        })
    }

    fn break_glass(&self, agent: &str, agent_iss: &str, now_ms: i64) -> Result<Vec<BreakGlass>, StoreError> {
        self.with(|tx| {
            let mut statement = tx.prepare(
                "SELECT id, agent, agent_iss, opener, opener_iss, reason, opened_ms, until_ms
                 FROM break_glass_windows
                 WHERE agent = ?1 AND agent_iss = ?2 AND opened_ms <= ?3 AND until_ms > ?3
                 ORDER BY opened_ms DESC",
            )?;
            statement
                .query_map(params![agent, agent_iss, now_ms], |row| {
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
                })?
                .collect()
        })
    }

    fn counts(&self, now_ms: i64) -> Result<[(State, u64); 4], StoreError> {
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
        })?;
        Ok(crate::state_counts(pending, approved, used, all))
    }
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
