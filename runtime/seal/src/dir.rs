//! Directories only the running user can write.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::SealError;

/// A directory owned by the running user, mode 0700 when airlock created
/// it, with no group or other write bit on it and no directory above it
/// writable by another account.
#[derive(Clone, Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates `path` (and missing parents, mode 0700) if it does not exist,
    /// then checks it: a real directory (not a symlink), owned by the
    /// running user, not writable by group or others; every directory above
    /// it owned by the user or root and not writable by group or others
    /// unless it is sticky (`/tmp`). Refused with [`SealError::Untrusted`]
    /// otherwise; nothing in it is then read.
    pub fn open(path: &Path) -> Result<Self, SealError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| SealError::io(path, &e))?;
        let path = path.canonicalize().map_err(|e| SealError::io(path, &e))?;
        let user = rustix::process::geteuid().as_raw();
        let own = std::fs::symlink_metadata(&path).map_err(|e| SealError::io(&path, &e))?;
        if !own.is_dir() {
            return Err(SealError::untrusted(&path, "not a directory"));
        }
        if own.uid() != user {
            return Err(SealError::untrusted(
                &path,
                format!("owned by uid {}, not by uid {user}", own.uid()),
            ));
        }
        if own.mode() & 0o022 != 0 {
            let mode = own.mode() & 0o7777;
            return Err(SealError::untrusted(&path, format!("mode {mode:o} lets other accounts write")));
        }
        for ancestor in path.ancestors().skip(1) {
            check_ancestor(ancestor, user)?;
        }
        Ok(Self { path })
    }

    /// The directory (canonical).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A directory inside it, created 0700 and checked like this one.
    pub fn subdir(&self, name: &str) -> Result<Self, SealError> {
        Self::open(&self.path.join(name))
    }
}

fn check_ancestor(dir: &Path, user: u32) -> Result<(), SealError> {
    let metadata = std::fs::metadata(dir).map_err(|e| SealError::io(dir, &e))?;
    if metadata.uid() != user && metadata.uid() != 0 {
        return Err(SealError::untrusted(
            dir,
            format!("a parent directory owned by uid {}, neither uid {user} nor root", metadata.uid()),
        ));
    }
    let sticky = metadata.permissions().mode() & 0o1000 != 0;
    if metadata.mode() & 0o022 != 0 && !sticky {
        let mode = metadata.mode() & 0o7777;
        return Err(SealError::untrusted(
            dir,
            format!("a parent directory with mode {mode:o} lets other accounts write"),
        ));
    }
    Ok(())
}
