//! Changesets: every kind of change a tool can make in its stage is
//! reported with what was there and what is there now; an unchanged stage
//! is empty; what policy could not check is an error naming the path.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use airlock_workspace::{ChangeKind, Changeset, EntryKind};
use sha2::{Digest, Sha256};

/// A small checkout and an identical copy of it (the stage).
fn checkout() -> (tempfile::TempDir, tempfile::TempDir) {
    let pair = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    for root in [pair.0.path(), pair.1.path()] {
        std::fs::create_dir_all(root.join("src/util")).expect("mkdir");
        std::fs::create_dir_all(root.join(".github/workflows")).expect("mkdir");
        std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"app\"\n").expect("write");
        std::fs::write(root.join("src/main.rs"), "fn main() {}\n").expect("write");
        std::fs::write(root.join("src/util/mod.rs"), "pub fn f() {}\n").expect("write");
        std::fs::write(root.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
        symlink("src/main.rs", root.join("entry")).expect("symlink");
    }
    pair
}

fn summary(changes: &Changeset) -> Vec<(String, ChangeKind)> {
    changes.changes().iter().map(|c| (c.path.clone(), c.kind)).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn an_untouched_stage_has_no_changes() {
    let (workspace, stage) = checkout();
    let changes = Changeset::between(workspace.path(), stage.path()).expect("diff");
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn every_kind_of_change_is_reported_with_before_and_after() {
    let (workspace, stage) = checkout();
    let s = stage.path();
    // Same length, other bytes: caught by content, not size.
    std::fs::write(s.join("src/main.rs"), "fn main() {1}\n").expect("modify");
    std::fs::write(s.join("Cargo.toml"), "[package]\nname = \"app\"\nversion = \"1.0.1\"\n").expect("grow");
    std::fs::write(s.join("src/new.rs"), "// new\n").expect("add");
    std::fs::remove_dir_all(s.join("src/util")).expect("delete dir");
    std::fs::set_permissions(s.join(".github/workflows/ci.yml"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::remove_file(s.join("entry")).expect("unlink");
    symlink("/etc/passwd", s.join("entry")).expect("retarget");
    symlink("../..", s.join("src/escape")).expect("plant");

    let changes = Changeset::between(workspace.path(), s).expect("diff");
    assert_eq!(
        summary(&changes),
        [
            (".github/workflows/ci.yml".to_owned(), ChangeKind::ModeChanged),
            ("Cargo.toml".to_owned(), ChangeKind::Modified),
            ("entry".to_owned(), ChangeKind::Modified),
            ("src/escape".to_owned(), ChangeKind::Added),
            ("src/main.rs".to_owned(), ChangeKind::Modified),
            ("src/new.rs".to_owned(), ChangeKind::Added),
            ("src/util".to_owned(), ChangeKind::Deleted),
            ("src/util/mod.rs".to_owned(), ChangeKind::Deleted),
        ]
    );
    let by_path = |path: &str| changes.changes().iter().find(|c| c.path == path).expect(path);
    let ci = by_path(".github/workflows/ci.yml");
    assert!(
        ci.after.as_ref().is_some_and(|a| a.executable())
            && !ci.before.as_ref().is_some_and(|b| b.executable())
    );
    let added = by_path("src/new.rs");
    assert_eq!(added.sha256.as_deref(), Some(sha256(b"// new\n").as_str()));
    assert_eq!(added.after.as_ref().map(|a| a.kind.clone()), Some(EntryKind::File { size: 7 }));
    assert!(added.before.is_none());
    let planted = by_path("src/escape");
    assert_eq!(
        planted.after.as_ref().map(|a| a.kind.clone()),
        Some(EntryKind::Symlink { target: "../..".into() })
    );
    assert!(planted.sha256.is_none(), "links are not followed");
    let retargeted = by_path("entry");
    assert_eq!(
        retargeted.before.as_ref().map(|b| b.kind.clone()),
        Some(EntryKind::Symlink { target: "src/main.rs".into() })
    );
    let gone = by_path("src/util/mod.rs");
    assert!(gone.after.is_none() && gone.sha256.is_none());
}

#[test]
fn a_file_replaced_by_a_directory_is_a_modification() {
    let (workspace, stage) = checkout();
    std::fs::remove_file(stage.path().join("src/main.rs")).expect("rm");
    std::fs::create_dir(stage.path().join("src/main.rs")).expect("mkdir");
    let changes = Changeset::between(workspace.path(), stage.path()).expect("diff");
    assert_eq!(summary(&changes), [("src/main.rs".to_owned(), ChangeKind::Modified)]);
    assert_eq!(changes.changes()[0].after.as_ref().map(|a| a.kind.clone()), Some(EntryKind::Dir));
}

#[test]
fn what_policy_could_not_check_is_never_a_change_and_a_missing_root_is_named() {
    let (workspace, stage) = checkout();
    let odd = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(stage.path().join(odd), "x").expect("write");
    let fifo = stage.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // Neither is opened (the FIFO would block), and neither can land.
    let changes = Changeset::between(workspace.path(), stage.path()).expect("diff");
    assert!(changes.is_empty(), "{changes:?}");
    let missing = Changeset::between(Path::new("/nonexistent/airlock"), stage.path()).expect_err("missing");
    assert!(missing.to_string().starts_with("/nonexistent/airlock: "), "{missing}");
}
