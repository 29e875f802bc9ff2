//! A fleet: several `airlock serve --http` replicas (and `airlock run`)
//! sharing `[state]` in PostgreSQL (`.ci/postgres`; a fresh schema per
//! test, dropped after it). A bearer token is good on every replica for
//! its lifetime; another token reusing its `jti` is refused on all of
//! them; a single-use token used by one process is refused by the next.

use airlock_state::{Database, DatabaseSettings};
use serde_json::json;

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
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("random");
    let schema = Schema(format!("t_{}", hex::encode(suffix)));
    let probe = Database::open(&DatabaseSettings::new(&url())).expect("settings");
    if let Err(error) = probe.run(|client| async move { client.simple_query("SELECT 1").await.map(drop) }) {
        if std::env::var_os("AIRLOCK_REQUIRE_POSTGRES").is_some() {
            panic!("PostgreSQL is required (AIRLOCK_REQUIRE_POSTGRES): {error}");
        }
        eprintln!("skipped: no PostgreSQL ({error}); run .ci/postgres");
        return None;
    }
    let setup = Setup::new();
    let config = std::fs::read_to_string(setup.path("airlock.toml")).expect("config");
    let config: String =
        config.lines().filter(|l| !l.starts_with("replay_cache")).map(|l| format!("{l}\n")).collect();
    let state = format!("\n[state]\nurl = \"{}\"\nschema = \"{}\"\n", url(), schema.0);
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
    let http = reqwest::Client::new();

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
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("applied migrations [1]"));
    let after = airlock("status");
    let text = String::from_utf8_lossy(&after.stdout).into_owned();
    assert!(text.contains("applied") && !text.contains("pending"), "{text}");
    assert!(String::from_utf8_lossy(&airlock("migrate").stdout).contains("up to date"));
}
