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
    /// The workspace holds the journal of an apply that did not finish:
    /// it must be recovered before it is staged or applied to again.
    #[error(
        "{}: an earlier apply did not finish (`.airlock-apply/` is present); recover it first",
        workspace.display()
    )]
    PendingApply {
        /// The workspace.
        workspace: PathBuf,
    },
    /// An apply journal that cannot be written or read back.
    #[error("{}: apply journal: {reason}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A symlink was to be created or changed: airlock never applies one.
    #[error("{path}: creating or changing a symlink is never applied")]
    Symlink {
        /// The path, relative to the workspace.
        path: String,
    },
    /// A path the changeset touches changed in the workspace during the
    /// call; nothing was applied.
    #[error("{path}: changed in the workspace while the tool ran; nothing was applied")]
    ChangedDuringCall {
        /// The path, relative to the workspace.
        path: String,
    },
    /// A change lies on another filesystem than the workspace root (a
    /// mount point inside it), where it could not be applied atomically.
    #[error("{path}: on another filesystem than the workspace root; it cannot be applied atomically")]
    OtherFilesystem {
        /// The path, relative to the workspace.
        path: String,
    },
    /// An apply stopped by fault injection (tests only).
    #[error("apply interrupted (fault injection)")]
    Interrupted,
}

impl WorkspaceError {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), reason: error.to_string() }
    }
}
