//! What airlock keeps for itself, kept where only its user can reach it.
//!
//! A [`PrivateDir`] is a directory airlock writes state into (apply
//! journals, compiled artifacts): it must be owned by the running user and
//! writable by nobody else, and so must every directory above it (root's
//! and sticky directories such as `/tmp` excepted), the rule ssh applies
//! with `StrictModes`. Anything else is refused, because whoever can write
//! there can plant what airlock later trusts.
//!
//! A [`SealKey`] is a per-user secret (32 random bytes in a 0600 file in a
//! private directory) that authenticates what airlock wrote: a sealed file
//! nobody with the key wrote is refused before it is parsed.
#![forbid(unsafe_code)]

mod dir;
mod key;
mod replace;

pub use dir::PrivateDir;
pub use key::{SealKey, SealStream};
pub use replace::replace_file;

/// A private directory or sealed file that cannot be trusted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The directory or file could not be created or read.
    #[error("{path}: {reason}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Another account could write to it, or it is not what it should be.
    #[error("{path}: {reason}; airlock keeps its state only where no other account can write")]
    Untrusted {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sealed file whose seal does not verify: written by someone without
    /// the key, or altered since.
    #[error("{path}: not sealed by this user's airlock key (written by someone else, or altered)")]
    BadSeal {
        /// The file.
        path: String,
    },
}

impl SealError {
    pub(crate) fn io(path: &std::path::Path, error: &std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), reason: error.to_string() }
    }

    pub(crate) fn untrusted(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Untrusted { path: path.display().to_string(), reason: reason.into() }
    }
}
