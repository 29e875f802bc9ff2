//! Where events go. The embedded default is [`crate::FileLog`]; a shared
//! store (a database, a log service) implements the same trait.

use crate::error::AuditError;
use crate::event::Event;

/// Where a written record sits in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash (the new chain head).
    pub hash: String,
}

/// An append-only, chained event log. `append` returns only once the record
/// is written (and as durable as the sink promises); an error means the
/// record was not written, and callers must not run an unaudited call.
pub trait AuditSink: Send + Sync {
    /// Appends `event` as the next record.
    fn append(&self, event: Event) -> Result<Receipt, AuditError>;

    /// Whether an append usually waits for a disk or a network (a sync per
    /// record, a remote store): a server then runs it where a long wait
    /// holds up no other call (`block_in_place`). `false` for a sink whose
    /// appends are usually quick in-memory work, which runs in place and
    /// costs no thread hand-off. Defaults to `true`, the safe answer.
    fn waits(&self) -> bool {
        true
    }

    /// Checks, just before a call runs, that its record could be written
    /// now (a remote store answers). An `Err` keeps the call from running:
    /// a call whose record cannot be written must not run. Default `Ok`:
    /// a local file is checked by the append itself.
    fn ready(&self) -> Result<(), AuditError> {
        Ok(())
    }
}
