//! A changeset as a git-style unified diff, for `--dry-run`: `git apply`
//! (or `patch -p1`) applies it to the workspace it was made against.

use std::fmt::Write as _;

use cap_std::fs::Dir;
use similar::TextDiff;

use crate::{Change, ChangeKind, Changeset, Entry, EntryKind, Stage, WorkspaceError, handle};

/// Why a changeset cannot be written as a text patch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// A file's old or new content is not UTF-8 text.
    #[error("{path}: binary content cannot be written as a text patch")]
    Binary {
        /// The path, relative to the workspace.
        path: String,
    },
    /// A path git would have to quote (a quote, backslash or control
    /// character in it).
    #[error("{path:?}: a path with quotes, backslashes or control characters cannot be written to a patch")]
    Unquotable {
        /// The path, relative to the workspace.
        path: String,
    },
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] WorkspaceError),
}

/// The patch for `changes` made in `stage`: a `diff --git` section per
/// changed file, symlink or mode. Directories appear only through the
/// files in them (git does not track empty directories).
pub fn patch(stage: &Stage, changes: &Changeset) -> Result<String, PatchError> {
    let mut out = String::new();
    for change in changes.changes() {
        section(&mut out, stage, change)?;
    }
    Ok(out)
}

fn section(out: &mut String, stage: &Stage, change: &Change) -> Result<(), PatchError> {
    let path = &change.path;
    if path.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return Err(PatchError::Unquotable { path: path.clone() });
    }
    let before = change.before.as_ref().filter(|e| e.kind != EntryKind::Dir);
    let after = change.after.as_ref().filter(|e| e.kind != EntryKind::Dir);
    if before.is_none() && after.is_none() {
        return Ok(());
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, "diff --git a/{path} b/{path}");
    match (before, after) {
        (None, Some(new)) => {
            let _ = writeln!(out, "new file mode {}", git_mode(new));
        }
        (Some(old), None) => {
            let _ = writeln!(out, "deleted file mode {}", git_mode(old));
        }
        (Some(old), Some(new)) if git_mode(old) != git_mode(new) => {
            let _ = writeln!(out, "old mode {}\nnew mode {}", git_mode(old), git_mode(new));
        }
        _ => {}
    }
    if change.kind == ChangeKind::ModeChanged {
        return Ok(());
    }
    let old = before.map(|e| content(e, stage.root(), path)).transpose()?.unwrap_or_default();
    let new = after.map(|e| content(e, stage.stage(), path)).transpose()?.unwrap_or_default();
    if old == new {
        return Ok(());
    }
    let from = if before.is_some() { format!("a/{path}") } else { "/dev/null".into() };
    let to = if after.is_some() { format!("b/{path}") } else { "/dev/null".into() };
    let diff = TextDiff::from_lines(old.as_str(), new.as_str());
    let _ = write!(out, "{}", diff.unified_diff().context_radius(3).header(&from, &to));
    Ok(())
}

/// Git's mode for an entry: only symlinks, executables and plain files.
fn git_mode(entry: &Entry) -> &'static str {
    match entry.kind {
        EntryKind::Symlink { .. } => "120000",
        _ if entry.executable() => "100755",
        _ => "100644",
    }
}

/// What git diffs for an entry: a file's text, a symlink's target.
fn content(entry: &Entry, dir: &Dir, path: &str) -> Result<String, PatchError> {
    match &entry.kind {
        EntryKind::Symlink { target } => Ok(target.clone()),
        _ => {
            let bytes = handle::read(dir, path)?;
            match String::from_utf8(bytes) {
                Ok(text) if !text.contains('\0') => Ok(text),
                _ => Err(PatchError::Binary { path: path.to_owned() }),
            }
        }
    }
}
