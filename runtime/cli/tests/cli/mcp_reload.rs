//! `airlock serve` reloads without a restart: on SIGHUP (and with
//! `--watch` when a file changes) the policies, trust and tools are read
//! again and swapped in whole. Calls keep succeeding through a swap under
//! load, the first call after it is decided by the new policy, a broken
//! policy leaves the one in force (and the log says where it is broken),
//! and tools added or removed show in `tools/list`, with
//! `notifications/tools/list_changed` to a stdio client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::ClientHandler;
use rmcp::ServiceExt;
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::transport::TokioChildProcess;
use serde_json::json;

use crate::mcp::{Client, Setup, call, text};

/// The bot may invoke `read-file` only: no longer `echo`.
const NARROWER: &str = r#"
@id("alice-everything")
permit (principal, action, resource) when { principal.sub == "human:alice" };

@id("bot-read-file-only")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:bot" && resource.name == "read-file" };
"#;

fn hangup(pid: u32) {
    let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -HUP {pid}");
}

async fn tool_names(client: &Client) -> Vec<String> {
    let mut names: Vec<String> =
        client.list_all_tools().await.expect("list").into_iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

const DENIED: &str = "tool `echo` is not available to this identity";

#[tokio::test(flavor = "multi_thread")]
async fn sighup_swaps_policy_under_load_and_a_broken_policy_leaves_it_in_force() {
    let setup = Setup::new();
    let server = setup.http(&[]);
    let bot = Arc::new(server.client(&setup.token("agent:bot")).await);
    let alice = Arc::new(server.client(&setup.token("human:alice")).await);

    // Four loops call echo for as long as the test runs: each answer is
    // either the echo (old policy) or the denial (new policy), never
    // another failure.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, denied) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut loops = tokio::task::JoinSet::new();
    for n in 0..4 {
        let (client, stop, ok, denied) =
            (if n % 2 == 0 { bot.clone() } else { alice.clone() }, stop.clone(), ok.clone(), denied.clone());
        loops.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let result = client.call_tool(call("echo", json!({"n": n}))).await.expect("call");
                match result.is_error {
                    Some(false) => ok.fetch_add(1, Ordering::Relaxed),
                    _ if text(&result) == DENIED && n % 2 == 0 => denied.fetch_add(1, Ordering::Relaxed),
                    _ => panic!("a call failed for another reason during the swap: {}", text(&result)),
                };
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ok.load(Ordering::Relaxed) > 0, "calls succeed before the swap");

    std::fs::write(setup.path("policy.cedar"), NARROWER).expect("write policy");
    hangup(server.pid());
    assert!(
        server.wait_for_log("configuration reloaded", Duration::from_secs(30)),
        "{:?}",
        server.log_lines()
    );
    // The first call after the swap is decided by the new policy.
    let after = bot.call_tool(call("echo", json!({}))).await.expect("call");
    assert_eq!((after.is_error, text(&after).as_str()), (Some(true), DENIED));
    assert_eq!(tool_names(&bot).await, ["read-file"], "the bot's list follows the new policy");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = loops.join_next().await {
        done.expect("no call failed because of the swap");
    }
    assert!(denied.load(Ordering::Relaxed) > 0, "the bot's loops were denied after the swap");

    // A broken policy: the log says where, the narrower policy stays.
    std::fs::write(setup.path("policy.cedar"), "permit (principal, action, resource) when { oops };")
        .expect("write policy");
    hangup(server.pid());
    assert!(server.wait_for_log("configuration not reloaded", Duration::from_secs(30)));
    let refused =
        server.log_lines().into_iter().find(|l| l.contains("configuration not reloaded")).unwrap_or_default();
    assert!(refused.contains("policy.cedar:1:"), "the log names the file, line and column: {refused}");
    assert_eq!(tool_names(&bot).await, ["read-file"], "the policy in force stays");
    let alice_echo = alice.call_tool(call("echo", json!({}))).await.expect("call");
    assert_eq!(alice_echo.is_error, Some(false), "{}", text(&alice_echo));
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_reloads_when_a_policy_file_changes() {
    let setup = Setup::new();
    let server = setup.http(&["--watch", "--metrics", "127.0.0.1:0"]);
    let bot = server.client(&setup.token("agent:bot")).await;
    assert_eq!(tool_names(&bot).await, ["echo", "limit-stdout-flood", "read-file"]);
    std::fs::write(setup.path("policy.cedar"), NARROWER).expect("write policy");
    assert!(
        server.wait_for_log("configuration reloaded", Duration::from_secs(30)),
        "{:?}",
        server.log_lines()
    );
    assert_eq!(tool_names(&bot).await, ["read-file"]);

    let scraped = crate::mcp_metrics::scrape(&server.metrics_url()).await;
    assert!(scraped.contains("airlock_reloads_total{result=\"ok\",what=\"config\"} 1"), "{scraped}");
}

/// Counts `notifications/tools/list_changed`.
#[derive(Clone, Default)]
struct ListChanges(Arc<AtomicUsize>);

impl ClientHandler for ListChanges {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_added_and_removed_show_in_the_list_and_a_stdio_client_is_told() {
    let setup = Setup::new();
    let token = setup.write_token("bot.jwt", "human:alice");
    let mut command = setup.command(&[]);
    command.arg("--stdio").arg("--token-file").arg(&token);
    let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(command))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn airlock serve --stdio");
    let pid = transport.id().expect("pid");
    let changes = ListChanges::default();
    let client = changes.clone().serve(transport).await.expect("MCP session over stdio");
    let before = client.list_all_tools().await.expect("list").len();

    std::fs::copy(airlock_tools::GREP_PATH, setup.path("tools/grep.wasm")).expect("add a tool");
    std::fs::remove_file(setup.path("tools/http-fetch.wasm")).expect("remove a tool");
    hangup(pid);
    let start = Instant::now();
    while changes.0.load(Ordering::Relaxed) == 0 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(changes.0.load(Ordering::Relaxed), 1, "one notifications/tools/list_changed");
    let names: Vec<String> =
        client.list_all_tools().await.expect("list").into_iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"grep".to_owned()) && !names.contains(&"http-fetch".to_owned()), "{names:?}");
    assert_eq!(names.len(), before, "one added, one removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_issuer_no_longer_trusted_takes_its_remembered_tokens_with_it() {
    let setup = Setup::new();
    let server = setup.http(&[]);
    let http = crate::http();
    let token = setup.token("human:alice");
    assert_eq!(server.post_list(&http, Some(&token)).send().await.expect("request").status(), 200);

    let config = std::fs::read_to_string(setup.path("airlock.toml")).expect("config");
    let moved =
        config.replace("iss = \"https://issuer.airlock.test\"", "iss = \"https://other.airlock.test\"");
    assert_ne!(config, moved);
    std::fs::write(setup.path("airlock.toml"), moved).expect("write config");
    hangup(server.pid());
    assert!(
        server.wait_for_log("configuration reloaded", Duration::from_secs(30)),
        "{:?}",
        server.log_lines()
    );
    let refused = server.post_list(&http, Some(&token)).send().await.expect("request");
    assert_eq!(refused.status(), 401, "a remembered token of an issuer no longer trusted");
    let body: serde_json::Value = refused.json().await.expect("json");
    let why = body["error_description"].as_str().unwrap_or_default();
    assert!(why.contains("is not trusted"), "{why}");
}
