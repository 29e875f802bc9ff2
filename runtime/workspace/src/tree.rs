//! A directory tree as metadata: every entry by relative path, symlinks
//! recorded as links (never followed).

use std::collections::BTreeMap;
use std::path::Path;

use cap_std::fs::{Dir, FileTypeExt, Metadata, MetadataExt, PermissionsExt};
use serde::Serialize;

use crate::{WorkspaceError, handle};

/// What is at a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File {
        /// Its length in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink {
        /// Where it points, as written.
        target: String,
    },
}

/// One entry of a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// What it is.
    #[serde(flatten)]
    pub kind: EntryKind,
    /// Permission bits (`0o755`, …); 0 for symlinks.
    pub mode: u32,
}

impl Entry {
    /// Whether it is a file anyone may execute.
    pub fn executable(&self) -> bool {
        matches!(self.kind, EntryKind::File { .. }) && self.mode & 0o111 != 0
    }
}

/// What identifies one version of a file on disk without reading it:
/// inode, size, modification and change times. Any write, truncation,
/// `chmod` or replacement changes the change time (which no tool can set)
/// or the inode, so an equal stamp means the bytes were not touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of `metadata`.
    pub fn of(metadata: &Metadata) -> Self {
        Self {
            ino: metadata.ino(),
            size: metadata.len(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// Every entry under a root, by `/`-separated relative path, with the
/// [`Stamp`] each had when scanned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<String, (Entry, Stamp)>,
}

impl Tree {
    /// Scans `root` (not following symlinks). FIFOs, sockets, devices and
    /// names that are not UTF-8 are left out (see [`Skipped`]).
    pub fn scan(root: &Path) -> Result<Self, WorkspaceError> {
        Self::scan_dir(&handle::open_root(root)?)
    }

    /// Scans the tree beneath an open root.
    pub(crate) fn scan_dir(root: &Dir) -> Result<Self, WorkspaceError> {
        let mut tree = Self::default();
        walk(root, |relative, _, entry, metadata| {
            tree.insert(relative.to_owned(), entry.clone(), Stamp::of(metadata));
            Ok(())
        })?;
        Ok(tree)
    }

    /// Records `entry` at `path`.
    pub(crate) fn insert(&mut self, path: String, entry: Entry, stamp: Stamp) {
        self.entries.insert(path, (entry, stamp));
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path).map(|(entry, _)| entry)
    }

    /// The stamp the entry at `path` had when scanned, if any.
    pub fn stamp(&self, path: &str) -> Option<Stamp> {
        self.entries.get(path).map(|(_, stamp)| *stamp)
    }

    /// Every entry, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(path, (entry, _))| (path.as_str(), entry))
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Something in a checkout that is never staged, read or opened: it is
/// data, not a failure. The tool does not see it, and a change at its path
/// is never applied (the workspace no longer matches what was staged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The path, relative to the root; a name that is not UTF-8 is shown
    /// with its invalid bytes replaced.
    pub path: String,
    /// What it is: `FIFO`, `socket`, `device`, or `name not UTF-8`.
    pub kind: &'static str,
}

/// Visits every entry beneath `root`, a directory before what it holds,
/// with its relative path, the open directory holding it, its entry and
/// its `lstat` metadata; returns what it skipped. Symlinks are reported,
/// never followed; each directory is opened through its parent's handle
/// and must be the inode its `lstat` showed.
pub(crate) fn walk(
    root: &Dir,
    mut visit: impl FnMut(&str, &Dir, &Entry, &Metadata) -> Result<(), WorkspaceError>,
) -> Result<Vec<Skipped>, WorkspaceError> {
    let mut skipped = Vec::new();
    let mut pending: Vec<(Dir, String)> = vec![(root.try_clone().map_err(|e| io(".", e))?, String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let shown = if prefix.is_empty() { "." } else { prefix.as_str() };
        for item in dir.entries().map_err(|e| io(shown, e))? {
            let item = item.map_err(|e| io(shown, e))?;
            let name = match item.file_name().into_string() {
                Ok(name) => name,
                Err(name) => {
                    let name = name.to_string_lossy();
                    let path = if prefix.is_empty() { name.into_owned() } else { format!("{prefix}/{name}") };
                    skipped.push(Skipped { path, kind: "name not UTF-8" });
                    continue;
                }
            };
            let relative = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let metadata = handle::lstat(&dir, &name).map_err(|e| io(&relative, e))?;
            let Some(entry) = entry(&dir, &name, &relative, &metadata, &mut skipped)? else { continue };
            visit(&relative, &dir, &entry, &metadata)?;
            if entry.kind == EntryKind::Dir {
                let child = handle::open_dir(&dir, &name, &metadata).map_err(|e| e.at(&relative))?;
                pending.push((child, relative));
            }
        }
    }
    Ok(skipped)
}

/// The entry `metadata` describes (the symlink's target is read through
/// `dir`), or `None` for what is never staged (recorded in `skipped`).
fn entry(
    dir: &Dir,
    name: &str,
    relative: &str,
    metadata: &Metadata,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<Entry>, WorkspaceError> {
    let file_type = metadata.file_type();
    let mode = metadata.permissions().mode() & 0o7777;
    let kind = if file_type.is_symlink() {
        let target = dir.read_link_contents(name).map_err(|e| io(relative, e))?;
        let Ok(target) = target.into_os_string().into_string() else {
            skipped.push(Skipped { path: relative.to_owned(), kind: "symlink target not UTF-8" });
            return Ok(None);
        };
        return Ok(Some(Entry { kind: EntryKind::Symlink { target }, mode: 0 }));
    } else if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_file() {
        EntryKind::File { size: metadata.len() }
    } else {
        let kind = if file_type.is_fifo() {
            "FIFO"
        } else if file_type.is_socket() {
            "socket"
        } else {
            "device"
        };
        skipped.push(Skipped { path: relative.to_owned(), kind });
        return Ok(None);
    };
    Ok(Some(Entry { kind, mode }))
}

fn io(relative: &str, error: std::io::Error) -> WorkspaceError {
    WorkspaceError::io(Path::new(relative), error)
}
