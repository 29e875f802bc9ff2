//! One audit hash chain for the whole fleet. Every replica appends to the
//! same table: the place in the chain (sequence number and previous hash)
//! is taken from the head row, locked for the append's transaction, so two
//! replicas can never fork the chain. A record is acknowledged only after
//! its transaction commits. The lines are byte for byte what a file log
//! holds, so `airlock audit verify` checks them with the same code.

use std::sync::Arc;

use airlock_audit::{AuditError, AuditSink, Event, Receipt};

use crate::{Database, StateError};

/// [`AuditSink`] in PostgreSQL.
#[derive(Debug)]
pub struct PgAudit {
    database: Arc<Database>,
}

impl PgAudit {
    /// The chain in `database` (migrated: see [`crate::migrate`]).
    pub fn new(database: Arc<Database>) -> Self {
        Self { database }
    }

    /// Every record's line in chain order: the log, as a file would hold it.
    pub fn lines(&self) -> Result<Vec<u8>, StateError> {
        self.database.run(|client| async move {
            let rows = client.query("SELECT line FROM audit ORDER BY seq", &[]).await?;
            Ok(rows.iter().flat_map(|row| row.get::<_, Vec<u8>>(0)).collect())
        })
    }

    /// Where the database is, as errors name it.
    pub fn target(&self) -> &str {
        self.database.target()
    }
}

impl AuditSink for PgAudit {
    fn ready(&self) -> Result<(), AuditError> {
        self.database.run(|client| async move { client.simple_query("SELECT 1").await.map(drop) }).map_err(
            |error| AuditError::Io { path: self.database.target().into(), reason: error.to_string() },
        )
    }

    fn append(&self, event: Event) -> Result<Receipt, AuditError> {
        let sealed = self.database.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[]).await?;
            let (seq, hash): (i64, String) = (head.get(0), head.get(1));
            let prev = u64::try_from(seq).unwrap_or_default();
            let (record, line) = match airlock_audit::seal_next(prev, &hash, event) {
                Ok(sealed) => sealed,
                Err(error) => return Ok(Err(error)),
            };
            let next = i64::try_from(record.seq).unwrap_or(i64::MAX);
            tx.execute("INSERT INTO audit (seq, line) VALUES ($1, $2)", &[&next, &line]).await?;
            tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[&next, &record.hash])
                .await?;
            tx.commit().await?;
            Ok(Ok(Receipt { seq: record.seq, hash: record.hash }))
        });
        match sealed {
            Ok(result) => result,
            Err(error) => {
                Err(AuditError::Io { path: self.database.target().into(), reason: error.to_string() })
            }
        }
    }
}
