//! End-to-end tests of the `airlock` binary: results, exit codes and the
//! messages for bad input.

use std::path::Path;
use std::process::{Command, Output};

use airlock_test_artifacts as programs;

mod approval;
mod audit;
mod effective;
mod identity;
mod js_sdk;
mod know_agents;
mod lang_build;
mod loopback;
mod mcp;
mod mcp_conformance;
mod mcp_content;
mod mcp_fleet;
mod mcp_keys;
mod mcp_live;
mod mcp_logs;
mod mcp_metrics;
mod mcp_reload;
mod mcp_tls;
mod new;
mod patch_deps;
mod policy_proofs;
mod python_sdk;
mod registry;
mod report;
mod secrets;
mod workspace;

/// An HTTP client for the tests. reqwest takes rustls without a built-in
/// crypto provider (oci-client is built that way, so airlock can use ring
/// throughout): install ring for this process first.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn airlock(cache: &Path, args: &[&str]) -> Run {
    airlock_with_env(cache, args, &[])
}

/// Runs the binary with a clean identity environment plus `env`.
fn airlock_with_env(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .env("AIRLOCK_AUDIT_LOG", cache.join("audit"))
        .env("AIRLOCK_JOURNALS", cache.join("journals"))
        .env_remove("HOME")
        .env_remove("AIRLOCK_TOKEN")
        .env_remove("AIRLOCK_CONFIG")
        .envs(env.iter().copied())
        .output()
        .expect("run airlock");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A project directory with a secret beside it and a symlink out.
struct Project {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("src")).expect("mkdir");
        std::fs::write(ws.join("src/main.rs"), "fn main() {\n    // TODO: errors\n}\n").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "CLI-CANARY-7f3a").expect("write");
        std::os::unix::fs::symlink("../secret.txt", ws.join("escape")).expect("symlink");
        Self { dir, cache: tempfile::tempdir().expect("tempdir") }
    }

    fn mount(&self) -> String {
        format!("{}:/workspace:ro", self.dir.path().join("ws").display())
    }

    fn run(&self, args: &[&str]) -> Run {
        airlock(self.cache.path(), args)
    }
}

#[test]
fn net_bindings_on_the_command_line() {
    let p = Project::new();
    let run = |tool: &str, net: &str, input: &str| {
        p.run(&["run", "--operator-override", tool, "--net", net, "--input", input])
    };
    let r = run(airlock_tools::READ_FILE_PATH, "https://api.osv.dev", r#"{"path":"x"}"#);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not request destination `https://api.osv.dev`"), "{}", r.stderr);
    let r = run(airlock_tools::HTTP_FETCH_PATH, "get=https://x.example", r#"{"url":"https://x.example"}"#);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad --net `get=https://x.example`") && r.stderr.contains("not an HTTP method")
    );
    // Granted one destination; asked for the metadata address: refused
    // before any connection, exit 3, and noted.
    let metadata = r#"{"url":"http://169.254.169.254/latest/meta-data/"}"#;
    let r = run(airlock_tools::HTTP_FETCH_PATH, "https://api.osv.dev", metadata);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("destination not granted: http://169.254.169.254:80"), "{}", r.stderr);
    assert!(r.stderr.contains("note: tool network request refused"), "{}", r.stderr);
}

#[test]
fn grep_with_a_mount_prints_matches_and_exits_0() {
    let p = Project::new();
    let r = p.run(&[
        "run",
        "--operator-override",
        airlock_tools::GREP_PATH,
        "--mount",
        &p.mount(),
        "--input",
        r#"{"pattern":"TODO"}"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("OPERATOR OVERRIDE: no identity, no policy"), "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(out["matches"][0]["path"], "src/main.rs");
    assert_eq!(out["matches"][0]["line"], 2);
}

#[test]
fn a_denied_escape_exits_3_and_leaks_nothing() {
    let p = Project::new();
    let r = p.run(&[
        "run",
        "--operator-override",
        airlock_tools::READ_FILE_PATH,
        "-m",
        &p.mount(),
        "-i",
        r#"{"path":"escape"}"#,
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("error: tool `read-file`: denied: open /workspace/escape"), "{}", r.stderr);
    assert!(!r.stdout.contains("CLI-CANARY") && !r.stderr.contains("CLI-CANARY"));
}

#[test]
fn invalid_input_is_a_tool_error_exit_1() {
    let p = Project::new();
    let r = p.run(&[
        "run",
        "--operator-override",
        airlock_tools::READ_FILE_PATH,
        "-m",
        &p.mount(),
        "-i",
        r#"{"path":5}"#,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid input: input does not match the schema: `/path` violates `type`"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_command_lines_exit_2_naming_the_problem() {
    let p = Project::new();
    let dir = p.dir.path().display().to_string();
    let grep = airlock_tools::GREP_PATH;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                "/no/such/tool.wasm".into(),
                "-i".into(),
                "{}".into(),
            ],
            "cannot read tool `/no/such/tool.wasm`",
        ),
        (
            vec!["run".into(), "--operator-override".into(), grep.into(), "-i".into(), "{not json".into()],
            "--input is not valid JSON",
        ),
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                grep.into(),
                "-i".into(),
                "@/no/such/input.json".into(),
            ],
            "cannot read input file `/no/such/input.json`",
        ),
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "-m".into(),
                "nocolon".into(),
            ],
            "bad mount `nocolon`: expected HOST:GUEST[:ro|rw]",
        ),
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "-m".into(),
                format!("{dir}:relative"),
            ],
            "is not absolute",
        ),
        (
            vec![
                "run".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "-m".into(),
                "/no/such/dir:/workspace".into(),
            ],
            "host directory `/no/such/dir` cannot be opened",
        ),
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "-m".into(),
                format!("{dir}:/etc"),
            ],
            "tool `grep` does not request a mount at `/etc` (it requests: /workspace)",
        ),
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "-e".into(),
                "HOME=/root".into(),
            ],
            "does not request environment variable `HOME`",
        ),
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "--timeout".into(),
                "soon".into(),
            ],
            "is not a duration",
        ),
        (
            vec![
                "run".into(),
                "--operator-override".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "--memory".into(),
                "lots".into(),
            ],
            "is not a size",
        ),
        (
            vec!["run".into(), "--operator-override".into(), grep.into(), "--bogus".into()],
            "unexpected argument '--bogus'",
        ),
        (
            vec!["run".into(), grep.into(), "-i".into(), "{}".into()],
            "no identity: pass --token (or set AIRLOCK_TOKEN), or --operator-override",
        ),
        (
            vec![
                "run".into(),
                grep.into(),
                "-i".into(),
                "{}".into(),
                "--operator-override".into(),
                "--token".into(),
                "x".into(),
            ],
            "cannot be used with",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = p.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{args:?}: expected `{expected}` in: {}", r.stderr);
    }
    // The reason is given once, not repeated by the error chain.
    let missing = p.run(&["run", "--operator-override", "/no/such/tool.wasm", "-i", "{}"]);
    assert_eq!(missing.stderr.matches("No such file or directory").count(), 1, "{}", missing.stderr);
}

#[test]
fn input_from_a_file() {
    let p = Project::new();
    let input = p.dir.path().join("input.json");
    std::fs::write(&input, r#"{"pattern":"fn main"}"#).expect("write");
    let at = format!("@{}", input.display());
    let r = p.run(&["run", "--operator-override", airlock_tools::GREP_PATH, "-m", &p.mount(), "-i", &at]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"fn main() {\""), "{}", r.stdout);
}

#[test]
fn files_that_are_not_tools_exit_5() {
    let p = Project::new();
    let text = p.dir.path().join("tool.wasm");
    std::fs::write(&text, "#!/bin/sh\n").expect("write");
    let core = p.dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    for (file, expected) in [
        (text.display().to_string(), "not a WebAssembly binary"),
        (core.display().to_string(), "core WebAssembly module, not a component"),
        (programs::NOT_A_TOOL.to_owned(), "does not implement the airlock:tool@0.1.0 world"),
        (programs::TRAP_IN_DESCRIBE.to_owned(), "describe() failed: tool trapped"),
    ] {
        let r = p.run(&["run", "--operator-override", &file, "-i", "{}"]);
        assert_eq!(r.code, 5, "{file}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{file}: {}", r.stderr);
    }
}

#[test]
fn limits_exit_4_naming_the_limit() {
    let p = Project::new();
    let r = p.run(&[
        "run",
        "--operator-override",
        programs::LIMIT_INFINITE_LOOP,
        "-i",
        "{}",
        "--timeout",
        "200ms",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("timeout after 200ms"), "{}", r.stderr);
    let r =
        p.run(&["run", "--operator-override", programs::LIMIT_MEMORY_BOMB, "-i", "{}", "--memory", "16MiB"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("memory limit 16 MiB exceeded"), "{}", r.stderr);
    let ws = p.dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(ws.join("hello.txt"), "hello\n").expect("write");
    let mount = format!("{}:/workspace:ro", ws.display());
    let r = p.run(&[
        "run",
        "--operator-override",
        programs::LIMIT_DESCRIPTOR_FLOOD,
        "-m",
        &mount,
        "-i",
        r#"{"kind":"files"}"#,
        "--max-open-files",
        "4",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("file descriptors limit: more than 4 files, directories and sockets open at once"),
        "{}",
        r.stderr
    );
    let r = p.run(&["run", "--operator-override", programs::ECHO, "-i", "{}", "--max-handles", "8"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "handles limit 8 is outside the allowed range 64..=65536 (--max-handles, `[limits] max_handles`)"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_trap_exits_1_with_the_panic_message() {
    let p = Project::new();
    let r = p.run(&["run", "--operator-override", programs::TRAP_IN_INVOKE, "-i", "{}"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("tool trapped") && r.stderr.contains("deliberate panic in invoke"),
        "{}",
        r.stderr
    );
}

#[test]
fn env_grants_and_show_output() {
    let p = Project::new();
    let r = p.run(&[
        "run",
        "--operator-override",
        programs::ENV_READ,
        "-i",
        "{}",
        "-e",
        "AIRLOCK_TEST_GRANTED=yes",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(out["vars"], serde_json::json!([["AIRLOCK_TEST_GRANTED", "yes"]]));

    let r =
        p.run(&["run", "--operator-override", programs::LOG_LINES, "-i", r#"{"lines":1}"#, "--show-output"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("[tool log] info step i=0"), "{}", r.stderr);

    let r =
        p.run(&["run", "--operator-override", programs::LIMIT_STDOUT_FLOOD, "-i", "{}", "--timeout", "60s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("note: tool stdout truncated"), "{}", r.stderr);
}

#[test]
fn inspect_prints_the_description() {
    let p = Project::new();
    let r = p.run(&["inspect", airlock_tools::GREP_PATH]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(out["describe"]["name"], "grep");
    assert_eq!(out["describe"]["capabilities"]["mounts"][0]["guest-path"], "/workspace");
    assert_eq!(out["describe"]["capabilities"]["mounts"][0]["access"], "read-only");
    assert!(out["digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
    assert!(
        out["imports"].as_array().is_some_and(|i| i.iter().any(|n| n == "wasi:filesystem/preopens@0.2.12"))
    );
}

#[test]
fn an_unsafe_cache_dir_exits_6() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new();
    let cache = p.dir.path().join("cache");
    std::fs::create_dir(&cache).expect("mkdir");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let cache_arg = cache.display().to_string();
    let r = p.run(&["inspect", airlock_tools::GREP_PATH, "--cache-dir", &cache_arg]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stderr.contains("mode 777 lets other accounts write"), "{}", r.stderr);
}

#[test]
fn a_tampered_cached_artifact_is_recompiled_and_reported_on_stderr() {
    let p = Project::new();
    let cache = p.dir.path().join("cache");
    let cache_arg = cache.display().to_string();
    let inspect = || p.run(&["inspect", airlock_tools::READ_FILE_PATH, "--cache-dir", &cache_arg]);
    let first = inspect();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(!first.stderr.contains("warning"), "a first compile is nothing to report: {}", first.stderr);
    let artifact = std::fs::read_dir(&cache)
        .expect("cache")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("an artifact");
    let mut bytes = std::fs::read(&artifact).expect("read");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&artifact, bytes).expect("tamper");
    let second = inspect();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains("warning: cached artifact")
            && second.stderr.contains("not sealed by this user's key")
            && second.stderr.contains("recompiled"),
        "{}",
        second.stderr
    );
    let third = inspect();
    assert!(!third.stderr.contains("warning"), "the artifact was rewritten: {}", third.stderr);
}

#[test]
fn demo_shows_allowed_and_denied() {
    let p = Project::new();
    let r = p.run(&["demo"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.matches("ALLOWED:").count(), 3, "{}", r.stdout);
    assert!(r.stdout.contains("DENIED by policy before the tool runs"), "{}", r.stdout);
    // The gated call: filed, the owner refused, run once on bob's approval.
    assert!(r.stdout.contains("APPROVAL REQUIRED, nothing ran"), "{}", r.stdout);
    assert!(r.stdout.contains("REFUSED: `human:alice` may not approve this request"), "{}", r.stdout);
    assert!(r.stdout.contains("usable once, for exactly this call"), "{}", r.stdout);
    assert!(r.stdout.contains("already used"), "{}", r.stdout);
    assert!(r.stdout.contains("(14 records, chain verified)"), "{}", r.stdout);
    assert!(r.stdout.contains("deny   invoke       Tool::\"grep\""), "{}", r.stdout);
    assert_eq!(r.stdout.matches("DENIED: ").count(), 3, "{}", r.stdout);
    assert!(r.stdout.contains("REFUSED: token already used"), "{}", r.stdout);
    assert!(r.stdout.contains("REFUSED before the tool runs"), "{}", r.stdout);
    assert!(!r.stdout.contains("demo-not-a-real-secret"), "{}", r.stdout);
}

/// A tool puts escape sequences (window title, OSC 52 clipboard, "clear
/// line" after a carriage return, a forged airlock line, C1 controls, a
/// bidi override) in its output, error, stdout, stderr and logs: airlock
/// shows all of it escaped, one line per line it means, and the JSON it
/// prints still holds the tool's exact value.
#[test]
fn tool_controlled_text_reaches_the_terminal_escaped() {
    let p = Project::new();
    let hostile = |text: &str| {
        text.contains('\u{1b}')
            || text.contains('\u{7}')
            || text.contains('\r')
            || text.contains('\u{9b}')
            || text.contains('\u{202e}')
            || text
                .lines()
                .any(|l| l.starts_with("airlock: call ok") || l.trim_start().starts_with("9  2026"))
    };
    let ok = p.run(&["run", "--operator-override", programs::TERMINAL_FORGERY, "-i", "{}", "--show-output"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(!hostile(&ok.stdout), "stdout: {:?}", ok.stdout);
    assert!(!hostile(&ok.stderr), "stderr: {:?}", ok.stderr);
    assert!(ok.stderr.contains("[tool stdout] \\u{1b}]0;pwned\\u{7}"), "{}", ok.stderr);
    assert!(ok.stderr.contains("[tool log] warn \\u{1b}]0;pwned"), "{}", ok.stderr);
    let value: serde_json::Value = serde_json::from_str(&ok.stdout).expect("still JSON");
    assert_eq!(value["c1"], "\u{9b}31mred\u{9b}0m \u{202e}txt.exe", "the same value");

    let failed =
        p.run(&["run", "--operator-override", programs::TERMINAL_FORGERY, "-i", r#"{"mode":"error"}"#]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(!hostile(&failed.stderr), "stderr: {:?}", failed.stderr);
    assert_eq!(failed.stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{}", failed.stderr);

    // The audit log keeps the error; tail shows it escaped on one line.
    let tail = p.run(&["audit", "tail", "-n", "1"]);
    assert_eq!(tail.code, 0, "{}", tail.stderr);
    assert_eq!(tail.stdout.lines().count(), 1, "{}", tail.stdout);
    assert!(!hostile(&tail.stdout) && tail.stdout.contains("\\u{1b}]52;c;"), "{:?}", tail.stdout);
}

/// `airlock run` on a mount holding a FIFO nobody writes: the tool's open
/// is refused at once (it would block in open(2), where no deadline
/// reaches), so the command ends well within `--timeout`.
#[test]
fn a_fifo_in_a_mount_is_refused_not_waited_on() {
    let p = Project::new();
    let fifo = p.dir.path().join("ws/pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let started = std::time::Instant::now();
    let r = p.run(&[
        "run",
        "--operator-override",
        airlock_tools::READ_FILE_PATH,
        "-m",
        &p.mount(),
        "--timeout",
        "30s",
        "-i",
        r#"{"path":"pipe"}"#,
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "it waited for the deadline");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("pipe"), "{}", r.stderr);
}
