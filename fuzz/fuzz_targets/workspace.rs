//! The staged-workspace cycle on generated checkouts: stage, let a "tool"
//! edit the stage, diff, apply (whole, or stopped dead after some steps and
//! then recovered), with the checkout now and then changed behind the
//! stage's back.
//!
//! Checkouts hold files (modes, contents), directories, symlinks (inside,
//! dangling, looping, and out to a directory beside the checkout, by
//! relative and absolute paths), FIFOs and odd names (spaces, newlines,
//! leading `-`, `..x`, Unicode, names that are not UTF-8). Tool edits are
//! made through a capability handle of the stage, as a sandboxed tool's
//! would be: writes, removals, directories, symlinks anywhere, mode
//! changes, renames.
//!
//! - Nothing outside the checkout changes: the directory beside it keeps
//!   every byte, mode and link, whatever the checkout and the tool hold.
//! - Apply is all or nothing: when it succeeds, the checkout is the stage
//!   (plus what was never staged: FIFOs, names that are not UTF-8); when it
//!   fails, the checkout is as it was. Stopped dead and recovered, it is
//!   one or the other.
//! - A checkout changed after staging (by anything else that can write it)
//!   still keeps the directory beside it intact, and a refused apply still
//!   leaves it as it was.
#![no_main]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use airlock_workspace::{Journals, Stage, StageOptions, recover};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// Names, the odd ones included. Index 0..4 are directories' usual names.
const NAMES: &[&[u8]] = &[
    b"src",
    b"docs",
    b".github",
    b"a",
    b"Cargo.toml",
    b"file with space",
    b"-rf",
    b"..x",
    b"new\nline",
    "ünï".as_bytes(),
    b"\xff\xfe",
    b".git",
    b"x",
];

/// Symlink targets: inside, dangling, looping, outside (relative and
/// absolute, the absolute one filled in per run).
const TARGETS: &[&str] =
    &["src", "a/x", "missing", ".", "..", "../outside", "../outside/secret", "OUTSIDE", "loop"];

#[derive(Arbitrary, Debug)]
enum Node {
    File { name: u8, content: Vec<u8>, executable: bool },
    Dir { name: u8, children: Vec<Node> },
    Symlink { name: u8, target: u8 },
    Fifo { name: u8 },
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Write { path: Vec<u8>, content: Vec<u8> },
    Remove { path: Vec<u8> },
    RemoveDir { path: Vec<u8> },
    Mkdir { path: Vec<u8> },
    Symlink { path: Vec<u8>, target: u8 },
    Chmod { path: Vec<u8>, executable: bool },
    Rename { from: Vec<u8>, to: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
struct Case {
    checkout: Vec<Node>,
    edits: Vec<Edit>,
    /// Changes made to the checkout itself after staging.
    behind: Vec<Edit>,
    /// Stop the apply dead after this many durable steps, then recover.
    stop_after: Option<u8>,
}

/// A path in the tree: up to three names from [`NAMES`], by index.
fn path_of(indices: &[u8]) -> PathBuf {
    let mut path = PathBuf::new();
    for i in indices.iter().take(3) {
        path.push(OsStr::from_bytes(NAMES[usize::from(*i) % NAMES.len()]));
    }
    if path.as_os_str().is_empty() { PathBuf::from("x") } else { path }
}

fn target_of(i: u8, outside: &Path) -> PathBuf {
    match TARGETS[usize::from(i) % TARGETS.len()] {
        "OUTSIDE" => outside.join("secret"),
        other => PathBuf::from(other),
    }
}

fn build(dir: &Path, nodes: &[Node], outside: &Path, depth: u8) {
    for node in nodes {
        let name = |i: &u8| dir.join(OsStr::from_bytes(NAMES[usize::from(*i) % NAMES.len()]));
        // Names repeat: the first one made wins, as in any tree.
        let _ = match node {
            // `create_new`: never open what an earlier node made (a FIFO
            // would wait for a reader forever).
            Node::File { name: n, content, executable } => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(name(n))
                .and_then(|mut file| std::io::Write::write_all(&mut file, content))
                .and_then(|()| {
                    let mode = if *executable { 0o755 } else { 0o644 };
                    std::fs::set_permissions(name(n), std::fs::Permissions::from_mode(mode))
                }),
            Node::Dir { name: n, children } => std::fs::create_dir(name(n)).map(|()| {
                if depth < 3 {
                    build(&name(n), children, outside, depth + 1);
                }
            }),
            Node::Symlink { name: n, target } => {
                std::os::unix::fs::symlink(target_of(*target, outside), name(n))
            }
            Node::Fifo { name: n } => nix_mkfifo(&name(n)),
        };
    }
}

/// A FIFO through the `mkfifo` command: no unsafe code here.
fn nix_mkfifo(path: &Path) -> std::io::Result<()> {
    let status =
        std::process::Command::new("mkfifo").arg(path).stderr(std::process::Stdio::null()).status()?;
    if status.success() { Ok(()) } else { Err(std::io::Error::other("mkfifo failed")) }
}

/// Makes an edit through `dir`, a capability handle: like a sandboxed
/// tool, it cannot step outside, whatever the links say.
fn edit(dir: &cap_std::fs::Dir, edit: &Edit, outside: &Path) {
    let p = |raw: &[u8]| path_of(raw);
    let _ = match edit {
        // Never open a FIFO: the write would wait for a reader forever.
        Edit::Write { path, content } => match dir.symlink_metadata(p(path)) {
            Ok(meta) if !meta.is_file() => Ok(()),
            _ => dir.write(p(path), content),
        },
        Edit::Remove { path } => dir.remove_file(p(path)),
        Edit::RemoveDir { path } => dir.remove_dir_all(p(path)),
        Edit::Mkdir { path } => dir.create_dir_all(p(path)),
        Edit::Symlink { path, target } => dir.symlink_contents(target_of(*target, outside), p(path)),
        Edit::Chmod { path, .. }
            if !dir.symlink_metadata(p(path)).is_ok_and(|m| m.is_file() || m.is_dir()) =>
        {
            Ok(())
        }
        Edit::Chmod { path, executable } => {
            let mode = if *executable { 0o755 } else { 0o644 };
            dir.set_permissions(
                p(path),
                cap_std::fs::Permissions::from_std(std::fs::Permissions::from_mode(mode)),
            )
        }
        Edit::Rename { from, to } => dir.rename(p(from), dir, p(to)),
    };
}

/// What a tree holds, links not followed: path → (kind, content or
/// target, permission bits).
type Snapshot = BTreeMap<PathBuf, (char, Vec<u8>, u32)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&relative)) else { continue };
        for entry in entries.flatten() {
            let path = relative.join(entry.file_name());
            let full = root.join(&path);
            let Ok(meta) = std::fs::symlink_metadata(&full) else { continue };
            let mode = meta.permissions().mode() & 0o777;
            let file_type = meta.file_type();
            let value = if file_type.is_symlink() {
                ('l', std::fs::read_link(&full).map(|t| t.into_os_string().into_vec()).unwrap_or_default(), 0)
            } else if file_type.is_dir() {
                stack.push(path.clone());
                ('d', vec![], mode)
            } else if file_type.is_file() {
                ('f', std::fs::read(&full).unwrap_or_default(), mode)
            } else {
                ('p', vec![], mode)
            };
            out.insert(path, value);
        }
    }
    out
}

/// The checkout an apply must leave: the stage, plus what was never staged
/// (FIFOs and names that are not UTF-8), directory modes aside.
fn expected(stage: &Snapshot, before: &Snapshot) -> Snapshot {
    // What the stage holds under a name that is not UTF-8 is never diffed.
    let mut out: Snapshot =
        stage.iter().filter(|(p, _)| p.to_str().is_some()).map(|(p, v)| (p.clone(), v.clone())).collect();
    for (path, value) in before {
        let unstaged = value.0 == 'p' || path.to_str().is_none();
        if unstaged
            && path
                .parent()
                .is_none_or(|p| p.as_os_str().is_empty() || out.get(p).is_some_and(|v| v.0 == 'd'))
        {
            out.insert(path.clone(), value.clone());
        }
    }
    out
}

fn comparable(snapshot: &Snapshot) -> Snapshot {
    snapshot
        .iter()
        .map(|(path, (kind, content, mode))| {
            // Directory modes are not part of a changeset.
            let mode = if *kind == 'd' { 0 } else { *mode & 0o100 };
            (path.clone(), (*kind, content.clone(), mode))
        })
        .collect()
}

static SELF_CHECK: std::sync::Once = std::sync::Once::new();

/// A tool's write lands, and a FIFO in the checkout stays: the properties
/// are checked against applies that change something.
fn self_check() {
    let case = Case {
        checkout: vec![
            Node::Dir {
                name: 0,
                children: vec![Node::File { name: 4, content: b"old".to_vec(), executable: false }],
            },
            Node::Fifo { name: 12 },
        ],
        edits: vec![Edit::Write { path: vec![0, 4], content: b"new".to_vec() }],
        behind: vec![],
        stop_after: None,
    };
    let after = run(&case).expect("the self-check applies");
    assert_eq!(after.get(Path::new("src/Cargo.toml")).map(|v| v.1.as_slice()), Some(&b"new"[..]));
    assert_eq!(after.get(Path::new("x")).map(|v| v.0), Some('p'), "the FIFO is left in place");
}

fuzz_target!(|case: Case| {
    SELF_CHECK.call_once(self_check);
    run(&case);
});

/// Runs the cycle and checks the properties; the checkout afterwards, when
/// the apply ran and succeeded.
fn run(case: &Case) -> Option<Snapshot> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (checkout, outside, state) =
        (dir.path().join("checkout"), dir.path().join("outside"), dir.path().join("state"));
    for d in [&checkout, &outside, &state.join("stages")] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(outside.join("secret"), b"outside the checkout").expect("write");
    std::os::unix::fs::symlink("secret", outside.join("link")).expect("symlink");
    std::os::unix::fs::symlink("loop", checkout.join("loop")).ok();
    build(&checkout, &case.checkout, &outside, 0);
    let outside_before = snapshot(&outside);
    let options = StageOptions { parent: Some(state.join("stages")), max_bytes: 1 << 20 };
    let Ok(stage) = Stage::create(&checkout, &options) else {
        assert_eq!(snapshot(&outside), outside_before, "staging changed what is outside");
        return None;
    };
    let handle =
        cap_std::fs::Dir::open_ambient_dir(stage.path(), cap_std::ambient_authority()).expect("stage");
    for e in &case.edits {
        edit(&handle, e, &outside);
    }
    let checkout_handle =
        cap_std::fs::Dir::open_ambient_dir(&checkout, cap_std::ambient_authority()).expect("checkout");
    for e in &case.behind {
        edit(&checkout_handle, e, &outside);
    }
    let checkout_staged = snapshot(&checkout);
    let stage_after = snapshot(stage.path());
    let journals = Journals::open(&state.join("journals")).expect("journals");
    let result = stage.changeset().and_then(|changes| match case.stop_after {
        None => stage.apply(&changes, &journals),
        Some(steps) => {
            let _ = stage.apply_interrupted(&changes, &journals, usize::from(steps % 16));
            recover(&checkout, &journals).map(|_| ())
        }
    });
    assert_eq!(snapshot(&outside), outside_before, "the cycle changed what is outside the checkout");
    let now = comparable(&snapshot(&checkout));
    let unchanged = comparable(&checkout_staged);
    let landed = comparable(&expected(&stage_after, &checkout_staged));
    match &result {
        // Changed behind the stage, the checkout holds what the changes
        // left; only a refusal has a fixed answer: nothing written.
        Ok(()) if !case.behind.is_empty() => {}
        Ok(()) if case.stop_after.is_none() => assert_eq!(now, landed, "a successful apply lands the stage"),
        Err(_) if case.stop_after.is_none() => {
            assert_eq!(now, unchanged, "a refused apply wrote: {result:?}")
        }
        _ if !case.behind.is_empty() => {}
        _ => assert!(now == unchanged || now == landed, "neither before nor after: {result:?}"),
    }
    result.ok().map(|()| snapshot(&checkout))
}
