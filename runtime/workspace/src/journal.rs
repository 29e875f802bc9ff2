//! The apply journal: what an apply will do, written before it does it, so
//! a process killed half-way is finished (or undone) by [`recover`].
//!
//! Journals live in airlock's own state ([`Journals`]: a private 0700
//! directory of the running user), never in the checkout: one per checkout,
//! named by its canonical path, device and inode, and sealed with the
//! user's key, so a journal nobody with that key wrote is never carried
//! out. A `.airlock-apply` (or anything else) inside a checkout is
//! ordinary content. The checkout receives only the new file contents, in
//! a directory with a fresh random name made by the apply itself.
//!
//! `ID.plan` is written first; renaming it to `ID.commit` is the commit
//! point. Before it, the workspace itself has not been touched and
//! recovery removes the contents directory; after it, recovery replays
//! every operation (each one idempotent) and then removes both. Every path
//! of a journal is checked (relative, plain names, beneath the root) and
//! every operation goes through the checkout root's handle.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use airlock_seal::{PrivateDir, SealKey};
use cap_std::fs::{Dir, Permissions, PermissionsExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::WorkspaceError;
use crate::handle::{self, is_plain_relative, parent};

const VERSION: u32 = 2;
const PLAN: &str = "plan";
const COMMIT: &str = "commit";
/// The name of the directory of new contents in the checkout: this
/// prefix and 32 random hex digits.
pub(crate) const CONTENTS_PREFIX: &str = ".airlock-apply.";

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
    /// Rename the contents directory's file `temp` over `path`.
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

    /// Why it may not be carried out, if it may not.
    fn invalid(&self) -> Option<String> {
        let path = self.path();
        if !is_plain_relative(path) {
            return Some(format!("`{}` is not a plain relative path", path.escape_debug()));
        }
        match self {
            Self::Replace { temp, .. } if temp.is_empty() || !temp.bytes().all(|b| b.is_ascii_digit()) => {
                Some(format!("`{}` is not a contents file name", temp.escape_debug()))
            }
            Self::Chmod { mode, .. } if mode & !0o7777 != 0 => {
                Some(format!("mode {mode:o} is not permission bits"))
            }
            _ => None,
        }
    }
}

/// Everything one apply does, in order, and the checkout it is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Journal {
    version: u32,
    /// The checkout (canonical; for people reading it).
    workspace: String,
    /// `(device, inode)` of the checkout root: recovery acts only on the
    /// same directory.
    root: (u64, u64),
    /// The contents directory in the checkout.
    contents: String,
    pub(crate) ops: Vec<Op>,
}

impl Journal {
    pub(crate) fn new(workspace: &Path, root: (u64, u64), ops: Vec<Op>) -> Result<Self, WorkspaceError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| WorkspaceError::Journal { path: workspace.to_owned(), reason: e.to_string() })?;
        let journal = Self {
            version: VERSION,
            workspace: workspace.display().to_string(),
            root,
            contents: format!("{CONTENTS_PREFIX}{}", hex::encode(random)),
            ops,
        };
        journal.validate(workspace, root)?;
        Ok(journal)
    }

    /// The contents directory's name in the checkout.
    pub(crate) fn contents(&self) -> &str {
        &self.contents
    }

    /// Refuses a journal for another directory, or with any path that is
    /// not a plain relative path beneath the root.
    fn validate(&self, at: &Path, root: (u64, u64)) -> Result<(), WorkspaceError> {
        let refuse = |reason: String| Err(WorkspaceError::Journal { path: at.to_owned(), reason });
        if self.version != VERSION {
            return refuse(format!("journal version {} (this airlock writes {VERSION})", self.version));
        }
        if self.root != root {
            return refuse(format!("written for another directory than `{}`", self.workspace.escape_debug()));
        }
        let suffix = self.contents.strip_prefix(CONTENTS_PREFIX).unwrap_or_default();
        if suffix.len() != 32 || !suffix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return refuse(format!("`{}` is not a contents directory name", self.contents.escape_debug()));
        }
        if let Some(reason) = self.ops.iter().find_map(Op::invalid) {
            return refuse(reason);
        }
        Ok(())
    }

    /// Carries out every operation beneath `root`, taking new contents from
    /// `contents` (`None`: already all moved). Each one is idempotent, so
    /// replaying a journal that was partly carried out finishes it.
    /// `after_each` runs after every operation (fault injection).
    pub(crate) fn replay(
        &self,
        root: &Dir,
        contents: Option<&Dir>,
        mut after_each: impl FnMut() -> Result<(), WorkspaceError>,
    ) -> Result<(), WorkspaceError> {
        let mut touched = std::collections::BTreeSet::new();
        for op in &self.ops {
            let path = op.path();
            let io = |e| WorkspaceError::io(Path::new(path), e);
            match op {
                Op::Remove { .. } => ignore_missing(root.remove_file(path)).map_err(io)?,
                Op::RemoveDir { .. } => ignore_missing(root.remove_dir(path)).map_err(io)?,
                Op::MakeDir { .. } => match root.create_dir(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && is_dir(root, path) => {}
                    other => other.map_err(io)?,
                },
                Op::Replace { temp, .. } => {
                    if let Some(contents) = contents
                        && handle::lstat(contents, temp).is_ok()
                    {
                        contents.rename(temp, root, path).map_err(io)?;
                    }
                }
                Op::Chmod { mode, .. } => {
                    root.set_permissions(path, Permissions::from_mode(*mode)).map_err(io)?
                }
            }
            touched.insert(parent(path).to_owned());
            after_each()?;
        }
        for dir in touched.iter().filter(|d| d.is_empty() || is_dir(root, d)) {
            handle::sync_dir(root, dir)?;
        }
        Ok(())
    }

    /// Removes the contents directory from the checkout, if it is there.
    pub(crate) fn remove_contents(&self, root: &Dir) -> Result<(), WorkspaceError> {
        ignore_missing(root.remove_dir_all(&self.contents))
            .map_err(|e| WorkspaceError::io(Path::new(&self.contents), e))?;
        handle::sync_dir(root, "")
    }
}

/// airlock's own directory of apply journals: private to the running user
/// (0700, checked like ssh's `StrictModes`), with the key that seals them.
#[derive(Debug)]
pub struct Journals {
    dir: PrivateDir,
    key: SealKey,
}

impl Journals {
    /// Opens (creating it 0700 if needed) the journal directory `dir` and
    /// its sealing key. Refused when another account could write it.
    pub fn open(dir: &Path) -> Result<Self, WorkspaceError> {
        let dir = PrivateDir::open(dir).map_err(WorkspaceError::State)?;
        let key = SealKey::load_or_create(&dir).map_err(WorkspaceError::State)?;
        Ok(Self { dir, key })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, workspace: &Path, root: (u64, u64), phase: &str) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(workspace.as_os_str().as_bytes());
        hasher.update(format!("\0{}\0{}", root.0, root.1));
        let id = hex::encode(&hasher.finalize()[..16]);
        self.dir.join(&format!("{id}.{phase}"))
    }

    /// Writes `journal` as the plan of an apply to `workspace`; refused
    /// when the checkout has an unfinished apply.
    pub(crate) fn write_plan(&self, workspace: &Path, journal: &Journal) -> Result<(), WorkspaceError> {
        let (plan, commit) =
            (self.file(workspace, journal.root, PLAN), self.file(workspace, journal.root, COMMIT));
        if commit.exists() {
            return Err(WorkspaceError::PendingApply { workspace: workspace.to_owned() });
        }
        let bytes = serde_json::to_vec(journal)
            .map_err(|e| WorkspaceError::Journal { path: plan.clone(), reason: e.to_string() })?;
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&plan).map_err(
                |e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => {
                        WorkspaceError::PendingApply { workspace: workspace.to_owned() }
                    }
                    _ => WorkspaceError::io(&plan, e),
                },
            )?;
        file.write_all(&self.key.seal(&bytes))
            .and_then(|()| file.sync_all())
            .map_err(|e| WorkspaceError::io(&plan, e))?;
        self.sync()
    }

    /// The commit point: the plan becomes the commit.
    pub(crate) fn commit(&self, workspace: &Path, root: (u64, u64)) -> Result<(), WorkspaceError> {
        let (plan, commit) = (self.file(workspace, root, PLAN), self.file(workspace, root, COMMIT));
        std::fs::rename(&plan, &commit).map_err(|e| WorkspaceError::io(&commit, e))?;
        self.sync()
    }

    /// Removes both journal files of a checkout.
    pub(crate) fn finish(&self, workspace: &Path, root: (u64, u64)) -> Result<(), WorkspaceError> {
        for phase in [COMMIT, PLAN] {
            let path = self.file(workspace, root, phase);
            ignore_missing(std::fs::remove_file(&path)).map_err(|e| WorkspaceError::io(&path, e))?;
        }
        self.sync()
    }

    /// Reads, unseals and validates a journal file, if there is one.
    fn read(
        &self,
        workspace: &Path,
        root: (u64, u64),
        phase: &str,
    ) -> Result<Option<Journal>, WorkspaceError> {
        let path = self.file(workspace, root, phase);
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(|e| WorkspaceError::io(&path, e))?,
        };
        let body = self.key.unseal(&bytes, &path).map_err(WorkspaceError::State)?;
        let journal: Journal = serde_json::from_slice(body)
            .map_err(|e| WorkspaceError::Journal { path: path.clone(), reason: e.to_string() })?;
        journal.validate(&path, root)?;
        Ok(Some(journal))
    }

    fn sync(&self) -> Result<(), WorkspaceError> {
        let path = self.dir.path();
        std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| WorkspaceError::io(path, e))
    }
}

/// What [`recover`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// No unfinished apply.
    Clean,
    /// An apply died before its commit point: its journal and new contents
    /// were removed and the workspace is as it was before it.
    RolledBack,
    /// An apply died after its commit point: its remaining operations were
    /// carried out and the workspace holds the new state.
    RolledForward,
}

impl Recovery {
    /// `clean`, `rolled_back` or `rolled_forward`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::RolledBack => "rolled_back",
            Self::RolledForward => "rolled_forward",
        }
    }
}

/// Finishes or undoes an apply that a killed process left for `workspace`
/// in `journals`. Only a journal sealed with this user's key, written for
/// this very directory (canonical path, device and inode), whose every path
/// is a plain relative path, is carried out, through the handle of the
/// workspace root. Nothing in the workspace itself is read as a journal.
/// Safe to call at any time; `airlock run --workspace` calls it first.
pub fn recover(workspace: &Path, journals: &Journals) -> Result<Recovery, WorkspaceError> {
    let workspace = workspace.canonicalize().map_err(|e| WorkspaceError::io(workspace, e))?;
    let root = handle::open_root(&workspace)?;
    let identity = handle::identity(&root, &workspace)?;
    let recovery = if let Some(journal) = journals.read(&workspace, identity, COMMIT)? {
        let contents = open_contents(&root, journal.contents())?;
        journal.replay(&root, contents.as_ref(), || Ok(()))?;
        journal.remove_contents(&root)?;
        Recovery::RolledForward
    } else if let Some(journal) = journals.read(&workspace, identity, PLAN)? {
        journal.remove_contents(&root)?;
        Recovery::RolledBack
    } else {
        return Ok(Recovery::Clean);
    };
    journals.finish(&workspace, identity)?;
    Ok(recovery)
}

/// The contents directory, if it is (still) there and a real directory.
fn open_contents(root: &Dir, name: &str) -> Result<Option<Dir>, WorkspaceError> {
    match handle::lstat(root, name) {
        Ok(seen) if seen.is_dir() => handle::open_dir(root, name, &seen).map(Some),
        _ => Ok(None),
    }
}

fn is_dir(root: &Dir, path: &str) -> bool {
    handle::lstat(root, path).is_ok_and(|m| m.is_dir())
}

fn ignore_missing(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
