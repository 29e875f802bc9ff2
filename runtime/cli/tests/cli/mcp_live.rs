//! What a running call sends the MCP client that asked, while it runs: the
//! tool's log lines (`logging/setLevel` → `notifications/message`) and its
//! progress (`progressToken` → `notifications/progress`); only to that
//! client, redacted, escaped, capped.
//!
//! rmcp's client hands each notification to its handler in a task of its
//! own, so the order a handler sees is not the wire order: these tests
//! compare sorted lists. The order the tool produced them in (and that
//! progress only grows) is checked where it is made, in the host tests
//! `log_stream` and `progress_report`.
#![allow(deprecated, reason = "MCP logging is deprecated by SEP-2577 but still in the 2025-11-25 revision")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::ClientHandler;
use rmcp::model::{
    CallToolRequestParams, LoggingLevel, LoggingMessageNotificationParam, NumberOrString,
    ProgressNotificationParam, ProgressToken, RequestMetaObject, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient};
use serde_json::{Value, json};

use super::mcp::{Setup, call, text};
use super::programs;
use super::secrets::secret_cmd;

pub(super) const TOKEN: &str = "ghp_LOG-CANARY_9f3e1d2c4b5a69788776";
const ESCAPES: &str = "\\u{1b}]0;pwned\\u{7}\\u{202e}title";

type Heard<T> = Arc<Mutex<Vec<T>>>;

/// A client that keeps every log (with when it came) and progress
/// notification it hears.
#[derive(Clone, Default)]
struct Listener {
    logs: Heard<(Instant, LoggingMessageNotificationParam)>,
    progress: Heard<ProgressNotificationParam>,
}

impl ClientHandler for Listener {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.logs.lock().expect("lock").push((Instant::now(), params));
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.progress.lock().expect("lock").push(params);
    }
}

impl Listener {
    fn logs(&self) -> Vec<(Instant, LoggingMessageNotificationParam)> {
        std::mem::take(&mut *self.logs.lock().expect("lock"))
    }

    /// The messages of the log lines heard, sorted.
    fn messages(&self) -> Vec<String> {
        let mut messages: Vec<String> = self
            .logs()
            .into_iter()
            .map(|(_, line)| line.data["message"].as_str().unwrap_or("").to_owned())
            .collect();
        messages.sort();
        messages
    }

    /// The progress reports heard, by their value.
    fn progress(&self) -> Vec<ProgressNotificationParam> {
        let mut reports = std::mem::take(&mut *self.progress.lock().expect("lock"));
        reports.sort_by(|a, b| a.progress.total_cmp(&b.progress));
        reports
    }
}

/// The standard setup plus the `log-stream`, `progress-report` and
/// `content-blocks` tools and a secret store holding GITHUB_TOKEN (alice
/// may reveal it: her policy permits everything).
pub(super) fn setup() -> Setup {
    let setup = Setup::with_config(super::mcp::POLICY, "secrets = \"secrets\"\n", "");
    std::fs::copy(programs::LOG_STREAM, setup.path("tools/log-stream.wasm")).expect("copy tool");
    std::fs::copy(programs::PROGRESS_REPORT, setup.path("tools/progress-report.wasm")).expect("copy tool");
    std::fs::copy(programs::CONTENT_BLOCKS, setup.path("tools/content-blocks.wasm")).expect("copy tool");
    let (cache, store) = (setup.path("cache"), setup.path("secrets"));
    assert_eq!(secret_cmd(&cache, &store, &["init"], "").code, 0);
    assert_eq!(secret_cmd(&cache, &store, &["set", "GITHUB_TOKEN"], &format!("{TOKEN}\n")).code, 0);
    setup
}

fn level(level: LoggingLevel) -> SetLevelRequestParams {
    SetLevelRequestParams::new(level)
}

/// A call of `tool` carrying `progressToken: token`.
fn with_progress(tool: &str, arguments: Value, token: &str) -> CallToolRequestParams {
    let mut params = call(tool, arguments);
    let mut meta = RequestMetaObject::default();
    meta.set_progress_token(ProgressToken(NumberOrString::String(token.into())));
    params.meta = Some(meta);
    params
}

fn sorted(mut messages: Vec<&str>) -> Vec<String> {
    messages.sort_unstable();
    messages.into_iter().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn http_log_lines_reach_only_the_client_that_asked_redacted_and_escaped_while_the_call_runs() {
    let setup = setup();
    let server = setup.http(&[]);
    let (heard, other_heard) = (Listener::default(), Listener::default());
    let asking = server.client_with(&setup.token("human:alice"), heard.clone()).await;
    // The same identity with another token: another client.
    let other = server.client_with(&setup.token("human:alice"), other_heard.clone()).await;

    let before = asking.call_tool(call("log-stream", json!({}))).await.expect("call");
    assert_eq!(before.is_error, Some(false), "{}", text(&before));
    assert!(heard.logs().is_empty(), "nothing is sent before the client asks");

    asking.set_level(level(LoggingLevel::Debug)).await.expect("logging/setLevel");
    let mine = asking.call_tool(call("log-stream", json!({"lines": 3, "pause_ms": 300, "secret": true})));
    let theirs = other.call_tool(call("log-stream", json!({"lines": 7})));
    let (mine, theirs) = tokio::join!(mine, theirs);
    let answered = Instant::now();
    assert_eq!(mine.expect("call").is_error, Some(false));
    assert_eq!(theirs.expect("call").is_error, Some(false));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let lines = heard.logs();
    let messages: Vec<&str> =
        lines.iter().map(|(_, line)| line.data["message"].as_str().unwrap_or("")).collect();
    assert_eq!(
        sorted(messages),
        sorted(vec!["step", "step", "step", "token is [REDACTED:GITHUB_TOKEN]", ESCAPES]),
        "the asking client hears its own call's lines, and only those"
    );
    assert!(lines.iter().all(|(_, line)| line.logger.as_deref() == Some("log-stream")));
    let token_line =
        lines.iter().find(|(_, line)| line.data["message"] != "step" && line.level == LoggingLevel::Warning);
    let token_line = &token_line.expect("the token line").1;
    assert_eq!(token_line.data["fields"]["authorization"], "Bearer [REDACTED:GITHUB_TOKEN]");
    assert!(
        lines.iter().any(|(_, line)| line.level == LoggingLevel::Error && line.data["message"] == ESCAPES)
    );
    let everything = format!("{lines:?}");
    assert!(!everything.contains(TOKEN), "the secret reached the client: {everything}");
    assert!(!everything.contains('\u{1b}') && !everything.contains('\u{202e}'), "raw escapes: {everything}");
    let first = lines.iter().map(|(at, _)| *at).min().expect("lines");
    assert!(
        answered.duration_since(first) >= Duration::from_millis(250),
        "a line arrived while the tool still ran"
    );
    assert!(other_heard.logs().is_empty(), "a client that never asked hears nothing, not even its own");

    asking.set_level(level(LoggingLevel::Error)).await.expect("logging/setLevel");
    asking.call_tool(call("log-stream", json!({"lines": 3}))).await.expect("call");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let levels: Vec<LoggingLevel> = heard.logs().into_iter().map(|(_, line)| line.level).collect();
    assert_eq!(levels, [LoggingLevel::Error], "only lines at or above the level asked for");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_a_log_flood_is_capped_and_holds_up_no_other_client() {
    let setup = setup();
    let server = setup.http(&[]);
    let heard = Listener::default();
    let flooding = server.client_with(&setup.token("human:alice"), heard.clone()).await;
    let other = server.client_with(&setup.token("human:alice"), ()).await;
    flooding.set_level(level(LoggingLevel::Debug)).await.expect("logging/setLevel");

    let flood = flooding.call_tool(call("log-stream", json!({"lines": 200_000})));
    let echoes = async {
        for n in 0..5 {
            let echoed = other.call_tool(call("echo", json!({"n": n}))).await.expect("echo");
            assert_eq!(echoed.structured_content, Some(json!({"n": n})));
        }
    };
    let (flooded, ()) = tokio::join!(flood, echoes);
    assert_eq!(flooded.expect("call").is_error, Some(false), "the flooding call itself completes");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let messages = heard.messages();
    // The sandbox keeps 1,000 lines per call by default; a queue the client
    // does not drain fast enough loses more, and says so once.
    assert!(!messages.is_empty() && messages.len() <= 1_001, "{} lines", messages.len());
    assert!(messages.iter().filter(|m| *m == "step").count() <= 1_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_log_lines_reach_the_session_that_asked() {
    let setup = setup();
    let heard = Listener::default();
    let token = setup.write_token("alice.jwt", "human:alice");
    let client = setup.stdio_client(&token, &[], heard.clone()).await;
    client.call_tool(call("log-stream", json!({"lines": 2}))).await.expect("call");
    assert!(heard.logs().is_empty(), "nothing before the client asks");
    client.set_level(level(LoggingLevel::Info)).await.expect("logging/setLevel");
    let result =
        client.call_tool(call("log-stream", json!({"lines": 2, "secret": true}))).await.expect("call");
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(heard.messages(), sorted(vec!["step", "step", "token is [REDACTED:GITHUB_TOKEN]", ESCAPES]));
    client.cancel().await.expect("close");
}

/// The JSON-RPC messages of a response: one JSON body, or the `data:`
/// lines of an event stream, in the order sent.
fn messages(body: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(body) {
        Ok(message) => vec![message],
        Err(_) => body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter(|data| !data.trim().is_empty())
            .map(|data| serde_json::from_str(data.trim()).expect("a JSON-RPC message"))
            .collect(),
    }
}

/// Raw HTTP, to see the wire: a call with a `progressToken` is answered as
/// an event stream of its progress, in order, then its result; a call
/// without one (while the other runs) gets plain JSON and no progress.
#[tokio::test(flavor = "multi_thread")]
async fn http_progress_reaches_only_the_request_that_carried_a_token_in_order_before_the_result() {
    let setup = setup();
    let server = setup.http(&[]);
    let http = crate::http();
    let with_token = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "progress-report", "arguments": {"secret": true, "spam": 100_000}, "_meta": {"progressToken": "p-1"}}});
    let without = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "progress-report", "arguments": {"spam": 1000}}});
    let (mine, theirs) = tokio::join!(
        server.post(&http, &setup.token("human:alice"), &with_token).send(),
        server.post(&http, &setup.token("human:alice"), &without).send()
    );
    let mine = messages(&mine.expect("response").text().await.expect("body"));
    let theirs = messages(&theirs.expect("response").text().await.expect("body"));

    let (result, reports) = mine.split_last().expect("messages");
    assert_eq!(result["id"], 1, "the result comes last: {result}");
    assert_eq!(result["result"]["isError"], false, "{result}");
    assert!(
        reports
            .iter()
            .all(|r| r["method"] == "notifications/progress" && r["params"]["progressToken"] == "p-1")
    );
    let values: Vec<f64> =
        reports.iter().map(|r| r["params"]["progress"].as_f64().expect("progress")).collect();
    assert_eq!(&values[..3], [0.0, 50.0, 100.0], "{values:?}");
    assert!(values.windows(2).all(|w| w[0] < w[1]), "in order, growing: {values:?}");
    assert!(values.len() < 40, "100,000 reports in a tight loop are throttled: {}", values.len());
    let last = reports.last().expect("reports")["params"]["message"].as_str().unwrap_or("").to_owned();
    assert_eq!(last, "\\u{1b}[2Jusing [REDACTED:GITHUB_TOKEN]", "redacted and escaped");
    assert!(!format!("{reports:?}").contains(TOKEN));
    assert_eq!(theirs.len(), 1, "no token: the result alone, as JSON: {theirs:?}");
    assert_eq!(theirs[0]["id"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_progress_reaches_the_request_that_carried_a_token() {
    let setup = setup();
    let heard = Listener::default();
    let token = setup.write_token("alice.jwt", "human:alice");
    let client = setup.stdio_client(&token, &[], heard.clone()).await;
    client.call_tool(with_progress("progress-report", json!({}), "s-7")).await.expect("call");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reports = heard.progress();
    let values: Vec<f64> = reports.iter().map(|r| r.progress).collect();
    assert_eq!(values, [0.0, 50.0, 100.0]);
    // rmcp's client puts a token of its own on every call it sends.
    assert!(reports.windows(2).all(|w| w[0].progress_token == w[1].progress_token), "one token: {reports:?}");
    client.cancel().await.expect("close");
}

/// The 2026-07-28 revision's per-request level (`_meta`
/// `io.modelcontextprotocol/logLevel`) sends that call's lines without
/// `logging/setLevel`, for that call only.
#[tokio::test(flavor = "multi_thread")]
async fn http_a_per_request_log_level_sends_that_calls_lines_only() {
    let setup = setup();
    let server = setup.http(&[]);
    let http = crate::http();
    let token = setup.token("human:alice");
    let call = |id: u64, meta: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "log-stream", "arguments": {"lines": 2}, "_meta": meta}})
    };
    let asked = server.post(&http, &token, &call(1, json!({"io.modelcontextprotocol/logLevel": "warning"})));
    let asked = messages(&asked.send().await.expect("response").text().await.expect("body"));
    let methods: Vec<&str> = asked.iter().map(|m| m["method"].as_str().unwrap_or("result")).collect();
    assert_eq!(
        methods,
        ["notifications/message", "result"],
        "the error line only, then the result: {asked:?}"
    );
    assert_eq!(asked[0]["params"]["data"]["message"], ESCAPES);
    let next = server.post(&http, &token, &call(2, json!({})));
    let next = messages(&next.send().await.expect("response").text().await.expect("body"));
    assert_eq!(next.len(), 1, "the next call did not ask: {next:?}");
}
