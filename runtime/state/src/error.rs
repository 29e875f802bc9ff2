//! Why shared state could not be used.

/// Why the database could not be used. Messages name the host, port,
/// database and schema, never a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The settings are not usable (a URL that does not parse, a schema
    /// name that is not a plain identifier).
    #[error("state: {0}")]
    Config(String),
    /// The database could not be reached or refused the operation.
    #[error("state database {target}: {reason}")]
    Database {
        /// `host:port/database (schema S)`.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// The operation did not finish in time.
    #[error("state database {target}: no answer within {seconds} s")]
    Timeout {
        /// `host:port/database (schema S)`.
        target: String,
        /// The limit.
        seconds: u64,
    },
    /// The database's schema is newer than this airlock knows.
    #[error(
        "state database {target}: schema version {found} is newer than this airlock's {known}; upgrade airlock"
    )]
    TooNew {
        /// `host:port/database (schema S)`.
        target: String,
        /// The version in the database.
        found: i32,
        /// The newest version this airlock knows.
        known: i32,
    },
}
