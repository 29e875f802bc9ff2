//! Why a workspace could not be read or compared.

use std::path::PathBuf;

/// A workspace or stage that cannot be scanned or compared. Nothing is
/// applied when this happens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkspaceError {
    /// A file or directory could not be read.
    #[error("{}: {reason}", path.display().to_string().escape_debug())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An entry was replaced while it was being read (a different inode, or
    /// no longer a regular file or directory): nothing swapped in is
    /// followed.
    #[error("{}: replaced while airlock read it; nothing swapped in is followed", path.escape_debug())]
    Swapped {
        /// The path, relative to its root.
        path: String,
    },
    /// The checkout's regular files add up to more than the stage budget
    /// (apparent sizes: a sparse file counts in full).
    #[error(
        "the workspace holds at least {bytes_at_least} bytes of files, over the stage budget of {limit} bytes (--stage-max-bytes)"
    )]
    TooLarge {
        /// Bytes counted when the budget was passed.
        bytes_at_least: u64,
        /// The budget.
        limit: u64,
    },
    /// airlock's own state directory or a sealed journal cannot be trusted.
    #[error(transparent)]
    State(airlock_seal::SealError),
    /// The workspace has an apply that did not finish: it must be
    /// recovered before it is applied to again.
    #[error("{}: an earlier apply did not finish; recover it first", workspace.display())]
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
    /// A directory the changeset removes (or replaces with a file) holds
    /// something the changeset does not remove: an entry never staged (a
    /// FIFO, socket, device, or a name that is not UTF-8) or one added
    /// during the call. Removing it could not finish, so nothing was
    /// applied.
    #[error("{path}: holds `{holds}`, which the tool's changes do not remove; nothing was applied")]
    NotEmptied {
        /// The directory, relative to the workspace.
        path: String,
        /// What it still holds, relative to the workspace (a name that is
        /// not UTF-8 shown with its invalid bytes replaced).
        holds: String,
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

    /// The same error, naming `relative` (the full relative path) instead
    /// of the name it was opened by.
    pub(crate) fn at(self, relative: &str) -> Self {
        match self {
            Self::Io { reason, .. } => Self::Io { path: PathBuf::from(relative), reason },
            Self::Swapped { .. } => Self::Swapped { path: relative.to_owned() },
            other => other,
        }
    }
}
