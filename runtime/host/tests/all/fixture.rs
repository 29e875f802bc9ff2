//! Shared test fixtures: one runtime per test binary, tools compiled once,
//! a scratch tree with a secret outside the mount, and leak checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

use airlock_host::{CallOutcome, LoadedTool, Runtime, RuntimeConfig};
use airlock_policy::{Access, GrantSet, GuestPath, Limits, Offer, OfferedEnv, OfferedMount, resolve};
use tokio::sync::Mutex;

/// The runtime all tests share (engines are process-wide by design).
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // Shared by every test of this binary, which run side by side: a
        // pool of 32 let a test with many calls at once starve another
        // (`runtime busy`, seen under load); the pool's own limit is tested
        // with a runtime of its own (`a_full_pool_reports_busy_and_recovers`).
        Runtime::new(RuntimeConfig { max_concurrent_calls: 128, ..RuntimeConfig::default() })
            .expect("runtime")
    })
}

/// Loads (and compiles, once per process) the component at `path`.
pub(crate) async fn tool(path: &str) -> LoadedTool {
    static LOADED: LazyLock<Mutex<HashMap<String, LoadedTool>>> = LazyLock::new(Default::default);
    let mut loaded = LOADED.lock().await;
    if let Some(tool) = loaded.get(path) {
        return tool.clone();
    }
    let tool = runtime().load(Path::new(path)).await.unwrap_or_else(|e| panic!("load {path}: {e}"));
    loaded.insert(path.to_owned(), tool.clone());
    tool
}

/// A scratch tree:
///
/// ```text
/// root/
///   workspace/            the mount
///     hello.txt           "hello from the workspace\n"
///     sub/
///     link_in -> hello.txt
///     link_abs_in -> <root>/workspace/hello.txt   (absolute, points inside)
///     link_out_rel -> ../outside/secret.txt
///     link_out_abs -> <root>/outside/secret.txt
///     link_etc -> /etc/passwd
///     link_dir_out -> ../outside
///   outside/
///     secret.txt          a unique canary
/// ```
pub(crate) struct Tree {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) workspace: PathBuf,
    pub(crate) secret_path: PathBuf,
    pub(crate) canary: String,
}

impl Tree {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        let workspace = root.join("workspace");
        let outside = root.join("outside");
        std::fs::create_dir_all(workspace.join("sub")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(workspace.join("hello.txt"), "hello from the workspace\n").expect("write");
        let canary = format!("CANARY-{}", std::process::id() as u64 * 1_000_003 + nanos());
        let secret_path = outside.join("secret.txt");
        std::fs::write(&secret_path, &canary).expect("write");
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, workspace.join(name)).expect("symlink")
        };
        link(Path::new("hello.txt"), "link_in");
        link(&workspace.join("hello.txt"), "link_abs_in");
        link(Path::new("../outside/secret.txt"), "link_out_rel");
        link(&secret_path, "link_out_abs");
        link(Path::new("/etc/passwd"), "link_etc");
        link(Path::new("../outside"), "link_dir_out");
        Self { _dir: dir, root, workspace, secret_path, canary }
    }

    /// Everything under `root`, as (relative path, content-or-link-target),
    /// to prove a call changed nothing.
    pub(crate) fn snapshot(&self) -> Vec<(String, String)> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<_> =
                std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry")).collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let path = e.path();
                let rel = path.strip_prefix(base).expect("under base").display().to_string();
                let kind = e.file_type().expect("file type");
                if kind.is_symlink() {
                    out.push((rel, format!("-> {}", std::fs::read_link(&path).expect("readlink").display())));
                } else if kind.is_dir() {
                    out.push((rel.clone(), "dir".into()));
                    walk(base, &path, out);
                } else {
                    out.push((rel, std::fs::read_to_string(&path).expect("read")));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

/// Grants for `tool`: the given mounts at their guest paths, env, limits.
pub(crate) fn grants(
    tool: &LoadedTool,
    mounts: &[(&Path, &str, Access)],
    env: &[(&str, &str)],
    limits: Limits,
) -> GrantSet {
    let offer = Offer {
        mounts: mounts
            .iter()
            .map(|(host, guest, access)| OfferedMount {
                host: host.to_path_buf(),
                guest: GuestPath::new(guest).expect("guest path"),
                access: *access,
            })
            .collect(),
        env: env.iter().map(|(n, v)| OfferedEnv { name: (*n).into(), value: (*v).into() }).collect(),
        limits,
        ..Offer::default()
    };
    resolve(&tool.info().name, &tool.info().capabilities, &offer).expect("grants resolve")
}

/// The workspace of `tree`, mounted at `/workspace` with `access`.
pub(crate) fn workspace(tool: &LoadedTool, tree: &Tree, access: Access) -> GrantSet {
    grants(tool, &[(&tree.workspace, "/workspace", access)], &[], Limits::default())
}

/// Asserts `needle` appears nowhere in what the call returned or printed.
pub(crate) fn assert_no_leak(outcome: &CallOutcome, needle: &str) {
    let result = match &outcome.result {
        Ok(s) => s.clone(),
        Err(e) => e.to_string(),
    };
    let logs = format!("{:?}", outcome.logs);
    for (what, text) in [
        ("result", result),
        ("stdout", String::from_utf8_lossy(&outcome.stdout.bytes).into_owned()),
        ("stderr", String::from_utf8_lossy(&outcome.stderr.bytes).into_owned()),
        ("logs", logs),
    ] {
        assert!(!text.contains(needle), "{what} leaked `{needle}`: {text}");
    }
}

/// The call's JSON output, or a panic naming the tool error.
pub(crate) fn output(outcome: &CallOutcome) -> serde_json::Value {
    match &outcome.result {
        Ok(s) => serde_json::from_str(s).expect("tool output is JSON"),
        Err(e) => {
            panic!("tool returned an error: {e}\nstderr: {}", String::from_utf8_lossy(&outcome.stderr.bytes))
        }
    }
}
