//! A fleet: several `airlock serve --http` replicas (and `airlock run`)
//! sharing `[state]` in PostgreSQL (`.ci/postgres`; a fresh schema per
//! test, dropped after it). A bearer token is good on every replica for
//! its lifetime; another token reusing its `jti` is refused on all of
//! them; a single-use token used by one process is refused by the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use airlock_state::{Database, DatabaseSettings};
use serde_json::{Value, json};

use crate::mcp::{AUDIENCE, ISSUER, Setup};

fn url() -> String {
    std::env::var("AIRLOCK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// A schema for one test, dropped with it.
struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        let Ok(database) = Database::open(&DatabaseSettings::new(&url())) else { return };
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0);
        let _ = database.run(move |client| async move { client.batch_execute(&sql).await });
    }
}

/// A setup whose config keeps its state in a fresh schema of the test
/// database, or `None` (skipped) when no database runs here and
/// `AIRLOCK_REQUIRE_POSTGRES` is not set.
fn fleet_setup() -> Option<(Setup, Schema)> {
    fleet_setup_at(&url(), "")
}

/// [`fleet_setup`] reaching the database at `url`, with `extra` lines in
/// `[state]`.
fn fleet_setup_at(database_url: &str, extra: &str) -> Option<(Setup, Schema)> {
    fleet_of(Setup::new(), database_url, extra)
}

/// `setup`, its config moved to a fresh schema of the database at `url`.
fn fleet_of(setup: Setup, database_url: &str, extra: &str) -> Option<(Setup, Schema)> {
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("random");
    let schema = Schema(format!("t_{}", hex::encode(suffix)));
    let probe = Database::open(&DatabaseSettings::new(&url())).expect("settings");
    if let Err(error) = probe.ping() {
        if std::env::var_os("AIRLOCK_REQUIRE_POSTGRES").is_some() {
            panic!("PostgreSQL is required (AIRLOCK_REQUIRE_POSTGRES): {error}");
        }
        eprintln!("skipped: no PostgreSQL ({error}); run .ci/postgres");
        return None;
    }
    let config = std::fs::read_to_string(setup.path("airlock.toml")).expect("config");
    let config: String =
        config.lines().filter(|l| !l.starts_with("replay_cache")).map(|l| format!("{l}\n")).collect();
    let state = format!("\n[state]\nurl = \"{database_url}\"\nschema = \"{}\"\n{extra}", schema.0);
    std::fs::write(setup.path("airlock.toml"), config + &state).expect("write config");
    Some((setup, schema))
}

fn claims(sub: &str, jti: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now, "exp": now + 300, "jti": jti})
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_bearer_tokens_and_refuse_a_reused_id_everywhere() {
    let Some((setup, _schema)) = fleet_setup() else { return };
    let replicas: Vec<_> = (0..3).map(|_| setup.http(&[])).collect();
    let http = crate::http();

    // One agent's token, spread over the replicas by a load balancer.
    let token = setup.token("human:alice");
    for round in 0..2 {
        for (n, replica) in replicas.iter().enumerate() {
            let status = replica.post_list(&http, Some(&token)).send().await.expect("request").status();
            assert_eq!(status, 200, "replica {n}, round {round}: a bearer token is good on every replica");
        }
    }

    // A different token reusing an id is refused on every replica, the
    // one that accepted the first token included.
    let first = setup.sign(&claims("human:alice", "fleet-jti-1"));
    let second = setup.sign(&claims("agent:bot", "fleet-jti-1"));
    assert_eq!(replicas[0].post_list(&http, Some(&first)).send().await.expect("request").status(), 200);
    for (n, replica) in replicas.iter().enumerate() {
        let refused = replica.post_list(&http, Some(&second)).send().await.expect("request");
        assert_eq!(refused.status(), 401, "replica {n}");
        let body: serde_json::Value = refused.json().await.expect("json");
        let why = body["error_description"].as_str().unwrap_or_default();
        assert!(why.contains("already used"), "replica {n}: {why}");
    }
}

#[test]
fn a_single_use_token_used_by_one_process_is_refused_by_the_next() {
    let Some((setup, _schema)) = fleet_setup() else { return };
    let token = setup.token("human:alice");
    let config = setup.path("airlock.toml");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["run", "--config"])
            .arg(&config)
            .args(["--token", &token, crate::programs::ECHO, "--input", "{}"])
            .env_remove("AIRLOCK_CONFIG")
            .env("XDG_CACHE_HOME", crate::mcp::shared_cache())
            .output()
            .expect("airlock run")
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let second = run();
    assert_eq!(second.status.code(), Some(16), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already used"));
}

#[test]
fn state_status_and_migrate_report_the_schema() {
    let Some((setup, _schema)) = fleet_setup() else { return };
    let airlock = |command: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["state", command, "--config"])
            .arg(setup.path("airlock.toml"))
            .env_remove("AIRLOCK_STATE_URL")
            .output()
            .expect("airlock state")
    };
    let before = airlock("status");
    let text = String::from_utf8_lossy(&before.stdout).into_owned();
    assert!(before.status.success() && text.contains("pending"), "{text}");
    assert!(!text.contains("root@"), "no user or password shown: {text}");
    let migrated = airlock("migrate");
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("applied migrations [1, 2, 3]"));
    let after = airlock("status");
    let text = String::from_utf8_lossy(&after.stdout).into_owned();
    assert!(text.contains("applied") && !text.contains("pending"), "{text}");
    assert!(String::from_utf8_lossy(&airlock("migrate").stdout).contains("up to date"));

    // Local state beside [state] is a mistake, refused by name.
    let config = std::fs::read_to_string(setup.path("airlock.toml")).expect("config");
    std::fs::write(setup.path("airlock.toml"), format!("{config}\n[approvals]\ndir = \"approvals\"\n"))
        .expect("write");
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["approve", "--list", "--config"])
        .arg(setup.path("airlock.toml"))
        .output()
        .expect("approve --list");
    assert_eq!(listed.status.code(), Some(7));
    let said = String::from_utf8_lossy(&listed.stderr);
    assert!(
        said.contains("config `approvals.dir`: with `[state]` approvals are kept in the database"),
        "{said}"
    );
}

/// A TCP relay to the test database that a test can cut (every open
/// connection dropped, new ones refused) and restore: the database going
/// away and coming back, as a replica sees a partition.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<AtomicUsize>,
}

impl Relay {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (up, generation) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
        let (open, cut) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !open.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let (cut, born) = (cut.clone(), cut.load(Ordering::SeqCst));
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", 5432)).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let watch = async {
                        while cut.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, () = watch => {} }
                });
            }
        });
        Self { port, up, generation }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = crate::http().get(url).send().await.expect("request");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_database_tokens_are_refused_and_readyz_says_so_until_it_returns() {
    let relay = Relay::start().await;
    let through = url().replace("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port));
    let Some((setup, _schema)) = fleet_setup_at(&through, "timeout = \"1s\"\n") else { return };
    let server = setup.http(&[]);
    let http = crate::http();
    let base = server.url().trim_end_matches("/mcp").to_owned();
    assert_eq!(get(&format!("{base}/healthz")).await, (200, "ok\n".to_owned()));
    assert_eq!(get(&format!("{base}/readyz")).await, (200, "ready\n".to_owned()));
    let remembered = setup.token("human:alice");
    assert_eq!(server.post_list(&http, Some(&remembered)).send().await.expect("request").status(), 200);

    relay.down();
    tokio::time::sleep(Duration::from_millis(200)).await; // the relay cuts open connections
    let (status, why) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{why}");
    assert!(why.starts_with("not ready: state database 127.0.0.1:"), "{why}");
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200, "alive, only not ready");
    let refused = server.post_list(&http, Some(&setup.token("agent:bot"))).send().await.expect("request");
    assert_eq!(refused.status(), 401, "a token that cannot be checked for reuse is refused");
    let body: serde_json::Value = refused.json().await.expect("json");
    let why = body["error_description"].as_str().unwrap_or_default();
    assert!(why.contains("replay cache unavailable"), "{why}");
    // A token verified before the cut still names its caller, but no call
    // runs while its audit record cannot be written.
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"n": 1}}});
    let answer: serde_json::Value =
        server.post(&http, &remembered, &body).send().await.expect("request").json().await.expect("json");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(answer.to_string().contains("could not be recorded in the audit log"), "{answer}");

    relay.restore();
    let fresh = setup.token("agent:bot");
    let start = std::time::Instant::now();
    let mut status = 0;
    while start.elapsed() < Duration::from_secs(20) {
        status = server.post_list(&http, Some(&fresh)).send().await.expect("request").status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200, "tokens verify again once the database is back");
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_append_to_one_chain_that_survives_a_replica_killed_mid_call() {
    let Some((setup, _schema)) = fleet_setup() else { return };
    let replicas: Vec<_> = (0..2).map(|_| setup.http(&["--timeout", "30s"])).collect();
    let alice = setup.token("human:alice");
    let mut clients = Vec::new();
    for replica in &replicas {
        let client = replica.client(&alice).await;
        for n in 0..3 {
            let echoed = client.call_tool(crate::mcp::call("echo", json!({"n": n}))).await.expect("call");
            assert_eq!(echoed.is_error, Some(false));
        }
        clients.push(client);
    }
    // A call runs on replica 0 when it is killed (SIGKILL, no clean-up).
    let runaway = tokio::spawn({
        let client = clients.remove(0);
        async move { client.call_tool(crate::mcp::call("limit-infinite-loop", json!({}))).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = std::process::Command::new("kill").args(["-KILL", &replicas[0].pid().to_string()]).status();
    assert!(killed.expect("kill").success());
    let _ = runaway.await;
    let after = clients[0].call_tool(crate::mcp::call("echo", json!({"after": true}))).await.expect("call");
    assert_eq!(after.is_error, Some(false), "the other replica carries on");

    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["audit", "verify", "--config"])
        .arg(setup.path("airlock.toml"))
        .env_remove("AIRLOCK_AUDIT_LOG")
        .output()
        .expect("audit verify");
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(verified.status.success(), "{said}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(
        said.contains("7 records, chain intact"),
        "six calls on two replicas and one after the kill: {said}"
    );
    let tail = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["audit", "tail", "--json", "--config"])
        .arg(setup.path("airlock.toml"))
        .output()
        .expect("audit tail");
    let lines = String::from_utf8_lossy(&tail.stdout).lines().count();
    assert_eq!(lines, 7, "{}", String::from_utf8_lossy(&tail.stderr));
    // `agents list` reads the same shared chain, verified first.
    let agents = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["agents", "list", "--json", "--config"])
        .arg(setup.path("airlock.toml"))
        .env_remove("AIRLOCK_AUDIT_LOG")
        .output()
        .expect("agents list");
    assert!(agents.status.success(), "{}", String::from_utf8_lossy(&agents.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&agents.stdout).expect("JSON");
    let identities = listed["inventory"]["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 1, "{listed}");
    assert_eq!(
        (identities[0]["sub"].as_str(), identities[0]["calls"].as_u64()),
        (Some("human:alice"), Some(7))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_filed_on_one_replica_is_granted_anywhere_and_redeemed_once_on_another() {
    let approvals = format!(
        "\n[approvals]\nbreak_glass = [\"human:carol\"]\n\n[[approvals.human]]\niss = \"{ISSUER}\"\nsub_prefix = \"human:\"\n"
    );
    let Some((setup, _schema)) = fleet_of(Setup::with(crate::approval::POLICY, &approvals), &url(), "")
    else {
        return;
    };
    let (a, b) = (setup.http(&[]), setup.http(&[]));
    let fixer = crate::approval::fixer(&setup);
    let (on_a, on_b) = (a.client(&fixer).await, b.client(&fixer).await);
    let Value::Object(arguments) = json!({"n": 7}) else { unreachable!() };
    let params = rmcp::model::CallToolRequestParams::new("echo").with_arguments(arguments);
    let filed = on_a.call_tool(params.clone()).await.expect("call");
    let id = crate::approval::filed_id(&filed);

    // `airlock approve` with the same configuration sees it and grants it.
    let approved = crate::approval::approve(&setup, &id, &setup.token("human:bob"), &[]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);

    let mut meta = rmcp::model::RequestMetaObject::default();
    meta.0.insert("airlock/approval".to_owned(), Value::String(id));
    let mut with_approval = params;
    with_approval.meta = Some(meta);
    let ran = on_b.call_tool(with_approval.clone()).await.expect("call");
    assert_ne!(ran.is_error, Some(true), "redeemed on replica B: {ran:?}");
    for (replica, client) in [("A", &on_a), ("B", &on_b)] {
        let again = client.call_tool(with_approval.clone()).await.expect("call");
        assert_eq!(again.is_error, Some(true), "used once, then refused on replica {replica}");
    }
}

#[test]
fn the_shared_chain_is_signed_and_verifies_with_the_public_key() {
    let Some((setup, _schema)) = fleet_setup() else { return };
    let airlock = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .env_remove("AIRLOCK_CONFIG")
            .env_remove("AIRLOCK_AUDIT_LOG")
            .env("XDG_CACHE_HOME", crate::mcp::shared_cache())
            .output()
            .expect("airlock")
    };
    let keys = setup.path("keys");
    assert!(airlock(&["audit", "keygen", "--out", &keys.display().to_string()]).status.success());
    let config_path = setup.path("airlock.toml");
    let config = std::fs::read_to_string(&config_path).expect("config");
    let signed = config.replace(
        "[audit]\ndir = \"audit\"\n",
        "[audit]\ndir = \"audit\"\ncheckpoint_key = \"keys/audit-checkpoint.key\"\ncheckpoint_every = 3\n",
    );
    assert_ne!(config, signed);
    std::fs::write(&config_path, signed).expect("write config");
    let config = config_path.display().to_string();
    // Calls at 1, 2, 3 and 5; the checkpoint after record 3 is record 4.
    for _ in 0..4 {
        let token = setup.token("human:alice");
        let ran =
            airlock(&["run", "--config", &config, "--token", &token, crate::programs::ECHO, "--input", "{}"]);
        assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    }
    let checkpoint = airlock(&["audit", "checkpoint", "--config", &config]);
    let said = String::from_utf8_lossy(&checkpoint.stdout);
    assert!(said.contains("checkpoint: record 6 signs record 5"), "{said}");
    let public = keys.join("audit-checkpoint.pub").display().to_string();
    let verified = airlock(&["audit", "verify", "--public-key", &public, "--config", &config]);
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{said}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(
        said.contains("6 records, chain intact") && said.contains("2 checkpoints signed by key"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_clients_on_two_replicas_redeem_one_approval_once_and_break_glass_covers_both() {
    let approvals = format!(
        "\n[approvals]\nbreak_glass = [\"human:carol\"]\n\n[[approvals.human]]\niss = \"{ISSUER}\"\nsub_prefix = \"human:\"\n"
    );
    let Some((setup, _schema)) = fleet_of(Setup::with(crate::approval::POLICY, &approvals), &url(), "")
    else {
        return;
    };
    let replicas = Arc::new([setup.http(&[]), setup.http(&[])]);
    let fixer = crate::approval::fixer(&setup);
    let http = crate::http();
    let call = |n: u64, meta: Value| {
        json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"n": 7}, "_meta": meta}})
    };
    let answer = |replica: usize, body: Value| {
        let (replicas, http, fixer) = (replicas.clone(), http.clone(), fixer.clone());
        async move {
            let response = replicas[replica].post(&http, &fixer, &body).send().await.expect("request");
            response.json::<Value>().await.expect("json")["result"].clone()
        }
    };
    let filed = answer(0, call(1, json!({}))).await;
    let id =
        filed["structuredContent"]["approval_required"]["request_id"].as_str().expect("filed").to_owned();
    let approved = crate::approval::approve(&setup, &id, &setup.token("human:bob"), &[]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);

    // Twenty clients, ten on each replica, present the approval at once.
    let mut racers = tokio::task::JoinSet::new();
    for n in 0u64..20 {
        racers.spawn(answer(usize::from(n % 2 == 1), call(n + 2, json!({"airlock/approval": id}))));
    }
    let mut ran = 0;
    while let Some(result) = racers.join_next().await {
        let result = result.expect("racer");
        if result["isError"] != true {
            ran += 1;
        }
    }
    assert_eq!(ran, 1, "one approval, one call, across both replicas");

    // A window opened once lets the gated call through on either replica.
    let opened = crate::audit::airlock(
        &setup,
        &[
            "approve",
            "--break-glass",
            "--agent",
            "agent:fixer",
            "--reason",
            "outage",
            "--token",
            &setup.token("human:carol"),
        ],
    );
    assert_eq!(opened.code, 0, "{}", opened.stderr);
    for replica in 0..2 {
        let result = answer(replica, call(100, json!({}))).await;
        assert_ne!(result["isError"], true, "replica {replica}: {result}");
    }
}
