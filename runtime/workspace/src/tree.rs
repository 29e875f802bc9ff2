//! A directory tree as metadata: every entry by relative path, symlinks
//! recorded as links (never followed).

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::WorkspaceError;

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
    /// Scans `root` (not following symlinks). Names that are not UTF-8,
    /// FIFOs, sockets and devices are errors naming the path.
    pub fn scan(root: &Path) -> Result<Self, WorkspaceError> {
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

/// Visits every entry under `root`, a directory before what it holds,
/// with its relative path, full path, entry and metadata. Symlinks are
/// reported, never followed.
pub(crate) fn walk(
    root: &Path,
    mut visit: impl FnMut(&str, &Path, &Entry, &Metadata) -> Result<(), WorkspaceError>,
) -> Result<(), WorkspaceError> {
    let mut pending: Vec<(PathBuf, String)> = vec![(root.to_owned(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let listing = std::fs::read_dir(&dir).map_err(|e| WorkspaceError::io(&dir, e))?;
        for item in listing {
            let item = item.map_err(|e| WorkspaceError::io(&dir, e))?;
            let path = item.path();
            let name =
                item.file_name().into_string().map_err(|_| WorkspaceError::NotUtf8 { path: path.clone() })?;
            let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let metadata = std::fs::symlink_metadata(&path).map_err(|e| WorkspaceError::io(&path, e))?;
            let entry = entry(&path, &metadata)?;
            visit(&relative, &path, &entry, &metadata)?;
            if entry.kind == EntryKind::Dir {
                pending.push((path, relative));
            }
        }
    }
    Ok(())
}

/// The entry `metadata` describes; `path` is read only for a symlink's
/// target.
pub(crate) fn entry(path: &Path, metadata: &Metadata) -> Result<Entry, WorkspaceError> {
    let file_type = metadata.file_type();
    let mode = metadata.permissions().mode() & 0o7777;
    let kind = if file_type.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| WorkspaceError::io(path, e))?;
        let target = target
            .into_os_string()
            .into_string()
            .map_err(|_| WorkspaceError::NotUtf8 { path: path.to_owned() })?;
        return Ok(Entry { kind: EntryKind::Symlink { target }, mode: 0 });
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
        return Err(WorkspaceError::Unsupported { path: path.to_owned(), kind });
    };
    Ok(Entry { kind, mode })
}
