//! The stage: a private copy of the workspace that the tool is given
//! instead of the workspace itself.

use std::path::{Path, PathBuf};

use cap_std::fs::{Dir, File, OpenOptions, OpenOptionsExt, PermissionsExt};

use crate::apply::{self, Faults};
use crate::handle;
use crate::journal::Journals;
use crate::tree::{Skipped, Stamp, walk};
use crate::{Changeset, EntryKind, Tree, WorkspaceError};

/// How a stage is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageOptions {
    /// Where the stage directory is created; `None`: [`Stage::default_parent`],
    /// falling back to the system temporary directory when that is too small.
    pub parent: Option<PathBuf>,
    /// Most bytes of regular files (their apparent sizes, so a sparse file
    /// counts in full) one stage may hold. Default 1 GiB. A checkout over it
    /// is refused before anything is copied ([`WorkspaceError::TooLarge`]).
    pub max_bytes: u64,
}

impl StageOptions {
    /// The default stage budget: 1 GiB.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
}

impl Default for StageOptions {
    fn default() -> Self {
        Self { parent: None, max_bytes: Self::DEFAULT_MAX_BYTES }
    }
}

/// A copy of a workspace in a private temporary directory, removed when
/// dropped.
///
/// The checkout is read only through a handle of its root opened once
/// (nothing it holds or swaps in can redirect a read outside it); FIFOs,
/// sockets, devices and names that are not UTF-8 are never opened and not
/// staged ([`Stage::skipped`]). Files are copied with `copy_file_range`,
/// keeping permission bits and modification times; symlinks are recreated
/// as symlinks, never followed. The tool may do anything inside the stage:
/// nothing reaches the workspace until [`Stage::apply`] lands a checked
/// changeset.
#[derive(Debug)]
pub struct Stage {
    dir: tempfile::TempDir,
    /// The stage's root.
    stage: Dir,
    /// The workspace, canonical, as opened when staged.
    workspace: PathBuf,
    /// The workspace's root, opened once: every later read and write of
    /// the checkout goes through it.
    root: Dir,
    /// `(device, inode)` of the workspace root.
    identity: (u64, u64),
    /// The workspace as it was when staged.
    before: Tree,
    /// The stage right after copying: a stage file whose stamp still
    /// matches was never written, and is not read again to diff it.
    staged: Tree,
    skipped: Vec<Skipped>,
}

impl Stage {
    /// Copies `workspace` into a new private directory (mode 0700) as
    /// `options` say. A checkout whose regular files add up to more than
    /// `options.max_bytes` is refused before anything is copied.
    pub fn create(workspace: &Path, options: &StageOptions) -> Result<Self, WorkspaceError> {
        let workspace = workspace.canonicalize().map_err(|e| WorkspaceError::io(workspace, e))?;
        let root = handle::open_root(&workspace)?;
        match &options.parent {
            Some(parent) => Self::create_in(workspace, root, parent, options.max_bytes),
            None => {
                let default = Self::default_parent();
                let temp = std::env::temp_dir();
                let again = root.try_clone().map_err(|e| WorkspaceError::io(&workspace, e))?;
                match Self::create_in(workspace.clone(), root, &default, options.max_bytes) {
                    Err(WorkspaceError::Io { .. }) if default != temp => {
                        Self::create_in(workspace, again, &temp, options.max_bytes)
                    }
                    staged => staged,
                }
            }
        }
    }

    fn create_in(
        workspace: PathBuf,
        root: Dir,
        parent: &Path,
        max_bytes: u64,
    ) -> Result<Self, WorkspaceError> {
        let identity = handle::identity(&root, &workspace)?;
        let mut before = Tree::default();
        let mut total = 0u64;
        let skipped = walk(&root, |relative, _, entry, metadata| {
            if let EntryKind::File { size } = entry.kind {
                total = total.saturating_add(size);
                if total > max_bytes {
                    return Err(WorkspaceError::TooLarge { bytes_at_least: total, limit: max_bytes });
                }
            }
            before.insert(relative.to_owned(), entry.clone(), Stamp::of(metadata));
            Ok(())
        })?;
        let dir = tempfile::Builder::new()
            .prefix("airlock-stage-")
            .tempdir_in(parent)
            .map_err(|e| WorkspaceError::io(parent, e))?;
        let stage = handle::open_root(dir.path())?;
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        for (relative, entry) in before.iter() {
            match &entry.kind {
                EntryKind::Dir => {
                    stage
                        .create_dir(relative)
                        .map_err(|e| WorkspaceError::io(&dir.path().join(relative), e))?;
                    dirs.push((relative.to_owned(), entry.mode));
                }
                EntryKind::File { .. } => files.push(relative.to_owned()),
                EntryKind::Symlink { target: link } => {
                    stage
                        .symlink_contents(link, relative)
                        .map_err(|e| WorkspaceError::io(&dir.path().join(relative), e))?;
                }
            }
        }
        let mut staged = Tree::default();
        for (relative, stamp) in copy_all(&root, &stage, &before, files)? {
            if let Some(entry) = before.get(&relative).cloned() {
                staged.insert(relative, entry, stamp);
            }
        }
        // Directory modes last, deepest first: a read-only directory could
        // not have been filled.
        for (path, mode) in dirs.iter().rev() {
            stage
                .set_permissions(path, cap_std::fs::Permissions::from_mode(*mode))
                .map_err(|e| WorkspaceError::io(&dir.path().join(path), e))?;
        }
        Ok(Self { dir, stage, workspace, root, identity, before, staged, skipped })
    }

    /// Where stages go by default: `/dev/shm` (a tmpfs: creating 5,000
    /// files there costs a tenth of what it costs on a disk filesystem, and
    /// nothing is written back) when this system has it, the system
    /// temporary directory otherwise. A tmpfs stage holds the checkout in
    /// memory for the length of the call.
    pub fn default_parent() -> PathBuf {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() }
    }

    /// The stage directory: mount this for the tool.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The workspace this stage was copied from (canonical).
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The content of the regular file `relative` (a `/`-separated path)
    /// in the stage, read beneath the stage's root handle: a symlink, a
    /// FIFO or anything but a regular file is refused, never followed.
    pub fn read(&self, relative: &str) -> Result<Vec<u8>, WorkspaceError> {
        crate::handle::read(&self.stage, relative)
    }

    /// What was left out of the stage: FIFOs, sockets, devices, names that
    /// are not UTF-8. Never opened.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// What the tool changed: the stage now against the workspace as it
    /// was. Files the tool never wrote are recognised by their stamps and
    /// not read.
    pub fn changeset(&self) -> Result<Changeset, WorkspaceError> {
        let now = Tree::scan_dir(&self.stage)?;
        Changeset::compare(&self.before, &self.root, &now, &self.stage, Some(&self.staged))
    }

    /// Lands `changes` in the workspace, all or nothing. New content is
    /// written and synced to a fresh directory in the workspace named by
    /// a sealed journal in `journals` (airlock's own state, never the
    /// checkout); renaming that journal to its commit name is the one step
    /// that decides; the renames, removals and mode changes that follow are
    /// replayed by [`recover`](crate::recover) if the process dies. Every
    /// operation goes through the handle of the workspace root opened when
    /// it was staged. A workspace entry that changed since staging is
    /// refused before anything is written.
    pub fn apply(&self, changes: &Changeset, journals: &Journals) -> Result<(), WorkspaceError> {
        apply::apply(self, changes, journals, &mut Faults::None)
    }

    /// [`Stage::apply`], stopping dead (no clean-up, as if the process had
    /// been killed) after `steps` durable steps. For crash tests only.
    #[doc(hidden)]
    pub fn apply_interrupted(
        &self,
        changes: &Changeset,
        journals: &Journals,
        steps: usize,
    ) -> Result<(), WorkspaceError> {
        apply::apply(self, changes, journals, &mut Faults::After(steps))
    }

    /// The workspace as it was when staged.
    pub(crate) fn before(&self) -> &Tree {
        &self.before
    }

    /// The workspace root's handle.
    pub(crate) fn root(&self) -> &Dir {
        &self.root
    }

    /// The stage root's handle.
    pub(crate) fn stage(&self) -> &Dir {
        &self.stage
    }

    /// `(device, inode)` of the workspace root.
    pub(crate) fn identity(&self) -> (u64, u64) {
        self.identity
    }
}

/// Copies every file, on as many threads as there are cores (file creation
/// dominates staging, and it scales), and returns each copy's stamp.
fn copy_all(
    root: &Dir,
    stage: &Dir,
    before: &Tree,
    files: Vec<String>,
) -> Result<Vec<(String, Stamp)>, WorkspaceError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8);
    let mut shares: Vec<Vec<String>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, file) in files.into_iter().enumerate() {
        shares[i % threads].push(file);
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                scope.spawn(move || {
                    share
                        .into_iter()
                        .map(|relative| {
                            let stamp = copy_file(root, stage, before, &relative)?;
                            Ok((relative, stamp))
                        })
                        .collect::<Result<Vec<_>, WorkspaceError>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            match worker.join() {
                Ok(copied) => all.extend(copied?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(all)
    })
}

/// Copies one regular file of the checkout into the stage, keeping its
/// mode and modification time, and returns the copy's stamp. The file
/// opened must be the one scanned (same inode), and it must still have the
/// size scanned: a file grown since cannot slip past the stage budget.
fn copy_file(root: &Dir, stage: &Dir, before: &Tree, relative: &str) -> Result<Stamp, WorkspaceError> {
    let seen = handle::lstat(root, relative).map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    if before.stamp(relative) != Some(Stamp::of(&seen)) {
        return Err(WorkspaceError::Swapped { path: relative.to_owned() });
    }
    let from = handle::open_file(root, relative, Some(&seen))?;
    let mode = seen.permissions().mode();
    let to = copy_new(from, stage, relative, mode, seen.len())?;
    if let Ok(modified) = seen.modified() {
        to.into_std()
            .set_modified(modified.into_std())
            .map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    }
    let copied = handle::lstat(stage, relative).map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    Ok(Stamp::of(&copied))
}

/// Copies at most `limit` bytes of `from` to `relative` beneath `to_dir`,
/// which must not exist yet (created 0600, then given `mode`), and
/// returns the open copy.
pub(crate) fn copy_new(
    from: File,
    to_dir: &Dir,
    relative: &str,
    mode: u32,
    limit: u64,
) -> Result<File, WorkspaceError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    let to = to_dir.open_with(relative, &options).map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    let mut to = to.into_std();
    let mut from = std::io::Read::take(from.into_std(), limit);
    std::io::copy(&mut from, &mut to).map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    to.set_permissions(<std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(mode & 0o7777))
        .map_err(|e| WorkspaceError::io(Path::new(relative), e))?;
    Ok(File::from_std(to))
}
