//! Approval requests and break-glass windows for the fleet: a request filed
//! on one replica is listed and approved from anywhere (`airlock approve`
//! with the same `[state]`) and redeemed on any replica exactly once. The
//! logic (states, self-approval, matching the call) is the approval
//! crate's; this is the storage, each operation one statement or one
//! transaction.

use std::sync::Arc;

use airlock_approval::{ApprovalBackend, BreakGlass, State, StoreError, StoredRequest};
use tokio_postgres::Row;

use crate::Database;

/// [`ApprovalBackend`] in PostgreSQL.
#[derive(Debug)]
pub struct PgApprovals {
    database: Arc<Database>,
}

impl PgApprovals {
    /// The store in `database` (migrated: see [`crate::migrate`]).
    pub fn new(database: Arc<Database>) -> Self {
        Self { database }
    }
}

const REQUEST_COLUMNS: &str = "id, hash, request, filed_ms, pending_until_ms, approver, approver_iss, reason, \
                               approved_ms, approved_until_ms, used_ms";

fn request(row: &Row) -> StoredRequest {
    StoredRequest {
        id: row.get(0),
        hash: row.get(1),
        request: row.get(2),
        filed_ms: row.get(3),
        pending_until_ms: row.get(4),
        approver: row.get(5),
        approver_iss: row.get(6),
        reason: row.get(7),
        approved_ms: row.get(8),
        approved_until_ms: row.get(9),
        used_ms: row.get(10),
    }
}

fn window(row: &Row) -> BreakGlass {
    BreakGlass {
        id: row.get(0),
        agent: row.get(1),
        agent_iss: row.get(2),
        opener: row.get(3),
        opener_iss: row.get(4),
        reason: row.get(5),
        opened_ms: row.get(6),
        until_ms: row.get(7),
    }
}

fn store_error(error: crate::StateError) -> StoreError {
    StoreError::Sql(error.to_string())
}

impl ApprovalBackend for PgApprovals {
    fn file(
        &self,
        new_id: &str,
        hash: &str,
        request: &str,
        now_ms: i64,
        pending_until_ms: i64,
    ) -> Result<String, StoreError> {
        let (new_id, hash, request) = (new_id.to_owned(), hash.to_owned(), request.to_owned());
        self.database
            .run(move |mut client| async move {
                let tx = client.transaction().await?;
                // One filer per request hash at a time: a retried call
                // finds the request its first try filed.
                tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&hash]).await?;
                let existing = tx
                    .query_opt(
                        "SELECT id FROM approval_requests WHERE hash = $1 AND approver IS NULL AND pending_until_ms > $2
                         ORDER BY filed_ms DESC LIMIT 1",
                        &[&hash, &now_ms],
                    )
                    .await?;
                let id = match existing {
                    Some(row) => row.get(0),
                    None => {
                        tx.execute(
                            "INSERT INTO approval_requests (id, hash, request, filed_ms, pending_until_ms)
                             VALUES ($1, $2, $3, $4, $5)",
                            &[&new_id, &hash, &request, &now_ms, &pending_until_ms],
                        )
                        .await?;
                        new_id
                    }
                };
                tx.commit().await?;
                Ok(id)
            })
            .map_err(store_error)
    }

    fn get(&self, id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let id = id.to_owned();
        self.database
            .run(move |client| async move {
                let sql = format!("SELECT {REQUEST_COLUMNS} FROM approval_requests WHERE id = $1");
                Ok(client.query_opt(&sql, &[&id]).await?.as_ref().map(request))
            })
            .map_err(store_error)
    }

    fn pending(&self, now_ms: i64) -> Result<Vec<StoredRequest>, StoreError> {
        self.database
            .run(move |client| async move {
                let sql = format!(
                    "SELECT {REQUEST_COLUMNS} FROM approval_requests
                     WHERE approver IS NULL AND pending_until_ms > $1 ORDER BY filed_ms"
                );
                Ok(client.query(&sql, &[&now_ms]).await?.iter().map(request).collect())
            })
            .map_err(store_error)
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
        let (id, approver, approver_iss, reason) =
            (id.to_owned(), approver.to_owned(), approver_iss.to_owned(), reason.map(str::to_owned));
        self.database
            .run(move |client| async move {
                let changed = client
                    .execute(
                        "UPDATE approval_requests SET approver = $2, approver_iss = $3, reason = $4,
                                approved_ms = $5, approved_until_ms = $6
                         WHERE id = $1 AND approver IS NULL",
                        &[&id, &approver, &approver_iss, &reason, &now_ms, &until_ms],
                    )
                    .await?;
                Ok(changed == 1)
            })
            .map_err(store_error)
    }

    fn redeem(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.database
            .run(move |client| async move {
                let changed = client
                    .execute(
                        "UPDATE approval_requests SET used_ms = $2
                         WHERE id = $1 AND used_ms IS NULL AND approved_until_ms > $2",
                        &[&id, &now_ms],
                    )
                    .await?;
                Ok(changed == 1)
            })
            .map_err(store_error)
    }

    fn open_break_glass(&self, opened: &BreakGlass) -> Result<(), StoreError> {
        let w = opened.clone();
        self.database
            .run(move |client| async move {
                client
                    .execute(
                        "INSERT INTO break_glass_windows
                             (id, agent, agent_iss, opener, opener_iss, reason, opened_ms, until_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &[
                            &w.id,
                            &w.agent,
                            &w.agent_iss,
                            &w.opener,
                            &w.opener_iss,
                            &w.reason,
                            &w.opened_ms,
                            &w.until_ms,
                        ],
                    )
                    .await
                    .map(drop)
            })
            .map_err(store_error)
    }

    fn break_glass(&self, agent: &str, agent_iss: &str, now_ms: i64) -> Result<Vec<BreakGlass>, StoreError> {
        let (agent, agent_iss) = (agent.to_owned(), agent_iss.to_owned());
        self.database
            .run(move |client| async move {
                let rows = client
                    .query(
                        "SELECT id, agent, agent_iss, opener, opener_iss, reason, opened_ms, until_ms
                         FROM break_glass_windows
                         WHERE agent = $1 AND agent_iss = $2 AND opened_ms <= $3 AND until_ms > $3
                         ORDER BY opened_ms DESC",
                        &[&agent, &agent_iss, &now_ms],
                    )
                    .await?;
                Ok(rows.iter().map(window).collect())
            })
            .map_err(store_error)
    }

    fn counts(&self, now_ms: i64) -> Result<[(State, u64); 4], StoreError> {
        let (pending, approved, used, all) = self
            .database
            .run(move |client| async move {
                let row = client
                    .query_one(
                        "SELECT
                            COUNT(*) FILTER (WHERE used_ms IS NULL AND approver IS NULL AND pending_until_ms > $1),
                            COUNT(*) FILTER (WHERE used_ms IS NULL AND approver IS NOT NULL AND approved_until_ms > $1),
                            COUNT(*) FILTER (WHERE used_ms IS NOT NULL),
                            COUNT(*)
                         FROM approval_requests",
                        &[&now_ms],
                    )
                    .await?;
                Ok((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2), row.get::<_, i64>(3)))
            })
            .map_err(store_error)?;
        Ok(airlock_approval::state_counts(pending, approved, used, all))
    }
}
