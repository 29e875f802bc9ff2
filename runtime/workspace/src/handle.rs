//! Every file operation on a checkout or a stage goes through a directory
//! handle (`cap_std::fs::Dir`) of its root: a path is resolved beneath
//! that handle and never outside it, whatever symlinks the tree holds or
//! has swapped in at that moment. Nothing here takes an absolute path but
//! the one that opens a root.
//!
//! An entry is opened only after `lstat` said what it is, without blocking
//! (a FIFO swapped in is not waited on), and the opened object must be the
//! same inode `lstat` saw: a file or directory replaced between the two is
//! refused, not followed.

use std::io::Read;
use std::path::Path;

use cap_std::fs::{Dir, File, Metadata, MetadataExt, OpenOptions, OpenOptionsExt};

use crate::WorkspaceError;

/// Opens the root of a checkout or stage: the one absolute path.
pub(crate) fn open_root(path: &Path) -> Result<Dir, WorkspaceError> {
    Dir::open_ambient_dir(path, cap_std::ambient_authority()).map_err(|e| WorkspaceError::io(path, e))
}

/// `(device, inode)` of an open root.
pub(crate) fn identity(dir: &Dir, path: &Path) -> Result<(u64, u64), WorkspaceError> {
    let metadata = dir.dir_metadata().map_err(|e| WorkspaceError::io(path, e))?;
    Ok((metadata.dev(), metadata.ino()))
}

/// `lstat` of `relative` beneath `dir`.
pub(crate) fn lstat(dir: &Dir, relative: &str) -> std::io::Result<Metadata> {
    dir.symlink_metadata(relative)
}

/// Opens the regular file `relative` for reading: refused unless it is a
/// regular file and the very inode `seen` (when given) describes.
pub(crate) fn open_file(dir: &Dir, relative: &str, seen: Option<&Metadata>) -> Result<File, WorkspaceError> {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(nonblocking());
    let file = dir.open_with(relative, &options).map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    let opened = file.metadata().map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    let same = seen.is_none_or(|seen| (seen.dev(), seen.ino()) == (opened.dev(), opened.ino()));
    if !opened.is_file() || !same {
        return Err(WorkspaceError::Swapped { path: relative.to_owned() });
    }
    Ok(file)
}

/// Opens the directory `relative` beneath `dir`: refused unless it is the
/// very directory `seen` describes.
pub(crate) fn open_dir(dir: &Dir, relative: &str, seen: &Metadata) -> Result<Dir, WorkspaceError> {
    let opened = dir.open_dir(relative).map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    let now = opened.dir_metadata().map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    if (seen.dev(), seen.ino()) != (now.dev(), now.ino()) {
        return Err(WorkspaceError::Swapped { path: relative.to_owned() });
    }
    Ok(opened)
}

/// `fsync` on the directory `relative` beneath `dir` (`""`: `dir` itself).
pub(crate) fn sync_dir(dir: &Dir, relative: &str) -> Result<(), WorkspaceError> {
    let relative = if relative.is_empty() { "." } else { relative };
    dir.open(relative).and_then(|d| d.sync_all()).map_err(|e| WorkspaceError::io(Path::new(relative), e))
}

/// The whole content of the regular file `relative`.
pub(crate) fn read(dir: &Dir, relative: &str) -> Result<Vec<u8>, WorkspaceError> {
    let mut bytes = Vec::new();
    open_file(dir, relative, None)?
        .read_to_end(&mut bytes)
        .map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    Ok(bytes)
}

/// `O_NONBLOCK | O_NOFOLLOW | O_NOCTTY`: an open never waits on a FIFO or
/// a device, never follows a final symlink and never takes a terminal.
fn nonblocking() -> i32 {
    use rustix::fs::OFlags;
    (OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::NOCTTY).bits() as i32
}

/// The parent of a `/`-separated relative path (`""` for the root).
pub(crate) fn parent(relative: &str) -> &str {
    relative.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// Whether `path` is a relative path of plain names only: not empty, no
/// root, no `.` or `..`, no empty component, no NUL. Everything a journal
/// names is checked with this before anything is done with it.
pub(crate) fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path.split('/').all(|name| !name.is_empty() && name != "." && name != "..")
}
