//! airlock's audit trail: every call produces one record, whatever its
//! outcome, in a log that shows afterwards if anything was edited,
//! deleted, inserted or reordered.
//!
//! Each record is RFC 8785 canonical JSON on one line, carrying its
//! sequence number, the previous record's hash (`prev`) and its own
//! SHA-256 (`hash`, over the record without it). [`verify`] replays the
//! chain and names the first bad sequence number. Records hold hashes of
//! inputs and outputs, secret *names* and policy ids, never secret values or
//! tokens.
//!
//! The sink is a trait ([`AuditSink`]); the embedded default is
//! [`FileLog`], a file in a private directory shared by every airlock
//! process through a lock, with a documented [`Durability`] and recovery
//! of a torn tail after a crash. With a [`Checkpointer`], the log also
//! carries Ed25519-signed checkpoints of the chain head, checked by
//! [`verify_signed`] with the public key.
#![forbid(unsafe_code)]

mod chain;
mod checkpoint;
mod error;
mod event;
mod file;
mod parse;
mod record;
mod refusals;
mod sink;

pub use chain::{ChainSummary, check_line, rfc3339, rfc3339_now, seal_next, verify, verify_reader};
pub use checkpoint::{
    Checkpointer, SignedSummary, checkpoint_message, key_id, public_key_from_pem, verify_signed,
    verify_signed_reader,
};
pub use error::{AuditError, ChainError};
pub use event::{
    ApprovalEvent, ApprovalRefusedEvent, ApprovalStatus, ApproverRecord, BreakGlassEvent, CallApproval,
    CallEvent, CapabilityRecord, ChangeRecord, CheckpointEvent, Effects, Event, GENESIS, MAX_REFUSALS,
    MAX_TEXT, MountUse, Outcome, PrincipalRecord, Record, RefusedChange, SCHEMA, TokensRefusedEvent,
    ToolRecord, ToolResolvedEvent, Usage, WorkspaceRecord, WorkspaceRecoveredEvent, WorkspaceStatus, bounded,
};
pub use file::{Durability, FileLog, LOG_FILE};
pub use parse::parse_record;
pub use record::{Ending, input_sha256, sha256_hex};
pub use refusals::{DEFAULT_REFUSAL_WINDOW, RefusalLog};
pub use sink::{AuditSink, Receipt};
