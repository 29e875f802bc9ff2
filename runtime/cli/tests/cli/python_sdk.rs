//! Tools written in Python (`sdk/python`), built with componentize-py as a
//! tool author builds them, run by `airlock run`: the example `json-query`
//! answers, and the sandbox holds for the Python runtime as for Rust tools
//! (mount escapes, host env, ungranted and private destinations, raw
//! sockets, a secret's value, a spinning and a hoarding tool; the canary
//! nowhere; the input checked against the schema the SDK derived).
//!
//! `.ci/run` installs componentize-py (pinned) and names it in
//! `AIRLOCK_COMPONENTIZE_PY`; without it the test says it was skipped.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::lang_build::{
    Ran, assert_destinations_refused, assert_secret_used_by_handle_only, assert_spin_and_hoard_stopped,
    builder, repo, run_tool,
};
use crate::loopback::LoopbackServer;

const CANARY: &str = "PY-SANDBOX-CANARY-5e1f";

fn componentize_py() -> Option<String> {
    builder("AIRLOCK_COMPONENTIZE_PY", "componentize-py")
}

/// Builds the Python tool in `dir` (of the repository) with the documented
/// command, once per input ([`crate::lang_build`]).
fn build(componentize_py: &str, dir: &str, out: &Path) {
    let example = repo().join(dir);
    let inputs = [repo().join("wit"), repo().join("sdk/python"), example.clone()];
    crate::lang_build::cached(componentize_py, &inputs, out, |fresh| {
        let status = Command::new(componentize_py)
            .arg("-d")
            .arg(repo().join("wit"))
            .args(["-w", "tool", "componentize", "app", "-p"])
            .arg(&example)
            .arg("-p")
            .arg(repo().join("sdk/python"))
            .arg("-o")
            .arg(fresh)
            .status()
            .expect("run componentize-py");
        assert!(status.success(), "componentize-py failed");
    });
}

fn run(dir: &Path, tool: &Path, input: &Value) -> Ran {
    run_with(dir, tool, input, &[])
}

fn run_with(dir: &Path, tool: &Path, input: &Value, extra: &[&str]) -> Ran {
    run_tool(dir, tool, input, extra, CANARY)
}

#[test]
fn a_python_tool_built_with_the_sdk_runs_and_the_sandbox_holds() {
    let Some(componentize_py) = componentize_py() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = dir.path().join("json-query.wasm");
    build(&componentize_py, "examples/tools/python/json-query", &tool);
    std::fs::create_dir_all(dir.path().join("ws")).expect("mkdir");
    std::fs::write(
        dir.path().join("ws/package.json"),
        r#"{"name": "app", "dependencies": {"left-pad": "1.3.0"}, "files": ["a", "b"]}"#,
    )
    .expect("write");
    std::fs::write(dir.path().join("secret.txt"), CANARY).expect("write");

    let found = run(dir.path(), &tool, &json!({"path": "package.json", "query": "dependencies.left-pad"}));
    assert_eq!(found.code, 0, "{}", found.stderr);
    let value: Value = serde_json::from_str(&found.stdout).expect("JSON");
    assert_eq!(
        value,
        json!({"path": "package.json", "query": "dependencies.left-pad", "found": true, "value": "1.3.0"})
    );
    let indexed = run(dir.path(), &tool, &json!({"path": "package.json", "query": "files.1"}));
    assert_eq!(serde_json::from_str::<Value>(&indexed.stdout).expect("JSON")["value"], "b");

    let escape = run(dir.path(), &tool, &json!({"path": "../secret.txt"}));
    assert_eq!(escape.code, 3, "a `..` escape is denied (exit 3): {}", escape.stderr);
    assert!(escape.stderr.contains("denied"), "{}", escape.stderr);
    let host_path = run(dir.path(), &tool, &json!({"path": dir.path().join("secret.txt")}));
    assert_ne!(host_path.code, 0, "a host path is not there: {}", host_path.stdout);

    let bad = run(dir.path(), &tool, &json!({"path": 7}));
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("`/path` violates `type`"),
        "checked against the SDK's schema: {}",
        bad.stderr
    );
    let unknown = run(dir.path(), &tool, &json!({"path": "package.json", "mode": "x"}));
    assert!(unknown.stderr.contains("additionalProperties"), "{}", unknown.stderr);
}

/// The sandbox holds for the Python runtime as for Rust tools, with the
/// same messages and exit codes: the host's environment is not there, a
/// symlink out of the mount cannot be made; an ungranted destination, a
/// granted name resolving to loopback and a raw socket are refused before
/// connecting; a secret's value is not revealed, while the host attaches
/// it by handle; a spinning tool is stopped at its deadline and an
/// unbounded one at its memory limit.
#[test]
fn a_python_tool_cannot_see_the_host_env_leave_its_mount_reach_ungranted_hosts_read_secrets_spin_or_hoard() {
    let Some(componentize_py) = componentize_py() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = dir.path().join("escapes.wasm");
    build(&componentize_py, "tests/python/escapes", &tool);
    std::fs::create_dir_all(dir.path().join("ws")).expect("mkdir");

    let env = run(dir.path(), &tool, &json!({"attempt": "env"}));
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&env.stdout).expect("JSON")["saw"],
        json!({}),
        "no host variable"
    );

    let symlink = run(dir.path(), &tool, &json!({"attempt": "symlink"}));
    assert_eq!(symlink.code, 0, "{}", symlink.stderr);
    let saw = serde_json::from_str::<Value>(&symlink.stdout).expect("JSON")["saw"].clone();
    assert!(saw.as_str().is_some_and(|s| s.starts_with("symlink refused")), "{saw}");
    assert!(std::fs::read_dir(dir.path().join("ws")).expect("ws").next().is_none(), "nothing was made");

    let server = LoopbackServer::start();
    let attempt = |attempt: &str, target: &str, extra: &[&str]| {
        run_with(dir.path(), &tool, &json!({"attempt": attempt, "target": target}), extra)
    };
    assert_destinations_refused(&attempt, &server);
    let port = server.port;
    let socket = attempt("socket", &format!("127.0.0.1:{port}"), &[]);
    assert_eq!(socket.code, 0, "{}", socket.stderr);
    let saw = serde_json::from_str::<Value>(&socket.stdout).expect("JSON")["saw"].clone();
    assert!(saw.as_str().is_some_and(|s| s.starts_with("refused: PermissionError")), "{saw}");
    assert!(server.requests().is_empty(), "a refused request reached the server");

    assert_secret_used_by_handle_only(&attempt, &server, dir.path(), CANARY);
    assert_spin_and_hoard_stopped(&attempt);
}
