//! airlock's tables, created and migrated by airlock itself: numbered
//! migrations applied in order, each once, in one transaction under an
//! advisory lock (replicas starting together wait for each other instead
//! of racing), recorded in `schema_migrations`.

use crate::{Database, StateError};

/// One step of the schema.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number: applied in increasing order.
    pub version: i32,
    /// What it does.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration this airlock knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "replay: token ids used, until they expire",
        sql: "CREATE TABLE replay (
                  key bytea PRIMARY KEY,
                  token bytea NOT NULL,
                  forget_after bigint NOT NULL
              );
              CREATE INDEX replay_forget_after ON replay (forget_after);",
    },
    Migration {
        version: 2,
        name: "audit: one hash chain for the fleet, and its head",
        sql: "CREATE TABLE audit (
                  seq bigint PRIMARY KEY,
                  line bytea NOT NULL
              );
              CREATE TABLE audit_head (
                  id smallint PRIMARY KEY CHECK (id = 1),
                  seq bigint NOT NULL,
                  hash text NOT NULL
              );
              INSERT INTO audit_head VALUES
                  (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');",
    },
    Migration {
        version: 3,
        name: "approvals: requests and break-glass windows for the fleet",
        sql: "CREATE TABLE approval_requests (
                  id text PRIMARY KEY,
                  hash text NOT NULL,
                  request text NOT NULL,
                  filed_ms bigint NOT NULL,
                  pending_until_ms bigint NOT NULL,
                  approver text,
                  approver_iss text,
                  reason text,
                  approved_ms bigint,
                  approved_until_ms bigint,
                  used_ms bigint
              );
              CREATE INDEX approval_requests_by_hash ON approval_requests (hash);
              CREATE TABLE break_glass_windows (
                  id text PRIMARY KEY,
                  agent text NOT NULL,
                  agent_iss text NOT NULL,
                  opener text NOT NULL,
                  opener_iss text NOT NULL,
                  reason text NOT NULL,
                  opened_ms bigint NOT NULL,
                  until_ms bigint NOT NULL
              );
              CREATE INDEX break_glass_by_agent ON break_glass_windows (agent, agent_iss);",
    },
];

/// Serialises migrations across processes (an arbitrary constant).
const MIGRATION_LOCK: i64 = 0x6169_726c_6f63_6b01;

/// Where a database's schema stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied, in order.
    pub applied: Vec<i32>,
    /// Known versions not applied yet.
    pub pending: Vec<i32>,
}

/// Creates the schema if missing and applies every pending migration.
/// Returns the versions it applied (none when the schema is current). A
/// database migrated by a newer airlock is refused.
pub fn migrate(database: &Database) -> Result<Vec<i32>, StateError> {
    let schema = database.schema().to_owned();
    let applied = database.run(move |mut client| async move {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 version integer PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .await?;
        let rows = tx.query(&format!("SELECT version FROM {schema}.schema_migrations"), &[]).await?;
        let done: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
        let mut applied = Vec::new();
        if done.iter().any(|v| *v > latest()) {
            tx.rollback().await?;
            return Ok(Err(done.into_iter().max().unwrap_or_default()));
        }
        for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
            tx.batch_execute(&format!("SET LOCAL search_path = {schema}; {}", migration.sql)).await?;
            tx.execute(
                &format!("INSERT INTO {schema}.schema_migrations (version, name) VALUES ($1, $2)"),
                &[&migration.version, &migration.name],
            )
            .await?;
            applied.push(migration.version);
        }
        tx.commit().await?;
        Ok(Ok(applied))
    })?;
    applied.map_err(|found| StateError::TooNew {
        target: database.target().to_owned(),
        found,
        known: latest(),
    })
}

/// Which migrations are applied and which are pending (read only: a
/// database never migrated has every one pending).
pub fn status(database: &Database) -> Result<MigrationStatus, StateError> {
    let schema = database.schema().to_owned();
    let mut applied: Vec<i32> = database.run(move |client| async move {
        let exists = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                 WHERE table_schema = $1 AND table_name = 'schema_migrations')",
                &[&schema],
            )
            .await?
            .get::<_, bool>(0);
        if !exists {
            return Ok(Vec::new());
        }
        let rows = client.query(&format!("SELECT version FROM {schema}.schema_migrations"), &[]).await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    })?;
    applied.sort_unstable();
    let pending = MIGRATIONS.iter().map(|m| m.version).filter(|v| !applied.contains(v)).collect();
    Ok(MigrationStatus { applied, pending })
}

fn latest() -> i32 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}
