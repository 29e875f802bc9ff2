//! Why the store could not do what was asked. Messages name files and
//! secrets, never values.

use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("secret store `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// There is no store in this directory yet.
    #[error("no secret store in `{0}`: create one with `airlock secret init`")]
    NotInitialised(PathBuf),
    /// `init` found a store already there.
    #[error("`{0}` already exists: refusing to overwrite a secret store key")]
    Exists(PathBuf),
    /// The key file does not hold an age X25519 identity.
    #[error("secret store key `{path}` is not an age X25519 identity (AGE-SECRET-KEY-1...)")]
    BadKey {
        /// The key file.
        path: PathBuf,
    },
    /// The key does not open the store.
    #[error("the key `{key}` does not open the secret store `{store}` (it was encrypted to another key)")]
    WrongKey {
        /// The key file.
        key: PathBuf,
        /// The store file.
        store: PathBuf,
    },
    /// The store file is damaged or not a store.
    #[error("secret store `{store}` is unreadable: {reason}")]
    Corrupt {
        /// The store file.
        store: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Someone other than the owner may read or change the key or its directory.
    #[error("`{path}` is accessible by group or others (mode {mode:o}): chmod it to {wanted:o}")]
    Exposed {
        /// The file or directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
        /// The mode it should have.
        wanted: u32,
    },
    /// A name that is not a valid secret name.
    #[error("`{0}` is not a secret name (1-64 of A-Z a-z 0-9 _ - ., starting with a letter or _)")]
    BadName(String),
    /// The backend does not change secrets.
    #[error("this secret store is read-only")]
    ReadOnly,
}
