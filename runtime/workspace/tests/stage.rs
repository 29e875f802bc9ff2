//! Staging and applying: the tool's changes land all or nothing, a crash at
//! any step recovers to the old or the new tree (never a mix), the rules
//! refuse what no policy may allow, and the dry-run patch applies with git.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use airlock_workspace::{
    ChangeKind, Journals, Recovery, Rules, Stage, StageOptions, WorkspaceError, patch, recover,
};

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
            } else if meta.is_file() {
                ("file".into(), mode, std::fs::read(&path).expect("read"))
            } else {
                // A FIFO, socket or device: never opened.
                ("special".into(), mode, Vec::new())
            };
            all.insert(relative, value);
        }
    }
    all
}

/// airlock's own journal directory for one test (kept alive by the
/// returned guard).
fn journals() -> (tempfile::TempDir, Journals) {
    let state = tempfile::tempdir().expect("tempdir");
    let journals = Journals::open(&state.path().join("journals")).expect("journals");
    (state, journals)
}

fn stage_of(workspace: &Path) -> Stage {
    Stage::create(workspace, &StageOptions::default()).expect("stage")
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
    let stage = stage_of(workspace.path());
    assert_eq!(snapshot(stage.path()), before, "the tool sees the whole tree, modes and symlinks included");
    remediate(stage.path());
    assert_eq!(snapshot(workspace.path()), before, "nothing reaches the workspace before apply");
}

#[test]
fn the_changeset_lists_what_the_tool_did_and_apply_lands_exactly_that() {
    let workspace = checkout();
    let stage = stage_of(workspace.path());
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
    let (_state, journals) = journals();
    stage.apply(&changes, &journals).expect("apply");
    assert_eq!(snapshot(workspace.path()), snapshot(stage.path()), "nothing of the apply is left behind");
    assert_eq!(
        std::fs::read_dir(journals.path()).expect("ls").count(),
        1,
        "only the key is left: {:?}",
        journals.path()
    );
}

#[test]
fn an_in_place_edit_of_the_same_size_is_found_without_trusting_sizes() {
    let workspace = checkout();
    let stage = stage_of(workspace.path());
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
        let stage = stage_of(workspace.path());
        remediate(stage.path());
        std::fs::set_permissions(stage.path().join("src/main.rs"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let new = snapshot(stage.path());
        let changes = stage.changeset().expect("diff");
        let (_state, journals) = journals();
        match stage.apply_interrupted(&changes, &journals, steps) {
            Ok(()) => {
                assert_eq!(snapshot(workspace.path()), new);
                break;
            }
            Err(WorkspaceError::Interrupted) => {}
            Err(e) => panic!("step {steps}: {e}"),
        }
        let again = stage_of(workspace.path());
        let more = again.changeset().expect("diff");
        assert!(
            more.is_empty()
                || matches!(again.apply(&more, &journals), Err(WorkspaceError::PendingApply { .. }))
        );
        let recovery = recover(workspace.path(), &journals).expect("recover");
        let now = snapshot(workspace.path());
        match recovery {
            Recovery::RolledBack => assert_eq!(now, old, "crash after {steps} steps: not the old tree"),
            Recovery::RolledForward => {
                assert_eq!(now, new, "crash after {steps} steps: not the new tree");
                rolled_forward += 1;
            }
            Recovery::Clean => panic!("crash after {steps} steps left no journal"),
        }
        assert_eq!(recover(workspace.path(), &journals).expect("again"), Recovery::Clean);
        steps += 1;
    }
    assert!(steps > 8, "the apply has {steps} steps");
    assert!(rolled_forward > 3, "only {rolled_forward} crashes came after the commit point");
}

#[test]
fn a_workspace_edited_during_the_call_is_not_applied_to() {
    let workspace = checkout();
    let stage = stage_of(workspace.path());
    remediate(stage.path());
    let changes = stage.changeset().expect("diff");
    std::fs::write(workspace.path().join("Cargo.toml"), "# someone else's edit\n").expect("edit");
    let before = snapshot(workspace.path());
    let (_state, journals) = journals();
    let err = stage.apply(&changes, &journals).expect_err("refused");
    assert!(matches!(&err, WorkspaceError::ChangedDuringCall { path } if path == "Cargo.toml"), "{err}");
    assert_eq!(snapshot(workspace.path()), before);
}

#[test]
fn the_rules_refuse_symlinks_new_executables_setuid_and_big_files() {
    let workspace = checkout();
    let stage = stage_of(workspace.path());
    let s = stage.path();
    symlink("/etc/passwd", s.join("planted")).expect("plant");
    std::fs::remove_file(s.join("entry")).expect("unlink");
    std::fs::write(s.join("tool"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(s.join("tool"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(s.join("src/main.rs"), std::fs::Permissions::from_mode(0o4644)).expect("chmod");
    std::fs::write(s.join("big.bin"), vec![b'x'; 2048]).expect("write");
    std::fs::write(s.join("run.sh"), "#!/bin/sh\necho still executable\n").expect("edit");
    std::fs::create_dir(s.join(".airlock-apply")).expect("mkdir");
    let changes = stage.changeset().expect("diff");
    let refused: Vec<String> = Rules { max_file_bytes: 1024 }
        .check(&changes)
        .into_iter()
        .map(|v| format!("{}: {}", v.path, v.reason))
        .collect();
    assert_eq!(
        refused,
        [
            "big.bin: is 2048 bytes, over the 1024-byte limit",
            "planted: creates a symlink (to `/etc/passwd`); symlinks are never applied",
            "src/main.rs: gains setuid/setgid/sticky bits (mode 4644)",
            "tool: becomes executable (mode 755); new executables are never applied",
        ],
        "deleting a symlink, editing an existing executable and a directory named like the old journal are allowed"
    );
    let (_state, journals) = journals();
    let err =
        stage.apply(&changes, &journals).expect_err("a symlink is never applied, even without the rules");
    assert!(matches!(err, WorkspaceError::Symlink { .. }), "{err}");
}

#[test]
fn the_dry_run_patch_applies_with_git_apply_to_the_original_tree() {
    let workspace = checkout();
    let copy = tempfile::tempdir().expect("tempdir");
    let stage = stage_of(workspace.path());
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
    let options = StageOptions { parent: Some(copy.path().to_owned()), ..StageOptions::default() };
    let original = Stage::create(workspace.path(), &options).expect("copy");
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
    let stage = stage_of(workspace.path());
    std::fs::write(stage.path().join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0xff]).expect("write");
    let changes = stage.changeset().expect("diff");
    let err = patch(&stage, &changes).expect_err("binary");
    assert_eq!(err.to_string(), "logo.png: binary content cannot be written as a text patch");
}

/// A file outside every checkout, and what it holds, to prove nothing
/// reached it.
fn outside() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("victim"), "untouched\n").expect("write");
    std::fs::set_permissions(dir.path().join("victim"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    dir
}

/// What an attacker plants as an apply journal in a checkout: each kind of
/// operation, aimed outside it.
fn plant_journal(journal_dir: &Path, target: &Path) {
    std::fs::create_dir_all(journal_dir).expect("mkdir");
    std::fs::write(journal_dir.join("0"), "planted content\n").expect("write");
    let victim = target.join("victim").display().to_string();
    let ops = serde_json::json!({
        "version": 1,
        "ops": [
            {"op": "chmod", "path": victim, "mode": 0o4777},
            {"op": "make_dir", "path": target.join("made").display().to_string()},
            {"op": "replace", "path": target.join("replaced").display().to_string(), "temp": "0"},
            {"op": "replace", "path": "../../../../../../../../tmp/airlock-planted", "temp": "0"},
            {"op": "remove", "path": victim},
        ]
    });
    for name in ["commit.json", "plan.json"] {
        std::fs::write(journal_dir.join(name), ops.to_string()).expect("write");
    }
}

#[test]
fn a_journal_planted_in_the_checkout_is_ordinary_content_and_never_carried_out() {
    let target = outside();
    let workspace = checkout();
    plant_journal(&workspace.path().join(".airlock-apply"), target.path());
    let before = snapshot(workspace.path());
    let (_state, journals) = journals();
    assert_eq!(recover(workspace.path(), &journals).expect("recover"), Recovery::Clean);
    assert_eq!(snapshot(target.path()), snapshot(outside().path()), "nothing outside the checkout changed");
    assert_eq!(snapshot(workspace.path()), before, "and the planted files are left as they are");

    // Staged, changed and applied like any other content.
    let stage = stage_of(workspace.path());
    assert!(stage.path().join(".airlock-apply/commit.json").is_file(), "the tool sees it as a file");
    remediate(stage.path());
    let changes = stage.changeset().expect("diff");
    stage.apply(&changes, &journals).expect("apply");
    assert_eq!(snapshot(workspace.path()), snapshot(stage.path()));
    assert_eq!(snapshot(target.path()), snapshot(outside().path()));
    assert!(!Path::new("/tmp/airlock-planted").exists());
}

#[test]
fn a_symlinked_journal_directory_in_the_checkout_is_never_followed() {
    let target = outside();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    plant_journal(elsewhere.path(), target.path());
    let workspace = checkout();
    symlink(elsewhere.path(), workspace.path().join(".airlock-apply")).expect("symlink");
    let (_state, journals) = journals();
    assert_eq!(recover(workspace.path(), &journals).expect("recover"), Recovery::Clean);
    let stage = stage_of(workspace.path());
    remediate(stage.path());
    let changes = stage.changeset().expect("diff");
    stage.apply(&changes, &journals).expect("apply");
    assert_eq!(snapshot(target.path()), snapshot(outside().path()), "nothing outside changed");
    assert!(elsewhere.path().join("commit.json").is_file(), "the link's target was not touched");
}

#[test]
fn a_journal_in_airlocks_state_that_airlock_did_not_seal_is_refused() {
    let target = outside();
    let workspace = checkout();
    let (_state, journals) = journals();
    // An interrupted apply leaves a sealed journal with this checkout's name.
    let stage = stage_of(workspace.path());
    remediate(stage.path());
    let changes = stage.changeset().expect("diff");
    let _ = stage.apply_interrupted(&changes, &journals, 3);
    let journal = std::fs::read_dir(journals.path())
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "plan" || e == "commit"))
        .expect("a journal");
    // Someone rewrites it to act outside the checkout, keeping the seal line.
    let sealed = std::fs::read_to_string(&journal).expect("read");
    let (seal, body) = sealed.split_once('\n').expect("seal line");
    let forged = body.replace(
        "\"ops\":[",
        &format!("\"ops\":[{{\"op\":\"remove\",\"path\":\"{}\"}},", target.path().join("victim").display()),
    );
    std::fs::write(&journal, format!("{seal}\n{forged}")).expect("forge");
    let err = recover(workspace.path(), &journals).expect_err("refused");
    assert!(err.to_string().contains("not sealed by this user's airlock key"), "{err}");
    assert!(target.path().join("victim").exists(), "nothing was carried out");
}

#[test]
fn a_parent_swapped_for_a_symlink_during_staging_or_apply_never_leads_outside() {
    let target = outside();
    std::fs::write(target.path().join("mod.rs"), "outside secret\n").expect("write");
    let (_state, journals) = journals();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for round in 0..40 {
        let workspace = checkout();
        let stage = Stage::create(workspace.path(), &StageOptions::default());
        let Ok(stage) = stage else { continue };
        std::fs::write(stage.path().join("src/util/mod.rs"), format!("pub fn patched{round}() {{}}\n"))
            .expect("edit");
        std::fs::write(stage.path().join("src/util/new.rs"), "// added\n").expect("add");
        let changes = stage.changeset().expect("diff");
        // Another process swaps `src/util` for a symlink out and back, as fast as it can.
        let util = workspace.path().join("src/util");
        let (swapper_stop, out) = (stop.clone(), target.path().to_owned());
        stop.store(false, std::sync::atomic::Ordering::SeqCst);
        let swapper = std::thread::spawn(move || {
            let real = util.with_file_name("util.real");
            while !swapper_stop.load(std::sync::atomic::Ordering::SeqCst) {
                if std::fs::rename(&util, &real).is_ok() {
                    let _ = symlink(&out, &util);
                    std::thread::yield_now();
                    let _ = std::fs::remove_file(&util);
                    let _ = std::fs::rename(&real, &util);
                }
            }
        });
        let _ = stage.apply(&changes, &journals);
        let again = Stage::create(workspace.path(), &StageOptions::default());
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        swapper.join().expect("swapper");
        let _ = recover(workspace.path(), &journals);
        assert_eq!(std::fs::read_to_string(target.path().join("mod.rs")).expect("read"), "outside secret\n");
        assert!(
            !target.path().join("new.rs").exists(),
            "round {round}: a file was added outside the checkout"
        );
        if let Ok(again) = again {
            // A link staged as a link is fine; a file holding what is outside is not.
            for (path, (kind, _, bytes)) in snapshot(again.path()) {
                let leaked = kind == "file" && String::from_utf8_lossy(&bytes).contains("outside secret");
                assert!(!leaked, "round {round}: staging read outside the checkout into {path}");
            }
        }
    }
}

#[test]
fn fifos_sockets_devices_and_non_utf8_names_are_skipped_never_opened() {
    use std::os::unix::ffi::OsStrExt;
    let workspace = checkout();
    let w = workspace.path();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        w.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from(0o644),
        0,
    )
    .expect("mkfifo");
    let _socket = std::os::unix::net::UnixListener::bind(w.join("src/sock")).expect("socket");
    let device = rustix::fs::mknodat(
        rustix::fs::CWD,
        w.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from(0o666),
        rustix::fs::makedev(1, 3),
    )
    .is_ok();
    std::fs::write(w.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), "x").expect("non-UTF-8 name");
    // Would block forever if anything opened the FIFO without O_NONBLOCK.
    let stage = stage_of(w);
    let mut skipped: Vec<(String, &str)> = stage.skipped().iter().map(|s| (s.path.clone(), s.kind)).collect();
    skipped.sort();
    let mut expected = vec![
        ("bad\u{fffd}name".to_owned(), "name not UTF-8"),
        ("pipe".to_owned(), "FIFO"),
        ("src/sock".to_owned(), "socket"),
    ];
    if device {
        expected.push(("null".to_owned(), "device"));
        expected.sort();
    }
    assert_eq!(skipped, expected);
    for name in ["pipe", "src/sock", "null"] {
        assert!(std::fs::symlink_metadata(stage.path().join(name)).is_err(), "{name} is not staged");
    }
    // The tool writes a file where the FIFO is: it never lands.
    std::fs::write(stage.path().join("pipe"), "data").expect("write");
    let changes = stage.changeset().expect("diff");
    let (_state, journals) = journals();
    let err = stage.apply(&changes, &journals).expect_err("refused");
    assert!(matches!(&err, WorkspaceError::ChangedDuringCall { path } if path == "pipe"), "{err}");
}

#[test]
fn a_checkout_over_the_stage_budget_is_refused_sparse_files_counted_in_full() {
    let workspace = checkout();
    let sparse = std::fs::File::create(workspace.path().join("sparse.img")).expect("create");
    sparse.set_len(64 << 30).expect("a 64 GiB hole");
    let err = Stage::create(workspace.path(), &StageOptions::default()).expect_err("over budget");
    assert!(
        matches!(err, WorkspaceError::TooLarge { limit, .. } if limit == StageOptions::DEFAULT_MAX_BYTES),
        "{err}"
    );
    assert!(err.to_string().contains("over the stage budget of 1073741824 bytes"), "{err}");
    sparse.set_len(4096).expect("shrink");
    let small = StageOptions { max_bytes: 1024, ..StageOptions::default() };
    let err = Stage::create(workspace.path(), &small).expect_err("over a small budget");
    assert!(err.to_string().contains("stage budget of 1024 bytes"), "{err}");
    Stage::create(workspace.path(), &StageOptions::default()).expect("fits the default");
}

/// Found by the `workspace` fuzz target: a directory the tool removed held
/// a FIFO that was never staged, so removing it failed after the commit
/// point and left the apply half done. Every directory a changeset removes
/// (or replaces with a file) must hold nothing else; checked before
/// anything is written.
#[test]
fn a_directory_holding_what_was_never_staged_is_not_removed_and_nothing_is_applied() {
    use std::os::unix::ffi::OsStrExt;
    type Make<'a> = &'a dyn Fn(&Path);
    let unstaged: [(&str, Make<'_>); 3] = [
        ("src/util/pipe", &|p| {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                p,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from(0o644),
                0,
            )
            .expect("mkfifo")
        }),
        ("src/util/sock", &|p| {
            std::mem::forget(std::os::unix::net::UnixListener::bind(p).expect("socket"));
        }),
        ("src/util/bad\u{fffd}name", &|p| {
            let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
            std::fs::write(p.parent().expect("parent").join(name), "x").expect("write");
        }),
    ];
    for (holds, make) in unstaged {
        for replace_with_file in [false, true] {
            let workspace = checkout();
            let w = workspace.path();
            make(&w.join(holds));
            let before = snapshot(w);
            let stage = stage_of(w);
            std::fs::remove_dir_all(stage.path().join("src/util")).expect("the tool removes the directory");
            if replace_with_file {
                std::fs::write(stage.path().join("src/util"), "now a file").expect("write");
            }
            let changes = stage.changeset().expect("diff");
            let (_state, journals) = journals();
            let err = stage.apply(&changes, &journals).expect_err("refused");
            assert!(
                matches!(&err, WorkspaceError::NotEmptied { path, holds: h } if path == "src/util" && h == holds),
                "{err}"
            );
            assert!(err.to_string().contains("nothing was applied"), "{err}");
            assert_eq!(snapshot(w), before, "nothing was written, no apply directory left behind");
            assert_eq!(recover(w, &journals).expect("recover"), Recovery::Clean);
        }
    }
}
