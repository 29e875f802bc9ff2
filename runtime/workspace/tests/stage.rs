//! Staging and applying: the tool's changes land all or nothing, a crash at
//! any step recovers to the old or the new tree (never a mix), the rules
//! refuse what no policy may allow, and the dry-run patch applies with git.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use airlock_workspace::{ChangeKind, JOURNAL_DIR, Recovery, Rules, Stage, WorkspaceError, patch, recover};

/// Every entry under `root` with its type, mode and content: what "the same
/// tree" means in these tests.
fn snapshot(root: &Path) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let mut all = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).expect("read_dir") {
            let path = item.expect("entry").path();
            let relative = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let mode = meta.permissions().mode() & 0o7777;
            let value = if meta.file_type().is_symlink() {
                (
                    "symlink".into(),
                    0,
                    std::fs::read_link(&path).expect("link").into_os_string().into_encoded_bytes(),
                )
            } else if meta.is_dir() {
                pending.push(path.clone());
                ("dir".into(), mode, Vec::new())
            } else {
                ("file".into(), mode, std::fs::read(&path).expect("read"))
            };
            all.insert(relative, value);
        }
    }
    all
}

fn checkout() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    std::fs::create_dir_all(r.join("src/util")).expect("mkdir");
    std::fs::create_dir_all(r.join(".github/workflows")).expect("mkdir");
    std::fs::write(
        r.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[dependencies]\nserde = \"1.0.100\"\n",
    )
    .expect("write");
    std::fs::write(r.join("src/main.rs"), "fn main() {}\n").expect("write");
    std::fs::write(r.join("src/util/mod.rs"), "pub fn f() {}\n").expect("write");
    std::fs::write(r.join("src/util/old.rs"), "// old\n").expect("write");
    std::fs::write(r.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
    std::fs::write(r.join("run.sh"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(r.join("run.sh"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    symlink("src/main.rs", r.join("entry")).expect("symlink");
    root
}

/// What a well-behaved remediation tool does inside its stage: edit a
/// manifest in place, add a file in a new directory, delete a file.
fn remediate(stage: &Path) {
    std::fs::write(
        stage.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[dependencies]\nserde = \"1.0.200\"\n",
    )
    .expect("edit");
    std::fs::create_dir(stage.join("docs")).expect("mkdir");
    std::fs::write(stage.join("docs/SECURITY.md"), "patched\n").expect("add");
    std::fs::remove_file(stage.join("src/util/old.rs")).expect("delete");
}

#[test]
fn a_stage_holds_the_whole_tree_and_writes_to_it_stay_there() {
    let workspace = checkout();
    let before = snapshot(workspace.path());
    let stage = Stage::create(workspace.path(), None).expect("stage");
    assert_eq!(snapshot(stage.path()), before, "the tool sees the whole tree, modes and symlinks included");
    remediate(stage.path());
    assert_eq!(snapshot(workspace.path()), before, "nothing reaches the workspace before apply");
}

#[test]
fn the_changeset_lists_what_the_tool_did_and_apply_lands_exactly_that() {
    let workspace = checkout();
    let stage = Stage::create(workspace.path(), None).expect("stage");
    remediate(stage.path());
    // Rewritten with the same bytes: not a change.
    std::fs::write(stage.path().join("src/main.rs"), "fn main() {}\n").expect("rewrite");
    let changes = stage.changeset().expect("diff");
    let listed: Vec<(&str, ChangeKind)> =
        changes.changes().iter().map(|c| (c.path.as_str(), c.kind)).collect();
    assert_eq!(
        listed,
        [
            ("Cargo.toml", ChangeKind::Modified),
            ("docs", ChangeKind::Added),
            ("docs/SECURITY.md", ChangeKind::Added),
            ("src/util/old.rs", ChangeKind::Deleted),
        ]
    );
    assert!(Rules::default().check(&changes).is_empty());
    stage.apply(&changes).expect("apply");
    assert_eq!(snapshot(workspace.path()), snapshot(stage.path()));
    assert!(!workspace.path().join(JOURNAL_DIR).exists(), "the journal is removed");
}

#[test]
fn an_in_place_edit_of_the_same_size_is_found_without_trusting_sizes() {
    let workspace = checkout();
    let stage = Stage::create(workspace.path(), None).expect("stage");
    std::fs::write(stage.path().join("src/main.rs"), "fn main() {}\n").expect("same bytes");
    std::fs::write(stage.path().join("src/util/mod.rs"), "pub fn g() {}\n").expect("same size");
    let changes = stage.changeset().expect("diff");
    let paths: Vec<&str> = changes.changes().iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["src/util/mod.rs"]);
}

/// Kills the apply after every possible number of steps: before the commit
/// point recovery restores the old tree, after it the new one, and nothing
/// else is ever seen once recovered.
#[test]
fn a_crash_at_any_step_of_apply_recovers_to_the_old_or_the_new_tree() {
    let mut steps = 0;
    let mut rolled_forward = 0;
    loop {
        let workspace = checkout();
        let old = snapshot(workspace.path());
        let stage = Stage::create(workspace.path(), None).expect("stage");
        remediate(stage.path());
        std::fs::set_permissions(stage.path().join("src/main.rs"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let new = snapshot(stage.path());
        let changes = stage.changeset().expect("diff");
        match stage.apply_interrupted(&changes, steps) {
            Ok(()) => {
                assert_eq!(snapshot(workspace.path()), new);
                break;
            }
            Err(WorkspaceError::Interrupted) => {}
            Err(e) => panic!("step {steps}: {e}"),
        }
        assert!(matches!(Stage::create(workspace.path(), None), Err(WorkspaceError::PendingApply { .. })));
        let recovery = recover(workspace.path()).expect("recover");
        let now = snapshot(workspace.path());
        match recovery {
            Recovery::RolledBack => assert_eq!(now, old, "crash after {steps} steps: not the old tree"),
            Recovery::RolledForward => {
                assert_eq!(now, new, "crash after {steps} steps: not the new tree");
                rolled_forward += 1;
            }
            Recovery::Clean => panic!("crash after {steps} steps left no journal"),
        }
        assert_eq!(recover(workspace.path()).expect("again"), Recovery::Clean);
        steps += 1;
    }
    assert!(steps > 8, "the apply has {steps} steps");
    assert!(rolled_forward > 3, "only {rolled_forward} crashes came after the commit point");
}

#[test]
fn a_workspace_edited_during_the_call_is_not_applied_to() {
    let workspace = checkout();
    let stage = Stage::create(workspace.path(), None).expect("stage");
    remediate(stage.path());
    let changes = stage.changeset().expect("diff");
    std::fs::write(workspace.path().join("Cargo.toml"), "# someone else's edit\n").expect("edit");
    let before = snapshot(workspace.path());
    let err = stage.apply(&changes).expect_err("refused");
    assert!(matches!(&err, WorkspaceError::ChangedDuringCall { path } if path == "Cargo.toml"), "{err}");
    assert_eq!(snapshot(workspace.path()), before);
}

#[test]
fn the_rules_refuse_symlinks_new_executables_setuid_big_files_and_the_journal() {
    let workspace = checkout();
    let stage = Stage::create(workspace.path(), None).expect("stage");
    let s = stage.path();
    symlink("/etc/passwd", s.join("planted")).expect("plant");
    std::fs::remove_file(s.join("entry")).expect("unlink");
    std::fs::write(s.join("tool"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(s.join("tool"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(s.join("src/main.rs"), std::fs::Permissions::from_mode(0o4644)).expect("chmod");
    std::fs::write(s.join("big.bin"), vec![b'x'; 2048]).expect("write");
    std::fs::write(s.join("run.sh"), "#!/bin/sh\necho still executable\n").expect("edit");
    std::fs::create_dir(s.join(JOURNAL_DIR)).expect("mkdir");
    let changes = stage.changeset().expect("diff");
    let refused: Vec<String> = Rules { max_file_bytes: 1024 }
        .check(&changes)
        .into_iter()
        .map(|v| format!("{}: {}", v.path, v.reason))
        .collect();
    assert_eq!(
        refused,
        [
            ".airlock-apply: airlock's apply journal is not the tool's to write",
            "big.bin: is 2048 bytes, over the 1024-byte limit",
            "planted: creates a symlink (to `/etc/passwd`); symlinks are never applied",
            "src/main.rs: gains setuid/setgid/sticky bits (mode 4644)",
            "tool: becomes executable (mode 755); new executables are never applied",
        ],
        "deleting a symlink and editing an existing executable are allowed"
    );
    let err = stage.apply(&changes).expect_err("a symlink is never applied, even without the rules");
    assert!(matches!(err, WorkspaceError::Symlink { .. }), "{err}");
}

#[test]
fn the_dry_run_patch_applies_with_git_apply_to_the_original_tree() {
    let workspace = checkout();
    let copy = tempfile::tempdir().expect("tempdir");
    let stage = Stage::create(workspace.path(), None).expect("stage");
    remediate(stage.path());
    std::fs::write(stage.path().join("src/main.rs"), "fn main() {}\n// no newline").expect("edit");
    std::fs::set_permissions(stage.path().join("run.sh"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    std::fs::remove_file(stage.path().join("entry")).expect("unlink");
    let changes = stage.changeset().expect("diff");
    let text = patch(&stage, &changes).expect("patch");
    assert!(text.contains("diff --git a/Cargo.toml b/Cargo.toml\n"), "{text}");
    assert!(text.contains("-serde = \"1.0.100\"\n+serde = \"1.0.200\"\n"), "{text}");

    // A second copy of the original tree, the patch applied to it by git.
    let original = Stage::create(workspace.path(), Some(copy.path())).expect("copy");
    std::fs::write(copy.path().join("fix.patch"), &text).expect("write patch");
    let status = std::process::Command::new("git")
        .args(["apply", "--verbose", "../fix.patch"])
        .current_dir(original.path())
        .status()
        .expect("git runs");
    assert!(status.success(), "git apply failed on:\n{text}");
    let mut expected = snapshot(stage.path());
    // git does not track directories: only their files come back.
    let mut got = snapshot(original.path());
    for tree in [&mut expected, &mut got] {
        tree.retain(|_, (kind, _, _)| kind != "dir");
    }
    assert_eq!(got, expected);
}

#[test]
fn binary_changes_are_an_error_naming_the_file_not_a_broken_patch() {
    let workspace = checkout();
    let stage = Stage::create(workspace.path(), None).expect("stage");
    std::fs::write(stage.path().join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0xff]).expect("write");
    let changes = stage.changeset().expect("diff");
    let err = patch(&stage, &changes).expect_err("binary");
    assert_eq!(err.to_string(), "logo.png: binary content cannot be written as a text patch");
}
