//! Landing a checked changeset in the workspace, all or nothing.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::journal::{self, COMMIT, Journal, Op, PLAN};
use crate::stage;
use crate::tree::Stamp;
use crate::{ChangeKind, Changeset, EntryKind, Stage, WorkspaceError};

/// Where an apply stops dead, for crash tests.
pub(crate) enum Faults {
    /// Never.
    None,
    /// After this many more durable steps.
    After(usize),
}

impl Faults {
    fn step(&mut self) -> Result<(), WorkspaceError> {
        match self {
            Self::None => Ok(()),
            Self::After(0) => Err(WorkspaceError::Interrupted),
            Self::After(n) => {
                *n -= 1;
                Ok(())
            }
        }
    }
}

pub(crate) fn apply(stage: &Stage, changes: &Changeset, faults: &mut Faults) -> Result<(), WorkspaceError> {
    if changes.is_empty() {
        return Ok(());
    }
    let root = stage.workspace();
    let (ops, contents) = plan(changes)?;
    check_unchanged(stage, changes)?;
    check_same_filesystem(root, changes)?;

    let journal_dir = journal::dir(root);
    std::fs::create_dir(&journal_dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => WorkspaceError::PendingApply { workspace: root.to_owned() },
        _ => WorkspaceError::io(&journal_dir, e),
    })?;
    journal::sync(root)?;
    faults.step()?;
    for (temp, path, mode) in &contents {
        write_temp(&stage.path().join(path), &journal_dir.join(temp), *mode)?;
        faults.step()?;
    }
    let journal = Journal::new(ops);
    journal.write(&journal_dir.join(PLAN))?;
    journal::sync(&journal_dir)?;
    faults.step()?;
    // The commit point.
    let commit = journal_dir.join(COMMIT);
    std::fs::rename(journal_dir.join(PLAN), &commit).map_err(|e| WorkspaceError::io(&commit, e))?;
    journal::sync(&journal_dir)?;
    faults.step()?;
    journal.replay(root, || faults.step())?;
    std::fs::remove_dir_all(&journal_dir).map_err(|e| WorkspaceError::io(&journal_dir, e))?;
    journal::sync(root)
}

/// A journal file to write: `(temp name, stage path, mode)`.
type Content = (String, String, u32);

/// The operations, in an order that always works (removals deepest first,
/// new directories shallowest first, file renames, then modes), and the
/// journal files to write.
fn plan(changes: &Changeset) -> Result<(Vec<Op>, Vec<Content>), WorkspaceError> {
    let mut removals = Vec::new();
    let mut dirs = Vec::new();
    let mut replaces = Vec::new();
    let mut modes = Vec::new();
    let mut contents = Vec::new();
    for change in changes.changes() {
        let path = change.path.clone();
        let was_dir = change.before.as_ref().is_some_and(|e| e.kind == EntryKind::Dir);
        let Some(after) = &change.after else {
            removals.push(if was_dir { Op::RemoveDir { path } } else { Op::Remove { path } });
            continue;
        };
        match (&after.kind, change.kind) {
            (_, ChangeKind::ModeChanged) => modes.push(Op::Chmod { path, mode: after.mode }),
            (EntryKind::Symlink { .. }, _) => return Err(WorkspaceError::Symlink { path }),
            (EntryKind::Dir, _) => {
                if change.before.is_some() && !was_dir {
                    removals.push(Op::Remove { path: path.clone() });
                }
                dirs.push(Op::MakeDir { path: path.clone() });
                modes.push(Op::Chmod { path, mode: after.mode });
            }
            (EntryKind::File { .. }, _) => {
                if was_dir {
                    removals.push(Op::RemoveDir { path: path.clone() });
                }
                let temp = contents.len().to_string();
                contents.push((temp.clone(), path.clone(), after.mode));
                replaces.push(Op::Replace { path, temp });
            }
        }
    }
    // Paths are in order, so a descendant sorts after its ancestors.
    removals.reverse();
    // Directory modes last, deepest first, so none blocks a later step.
    modes.sort_by(|a, b| b.path().cmp(a.path()));
    let ops = removals.into_iter().chain(dirs).chain(replaces).chain(modes).collect();
    Ok((ops, contents))
}

/// Refuses if any path the changeset touches changed in the workspace
/// since staging (someone else wrote to the checkout during the call).
fn check_unchanged(stage: &Stage, changes: &Changeset) -> Result<(), WorkspaceError> {
    for change in changes.changes() {
        let path = stage.workspace().join(&change.path);
        let now = std::fs::symlink_metadata(&path);
        let unchanged = match (&change.before, now) {
            (None, Err(e)) => e.kind() == std::io::ErrorKind::NotFound,
            (Some(entry), Ok(now)) if entry.kind == EntryKind::Dir => now.is_dir(),
            (Some(_), Ok(now)) => stage.before().stamp(&change.path) == Some(Stamp::of(&now)),
            _ => false,
        };
        if !unchanged {
            return Err(WorkspaceError::ChangedDuringCall { path: change.path.clone() });
        }
    }
    Ok(())
}

/// Refuses changes under a mount point inside the workspace: a rename from
/// the journal could not reach them atomically.
fn check_same_filesystem(root: &Path, changes: &Changeset) -> Result<(), WorkspaceError> {
    let device = std::fs::metadata(root).map_err(|e| WorkspaceError::io(root, e))?.dev();
    for change in changes.changes() {
        let Some(parent) = root.join(&change.path).parent().map(Path::to_owned) else { continue };
        if let Ok(metadata) = std::fs::metadata(&parent)
            && metadata.dev() != device
        {
            return Err(WorkspaceError::OtherFilesystem { path: change.path.clone() });
        }
    }
    Ok(())
}

/// Copies the stage's file to a journal file with its mode, and syncs it.
fn write_temp(source: &Path, temp: &Path, mode: u32) -> Result<(), WorkspaceError> {
    stage::copy_new(source, temp, mode)?.sync_all().map_err(|e| WorkspaceError::io(temp, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, Entry};

    fn change(path: &str, kind: ChangeKind, before: Option<EntryKind>, after: Option<EntryKind>) -> Change {
        let entry = |kind| Entry { kind, mode: 0o644 };
        Change { path: path.into(), kind, before: before.map(entry), after: after.map(entry), sha256: None }
    }

    #[test]
    fn removals_run_deepest_first_and_a_directory_replaced_by_a_file_is_removed_first() {
        let file = || Some(EntryKind::File { size: 1 });
        let dir = || Some(EntryKind::Dir);
        let changes = Changeset::from_changes(vec![
            change("a", ChangeKind::Modified, dir(), file()),
            change("a/b", ChangeKind::Deleted, file(), None),
            change("c", ChangeKind::Added, None, dir()),
            change("c/d", ChangeKind::Added, None, file()),
        ]);
        let (ops, contents) = plan(&changes).expect("plan");
        assert_eq!(
            ops,
            [
                Op::Remove { path: "a/b".into() },
                Op::RemoveDir { path: "a".into() },
                Op::MakeDir { path: "c".into() },
                Op::Replace { path: "a".into(), temp: "0".into() },
                Op::Replace { path: "c/d".into(), temp: "1".into() },
                Op::Chmod { path: "c".into(), mode: 0o644 },
            ]
        );
        assert_eq!(
            contents,
            [("0".to_owned(), "a".to_owned(), 0o644), ("1".to_owned(), "c/d".to_owned(), 0o644)]
        );
    }

    #[test]
    fn a_new_symlink_is_never_planned() {
        let changes = Changeset::from_changes(vec![change(
            "link",
            ChangeKind::Added,
            None,
            Some(EntryKind::Symlink { target: "/etc".into() }),
        )]);
        assert!(matches!(plan(&changes), Err(WorkspaceError::Symlink { path }) if path == "link"));
    }
}
