//! `airlock serve --metrics ADDR`: Prometheus metrics on a listener of their
//! own. The counters move as calls happen (by tool and outcome, denials by
//! action, token refusals by reason, audit appends), nothing a client
//! chooses becomes a label, and the real `promtool check metrics` accepts
//! the output.

use std::io::Write;
use std::process::Stdio;

use serde_json::json;

use crate::mcp::{Setup, call};

/// The value of the sample `series` (name and labels exactly as written).
pub(super) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

pub(super) async fn scrape(url: &str) -> String {
    let response = crate::http().get(url).send().await.expect("scrape");
    let status = response.status();
    if status != 200 {
        let headers = format!("{:?}", response.headers());
        panic!("{url}: {status} {headers} {}", response.text().await.unwrap_or_default());
    }
    let kind = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    response.text().await.expect("text")
}

/// `promtool check metrics` on `text`, when promtool is installed (CI
/// installs it: `AIRLOCK_REQUIRE_PROMTOOL=1` makes its absence a failure).
fn promtool_accepts(text: &str) {
    let spawned = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if std::env::var_os("AIRLOCK_REQUIRE_PROMTOOL").is_some() => {
            panic!("promtool is required (AIRLOCK_REQUIRE_PROMTOOL) but cannot run: {error}")
        }
        Err(_) => {
            eprintln!("skipped: promtool is not installed");
            return;
        }
    };
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("promtool");
    let said =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}\n{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_calls_denials_and_refusals_and_promtool_accepts_them() {
    let setup = Setup::new();
    let server = setup.http(&["--metrics", "127.0.0.1:0", "--max-calls", "8"]);
    let url = server.metrics_url();

    let before = scrape(&url).await;
    assert_eq!(sample(&before, "airlock_call_slots"), Some(8.0));
    assert_eq!(sample(&before, "airlock_calls_in_flight"), Some(0.0));
    assert_eq!(sample(&before, "airlock_calls_total{outcome=\"ok\",tool=\"echo\"}"), None);
    promtool_accepts(&before);

    // Two good calls, one call whose read policy denies, one call to a
    // tool that does not exist (a name the client chose), two refused
    // requests.
    let alice = server.client(&setup.token("human:alice")).await;
    let bot = server.client(&setup.token("agent:bot")).await;
    for _ in 0..2 {
        let echoed = alice.call_tool(call("echo", json!({"msg": "hi"}))).await.expect("call");
        assert_eq!(echoed.is_error, Some(false));
    }
    let denied = bot.call_tool(call("read-file", json!({"path": "notes.txt"}))).await.expect("call");
    assert_eq!(denied.is_error, Some(true));
    let _ = alice.call_tool(call("no-such-tool-\u{202e}x", json!({}))).await;
    // A request the sandbox refuses before connecting (the metadata address).
    let metadata = "http://169.254.169.254/latest/meta-data/";
    let refused = alice.call_tool(call("http-fetch", json!({"url": metadata}))).await.expect("call");
    assert_eq!(refused.is_error, Some(true));
    let http = crate::http();
    assert_eq!(server.post_list(&http, None).send().await.expect("request").status(), 401);
    assert_eq!(server.post_list(&http, Some("not-a-jwt")).send().await.expect("request").status(), 401);

    let after = scrape(&url).await;
    assert_eq!(sample(&after, "airlock_calls_total{outcome=\"ok\",tool=\"echo\"}"), Some(2.0), "{after}");
    assert_eq!(sample(&after, "airlock_call_duration_seconds_count{tool=\"echo\"}"), Some(2.0));
    assert!(
        sample(&after, "airlock_policy_denials_total{action=\"fs.read\"}").is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert_eq!(sample(&after, "airlock_token_refusals_total{reason=\"malformed\"}"), Some(1.0), "{after}");
    assert_eq!(sample(&after, "airlock_token_refusals_total{reason=\"no_bearer_token\"}"), Some(1.0));
    assert_eq!(sample(&after, "airlock_calls_in_flight"), Some(0.0));
    assert_eq!(sample(&after, "airlock_network_refusals_total{tool=\"http-fetch\"}"), Some(1.0), "{after}");
    assert_eq!(sample(&after, "airlock_calls_total{outcome=\"refused\",tool=\"-\"}"), Some(1.0), "{after}");
    let recorded = setup.audited_calls().len() as f64;
    assert_eq!(sample(&after, "airlock_audit_append_duration_seconds_count"), Some(recorded), "{after}");
    assert!(!after.contains("no-such-tool"), "a name the client chose is never a label");
    assert!(!after.contains("alice") && !after.contains("agent:bot"), "no identity in the metrics");
    promtool_accepts(&after);
}
