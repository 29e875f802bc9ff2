//! Tools written in JavaScript and TypeScript (`sdk/js`), built with the
//! SDK's `airlock-js-build` as a tool author builds them, run by `airlock
//! run`: the TypeScript example `link-check` reads a mount and checks links
//! on a granted host, and the sandbox holds for the JS runtime as for Rust
//! tools (mount escapes, host env, ungranted and private destinations, a
//! secret's value, a spinning and a hoarding tool), the canary nowhere.
//!
//! `.ci/run` installs the SDK's pinned builders (`npm ci` in `sdk/js`) and
//! names the build command in `AIRLOCK_JS_BUILD`; without it the tests say
//! they were skipped.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::lang_build::{
    Ran, assert_destinations_refused, assert_secret_used_by_handle_only, assert_spin_and_hoard_stopped,
    builder, repo, run_tool,
};
use crate::loopback::LoopbackServer;

const CANARY: &str = "JS-SANDBOX-CANARY-77c2";

fn js_build() -> Option<String> {
    builder("AIRLOCK_JS_BUILD", "sdk/js/bin/airlock-js-build.mjs")
}

/// Builds the JS or TS tool `entry` (of the repository) with the
/// documented command (`--check`: TypeScript type-checked first), once per
/// input ([`crate::lang_build`]).
fn build(js_build: &str, entry: &str, out: &Path) {
    let source = repo().join(entry);
    let inputs =
        [repo().join("wit"), repo().join("sdk/js"), source.parent().expect("a directory").to_owned()];
    crate::lang_build::cached(js_build, &inputs, out, |fresh| {
        let built = Command::new(js_build)
            .arg("--check")
            .arg(&source)
            .arg("-o")
            .arg(fresh)
            .output()
            .expect("run airlock-js-build");
        assert!(
            built.status.success(),
            "airlock-js-build failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    });
}

/// A TypeScript tool whose `run` does not fit its schemas is refused by
/// `--check` naming the error, and nothing is written; a missing entry is
/// named too.
#[test]
fn the_build_type_checks_typescript_against_the_schemas_and_names_what_is_wrong() {
    let Some(js_build) = js_build() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let entry = dir.path().join("wrong.ts");
    std::fs::write(
        &entry,
        "import { s, tool } from 'airlock-sdk';\n\
         export const { describe, invoke } = tool({\n\
           name: 'wrong', version: '0.1.0', description: 'returns the wrong type',\n\
           input: s.object({ count: s.optional(s.integer()) }),\n\
           output: s.object({ doubled: s.integer() }),\n\
           run: ({ count }) => ({ doubled: count * 2 }),\n\
         });\n",
    )
    .expect("write");
    let out = dir.path().join("wrong.wasm");
    let built = Command::new(&js_build).arg("--check").arg(&entry).arg("-o").arg(&out).output().expect("run");
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert_eq!(built.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("type errors in") && stderr.contains("'count' is possibly 'undefined'"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written");

    let missing =
        Command::new(&js_build).arg(dir.path().join("nope.ts")).arg("-o").arg(&out).output().expect("run");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("entry not found") && stderr.contains("nope.ts"), "{stderr}");
}

fn run(dir: &Path, tool: &Path, input: &Value, extra: &[&str]) -> Ran {
    run_tool(dir, tool, input, extra, CANARY)
}

#[test]
fn a_typescript_tool_built_with_the_sdk_checks_links_in_a_mount_on_a_granted_host() {
    let Some(js_build) = js_build() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = dir.path().join("link-check.wasm");
    build(&js_build, "examples/tools/js/link-check/app.ts", &tool);
    let server = LoopbackServer::start();
    let origin = format!("http://127.0.0.1:{}", server.port);
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("docs")).expect("mkdir");
    std::fs::create_dir_all(ws.join(".git")).expect("mkdir");
    std::fs::write(dir.path().join("secret.md"), CANARY).expect("write");
    std::fs::write(
        ws.join("README.md"),
        format!(
            "# Demo\nSee [the guide](docs/guide.md), [a missing page](docs/nope.md), [out](../secret.md), \
             [an anchor](#demo) and [mail](mailto:a@example.com).\n\
             [fine]({origin}/ok) [gone]({origin}/gone) [no head]({origin}/no-head) [fine again]({origin}/ok#x)\n\
             [elsewhere](https://elsewhere.example/page)\n\
             ```\n[in a fence](fenced.md)\n```\n\
             [ref]: docs/guide.md\n"
        ),
    )
    .expect("write");
    std::fs::write(ws.join("docs/guide.md"), "[back](../README.md) [self](./guide.md)\n").expect("write");
    std::fs::write(ws.join(".git/HEAD.md"), "[skipped](nowhere.md)\n").expect("write");
    let net = format!("HEAD,GET={origin}");

    let ran = run(dir.path(), &tool, &json!({}), &["--net", &net]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let out = ran.json();
    assert_eq!(out["files"], 2, "{out}");
    let broken: Vec<(&str, &str)> = out["broken"]
        .as_array()
        .expect("broken")
        .iter()
        .map(|l| (l["target"].as_str().expect("target"), l["detail"].as_str().expect("detail")))
        .collect();
    assert_eq!(
        broken,
        [
            ("docs/nope.md", "/workspace/docs/nope.md does not exist"),
            ("../secret.md", "points outside the checkout"),
            (format!("{origin}/gone").as_str(), "404"),
        ],
        "{out}"
    );
    let refused = &out["refused"];
    assert_eq!(refused.as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(refused[0]["target"], "https://elsewhere.example/page");
    assert!(
        refused[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("destination not granted: https://elsewhere.example:443")),
        "the host's reason: {out}"
    );
    // README: 3 relative, 4 remote on the granted host (one URL twice), 1
    // refused, 1 reference (the anchor and the mail link are skipped, the
    // fenced link and `.git` are not read); guide: 2.
    assert_eq!(out["checked"], 11, "{out}");
    let asked = server.requests();
    assert_eq!(
        asked,
        ["HEAD /ok", "HEAD /gone", "HEAD /no-head", "GET /no-head"],
        "each URL once, GET only where HEAD is not allowed"
    );

    let bad = run(dir.path(), &tool, &json!({"max_files": 0}), &[]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("`/max_files` violates `minimum`"),
        "checked against the SDK's schema: {}",
        bad.stderr
    );
    let outside = run(dir.path(), &tool, &json!({"path": "../"}), &[]);
    assert_eq!(outside.code, 1, "{}", outside.stderr);
    assert!(outside.stderr.contains("../ is not under /workspace"), "{}", outside.stderr);
}

/// The sandbox holds for the JS runtime as for Rust tools, with the same
/// messages and exit codes: no host environment; `..`, absolute and
/// symlinked paths out of the mount refused; an ungranted destination and
/// a granted name resolving to loopback refused before connecting; a
/// secret's value not revealed, while the host attaches it by handle; a
/// spinning tool stopped at its deadline and a hoarding one at its memory
/// limit.
#[test]
fn a_js_tool_cannot_leave_its_mount_reach_ungranted_hosts_read_secrets_spin_or_hoard() {
    let Some(js_build) = js_build() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = dir.path().join("escapes.wasm");
    build(&js_build, "tests/js/escapes/app.js", &tool);
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, CANARY).expect("write");
    let attempt = |attempt: &str, target: &str, extra: &[&str]| {
        run(dir.path(), &tool, &json!({"attempt": attempt, "target": target}), extra)
    };

    let env = attempt("env", "", &[]);
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert_eq!(env.json()["saw"], json!({}), "no host variable");

    let dotdot = attempt("dotdot", "secret.txt", &[]);
    assert_eq!(dotdot.json()["saw"], "refused: not-permitted");
    let absolute = attempt("absolute", secret_file.to_str().expect("utf-8"), &[]);
    assert_eq!(absolute.json()["saw"], "refused: not-permitted");
    let symlink = attempt("symlink", "secret.txt", &[]);
    let saw = symlink.json()["saw"].clone();
    assert_eq!(saw["made"][0], "abs: refused: not-permitted", "an absolute symlink cannot be made: {saw}");
    assert!(saw["abs"].as_str().is_some_and(|s| s.starts_with("refused")), "{saw}");
    assert_eq!(saw["up"], "refused: not-permitted", "a relative symlink out is not followed: {saw}");

    let server = LoopbackServer::start();
    assert_destinations_refused(&attempt, &server);
    assert!(server.requests().is_empty(), "a refused request reached the server");
    assert_secret_used_by_handle_only(&attempt, &server, dir.path(), CANARY);

    let files = attempt("files", "out.txt", &[]);
    assert_eq!(files.code, 0, "{}", files.stderr);
    assert_eq!(
        files.json()["saw"],
        json!({"size": 100_000, "read": 100_000, "entries": ["out.txt:file", "up:symlink"], "gone": false}),
        "the SDK's writeFile, readDir (the symlink made above included), stat, readText and exists"
    );
    assert_eq!(std::fs::read(ws.join("out.txt")).expect("written").len(), 100_000);

    assert_spin_and_hoard_stopped(&attempt);
}
