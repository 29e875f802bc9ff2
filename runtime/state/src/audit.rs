//! One audit hash chain for the whole fleet. Every replica appends to the
//! same table: the place in the chain (sequence number and previous hash)
//! is taken from the head row, locked for the append's transaction, so two
//! replicas can never fork the chain. A record is acknowledged only after
//! its transaction commits. The lines are byte for byte what a file log
//! holds, so `airlock audit verify` checks them with the same code.

use std::sync::Arc;

use airlock_audit::{AuditError, AuditSink, Checkpointer, Event, Receipt};

use crate::{Database, StateError};

/// [`AuditSink`] in PostgreSQL.
#[derive(Debug)]
pub struct PgAudit {
    database: Arc<Database>,
    checkpoints: Option<Arc<Checkpointer>>,
}

impl PgAudit {
    /// The chain in `database` (migrated: see [`crate::migrate`]).
    pub fn new(database: Arc<Database>) -> Self {
        Self { database, checkpoints: None }
    }

    /// The same chain, with a signed checkpoint after every record whose
    /// sequence number is due by `checkpoints`, in the record's own
    /// transaction (as the file log does after its record).
    pub fn with_checkpoints(mut self, checkpoints: Checkpointer) -> Self {
        self.checkpoints = Some(Arc::new(checkpoints));
        self
    }

    /// Signs the chain head now. Nothing is written if the chain is empty
    /// or already ends with a checkpoint (`None` then), or if no key is
    /// configured.
    pub fn checkpoint(&self) -> Result<Option<Receipt>, AuditError> {
        let Some(checkpoints) = self.checkpoints.clone() else { return Ok(None) };
        let signed = self.database.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[]).await?;
            let (seq, hash): (i64, String) = (head.get(0), head.get(1));
            if seq == 0 {
                return Ok(Ok(None));
            }
            let last: Vec<u8> = tx.query_one("SELECT line FROM audit WHERE seq = $1", &[&seq]).await?.get(0);
            let ends_signed = serde_json::from_slice::<airlock_audit::Record>(&last)
                .is_ok_and(|record| matches!(record.event, Event::Checkpoint(_)));
            if ends_signed {
                return Ok(Ok(None));
            }
            let prev = u64::try_from(seq).unwrap_or_default();
            let receipt = match append_in(&tx, prev, &hash, checkpoints.sign(prev, &hash)).await? {
                Ok(receipt) => receipt,
                Err(error) => return Ok(Err(error)),
            };
            tx.commit().await?;
            Ok(Ok(Some(receipt)))
        });
        match signed {
            Ok(result) => result,
            Err(error) => Err(self.unreachable(&error)),
        }
    }

    fn unreachable(&self, error: &StateError) -> AuditError {
        AuditError::Io { path: self.database.target().into(), reason: error.to_string() }
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
        self.database
            .run(|client| async move { client.simple_query("SELECT 1").await.map(drop) })
            .map_err(|error| self.unreachable(&error))
    }

    fn append(&self, event: Event) -> Result<Receipt, AuditError> {
        let checkpoints = self.checkpoints.clone();
        let sealed = self.database.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[]).await?;
            let (seq, hash): (i64, String) = (head.get(0), head.get(1));
            let prev = u64::try_from(seq).unwrap_or_default();
            let receipt = match append_in(&tx, prev, &hash, event).await? {
                Ok(receipt) => receipt,
                Err(error) => return Ok(Err(error)),
            };
            if let Some(checkpoints) = checkpoints.filter(|c| c.due(receipt.seq)) {
                let signed = checkpoints.sign(receipt.seq, &receipt.hash);
                if let Err(error) = append_in(&tx, receipt.seq, &receipt.hash, signed).await? {
                    return Ok(Err(error));
                }
            }
            tx.commit().await?;
            Ok(Ok(receipt))
        });
        match sealed {
            Ok(result) => result,
            Err(error) => Err(self.unreachable(&error)),
        }
    }
}

/// Seals `event` after `prev`/`prev_hash`, inserts it and moves the head,
/// inside the caller's transaction (which holds the head row).
async fn append_in(
    tx: &tokio_postgres::Transaction<'_>,
    prev: u64,
    prev_hash: &str,
    event: Event,
) -> Result<Result<Receipt, AuditError>, tokio_postgres::Error> {
    let (record, line) = match airlock_audit::seal_next(prev, prev_hash, event) {
        Ok(sealed) => sealed,
        Err(error) => return Ok(Err(error)),
    };
    let seq = i64::try_from(record.seq).unwrap_or(i64::MAX);
    tx.execute("INSERT INTO audit (seq, line) VALUES ($1, $2)", &[&seq, &line]).await?;
    tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[&seq, &record.hash]).await?;
    Ok(Ok(Receipt { seq: record.seq, hash: record.hash }))
}
