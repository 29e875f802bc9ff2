//! Why a workspace could not be read or compared.

use std::path::PathBuf;

/// A workspace or stage that cannot be scanned or compared. Nothing is
/// applied when this happens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkspaceError {
    /// A file or directory could not be read.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A name that is not UTF-8: policy decides on paths as text, so such a
    /// change could not be checked.
    #[error("{}: the name is not UTF-8, so no policy can be checked for it", path.display())]
    NotUtf8 {
        /// The path.
        path: PathBuf,
    },
    /// A FIFO, socket or device: nothing a tool may leave in a checkout.
    #[error("{}: a {kind}, which a workspace may not contain", path.display())]
    Unsupported {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
}

impl WorkspaceError {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), reason: error.to_string() }
    }
}
