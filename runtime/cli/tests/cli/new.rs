//! `airlock new`: each language's project builds with the commands its
//! README gives and runs with `airlock run` on the first try; bad names,
//! existing directories and directories that are not a checkout are
//! refused naming the problem, with nothing written.
//!
//! The Rust project builds with cargo (the wasm32-wasip2 target the README's
//! first command installs); the Python and JS ones need the pinned builders
//! `.ci/run` installs (`AIRLOCK_COMPONENTIZE_PY`, `AIRLOCK_JS_BUILD`) and
//! are skipped without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn airlock(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(dir)
        .env_remove("AIRLOCK_CHECKOUT")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("AIRLOCK_AUDIT_LOG", dir.join("audit"))
        .output()
        .expect("run airlock")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `program args` in `dir`, asserting it succeeded.
fn step(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new(program).args(args).current_dir(dir).envs(env.iter().copied()).output();
    let out = out.unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

/// Creates a `lang` project named `name` in a fresh directory, builds it
/// with `build` and runs the result on its own README: the counts are
/// right.
fn scaffold_build_and_run(lang: &str, name: &str, build: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let created = airlock(dir.path(), &["new", name, "--lang", lang]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stderr(&created).contains(&format!("created {name}")), "{}", stderr(&created));
    let project = dir.path().join(name);
    build(&project);
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README");
    let mount = format!("{}:/workspace:ro", project.display());
    let wasm = format!("{name}.wasm");
    let ran = airlock(
        &project,
        &["run", &wasm, "--operator-override", "--mount", &mount, "--input", r#"{"path": "README.md"}"#],
    );
    assert!(ran.status.success(), "{}", stderr(&ran));
    let out: Value = serde_json::from_slice(&ran.stdout).expect("JSON");
    assert_eq!(
        out,
        json!({
            "path": "README.md",
            "lines": readme.lines().count(),
            "words": readme.split_whitespace().count(),
            "bytes": readme.len(),
        })
    );
    let escape = airlock(
        &project,
        &["run", &wasm, "--operator-override", "--mount", &mount, "--input", r#"{"path": "../x"}"#],
    );
    assert_eq!(escape.status.code(), Some(3), "a `..` escape is denied: {}", stderr(&escape));
}

#[test]
fn a_new_rust_tool_builds_and_runs() {
    // One target directory for every run of this test: the SDK's
    // dependencies compile once.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-rust-target");
    scaffold_build_and_run("rust", "count-rs", |project| {
        let target = target.to_str().expect("UTF-8 path");
        step(project, "./build.sh", &[], &[("CARGO_TARGET_DIR", target)]);
    });
}

#[test]
fn a_new_python_tool_builds_and_runs() {
    let Ok(componentize_py) = std::env::var("AIRLOCK_COMPONENTIZE_PY") else {
        eprintln!("skipped: AIRLOCK_COMPONENTIZE_PY does not name componentize-py (.ci/run installs it)");
        return;
    };
    scaffold_build_and_run("python", "count-py", |project| {
        step(project, "./build.sh", &[], &[("COMPONENTIZE_PY", componentize_py.as_str())]);
    });
}

#[test]
fn a_new_typescript_tool_builds_and_runs() {
    if std::env::var("AIRLOCK_JS_BUILD").is_err() {
        eprintln!("skipped: AIRLOCK_JS_BUILD is not set (.ci/run installs the JS SDK's builders)");
        return;
    }
    scaffold_build_and_run("js", "count-js", |project| {
        step(project, "npm", &["install", "--no-audit", "--no-fund", "--loglevel=error"], &[]);
        step(project, "npm", &["run", "build"], &[]);
    });
}

#[test]
fn airlock_new_refuses_bad_names_existing_directories_and_non_checkouts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_name = airlock(dir.path(), &["new", "Bad Name", "--lang", "rust"]);
    assert_eq!(bad_name.status.code(), Some(2));
    assert!(
        stderr(&bad_name).contains("tool name `Bad Name`: use 1-64 of [a-z0-9_-], starting with a letter")
    );

    std::fs::create_dir(dir.path().join("taken")).expect("mkdir");
    std::fs::write(dir.path().join("taken/keep.txt"), "mine").expect("write");
    let taken = airlock(dir.path(), &["new", "taken", "--lang", "python"]);
    assert_eq!(taken.status.code(), Some(2));
    assert!(stderr(&taken).contains("taken already exists: nothing was written"), "{}", stderr(&taken));
    assert_eq!(std::fs::read_to_string(dir.path().join("taken/keep.txt")).expect("kept"), "mine");

    let elsewhere = dir.path().display().to_string();
    let not_checkout = airlock(dir.path(), &["new", "fresh", "--lang", "js", "--airlock", &elsewhere]);
    assert_eq!(not_checkout.status.code(), Some(2));
    assert!(
        stderr(&not_checkout).contains("is not an airlock checkout: it has no wit/world.wit"),
        "{}",
        stderr(&not_checkout)
    );
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["taken"], "nothing else was written");
}
