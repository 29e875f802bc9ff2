//! Landing a checked changeset in the workspace, all or nothing.

use std::path::Path;

use cap_std::fs::{Dir, MetadataExt};

use crate::handle::{self, parent};
use crate::journal::{Journal, Journals, Op};
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

pub(crate) fn apply(
    stage: &Stage,
    changes: &Changeset,
    journals: &Journals,
    faults: &mut Faults,
) -> Result<(), WorkspaceError> {
    if changes.is_empty() {
        return Ok(());
    }
    let (root, workspace, identity) = (stage.root(), stage.workspace(), stage.identity());
    let (ops, contents) = plan(changes)?;
    check_unchanged(stage, changes)?;
    check_emptied(root, &ops)?;
    check_same_filesystem(root, changes)?;

    let journal = Journal::new(workspace, identity, ops)?;
    journals.write_plan(workspace, &journal)?;
    faults.step()?;
    let name = journal.contents();
    root.create_dir(name).map_err(|e| WorkspaceError::io(Path::new(name), e))?;
    let seen = handle::lstat(root, name).map_err(|e| WorkspaceError::io(Path::new(name), e))?;
    let temp_dir = handle::open_dir(root, name, &seen)?;
    handle::sync_dir(root, "")?;
    faults.step()?;
    for (temp, path, mode) in &contents {
        write_temp(stage, path, &temp_dir, temp, *mode)?;
        faults.step()?;
    }
    handle::sync_dir(&temp_dir, "")?;
    // The commit point.
    journals.commit(workspace, identity)?;
    faults.step()?;
    journal.replay(root, Some(&temp_dir), || faults.step())?;
    journal.remove_contents(root)?;
    journals.finish(workspace, identity)
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
        let now = handle::lstat(stage.root(), &change.path);
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

/// Refuses, before anything is written, to remove a directory that holds
/// anything the plan does not also remove (what was never staged, or was
/// added since): its removal would fail after the commit point and leave
/// the apply half done.
fn check_emptied(root: &Dir, ops: &[Op]) -> Result<(), WorkspaceError> {
    let removed: std::collections::BTreeSet<&str> = ops
        .iter()
        .filter(|op| matches!(op, Op::Remove { .. } | Op::RemoveDir { .. }))
        .map(Op::path)
        .collect();
    for op in ops {
        let Op::RemoveDir { path } = op else { continue };
        let entries = root.read_dir(path).map_err(|e| WorkspaceError::io(Path::new(path), e))?;
        for entry in entries {
            let name = entry.map_err(|e| WorkspaceError::io(Path::new(path), e))?.file_name();
            let child = format!("{path}/{}", name.to_string_lossy());
            if name.to_str().is_none() || !removed.contains(child.as_str()) {
                return Err(WorkspaceError::NotEmptied { path: path.clone(), holds: child });
            }
        }
    }
    Ok(())
}

/// Refuses changes under a mount point inside the workspace: a rename from
/// the journal could not reach them atomically.
fn check_same_filesystem(root: &Dir, changes: &Changeset) -> Result<(), WorkspaceError> {
    let device = root.dir_metadata().map_err(|e| WorkspaceError::io(Path::new("."), e))?.dev();
    for change in changes.changes() {
        let parent = parent(&change.path);
        let metadata = if parent.is_empty() { root.dir_metadata() } else { handle::lstat(root, parent) };
        if let Ok(metadata) = metadata
            && metadata.dev() != device
        {
            return Err(WorkspaceError::OtherFilesystem { path: change.path.clone() });
        }
    }
    Ok(())
}

/// Copies the stage's file `path` to the contents file `temp` with its
/// mode, and syncs it.
fn write_temp(
    stage: &Stage,
    path: &str,
    temp_dir: &Dir,
    temp: &str,
    mode: u32,
) -> Result<(), WorkspaceError> {
    let source = handle::open_file(stage.stage(), path, None)?;
    stage::copy_new(source, temp_dir, temp, mode, u64::MAX)?
        .sync_all()
        .map_err(|e| WorkspaceError::io(Path::new(path), e))
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
