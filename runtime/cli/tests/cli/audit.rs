//! `airlock audit`: every call through the binary is recorded whatever its
//! outcome, no token or secret reaches the log, `verify` catches an edit
//! and names the record, `tail` and `query` find what operators ask for.

use serde_json::Value;

use super::mcp::{Setup, shared_cache};
use super::programs;

pub(super) struct Out {
    pub(super) code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

pub(super) fn airlock(setup: &Setup, args: &[&str]) -> Out {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env("XDG_CACHE_HOME", shared_cache())
        .env("AIRLOCK_CONFIG", setup.path("airlock.toml"))
        .env("AIRLOCK_AUDIT_LOG", setup.path("audit"))
        .env("AIRLOCK_JOURNALS", setup.path("journals"))
        .env_remove("HOME")
        .env_remove("AIRLOCK_TOKEN")
        .output()
        .expect("run airlock");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Each call record says what the call used of its grants: the built-in
/// `read-file` reads its mount and writes nothing; `echo` uses nothing, and
/// its record has no `usage` at all (as records before usage existed).
#[test]
fn call_records_say_which_grants_were_used() {
    let setup = Setup::new();
    std::fs::create_dir_all(setup.path("ws")).expect("mkdir");
    std::fs::write(setup.path("ws/notes.txt"), "hello\n").expect("write");
    let ws = format!("{}:/workspace", setup.path("ws").display());
    let read = airlock(
        &setup,
        &[
            "run",
            "--operator-override",
            airlock_tools::READ_FILE_PATH,
            "--input",
            r#"{"path":"notes.txt"}"#,
            "--mount",
            &ws,
        ],
    );
    assert_eq!(read.code, 0, "{}", read.stderr);
    let echo = airlock(&setup, &["run", "--operator-override", programs::ECHO, "--input", "{}"]);
    assert_eq!(echo.code, 0, "{}", echo.stderr);

    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("log");
    let records: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).expect("record")).collect();
    assert_eq!(
        records[0]["event"]["effects"]["usage"],
        serde_json::json!({ "mounts": { "/workspace": { "read": true, "written": false } } })
    );
    assert!(records[1]["event"]["effects"].get("usage").is_none(), "{}", records[1]);
    let verified = airlock(&setup, &["audit", "verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
}

#[test]
fn every_run_is_recorded_and_the_log_answers_operators() {
    let setup = Setup::new();
    let ws = format!("{}:/workspace", setup.path("ws").display());
    // (caller, tool and arguments, expected exit code); a fresh token per run.
    let runs: Vec<(Option<&str>, Vec<&str>, i32)> = vec![
        (Some("human:alice"), vec![programs::ECHO, "--input", r#"{"a":1}"#], 0),
        (None, vec![programs::ECHO, "--input", r#"{"b":2}"#], 0),
        (Some("human:alice"), vec![programs::LIMIT_INFINITE_LOOP, "--input", "{}", "--timeout", "200ms"], 4),
        (
            Some("human:alice"),
            vec![airlock_tools::READ_FILE_PATH, "--input", r#"{"path":"nope.txt"}"#, "--mount", &ws],
            1,
        ),
        (Some("human:alice"), vec![programs::TRAP_IN_INVOKE, "--input", "{}"], 1),
        (Some("agent:stranger"), vec![programs::ECHO, "--input", "{}"], 3),
    ];
    let mut tokens = Vec::new();
    for (caller, rest, code) in &runs {
        let mut args = vec!["run".to_owned()];
        match caller {
            Some(sub) => {
                let token = setup.token(sub);
                args.extend(["--token".to_owned(), token.clone()]);
                tokens.push(token);
            }
            None => args.push("--operator-override".to_owned()),
        }
        args.extend(rest.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = airlock(&setup, &args);
        assert_eq!(out.code, *code, "{rest:?}: {}", out.stderr);
    }

    let verified = airlock(&setup, &["audit", "verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert!(verified.stdout.contains(": 6 records, chain intact, head "), "{}", verified.stdout);

    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("log");
    for token in &tokens {
        assert!(!log.contains(token.as_str()), "a token reached the audit log");
    }
    let records: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).expect("record")).collect();
    let outcomes: Vec<&str> = records.iter().filter_map(|r| r["event"]["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "limit", "tool_error", "trap", "refused"]);
    assert_eq!(records[1]["event"]["principal"], Value::Null, "the override run has no principal");
    assert_eq!(records[0]["event"]["principal"]["sub"], "human:alice");
    assert_eq!(records[0]["event"]["capabilities"][0]["action"], "invoke");
    assert_eq!(records[0]["event"]["capabilities"][0]["policies"][0], "alice-everything");
    assert_eq!(records[5]["event"]["capabilities"][0]["allowed"], false);
    assert!(records[2]["event"]["error"].as_str().is_some_and(|e| e.contains("timeout after 200ms")));
    assert!(records[2]["event"]["duration_ms"].as_u64().is_some_and(|d| d >= 200));
    assert_eq!(records[0]["event"]["input_sha256"].as_str().map(str::len), Some(64));

    let refused = airlock(&setup, &["audit", "query", "--outcome", "refused"]);
    assert_eq!(refused.stdout.lines().count(), 1, "{}", refused.stdout);
    assert!(
        refused.stdout.contains("refused") && refused.stdout.contains("agent:stranger  echo 0.0.0"),
        "{}",
        refused.stdout
    );
    let alices = airlock(&setup, &["audit", "query", "--sub", "human:alice", "--since", "1h"]);
    assert_eq!(alices.stdout.lines().count(), 4, "{}", alices.stdout);
    let by_tool = airlock(&setup, &["audit", "query", "--tool", "read-file", "--json"]);
    let line: Value = serde_json::from_str(by_tool.stdout.trim()).expect("one JSON record");
    assert_eq!(line["seq"], 4);
    let future = airlock(&setup, &["audit", "query", "--since", "2999-01-01"]);
    assert!(future.stdout.is_empty(), "{}", future.stdout);
    let bad = airlock(&setup, &["audit", "query", "--since", "yesterday"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--since") && bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
    let tail = airlock(&setup, &["audit", "tail", "-n", "2"]);
    let tail: Vec<&str> = tail.stdout.lines().collect();
    assert_eq!(tail.len(), 2);
    assert!(tail[0].trim_start().starts_with("5 ") && tail[1].trim_start().starts_with("6 "), "{tail:?}");

    // Rewrite history: the limit becomes a success.
    let edited = log.replacen("\"outcome\":\"limit\"", "\"outcome\":\"ok\"", 1);
    std::fs::write(setup.path("audit/audit.jsonl"), edited).expect("write");
    let broken = airlock(&setup, &["audit", "verify"]);
    assert_eq!(broken.code, 8, "{}", broken.stderr);
    assert!(
        broken.stderr.contains("audit log broken at record 3: record 3 was altered"),
        "{}",
        broken.stderr
    );
    // And the next call refuses to extend a log whose tail does not verify? No:
    // the tail (record 6) is intact, so calls go on; `verify` is what finds it.
    let missing = airlock(&setup, &["audit", "verify", "--log", "/nonexistent/audit"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no audit log at `/nonexistent/audit/audit.jsonl`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_bad_audit_setting_is_a_config_error() {
    let setup = Setup::new();
    let config = std::fs::read_to_string(setup.path("airlock.toml")).expect("config");
    for (setting, message) in [
        ("durability = \"sometimes\"", "`sometimes` is not `fsync` or `group`"),
        ("group_size = 8", "`audit.group_size` needs `durability = \"group\"`"),
        ("colour = \"red\"", "unknown field `colour`"),
        ("checkpoint_every = 5", "`audit.checkpoint_every` needs `audit.checkpoint_key`"),
        ("checkpoint_key = \"keys/missing.key\"", "config `audit.checkpoint_key`"),
    ] {
        let changed =
            config.replace("[audit]\ndir = \"audit\"\n", &format!("[audit]\ndir = \"audit\"\n{setting}\n"));
        std::fs::write(setup.path("airlock.toml"), changed).expect("config");
        let token = setup.token("human:alice");
        let out = airlock(&setup, &["run", "--token", &token, programs::ECHO, "--input", "{}"]);
        assert_eq!(out.code, 7, "{setting}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{setting}: {}", out.stderr);
    }
}

#[test]
fn signed_checkpoints_from_keygen_to_verify() {
    let setup = Setup::new();
    let keys = setup.path("keys");
    let keys_arg = keys.display().to_string();
    let made = airlock(&setup, &["audit", "keygen", "--out", &keys_arg]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(keys.join("audit-checkpoint.key")).expect("key").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let again = airlock(&setup, &["audit", "keygen", "--out", &keys_arg]);
    assert_eq!(again.code, 2, "a key is never overwritten: {}", again.stderr);

    let config = std::fs::read_to_string(setup.path("airlock.toml")).expect("config");
    let signed = config.replace(
        "[audit]\ndir = \"audit\"\n",
        "[audit]\ndir = \"audit\"\ncheckpoint_key = \"keys/audit-checkpoint.key\"\ncheckpoint_every = 3\n",
    );
    std::fs::write(setup.path("airlock.toml"), &signed).expect("config");
    // Records 1, 2, 3, the checkpoint signing 3, then record 5.
    for n in 0..4 {
        let token = setup.token("human:alice");
        let input = format!("{{\"n\":{n}}}");
        let out = airlock(&setup, &["run", "--token", &token, programs::ECHO, "--input", &input]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let public = keys.join("audit-checkpoint.pub").display().to_string();
    let verified = airlock(&setup, &["audit", "verify", "--public-key", &public]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert!(
        verified.stdout.contains("5 records, chain intact")
            && verified.stdout.contains("1 checkpoints signed by key")
            && verified.stdout.contains("through record 3 (1 records after it not yet signed)"),
        "{}",
        verified.stdout
    );
    let now = airlock(&setup, &["audit", "checkpoint"]);
    assert_eq!(now.code, 0, "{}", now.stderr);
    assert!(now.stdout.contains("record 6 signs record 5"), "{}", now.stdout);
    let verified = airlock(&setup, &["audit", "verify", "--public-key", &public]);
    assert!(verified.stdout.contains("through record 5 (0 records after it"), "{}", verified.stdout);
    let tail = airlock(&setup, &["audit", "tail", "-n", "1"]);
    assert!(tail.stdout.contains("checkpoint     signs record 5"), "{}", tail.stdout);

    // Another signer's key does not verify this log.
    let other = setup.path("other-keys");
    let other_arg = other.display().to_string();
    assert_eq!(airlock(&setup, &["audit", "keygen", "--out", &other_arg]).code, 0);
    let other_pub = other.join("audit-checkpoint.pub").display().to_string();
    let wrong = airlock(&setup, &["audit", "verify", "--public-key", &other_pub]);
    assert_eq!(wrong.code, 8, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("audit log broken at record 4: checkpoint signed by key"),
        "{}",
        wrong.stderr
    );
}

/// Once a token is verified, the call ends with a record whatever fails
/// afterwards (the tool does not load, the workspace cannot be prepared or
/// staged, airlock's own state is unsafe); a refused token leaves one too,
/// with its reason and never the token.
#[test]
fn a_verified_call_that_fails_afterwards_is_still_recorded() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let ws = setup.path("ws").display().to_string();
    let notes = setup.path("ws/notes.txt").display().to_string();
    let run = |rest: &[&str]| {
        let token = setup.token("human:alice");
        let mut args = vec!["run", "--token", &token];
        args.extend_from_slice(rest);
        airlock(&setup, &args)
    };
    let cases: [(&[&str], i32, &str, &str); 3] = [
        (&[programs::NOT_A_TOOL, "--input", "{}"], 5, "internal", "airlock:tool"),
        (&["patch-deps", "--workspace", &notes, "--input", "{}"], 2, "internal", "is not a directory"),
        (
            &["patch-deps", "--workspace", &ws, "--stage-max-bytes", "1", "--input", "{}"],
            4,
            "limit",
            "over the stage budget",
        ),
    ];
    for (rest, code, _, _) in &cases {
        let out = run(rest);
        assert_eq!(out.code, *code, "{rest:?}: {}", out.stderr);
    }
    // airlock's own journal directory made writable by others: refused.
    std::fs::create_dir_all(setup.path("journals")).expect("mkdir");
    std::fs::set_permissions(setup.path("journals"), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let unsafe_state = run(&["patch-deps", "--workspace", &ws, "--input", "{}"]);
    assert_eq!(unsafe_state.code, 6, "{}", unsafe_state.stderr);
    assert!(unsafe_state.stderr.contains("lets other accounts write"), "{}", unsafe_state.stderr);
    let forged =
        airlock(&setup, &["run", "--token", "forged.not.jwt-secret-part", programs::ECHO, "--input", "{}"]);
    assert_eq!(forged.code, 10, "{}", forged.stderr);

    let verified = airlock(&setup, &["audit", "verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("log");
    assert!(!log.contains("jwt-secret-part"), "a token reached the audit log");
    let records: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).expect("record")).collect();
    assert_eq!(records.len(), 5, "{log}");
    for (record, (rest, _, outcome, why)) in records.iter().zip(&cases) {
        let event = &record["event"];
        assert_eq!(event["outcome"], *outcome, "{rest:?}: {event}");
        assert_eq!(event["principal"]["sub"], "human:alice");
        assert!(event["error"].as_str().is_some_and(|e| e.contains(why)), "{rest:?}: {event}");
    }
    assert_eq!(records[3]["event"]["outcome"], "internal");
    assert!(records[3]["event"]["error"].as_str().is_some_and(|e| e.contains("lets other accounts write")));
    assert_eq!(records[4]["event"]["kind"], "tokens_refused");
    assert_eq!(records[4]["event"]["transport"], "cli");
    assert!(records[4]["event"]["reason"].as_str().is_some_and(|r| r.starts_with("malformed token")));
}

/// `airlock agents list`: every identity in the log with its calls,
/// denials and times; the agents policy names that never called; a
/// tampered log refused, never analysed.
#[test]
fn agents_list_inventories_the_identities_in_the_log() {
    let setup = Setup::new();
    let runs: [(Option<&str>, i32); 5] = [
        (Some("human:alice"), 0),
        (Some("human:alice"), 0),
        (Some("agent:stranger"), 3),
        (None, 0),
        (Some("human:alice"), 0),
    ];
    for (caller, code) in runs {
        let token;
        let mut args = vec!["run"];
        match caller {
            Some(sub) => {
                token = setup.token(sub);
                args.extend(["--token", token.as_str()]);
            }
            None => args.push("--operator-override"),
        }
        args.extend([programs::ECHO, "--input", "{}"]);
        assert_eq!(airlock(&setup, &args).code, code);
    }

    let listed = airlock(&setup, &["agents", "list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.starts_with("2 identities, 5 records (the whole log)"), "{}", listed.stdout);
    let row = |sub: &str| listed.stdout.lines().find(|l| l.starts_with(sub)).map(str::split_whitespace);
    let alice: Vec<&str> = row("human:alice").expect("alice's row").collect();
    assert_eq!(alice[2..7], ["3", "3", "0", "0/0", "0/0"], "{}", listed.stdout);
    let stranger: Vec<&str> = row("agent:stranger").expect("the stranger's row").collect();
    assert_eq!(stranger[2..5], ["1", "0", "1"], "{}", listed.stdout);
    assert!(listed.stdout.contains("1 call(s) by --operator-override"), "{}", listed.stdout);
    // The policy names agent:bot, which never called.
    assert!(listed.stdout.contains("never seen: agent:bot (named in policy)"), "{}", listed.stdout);
    assert!(!listed.stdout.contains("never seen: human:alice"), "{}", listed.stdout);
    // Hygiene: the bot's permit matched nothing; nobody is stale yet.
    assert!(
        listed.stdout.contains("permit `bot-three-tools` matched no call in the window"),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("permit `alice-everything`"), "{}", listed.stdout);
    assert!(!listed.stdout.contains("stale:"), "{}", listed.stdout);
    assert!(
        listed.stdout.contains("token lifetime: human:alice presented tokens living up to "),
        "{}",
        listed.stdout
    );
    let stale = airlock(&setup, &["agents", "list", "--stale", "0s"]);
    assert!(
        stale.stdout.contains("stale: human:alice (https://issuer.airlock.test) last called"),
        "{}",
        stale.stdout
    );

    let json = airlock(&setup, &["agents", "list", "--json", "--since", "1h"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let document: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let identities = document["inventory"]["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 2);
    assert_eq!(identities[0]["sub"], "agent:stranger");
    assert_eq!(identities[1]["tools"]["echo"], 3);
    let lifetime = identities[1]["longest_token_lifetime_s"].as_u64().expect("the tokens carry iat and exp");
    assert!(lifetime > 0 && lifetime <= 3600, "{lifetime}");
    assert_eq!(document["never_seen"]["agents_named_in_policy"], serde_json::json!(["agent:bot"]));
    assert_eq!(document["never_seen"]["issuers"], serde_json::json!([]));
    assert_eq!(document["findings"]["permits_never_matched"], serde_json::json!(["bot-three-tools"]));
    let bad = airlock(&setup, &["agents", "list", "--since", "yesterday"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("--since: `yesterday` is neither an age (500ms, 30s, 15m, 12h, 30d)"),
        "{}",
        bad.stderr
    );
    let future = airlock(&setup, &["agents", "list", "--since", "2999-01-01"]);
    assert!(future.stdout.starts_with("0 identities, 0 records (since 2999-01-01)"), "{}", future.stdout);

    // A log with an edited record is refused, with the verify error.
    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("log");
    std::fs::write(setup.path("audit/audit.jsonl"), log.replacen("agent:stranger", "agent:trusted", 1))
        .expect("edit");
    let refused = airlock(&setup, &["agents", "list"]);
    assert_eq!(refused.code, 8, "{}", refused.stderr);
    assert!(refused.stderr.contains("refused, not analysed"), "{}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
}

/// `airlock agents show`: per tool, each capability decided for the
/// identity's calls beside how often they used it; a read-write mount that
/// was only ever read is a finding; a tool never given a grant it used has
/// none to report.
#[test]
fn agents_show_puts_each_grant_beside_its_use() {
    let setup = Setup::new();
    std::fs::create_dir_all(setup.path("ws")).expect("mkdir");
    std::fs::write(setup.path("ws/notes.txt"), "hello\n").expect("write");
    let ws = format!("{}:/workspace:rw", setup.path("ws").display());
    for _ in 0..2 {
        let token = setup.token("human:alice");
        let run = airlock(
            &setup,
            &[
                "run",
                "--token",
                &token,
                programs::FS_READ_GRANTED,
                "--input",
                r#"{"path":"/workspace/notes.txt"}"#,
                "--mount",
                &ws,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }

    let shown = airlock(&setup, &["agents", "show", "human:alice"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let line = |action: &str| shown.stdout.lines().find(|l| l.trim_start().starts_with(action)).unwrap_or("");
    assert!(shown.stdout.contains("fs-read-granted: 2 call(s) ran"), "{}", shown.stdout);
    assert!(line("fs.read").contains("granted in 2, used in 2 (alice-everything)"), "{}", shown.stdout);
    assert!(line("fs.write").contains("granted in 2, used in 0"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("read-write /workspace for fs-read-granted: only read in 2 call(s)"),
        "{}",
        shown.stdout
    );

    // The configuration's tools she never called: their effective grants,
    // decided for the claims of her last call, each permitted one a finding.
    assert!(shown.stdout.contains("effective grants (\"now:\") decided for the claims of its last call ("));
    assert!(shown.stdout.contains("read-file: never called"), "{}", shown.stdout);
    let read_file = shown.stdout.split("read-file: never called").nth(1).unwrap_or("");
    assert!(
        read_file
            .lines()
            .any(|l| l.contains("fs.read") && l.ends_with("never asked; now: allow (alice-everything)")),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("read-file: permitted, never called in the window"), "{}", shown.stdout);

    let json = airlock(&setup, &["agents", "show", "human:alice", "--json"]);
    let document: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let findings: Vec<(&str, &str)> = document["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (f["tool"].as_str().unwrap_or(""), f["action"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        findings,
        [
            ("echo", "invoke"),
            ("fs-read-granted", "fs.write"),
            ("http-fetch", "invoke"),
            ("limit-infinite-loop", "invoke"),
            ("limit-stdout-flood", "invoke"),
            ("read-file", "invoke"),
        ],
        "{document}"
    );
    assert_eq!(document["iss"], "https://issuer.airlock.test");

    // An identity that never called, decided for the claims given: the bot
    // may invoke three tools and nothing else.
    std::fs::write(setup.path("bot.json"), r#"{"sub": "agent:bot", "iss": "https://issuer.airlock.test"}"#)
        .expect("claims");
    let bot = setup.path("bot.json");
    let json =
        airlock(&setup, &["agents", "show", "agent:bot", "--json", "--claims", &bot.to_string_lossy()]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let document: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let decided = |tool: &str, action: &str| {
        let tools = document["tools"].as_array().expect("tools");
        let tool = tools.iter().find(|t| t["tool"] == tool).expect("tool");
        let grants = tool["grants"].as_array().expect("grants");
        grants.iter().find(|g| g["action"] == action).map(|g| g["effective"]["allowed"].clone())
    };
    assert_eq!(decided("echo", "invoke"), Some(Value::Bool(true)), "{document}");
    assert_eq!(decided("http-fetch", "invoke"), Some(Value::Bool(false)));
    assert_eq!(decided("read-file", "fs.read"), Some(Value::Bool(false)));
    let findings: Vec<&str> = document["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["tool"].as_str())
        .collect();
    assert_eq!(findings, ["echo", "limit-stdout-flood", "read-file"]);

    // Claims that are not claims are refused, naming the file and the fault.
    for (text, fault) in [
        ("[1]", "not a JSON object of claims"),
        (
            r#"{"sub": "agent:other", "iss": "https://issuer.airlock.test"}"#,
            "its `sub` is \"agent:other\", not `agent:bot`",
        ),
        (r#"{"sub": "agent:bot"}"#, "no issuer"),
        (
            r#"{"iss": "https://issuer.airlock.test", "repository": {"a": 1}}"#,
            "claim `repository` must be a string",
        ),
    ] {
        std::fs::write(setup.path("bad.json"), text).expect("claims");
        let bad = setup.path("bad.json");
        let refused = airlock(&setup, &["agents", "show", "agent:bot", "--claims", &bad.to_string_lossy()]);
        assert_eq!(refused.code, 2, "{text}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("bad.json") && refused.stderr.contains(fault),
            "{text}: {}",
            refused.stderr
        );
    }

    let nobody = airlock(&setup, &["agents", "show", "agent:nobody"]);
    assert_eq!(nobody.code, 0, "{}", nobody.stderr);
    assert_eq!(nobody.stdout.trim(), "agent:nobody: no calls in the whole log");
}
