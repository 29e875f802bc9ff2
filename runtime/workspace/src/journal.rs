//! The apply journal: what an apply will do, written before it does it, so
//! a process killed half-way is finished (or undone) by [`recover`].
//!
//! Layout, inside the workspace root: `.airlock-apply/` holds the new file
//! contents (`0`, `1`, …) and `plan.json`. Renaming `plan.json` to
//! `commit.json` is the commit point. Before it, the workspace itself has
//! not been touched and recovery removes the directory; after it, recovery
//! replays every operation (each one idempotent) and then removes it.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::WorkspaceError;

/// The journal directory, relative to the workspace root.
pub const JOURNAL_DIR: &str = ".airlock-apply";
pub(crate) const PLAN: &str = "plan.json";
pub(crate) const COMMIT: &str = "commit.json";
const VERSION: u32 = 1;

/// One filesystem operation of an apply, by path relative to the
/// workspace root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Op {
    /// Remove a file or symlink.
    Remove { path: String },
    /// Remove an (already emptied) directory.
    RemoveDir { path: String },
    /// Create a directory.
    MakeDir { path: String },
    /// Rename the journal's file `temp` over `path`.
    Replace { path: String, temp: String },
    /// Set permission bits.
    Chmod { path: String, mode: u32 },
}

impl Op {
    /// The path it acts on.
    pub(crate) fn path(&self) -> &str {
        match self {
            Self::Remove { path }
            | Self::RemoveDir { path }
            | Self::MakeDir { path }
            | Self::Replace { path, .. }
            | Self::Chmod { path, .. } => path,
        }
    }
}

/// Everything one apply does, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Journal {
    pub(crate) version: u32,
    pub(crate) ops: Vec<Op>,
}

impl Journal {
    pub(crate) fn new(ops: Vec<Op>) -> Self {
        Self { version: VERSION, ops }
    }

    /// Writes the journal to `path` and syncs it.
    pub(crate) fn write(&self, path: &Path) -> Result<(), WorkspaceError> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| WorkspaceError::Journal { path: path.to_owned(), reason: e.to_string() })?;
        std::fs::write(path, bytes).map_err(|e| WorkspaceError::io(path, e))?;
        sync(path)
    }

    fn read(path: &Path) -> Result<Self, WorkspaceError> {
        let bytes = std::fs::read(path).map_err(|e| WorkspaceError::io(path, e))?;
        let journal: Self = serde_json::from_slice(&bytes)
            .map_err(|e| WorkspaceError::Journal { path: path.to_owned(), reason: e.to_string() })?;
        if journal.version != VERSION {
            let reason = format!("journal version {} (this airlock writes {VERSION})", journal.version);
            return Err(WorkspaceError::Journal { path: path.to_owned(), reason });
        }
        Ok(journal)
    }

    /// Carries out every operation under `root`. Each one is idempotent, so
    /// replaying a journal that was partly carried out finishes it.
    /// `after_each` runs after every operation (fault injection).
    pub(crate) fn replay(
        &self,
        root: &Path,
        mut after_each: impl FnMut() -> Result<(), WorkspaceError>,
    ) -> Result<(), WorkspaceError> {
        let journal_dir = dir(root);
        let mut touched = BTreeSet::new();
        for op in &self.ops {
            let path = root.join(op.path());
            match op {
                Op::Remove { .. } => ignore_missing(std::fs::remove_file(&path), &path)?,
                Op::RemoveDir { .. } => ignore_missing(std::fs::remove_dir(&path), &path)?,
                Op::MakeDir { .. } => match std::fs::create_dir(&path) {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
                    other => other.map_err(|e| WorkspaceError::io(&path, e))?,
                },
                Op::Replace { temp, .. } => {
                    let temp = journal_dir.join(temp);
                    if temp.exists() {
                        std::fs::rename(&temp, &path).map_err(|e| WorkspaceError::io(&path, e))?;
                    }
                }
                Op::Chmod { mode, .. } => {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                        .map_err(|e| WorkspaceError::io(&path, e))?
                }
            }
            touched.insert(path.parent().map_or_else(|| root.to_owned(), Path::to_owned));
            after_each()?;
        }
        for dir in touched.iter().filter(|d| d.is_dir()) {
            sync(dir)?;
        }
        Ok(())
    }
}

/// What [`recover`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// No unfinished apply.
    Clean,
    /// An apply died before its commit point: its journal was removed and
    /// the workspace is as it was before it.
    RolledBack,
    /// An apply died after its commit point: its remaining operations were
    /// carried out and the workspace holds the new state.
    RolledForward,
}

/// Finishes or undoes an apply that a killed process left in `workspace`.
/// Safe to call at any time; `airlock run --workspace` calls it first.
pub fn recover(workspace: &Path) -> Result<Recovery, WorkspaceError> {
    let journal_dir = dir(workspace);
    if !journal_dir.exists() {
        return Ok(Recovery::Clean);
    }
    let commit = journal_dir.join(COMMIT);
    let recovery = if commit.exists() {
        Journal::read(&commit)?.replay(workspace, || Ok(()))?;
        Recovery::RolledForward
    } else {
        Recovery::RolledBack
    };
    std::fs::remove_dir_all(&journal_dir).map_err(|e| WorkspaceError::io(&journal_dir, e))?;
    sync(workspace)?;
    Ok(recovery)
}

/// `fsync` on a file or directory.
pub(crate) fn sync(path: &Path) -> Result<(), WorkspaceError> {
    File::open(path).and_then(|f| f.sync_all()).map_err(|e| WorkspaceError::io(path, e))
}

fn ignore_missing(result: std::io::Result<()>, path: &Path) -> Result<(), WorkspaceError> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|e| WorkspaceError::io(path, e)),
    }
}

/// The journal directory of `workspace`.
pub(crate) fn dir(workspace: &Path) -> PathBuf {
    workspace.join(JOURNAL_DIR)
}
