//! One audit hash chain for the whole fleet. Every replica appends to the
//! same table: the place in the chain (sequence number and previous hash)
//! is taken from the head row, locked for the append's transaction, so two
//! replicas can never fork the chain. A record is acknowledged only after
//! its transaction commits. The lines are byte for byte what a file log
//! holds, so `airlock audit verify` checks them with the same code.
//!
//! Appends are committed in groups: while one caller's transaction runs,
//! the records other callers of this process bring wait, and the next
//! transaction takes them all (one head-row lock, one commit, one `fsync`
//! for the group). The head row is the fleet's one point of order; grouping
//! is what lets a fleet's audited calls go past one commit at a time.

use std::sync::{Arc, Mutex, PoisonError, mpsc};

use airlock_audit::{AuditError, AuditSink, Checkpointer, Event, Receipt};

use crate::{Database, StateError};

/// Most records one transaction takes.
const MAX_GROUP: usize = 256;

/// [`AuditSink`] in PostgreSQL.
#[derive(Debug)]
pub struct PgAudit {
    database: Arc<Database>,
    checkpoints: Option<Arc<Checkpointer>>,
    queue: Mutex<Queue>,
}

/// Records waiting for the next group, and whether a caller is writing.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Waiting>,
    writing: bool,
}

/// One record and where its receipt goes.
#[derive(Debug)]
struct Waiting {
    event: Event,
    done: mpsc::SyncSender<Result<Receipt, AuditError>>,
}

impl PgAudit {
    /// The chain in `database` (migrated: see [`crate::migrate`]).
    pub fn new(database: Arc<Database>) -> Self {
        Self { database, checkpoints: None, queue: Mutex::default() }
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
            let mut chain = Chain::after(seq, hash);
            let signed = checkpoints.sign(chain.seq, &chain.hash);
            let receipt = match chain.seal(signed) {
                Ok(receipt) => receipt,
                Err(error) => return Ok(Err(error)),
            };
            chain.write(&tx).await?;
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
        self.database.ping().map_err(|error| self.unreachable(&error))
    }

    fn append(&self, event: Event) -> Result<Receipt, AuditError> {
        let (done, receipt) = mpsc::sync_channel(1);
        let lead = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push(Waiting { event, done });
            !std::mem::replace(&mut queue.writing, true)
        };
        if lead {
            // Writes groups until none is waiting. Leadership ends in the
            // same critical section that finds the queue empty, so a record
            // pushed after it finds no leader and leads itself; if a write
            // unwinds, the guard ends it too.
            let guard = Release(&self.queue);
            loop {
                let group: Vec<Waiting> = {
                    let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                    let take = queue.waiting.len().min(MAX_GROUP);
                    if take == 0 {
                        queue.writing = false;
                        break;
                    }
                    queue.waiting.drain(..take).collect()
                };
                self.write_group(group);
            }
            std::mem::forget(guard);
        }
        receipt.recv().unwrap_or_else(|_| {
            Err(AuditError::Io {
                path: self.database.target().into(),
                reason: "the audit writer stopped".to_owned(),
            })
        })
    }
}

impl PgAudit {
    /// Appends `group` in one transaction and sends each its receipt (all
    /// the same error if the transaction fails: none of them is written).
    fn write_group(&self, group: Vec<Waiting>) {
        let (events, senders): (Vec<Event>, Vec<_>) = group.into_iter().map(|w| (w.event, w.done)).unzip();
        let checkpoints = self.checkpoints.clone();
        let written = self.database.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE", &[]).await?;
            let mut chain = Chain::after(head.get(0), head.get(1));
            let mut receipts = Vec::with_capacity(events.len());
            for event in events {
                let receipt = chain.seal(event);
                if let (Ok(sealed), Some(checkpoints)) = (&receipt, &checkpoints)
                    && checkpoints.due(sealed.seq)
                {
                    // A checkpoint that cannot be sealed leaves the record
                    // unsigned until the next one; the record stands.
                    let _ = chain.seal(checkpoints.sign(sealed.seq, &sealed.hash));
                }
                receipts.push(receipt);
            }
            chain.write(&tx).await?;
            tx.commit().await?;
            Ok(receipts)
        });
        match written {
            Ok(receipts) => {
                for (done, receipt) in senders.into_iter().zip(receipts) {
                    let _ = done.send(receipt);
                }
            }
            Err(error) => {
                for done in senders {
                    let _ = done.send(Err(self.unreachable(&error)));
                }
            }
        }
    }
}

/// Lets the next caller lead if the leader unwinds (forgotten when it
/// ends normally).
struct Release<'a>(&'a Mutex<Queue>);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).writing = false;
    }
}

/// A group's records, sealed one after another from the head.
struct Chain {
    seq: u64,
    hash: String,
    seqs: Vec<i64>,
    lines: Vec<Vec<u8>>,
}

impl Chain {
    /// Nothing sealed yet, after the head row's `seq` and `hash`.
    fn after(seq: i64, hash: String) -> Self {
        Self { seq: u64::try_from(seq).unwrap_or_default(), hash, seqs: Vec::new(), lines: Vec::new() }
    }

    /// Inserts the sealed records and moves the head row to the last, in
    /// the caller's transaction (which holds the head row).
    async fn write(&self, tx: &tokio_postgres::Transaction<'_>) -> Result<(), tokio_postgres::Error> {
        if self.seqs.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO audit (seq, line) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
            &[&self.seqs, &self.lines],
        )
        .await?;
        let head = i64::try_from(self.seq).unwrap_or(i64::MAX);
        tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[&head, &self.hash]).await?;
        Ok(())
    }

    fn seal(&mut self, event: Event) -> Result<Receipt, AuditError> {
        let (record, line) = airlock_audit::seal_next(self.seq, &self.hash, event)?;
        self.seqs.push(i64::try_from(record.seq).unwrap_or(i64::MAX));
        self.lines.push(line);
        self.seq = record.seq;
        self.hash = record.hash.clone();
        Ok(Receipt { seq: record.seq, hash: record.hash })
    }
}
