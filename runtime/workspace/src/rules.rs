//! What no staged change may do, whatever policy says.

use serde::Serialize;

use crate::{Change, ChangeKind, Changeset, EntryKind};

/// Limits every staged change is held to before policy is asked. They
/// cannot be lifted by a policy: a tool that needs one of these changes
/// needs a human, not a remediation run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Largest file a change may leave behind, in bytes. Default 8 MiB
    /// (room for a lock file, not for a planted binary).
    pub max_file_bytes: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self { max_file_bytes: 8 * 1024 * 1024 }
    }
}

/// A change refused by a [`Rules`] check or by policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The path, relative to the workspace.
    pub path: String,
    /// Why it is refused.
    pub reason: String,
}

impl Rules {
    /// Every change that breaks a rule: a symlink created or retargeted, a
    /// file that becomes executable or gains setuid/setgid/sticky bits, a
    /// file over the size limit. Deleting a symlink is allowed (policy still
    /// decides). airlock's apply journal is not in the checkout, so no path
    /// in it is special.
    pub fn check(&self, changes: &Changeset) -> Vec<Violation> {
        changes.changes().iter().filter_map(|c| self.violation(c)).collect()
    }

    fn violation(&self, change: &Change) -> Option<Violation> {
        let refuse = |reason: String| Some(Violation { path: change.path.clone(), reason });
        let after = change.after.as_ref()?;
        let before = change.before.as_ref();
        match &after.kind {
            EntryKind::Symlink { target } if change.kind != ChangeKind::ModeChanged => {
                return refuse(format!("creates a symlink (to `{target}`); symlinks are never applied"));
            }
            EntryKind::File { size } if *size > self.max_file_bytes => {
                return refuse(format!("is {size} bytes, over the {}-byte limit", self.max_file_bytes));
            }
            _ => {}
        }
        if after.executable() && !before.is_some_and(|b| b.executable()) {
            return refuse(format!(
                "becomes executable (mode {:o}); new executables are never applied",
                after.mode
            ));
        }
        let special = after.mode & 0o7000;
        if special != 0 && special & !before.map_or(0, |b| b.mode) != 0 {
            return refuse(format!("gains setuid/setgid/sticky bits (mode {:o})", after.mode));
        }
        None
    }
}
