//! What a tool changed: the workspace as it was against the stage after
//! the call.

use std::io::Read;
use std::path::Path;

use cap_std::fs::{Dir, File};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Entry, EntryKind, Tree, WorkspaceError, handle};

/// How a path changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It did not exist before.
    Added,
    /// Its content, link target or type changed (its mode may have too).
    Modified,
    /// It no longer exists.
    Deleted,
    /// Only its permission bits changed.
    ModeChanged,
}

impl ChangeKind {
    /// The name used in results and the audit log: `added`, `modified`,
    /// `deleted`, `mode_changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Deleted => "deleted",
            Self::ModeChanged => "mode_changed",
        }
    }
}

/// One changed path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `/`-separated, relative to the workspace root.
    pub path: String,
    /// How it changed.
    pub kind: ChangeKind,
    /// What was there before (`None` when added).
    pub before: Option<Entry>,
    /// What is there now (`None` when deleted).
    pub after: Option<Entry>,
    /// SHA-256 (hex) of the new content of an added or modified file.
    pub sha256: Option<String>,
}

/// Every change between two trees, in path order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changeset {
    changes: Vec<Change>,
}

impl Changeset {
    /// Compares the tree at `before` (the workspace) with the tree at
    /// `after` (the stage after the call). Files of equal size are compared
    /// byte for byte; symlinks by target; nothing is followed.
    pub fn between(before: &Path, after: &Path) -> Result<Self, WorkspaceError> {
        let (before, after) = (handle::open_root(before)?, handle::open_root(after)?);
        Self::compare(&Tree::scan_dir(&before)?, &before, &Tree::scan_dir(&after)?, &after, None)
    }

    /// Compares two scanned trees. `untouched` is the stage as it was
    /// right after staging: a file whose [`Stamp`](crate::Stamp) still
    /// matches it was never written, so it is not read again.
    pub(crate) fn compare(
        old: &Tree,
        before: &Dir,
        new: &Tree,
        after: &Dir,
        untouched: Option<&Tree>,
    ) -> Result<Self, WorkspaceError> {
        let mut changes = Vec::new();
        for (path, was) in old.iter() {
            if new.get(path).is_none() {
                changes.push(Change {
                    path: path.to_owned(),
                    kind: ChangeKind::Deleted,
                    before: Some(was.clone()),
                    after: None,
                    sha256: None,
                });
            }
        }
        for (path, now) in new.iter() {
            let was = old.get(path);
            if was.is_some()
                && untouched.and_then(|t| t.stamp(path)).is_some_and(|s| Some(s) == new.stamp(path))
            {
                continue;
            }
            let kind = match was {
                None => Some(ChangeKind::Added),
                Some(was) if !same_content(was, now, before, after, path)? => Some(ChangeKind::Modified),
                Some(was) if was.mode != now.mode => Some(ChangeKind::ModeChanged),
                Some(_) => None,
            };
            let Some(kind) = kind else { continue };
            let sha256 = match (&now.kind, kind) {
                (EntryKind::File { .. }, ChangeKind::Added | ChangeKind::Modified) => {
                    Some(sha256_file(after, path)?)
                }
                _ => None,
            };
            changes.push(Change {
                path: path.to_owned(),
                kind,
                before: was.cloned(),
                after: Some(now.clone()),
                sha256,
            });
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { changes })
    }

    #[cfg(test)]
    pub(crate) fn from_changes(changes: Vec<Change>) -> Self {
        Self { changes }
    }

    /// Every change, in path order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Whether two entries at the same path hold the same thing (ignoring
/// mode): same type, same link target, or files with equal bytes.
fn same_content(
    was: &Entry,
    now: &Entry,
    before: &Dir,
    after: &Dir,
    path: &str,
) -> Result<bool, WorkspaceError> {
    match (&was.kind, &now.kind) {
        (EntryKind::Dir, EntryKind::Dir) => Ok(true),
        (EntryKind::Symlink { target: a }, EntryKind::Symlink { target: b }) => Ok(a == b),
        (EntryKind::File { size: a }, EntryKind::File { size: b }) if a == b => {
            same_bytes(before, after, path)
        }
        _ => Ok(false),
    }
}

const CHUNK: usize = 64 * 1024;

fn same_bytes(before: &Dir, after: &Dir, path: &str) -> Result<bool, WorkspaceError> {
    let mut left = handle::open_file(before, path, None)?;
    let mut right = handle::open_file(after, path, None)?;
    let (mut x, mut y) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    loop {
        let n = read_full(&mut left, &mut x, path)?;
        let m = read_full(&mut right, &mut y, path)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buffer` is full or the file ends.
fn read_full(file: &mut File, buffer: &mut [u8], path: &str) -> Result<usize, WorkspaceError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(WorkspaceError::io(Path::new(path), e)),
        }
    }
    Ok(filled)
}

fn sha256_file(dir: &Dir, path: &str) -> Result<String, WorkspaceError> {
    let mut file = handle::open_file(dir, path, None)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = read_full(&mut file, &mut buffer, path)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}
