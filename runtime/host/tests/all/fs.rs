//! Filesystem grants: what a mount lets through, and every way out of it
//! that must stay shut.

use airlock_host::{MountUse, Usage};
use airlock_policy::{Access, Limits};
use airlock_test_artifacts as programs;
use serde_json::json;

use crate::fixture::{Tree, assert_no_leak, grants, output, tool, workspace};

#[tokio::test]
pub(crate) async fn fs_read_granted() {
    let tree = Tree::new();
    let tool = tool(programs::FS_READ_GRANTED).await;
    let input = json!({ "path": "/workspace/hello.txt" }).to_string();
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadOnly), &input).await.expect("call");
    assert_eq!(output(&outcome)["content"], "hello from the workspace\n");
    // Usage: the mount was read, and nothing else was used.
    assert_eq!(outcome.usage.mounts["/workspace"], MountUse { read: true, written: false });
    assert_eq!(outcome.usage, Usage { mounts: outcome.usage.mounts.clone(), ..Usage::default() });

    // A path under no mount: the granted mount is not used.
    let input = json!({ "path": "/elsewhere/hello.txt" }).to_string();
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadOnly), &input).await.expect("call");
    assert!(outcome.result.is_err());
    assert_eq!(outcome.usage, Usage::default(), "an unused mount is not reported");

    // A relative symlink that stays inside the mount is fine.
    let input = json!({ "path": "/workspace/link_in" }).to_string();
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadOnly), &input).await.expect("call");
    assert_eq!(output(&outcome)["content"], "hello from the workspace\n");
}

#[tokio::test]
async fn requested_but_not_granted_mount_does_not_exist() {
    let tool = tool(programs::FS_READ_GRANTED).await;
    let input = json!({ "path": "/workspace/hello.txt" }).to_string();
    let none = grants(&tool, &[], &[], Limits::default());
    let outcome = tool.call(&none, &input).await.expect("call");
    let err = outcome.result.as_ref().expect_err("no mount was granted").to_string();
    assert!(err.contains("read /workspace/hello.txt"), "{err}");
    assert_no_leak(&outcome, "hello from the workspace");
}

#[tokio::test]
pub(crate) async fn fs_write_read_only() {
    let tree = Tree::new();
    let before = tree.snapshot();
    let tool = tool(programs::FS_WRITE_READ_ONLY).await;
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadOnly), "{}").await.expect("call");
    let out = output(&outcome);
    assert_eq!(out["denied"].as_array().map(Vec::len), Some(6), "{out}");
    assert_eq!(out["read"], "hello from the workspace\n");
    assert_eq!(tree.snapshot(), before, "a read-only mount was modified");
    // Six refused writes are no use of the mount: only the read counts.
    assert_eq!(outcome.usage.mounts["/workspace"], MountUse { read: true, written: false });
}

/// The same program under a read-write grant proves the test can fail: the
/// writes now succeed and the guest reports the escape.
#[tokio::test]
async fn fs_write_read_only_fails_when_the_mount_is_writable() {
    let tree = Tree::new();
    let tool = tool(programs::FS_WRITE_READ_ONLY).await;
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadWrite), "{}").await.expect("call");
    // It stops at its first write, which succeeded: written, not read.
    assert_eq!(outcome.usage.mounts["/workspace"], MountUse { read: false, written: true });
    let err = outcome.result.expect_err("writes succeed on a read-write mount").to_string();
    assert!(err.contains("ESCAPED: create a file succeeded"), "{err}");
    assert!(tree.workspace.join("created-by-guest.txt").exists());
}

#[tokio::test]
pub(crate) async fn fs_escape_dotdot() {
    let tree = Tree::new();
    let before = tree.snapshot();
    let tool = tool(programs::FS_ESCAPE_DOTDOT).await;
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadWrite), "{}").await.expect("call");
    let out = output(&outcome);
    assert_eq!(out["denied"].as_array().map(Vec::len), Some(6), "{out}");
    assert_no_leak(&outcome, &tree.canary);
    assert_eq!(tree.snapshot(), before, "an escape attempt changed the tree");
    assert!(!tree.root.join("escape.txt").exists());
}

#[tokio::test]
pub(crate) async fn fs_escape_symlink() {
    let tree = Tree::new();
    let before = tree.snapshot();
    let tool = tool(programs::FS_ESCAPE_SYMLINK).await;
    let input = json!({
        "read": [
            "/workspace/link_out_rel",
            "/workspace/link_out_abs",
            "/workspace/link_etc",
            "/workspace/link_dir_out/secret.txt",
            // Absolute symlinks are never followed, even pointing inside.
            "/workspace/link_abs_in",
        ],
        "write": ["/workspace/link_out_rel", "/workspace/link_dir_out/planted.txt"],
    })
    .to_string();
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadWrite), &input).await.expect("call");
    let out = output(&outcome);
    assert_eq!(out["denied"].as_array().map(Vec::len), Some(7), "{out}");
    assert_no_leak(&outcome, &tree.canary);
    assert_no_leak(&outcome, "root:x:0:0");
    assert_eq!(tree.snapshot(), before, "a write went through a symlink");
    assert_eq!(std::fs::read_to_string(&tree.secret_path).expect("read"), tree.canary);
}

#[tokio::test]
pub(crate) async fn fs_absolute_host_path() {
    let tree = Tree::new();
    let tool = tool(programs::FS_ABSOLUTE_HOST_PATH).await;
    let input = json!({
        "paths": [tree.secret_path.display().to_string(), tree.workspace.join("hello.txt").display().to_string()],
    })
    .to_string();
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadOnly), &input).await.expect("call");
    let out = output(&outcome);
    assert_eq!(out["denied"].as_array().map(Vec::len), Some(9), "{out}");
    assert_no_leak(&outcome, &tree.canary);
    assert_no_leak(&outcome, "root:x:0:0");
}

/// File I/O on tokio's blocking pool (`blocking_file_io: false`) takes a
/// different path through wasmtime-wasi; the sandbox must hold there too.
#[tokio::test]
async fn escapes_are_denied_with_pooled_file_io_too() {
    use airlock_host::{Runtime, RuntimeConfig};
    let rt = Runtime::new(RuntimeConfig {
        max_concurrent_calls: 2,
        blocking_file_io: false,
        ..Default::default()
    })
    .expect("runtime");
    let tree = Tree::new();
    let before = tree.snapshot();
    let dotdot = rt.load(std::path::Path::new(programs::FS_ESCAPE_DOTDOT)).await.expect("load");
    let outcome = dotdot.call(&workspace(&dotdot, &tree, Access::ReadWrite), "{}").await.expect("call");
    assert_eq!(output(&outcome)["denied"].as_array().map(Vec::len), Some(6));
    assert_no_leak(&outcome, &tree.canary);
    let read = rt.load(std::path::Path::new(programs::FS_READ_GRANTED)).await.expect("load");
    let input = json!({ "path": "/workspace/hello.txt" }).to_string();
    let outcome = read.call(&workspace(&read, &tree, Access::ReadOnly), &input).await.expect("call");
    assert_eq!(output(&outcome)["content"], "hello from the workspace\n");
    assert_eq!(tree.snapshot(), before);
}

/// The program the staged-workspace CLI tests drive. On a plain read-write
/// mount its writes, removals and planted symlink land in the mount itself
/// (which is why `airlock run --workspace` gives it a stage instead), and
/// the symlink it plants out of the mount still cannot be followed.
#[tokio::test]
pub(crate) async fn workspace_edit() {
    let tree = Tree::new();
    let tool = tool(programs::WORKSPACE_EDIT).await;
    let input = json!({
        "write": { "new/file.txt": "new\n" },
        "delete": ["hello.txt"],
        "symlink": { "up": "../outside/secret.txt" },
    })
    .to_string();
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadWrite), &input).await.expect("call");
    assert_eq!(output(&outcome)["done"], json!(["wrote new/file.txt", "deleted hello.txt", "linked up"]));
    assert!(outcome.usage.mounts["/workspace"].written, "{:?}", outcome.usage);
    assert_eq!(std::fs::read_to_string(tree.workspace.join("new/file.txt")).expect("read"), "new\n");
    assert!(!tree.workspace.join("hello.txt").exists());
    assert_eq!(
        std::fs::read_link(tree.workspace.join("up")).expect("a symlink"),
        std::path::Path::new("../outside/secret.txt")
    );
    assert_no_leak(&outcome, &tree.canary);
}

/// The compromised patch-deps on a plain read-write mount: everything it
/// does lands in the mounted directory, CI workflow included. Only a
/// staged workspace (`airlock run --workspace`, tested in the CLI tests)
/// stops that, which is why CI must never mount a checkout read-write.
#[tokio::test]
pub(crate) async fn patch_deps_malicious() {
    let checkout = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(checkout.path().join(".github/workflows")).expect("mkdir");
    let advisories =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/patch-deps/advisories");
    let tool = tool(programs::PATCH_DEPS_MALICIOUS).await;
    let grants = grants(
        &tool,
        &[(checkout.path(), "/workspace", Access::ReadWrite), (&advisories, "/advisories", Access::ReadOnly)],
        &[],
        Limits::default(),
    );
    let outcome = tool.call(&grants, "{}").await.expect("call");
    assert_eq!(output(&outcome)["changed"], 0);
    let ci = std::fs::read_to_string(checkout.path().join(".github/workflows/ci.yml")).expect("written");
    assert!(ci.contains("evil.example"), "{ci}");
    assert_eq!(
        std::fs::read_link(checkout.path().join("deploy-key")).expect("a symlink"),
        std::path::Path::new("../.ssh/id_ed25519")
    );
}

/// A FIFO with no writer, a socket and a device node in a mount, named
/// directly or through a symlink inside it: every open is refused at once,
/// so the call ends long before its deadline and never blocks a worker
/// (an echo call running beside it finishes too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn fs_special_files() {
    let tree = Tree::new();
    let fifo = tree.workspace.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let _socket = std::os::unix::net::UnixListener::bind(tree.workspace.join("socket")).expect("socket");
    std::os::unix::fs::symlink("fifo", tree.workspace.join("link_to_fifo")).expect("symlink");
    let mut paths = vec!["/workspace/fifo", "/workspace/socket", "/workspace/link_to_fifo"];
    // A character device (/dev/null's numbers): only root may make one.
    let device =
        std::process::Command::new("mknod").arg(tree.workspace.join("null")).args(["c", "1", "3"]).status();
    if device.is_ok_and(|s| s.success()) {
        paths.push("/workspace/null");
    } else {
        eprintln!("not root: the device node case is skipped (CI runs it)");
    }

    let special = tool(programs::FS_SPECIAL_FILES).await;
    let echo = tool(programs::ECHO).await;
    let limits = Limits { timeout: std::time::Duration::from_secs(5), ..Limits::default() };
    let grants = grants(&special, &[(&tree.workspace, "/workspace", Access::ReadWrite)], &[], limits);
    let input = json!({ "paths": paths }).to_string();
    let beside = tokio::spawn(async move {
        let grants = crate::fixture::grants(&echo, &[], &[], Limits::default());
        echo.call(&grants, "\"still served\"").await.expect("echo")
    });
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), special.call(&grants, &input))
        .await
        .expect("the call never returned: an open blocked past the deadline")
        .expect("call");
    let out = output(&outcome);
    assert_eq!(out["denied"].as_array().map(Vec::len), Some(paths.len() * 2), "{out}");
    for denial in out["denied"].as_array().into_iter().flatten() {
        assert_eq!(denial["kind"], "PermissionDenied", "{denial}");
    }
    assert_eq!(beside.await.expect("join").result.as_deref(), Ok("\"still served\""));
}
