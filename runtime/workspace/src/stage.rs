//! The stage: a private copy of the workspace that the tool is given
//! instead of the workspace itself.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::apply::{self, Faults};
use crate::journal;
use crate::tree::{Stamp, walk};
use crate::{Changeset, EntryKind, Tree, WorkspaceError};

/// A copy of a workspace in a private temporary directory, removed when
/// dropped.
///
/// Files are copied with `copy_file_range` (a reflink on filesystems that
/// share extents, an in-kernel copy elsewhere), keeping permission bits and
/// modification times; symlinks are recreated as symlinks, never followed.
/// The tool may do anything inside the stage: nothing reaches the workspace
/// until [`Stage::apply`] lands a checked changeset.
#[derive(Debug)]
pub struct Stage {
    dir: tempfile::TempDir,
    workspace: PathBuf,
    /// The workspace as it was when staged.
    before: Tree,
    /// The stage right after copying: a stage file whose stamp still
    /// matches was never written, and is not read again to diff it.
    staged: Tree,
}

impl Stage {
    /// Copies `workspace` into a new private directory (mode 0700) under
    /// `parent`, or under [`Stage::default_parent`] when `None`; if the
    /// default is a tmpfs too small for the checkout (a container's 64 MiB
    /// `/dev/shm`, say), staging falls back to the system temporary
    /// directory. A workspace with an unfinished apply is refused: run
    /// [`recover`](crate::recover) first.
    pub fn create(workspace: &Path, parent: Option<&Path>) -> Result<Self, WorkspaceError> {
        let workspace = workspace.canonicalize().map_err(|e| WorkspaceError::io(workspace, e))?;
        if journal::dir(&workspace).exists() {
            return Err(WorkspaceError::PendingApply { workspace });
        }
        match parent {
            Some(parent) => Self::create_in(workspace, parent),
            None => {
                let default = Self::default_parent();
                let temp = std::env::temp_dir();
                match Self::create_in(workspace.clone(), &default) {
                    Err(WorkspaceError::Io { .. }) if default != temp => Self::create_in(workspace, &temp),
                    staged => staged,
                }
            }
        }
    }

    fn create_in(workspace: PathBuf, parent: &Path) -> Result<Self, WorkspaceError> {
        let dir = tempfile::Builder::new()
            .prefix("airlock-stage-")
            .tempdir_in(parent)
            .map_err(|e| WorkspaceError::io(parent, e))?;
        let mut before = Tree::default();
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        walk(&workspace, |relative, source, entry, metadata| {
            let target = dir.path().join(relative);
            match &entry.kind {
                EntryKind::Dir => {
                    std::fs::create_dir(&target).map_err(|e| WorkspaceError::io(&target, e))?;
                    dirs.push((target, entry.mode));
                }
                EntryKind::File { .. } => files.push(Copy {
                    relative: relative.to_owned(),
                    source: source.to_owned(),
                    target,
                    mode: entry.mode,
                    modified: metadata.modified().ok(),
                }),
                EntryKind::Symlink { target: link } => {
                    std::os::unix::fs::symlink(link, &target).map_err(|e| WorkspaceError::io(&target, e))?;
                }
            }
            before.insert(relative.to_owned(), entry.clone(), Stamp::of(metadata));
            Ok(())
        })?;
        let mut staged = Tree::default();
        for (copy, stamp) in copy_all(files)? {
            if let Some(entry) = before.get(&copy.relative).cloned() {
                staged.insert(copy.relative, entry, stamp);
            }
        }
        // Directory modes last, deepest first: a read-only directory could
        // not have been filled.
        for (path, mode) in dirs.iter().rev() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                .map_err(|e| WorkspaceError::io(path, e))?;
        }
        Ok(Self { dir, workspace, before, staged })
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

    /// What the tool changed: the stage now against the workspace as it
    /// was. Files the tool never wrote are recognised by their stamps and
    /// not read.
    pub fn changeset(&self) -> Result<Changeset, WorkspaceError> {
        let now = Tree::scan(self.path())?;
        Changeset::compare(&self.before, &self.workspace, &now, self.path(), Some(&self.staged))
    }

    /// Lands `changes` in the workspace, all or nothing. New content is
    /// written and synced to temporary files beside a journal in the
    /// workspace (`.airlock-apply/`); renaming the journal to its commit
    /// name is the one step that decides; the renames, removals and mode
    /// changes that follow are replayed by [`recover`](crate::recover) if
    /// the process dies. A workspace entry that changed since staging is
    /// refused before anything is written.
    pub fn apply(&self, changes: &Changeset) -> Result<(), WorkspaceError> {
        apply::apply(self, changes, &mut Faults::None)
    }

    /// [`Stage::apply`], stopping dead (no clean-up, as if the process had
    /// been killed) after `steps` durable steps. For crash tests only.
    #[doc(hidden)]
    pub fn apply_interrupted(&self, changes: &Changeset, steps: usize) -> Result<(), WorkspaceError> {
        apply::apply(self, changes, &mut Faults::After(steps))
    }

    /// The workspace as it was when staged.
    pub(crate) fn before(&self) -> &Tree {
        &self.before
    }
}

/// One file to copy into the stage.
struct Copy {
    relative: String,
    source: PathBuf,
    target: PathBuf,
    mode: u32,
    modified: Option<std::time::SystemTime>,
}

/// Copies every file, on as many threads as there are cores (file creation
/// dominates staging, and it scales), and returns each copy's stamp.
fn copy_all(files: Vec<Copy>) -> Result<Vec<(Copy, Stamp)>, WorkspaceError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8);
    let mut shares: Vec<Vec<Copy>> = (0..threads).map(|_| Vec::new()).collect();
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
                        .map(|copy| copy_file(&copy).map(|stamp| (copy, stamp)))
                        .collect::<Result<Vec<_>, _>>()
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

/// Copies one regular file, keeping its mode and modification time, and
/// returns the copy's stamp. The copy is never opened by the tool before
/// this returns.
fn copy_file(copy: &Copy) -> Result<Stamp, WorkspaceError> {
    let target = &copy.target;
    let to = copy_new(&copy.source, target, copy.mode)?;
    if let Some(modified) = copy.modified {
        to.set_modified(modified).map_err(|e| WorkspaceError::io(target, e))?;
    }
    let copied = to.metadata().map_err(|e| WorkspaceError::io(target, e))?;
    Ok(Stamp::of(&copied))
}

/// Copies `source` to `target`, which must not exist yet (created 0600,
/// then given `mode`), and returns the open copy.
pub(crate) fn copy_new(source: &Path, target: &Path, mode: u32) -> Result<File, WorkspaceError> {
    let mut from = File::open(source).map_err(|e| WorkspaceError::io(source, e))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(|e| WorkspaceError::io(target, e))?;
    std::io::copy(&mut from, &mut to).map_err(|e| WorkspaceError::io(target, e))?;
    to.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| WorkspaceError::io(target, e))?;
    Ok(to)
}
