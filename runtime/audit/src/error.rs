//! Audit errors.

use std::path::PathBuf;

/// The first problem a chain check found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit log broken at record {seq}: {reason}")]
pub struct ChainError {
    /// The sequence number where the chain breaks (the record that should
    /// be there).
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Why the log could not be opened or written. A call whose event cannot be
/// written is not run: there is no unaudited call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log directory or file cannot be used.
    #[error("audit log {path}: {reason}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The log's last record is not a record of this log.
    #[error("audit log {path}: {source}; run `airlock audit verify`")]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// What the check found.
        source: ChainError,
    },
    /// A checkpoint key could not be generated or encoded.
    #[error("checkpoint key: {0}")]
    Key(String),
    /// An event could not be encoded.
    #[error("cannot encode an audit event: {0}")]
    Encode(#[from] serde_json::Error),
}
