//! Python and JS components for the SDK tests, built once per input, and
//! run sandboxed with a canary in the host's environment. A
//! built component is kept under `CARGO_TARGET_TMPDIR/lang-components`,
//! named by the sha256 of everything that goes into it (the builder, the
//! WIT world, the SDK and the tool's own files), so a rerun with nothing
//! changed does not run componentize-py or componentize-js again (each
//! takes seconds and writes 14-19 MB); and where airlock keeps what it
//! compiled from them ([`artifact_cache`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::loopback::LoopbackServer;
use crate::secrets::secret_cmd;

/// Directories never part of a build's input.
const SKIP: [&str; 4] = ["node_modules", "__pycache__", "target", ".git"];

/// `out` holds the component built from `inputs` (files or directories)
/// by `builder` (its identity: command and version); `build` writes it to
/// the path it is given when the cache has none.
pub(crate) fn cached(builder: &str, inputs: &[PathBuf], out: &Path, build: impl FnOnce(&Path)) {
    let mut hasher = Sha256::new();
    hasher.update(builder.as_bytes());
    for input in inputs {
        hash_tree(&mut hasher, input);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lang-components");
    std::fs::create_dir_all(&dir).expect("cache dir");
    let kept = dir.join(format!("{}.wasm", hex(&hasher.finalize())));
    if !kept.exists() {
        let fresh = tempfile::Builder::new().suffix(".wasm").tempfile_in(&dir).expect("temp file");
        build(fresh.path());
        fresh.persist(&kept).expect("keep the component");
    }
    std::fs::copy(&kept, out).expect("copy the component");
}

/// Feeds every file under `path` (name and bytes, in name order) to `hasher`.
fn hash_tree(hasher: &mut Sha256, path: &Path) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .map(|entry| entry.expect("entry").path())
            .filter(|p| !p.file_name().is_some_and(|name| SKIP.iter().any(|skip| name == *skip)))
            .collect();
        entries.sort();
        for entry in entries {
            hash_tree(hasher, &entry);
        }
    } else {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `XDG_CACHE_HOME` the SDK tests share, so each 14-19 MB component is
/// compiled by airlock once, not once per test (the artifact cache is safe
/// for concurrent processes).
pub(crate) fn artifact_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lang-artifacts")
}

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The builder `.ci/run` names in the environment variable `var`, or
/// `None` (the test is skipped, saying why: `what`).
pub(crate) fn builder(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(path) => Some(path),
        Err(_) => {
            eprintln!("skipped: {var} does not name {what} (.ci/run sets it)");
            None
        }
    }
}

/// How an `airlock run` ended.
pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    /// The output as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {} / {}", self.stdout, self.stderr))
    }
}

/// `airlock run --operator-override` of `tool` in `dir` with the mount
/// `dir/ws` at `/workspace`, the secret store `dir/store`, `canary` in the
/// host's environment, and `extra` flags; checks the canary appears in
/// neither output.
pub(crate) fn run_tool(dir: &Path, tool: &Path, input: &Value, extra: &[&str], canary: &str) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["run", "--operator-override", "--mount"])
        .arg(format!("{}:/workspace:rw", dir.join("ws").display()))
        .args(extra)
        .arg("--store")
        .arg(dir.join("store"))
        .arg("--input")
        .arg(input.to_string())
        .arg(tool)
        .env("SDK_HOST_SECRET", canary)
        .env("XDG_CACHE_HOME", artifact_cache())
        .env("AIRLOCK_AUDIT_LOG", dir.join("audit"))
        .output()
        .expect("run airlock");
    let ran = Ran {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !ran.stdout.contains(canary) && !ran.stderr.contains(canary),
        "the canary leaked: {}",
        ran.stderr
    );
    ran
}

/// One attempt of a language's escape program: `attempt`, `target` and
/// extra `airlock run` flags.
pub(crate) type Attempt<'a> = &'a dyn Fn(&str, &str, &[&str]) -> Ran;

/// An ungranted destination and a granted name that resolves to loopback
/// are refused with the host's reasons (exit 3).
pub(crate) fn assert_destinations_refused(attempt: Attempt<'_>, server: &LoopbackServer) {
    let port = server.port;
    let ungranted = attempt("host", &format!("http://127.0.0.1:{port}/ok"), &[]);
    assert_eq!(ungranted.code, 3, "{}", ungranted.stderr);
    assert!(ungranted.stderr.contains("destination not granted: http://127.0.0.1"), "{}", ungranted.stderr);
    let by_name = format!("http://localhost:{port}");
    let private = attempt("private", &format!("{by_name}/ok"), &["--net", &by_name]);
    assert_eq!(private.code, 3, "{}", private.stderr);
    assert!(private.stderr.contains("(loopback address), which no grant names"), "{}", private.stderr);
}

/// With the secret `TOKEN` (= `canary`) in the store `dir/store`: its value
/// is not revealed to the tool (exit 3), and a bearer attached by handle
/// reaches the server with the real value and comes back masked.
pub(crate) fn assert_secret_used_by_handle_only(
    attempt: Attempt<'_>,
    server: &LoopbackServer,
    dir: &Path,
    canary: &str,
) {
    let (cache, store) = (dir.join("cache"), dir.join("store"));
    assert_eq!(secret_cmd(&cache, &store, &["init"], "").code, 0);
    assert_eq!(secret_cmd(&cache, &store, &["set", "TOKEN"], canary).code, 0);
    let origin = format!("http://127.0.0.1:{}", server.port);
    let reveal = attempt("reveal", "", &["--net", &origin, "--secret", "TOKEN"]);
    assert_eq!(reveal.code, 3, "{}", reveal.stderr);
    assert!(reveal.stderr.contains("secret TOKEN may not be revealed to the tool"), "{}", reveal.stderr);
    let bearer = attempt("bearer", &format!("{origin}/echo-auth"), &["--net", &origin, "--secret", "TOKEN"]);
    assert_eq!(bearer.code, 0, "{}", bearer.stderr);
    assert_eq!(bearer.json()["saw"], "you sent Bearer [REDACTED:TOKEN]", "the echo comes back masked");
    assert_eq!(server.authorizations(), [format!("Bearer {canary}")], "the server got the real value");
}

/// A spinning tool is stopped at its deadline and a hoarding one at its
/// memory limit (exit 4), with the messages Rust tools get.
pub(crate) fn assert_spin_and_hoard_stopped(attempt: Attempt<'_>) {
    let spin = attempt("loop", "", &["--timeout", "2s"]);
    assert_eq!(spin.code, 4, "{}", spin.stderr);
    assert!(spin.stderr.contains("timeout after 2s"), "{}", spin.stderr);
    let hoard = attempt("memory", "", &["--memory", "96MiB"]);
    assert_eq!(hoard.code, 4, "{}", hoard.stderr);
    assert!(hoard.stderr.contains("memory limit 96 MiB exceeded"), "{}", hoard.stderr);
}
