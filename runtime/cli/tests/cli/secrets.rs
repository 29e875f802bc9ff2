//! `airlock secret` and secrets in `airlock run`, through the binary.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Run, airlock, programs};

const TOKEN: &str = "ghp_CLI-SECRET-CANARY-42";

/// `airlock secret ...` with `value` on stdin.
pub(super) fn secret_cmd(cache: &Path, store: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("secret")
        .args(args)
        .arg("--store")
        .arg(store)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("AIRLOCK_SECRETS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run airlock");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_store_commands_never_print_a_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let cache = dir.path().join("cache");
    let r = secret_cmd(&cache, &store, &["list"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("airlock secret init"), "{}", r.stderr);
    assert_eq!(secret_cmd(&cache, &store, &["init"], "").code, 0);
    let again = secret_cmd(&cache, &store, &["init"], "");
    assert!(again.code == 2 && again.stderr.contains("refusing to overwrite"), "{}", again.stderr);
    let r = secret_cmd(&cache, &store, &["set", "GITHUB_TOKEN"], &format!("{TOKEN}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = secret_cmd(&cache, &store, &["set", "EMPTY"], "\n");
    assert!(r.code == 2 && r.stderr.contains("the value is empty"), "{}", r.stderr);
    let r = secret_cmd(&cache, &store, &["set", "bad name"], "x");
    assert!(r.code == 2 && r.stderr.contains("is not a secret name"), "{}", r.stderr);
    let r = secret_cmd(&cache, &store, &["list"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("GITHUB_TOKEN") && r.stdout.contains(&TOKEN.len().to_string()), "{}", r.stdout);
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
    let r = secret_cmd(&cache, &store, &["rm", "NOPE"], "");
    assert!(r.code == 2 && r.stderr.contains("no secret `NOPE`"), "{}", r.stderr);
    assert_eq!(secret_cmd(&cache, &store, &["rm", "GITHUB_TOKEN"], "").code, 0);
}

#[test]
fn an_override_run_attaches_a_stored_secret_and_redacts_the_echo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let cache = dir.path().join("cache");
    assert_eq!(secret_cmd(&cache, &store, &["init"], "").code, 0);
    assert_eq!(secret_cmd(&cache, &store, &["set", "GITHUB_TOKEN"], TOKEN).code, 0);

    let (port, server) = echo_server();
    let origin = format!("http://127.0.0.1:{port}");
    let input = format!(r#"{{"url":"{origin}/user"}}"#);
    let store_arg = store.display().to_string();
    let r = airlock(
        &cache,
        &[
            "run",
            "--operator-override",
            programs::SECRET_BEARER,
            "--net",
            &origin,
            "--secret",
            "GITHUB_TOKEN",
            "--store",
            &store_arg,
            "--input",
            &input,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(server.join().expect("server"), format!("Bearer {TOKEN}"), "the server got the real value");
    assert!(r.stdout.contains("you sent Bearer [REDACTED:GITHUB_TOKEN]"), "{}", r.stdout);
    assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
}

/// A one-request server on loopback that answers with the authorization
/// header it got (`you sent <authorization>`); joins to that header.
fn echo_server() -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut auth = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if line.trim_end().is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("authorization: ") {
                auth = v.trim_end().to_owned();
            }
        }
        let body = format!("you sent {auth}");
        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        reader.get_mut().write_all(reply.as_bytes()).expect("write");
        auth
    });
    (port, server)
}

/// A tool that holds a token's value (policy reveals it to the tool)
/// writes it, raw in one file and hex in another, into its staged checkout
/// beside an honest edit: the changeset is refused whole (exit 21), each
/// carrying file named with the secret, and the checkout is unchanged. A
/// value a destination echoes back never reaches the tool at all: the
/// response is redacted first, so that run applies `[REDACTED:…]`.
#[test]
fn a_staged_change_holding_a_secret_is_refused_whole() {
    let policy = r#"permit (principal, action in [Action::"invoke", Action::"net.connect", Action::"fs.read", Action::"fs.write", Action::"secret.reveal"], resource);
permit (principal, action == Action::"secret.use", resource == Secret::"GITHUB_TOKEN");"#;
    let setup = super::mcp::Setup::with_config(policy, "secrets = \"store\"\n", "");
    let store = setup.path("store");
    let cache = setup.path("cache");
    assert_eq!(secret_cmd(&cache, &store, &["init"], "").code, 0);
    assert_eq!(secret_cmd(&cache, &store, &["set", "GITHUB_TOKEN"], TOKEN).code, 0);
    let checkout_dir = tempfile::tempdir().expect("tempdir");
    let checkout = checkout_dir.path();
    let checkout_arg = checkout.display().to_string();
    let run = |reveal: bool| {
        std::fs::write(checkout.join("README.md"), "before\n").expect("write");
        let (port, server) = echo_server();
        let origin = format!("http://127.0.0.1:{port}");
        let input = format!(r#"{{"url":"{origin}/user","reveal":{reveal}}}"#);
        let token = setup.token("agent:fixer");
        let out = super::audit::airlock(
            &setup,
            &[
                "run",
                "--token",
                &token,
                programs::WORKSPACE_SECRET_ECHO,
                "--net",
                &origin,
                "--workspace",
                &checkout_arg,
                "--input",
                &input,
            ],
        );
        assert_eq!(
            server.join().expect("server"),
            format!("Bearer {TOKEN}"),
            "the destination got the value"
        );
        assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN), "the value was printed");
        out
    };

    let revealed = run(true);
    assert_eq!(revealed.code, 21, "{}", revealed.stderr);
    for file in ["config.toml", "notes.md"] {
        assert!(
            revealed.stderr.contains(&format!("{file}: holds the value of secret GITHUB_TOKEN")),
            "{file}: {}",
            revealed.stderr
        );
    }
    let after: Vec<_> =
        std::fs::read_dir(checkout).expect("read").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(after, ["README.md"], "nothing was applied");
    assert_eq!(std::fs::read_to_string(checkout.join("README.md")).expect("read"), "before\n");

    let echoed = run(false);
    assert_eq!(echoed.code, 0, "{}", echoed.stderr);
    let notes = std::fs::read_to_string(checkout.join("notes.md")).expect("applied");
    assert_eq!(notes, "debug: [REDACTED:GITHUB_TOKEN]\n", "the echo was redacted before the tool read it");
}
