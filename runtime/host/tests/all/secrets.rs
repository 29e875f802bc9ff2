//! Secrets: the tool holds a handle, the host attaches the value only to
//! requests to destinations policy binds it to, and every output is
//! redacted.

use std::sync::Arc;

use airlock_host::{
    CallError, CallOutcome, ContentBlock, LimitExceeded, LoadedTool, LogLine, Progress, ResourceBody,
    ToolError, Watcher,
};
use airlock_policy::authz::{Authorizer, PolicySource, ToolIdentity};
use airlock_policy::{GrantSet, Limits, Methods, NetGrant, Offer, OfferedSecret, Principal};
use airlock_test_artifacts as programs;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::fixture::{output, tool};
use crate::http_server::HttpServer;

const TOKEN: &str = "ghp_SECRET-CANARY_0123456789abcdefXYZ";

const ALLOW_NETWORK: &str =
    r#"permit (principal, action in [Action::"invoke", Action::"net.connect"], resource);"#;

/// `secret.use` of GITHUB_TOKEN towards `destination`, for acme/app agents.
fn bind_to(destination: &str) -> String {
    format!(
        r#"{ALLOW_NETWORK}
permit (principal, action == Action::"secret.use", resource == Secret::"GITHUB_TOKEN")
  when {{ context.destination == Host::"{destination}" && principal has repository && principal.repository == "acme/app" }};"#
    )
}

/// [`bind_to`] `destination`, and `secret.reveal` of GITHUB_TOKEN.
fn reveal_and_bind_to(destination: &str) -> String {
    format!(
        "{}\npermit (principal, action == Action::\"secret.reveal\", resource == Secret::\"GITHUB_TOKEN\");",
        bind_to(destination)
    )
}

/// The grants `policy` gives an acme/app agent calling `tool`, with `offered`
/// destinations and the token offered from the store.
fn grants(tool: &LoadedTool, policy: &str, offered: &[String], limits: Limits) -> GrantSet {
    grants_with_mounts(tool, policy, offered, limits, Vec::new())
}

/// [`grants`], with `mounts` offered too.
fn grants_with_mounts(
    tool: &LoadedTool,
    policy: &str,
    offered: &[String],
    limits: Limits,
    mounts: Vec<airlock_policy::OfferedMount>,
) -> GrantSet {
    let authorizer = Authorizer::new(&[PolicySource { name: "test.cedar".into(), text: policy.into() }])
        .unwrap_or_else(|e| panic!("policy: {e}"));
    let claims = json!({ "repository": "acme/app" });
    let Value::Object(claims) = claims else { unreachable!() };
    let principal = Principal::from_claims("agent:test", "https://issuer.test", &claims).expect("principal");
    let hosts: Vec<NetGrant> = offered
        .iter()
        .map(|d| NetGrant { destination: d.parse().expect("destination"), methods: Methods::standard() })
        .collect();
    let info = tool.info();
    let request = info.capabilities.with_offered_hosts(&info.name, &hosts).expect("offered hosts");
    let identity = ToolIdentity::file(&info.name, &info.version, &tool.digest().to_string());
    let decision = authorizer.decide(&principal, &identity, &request).expect("decide");
    let offer = Offer {
        hosts,
        secrets: vec![OfferedSecret { name: "GITHUB_TOKEN".into(), value: SecretString::from(TOKEN) }],
        limits,
        mounts,
        ..Offer::default()
    };
    decision.grants(&request, &offer).expect("grants")
}

async fn call(tool: &LoadedTool, grants: &GrantSet, input: Value) -> CallOutcome {
    tool.call(grants, &input.to_string()).await.expect("the call completes")
}

/// Nothing the call returned contains the token, raw or hex.
fn assert_no_token(outcome: &CallOutcome) {
    let everything = format!(
        "{:?}{}{}{:?}{:?}",
        outcome.result,
        String::from_utf8_lossy(&outcome.stdout.bytes),
        String::from_utf8_lossy(&outcome.stderr.bytes),
        outcome.logs,
        outcome.network
    );
    assert!(!everything.contains(TOKEN), "the token leaked");
    assert!(!everything.contains(&hex::encode(TOKEN)), "the token leaked in hex");
}

#[tokio::test]
pub(crate) async fn secret_snoop() {
    let tool = tool(programs::SECRET_SNOOP).await;
    let server = HttpServer::start();
    let big = Limits { output_bytes: 64 << 20, ..Limits::default() };
    let grants = grants(&tool, &bind_to(&server.url("")), &[server.url("")], big);
    assert_eq!(grants.secrets().len(), 1, "the secret is granted (for use, not reveal)");
    let outcome = call(&tool, &grants, json!({})).await;
    let out = output(&outcome);
    assert!(
        out["reveal"]["reveal_error"].as_str().is_some_and(|e| e.contains("may not be revealed")),
        "{}",
        out["reveal"]
    );
    assert_eq!(out["name"], "GITHUB_TOKEN");
    assert!(out["memory"].as_str().is_some_and(|m| m.len() > 1 << 20), "the memory dump is there");
    assert_eq!(outcome.redactions.get("GITHUB_TOKEN"), Some(&0), "nothing the tool could see held the value");
    assert_no_token(&outcome);
}

#[tokio::test]
async fn a_revealed_secret_is_still_redacted_from_every_output() {
    let tool = tool(programs::SECRET_SNOOP).await;
    let server = HttpServer::start();
    let policy = reveal_and_bind_to(&server.url(""));
    let big = Limits { output_bytes: 64 << 20, ..Limits::default() };
    let grants = grants(&tool, &policy, &[server.url("")], big);
    let outcome = call(&tool, &grants, json!({})).await;
    let out = output(&outcome);
    assert_eq!(out["reveal"]["revealed"], "[REDACTED:GITHUB_TOKEN]");
    assert!(
        outcome.redactions["GITHUB_TOKEN"] >= 2,
        "the reveal and the memory holding it: {:?}",
        outcome.redactions
    );
    assert_no_token(&outcome);
}

/// Collects the log lines a call keeps, as it keeps them, with when, and
/// the progress reports passed on.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<(std::time::Instant, LogLine)>>, std::sync::Mutex<Vec<Progress>>);

impl Watcher for Heard {
    fn log(&self, line: &LogLine) {
        self.0.lock().expect("lock").push((std::time::Instant::now(), line.clone()));
    }

    fn progress(&self, report: &Progress) {
        self.1.lock().expect("lock").push(report.clone());
    }
}

/// Progress passes on as reported, growing only, throttled (the final
/// report always), its message redacted and escaped.
#[tokio::test]
pub(crate) async fn progress_report() {
    let tool = tool(programs::PROGRESS_REPORT).await;
    let server = HttpServer::start();
    let policy = reveal_and_bind_to(&server.url(""));
    let granted = grants(&tool, &policy, &[server.url("")], Limits::default());
    let heard = Arc::new(Heard::default());
    let input = json!({ "steps": 3, "pause_ms": 50, "spam": 100_000, "secret": true }).to_string();
    let started = std::time::Instant::now();
    tool.call_watched(&granted, &input, heard.clone()).await.expect("the call completes");
    let elapsed = started.elapsed();
    let reports = std::mem::take(&mut *heard.1.lock().expect("lock"));
    let first: Vec<(u64, Option<u64>)> = reports.iter().take(3).map(|r| (r.done, r.total)).collect();
    assert_eq!(first, [(0, Some(100)), (50, Some(100)), (100, Some(100))], "reports 50 ms apart all pass");
    assert!(reports.windows(2).all(|w| w[0].done < w[1].done), "done only grows: {reports:?}");
    assert!(
        !reports.iter().any(|r| r.message.as_deref() == Some("backwards")),
        "a report going back is dropped"
    );
    // 100,000 reports in a tight loop pass at most one per 25 ms.
    let most = usize::try_from(elapsed.as_millis() / 25).expect("small") + 5;
    assert!(reports.len() <= most, "{} reports in {elapsed:?}", reports.len());
    let last = reports.last().expect("reports").message.clone().unwrap_or_default();
    assert_eq!(last, "\\u{1b}[2Jusing [REDACTED:GITHUB_TOKEN]", "redacted and escaped");
    assert!(!format!("{reports:?}").contains(TOKEN));
}

/// A watcher hears every kept line while the tool runs, redacted as the
/// outcome's, and nothing past the log limits.
#[tokio::test]
pub(crate) async fn log_stream() {
    let tool = tool(programs::LOG_STREAM).await;
    let server = HttpServer::start();
    let policy = reveal_and_bind_to(&server.url(""));
    let granted = grants(&tool, &policy, &[server.url("")], Limits::default());
    let heard = Arc::new(Heard::default());
    let input = json!({ "lines": 3, "pause_ms": 300, "secret": true }).to_string();
    let outcome = tool.call_watched(&granted, &input, heard.clone()).await.expect("the call completes");
    let returned = std::time::Instant::now();
    let heard = std::mem::take(&mut *heard.0.lock().expect("lock"));
    let lines: Vec<LogLine> = heard.iter().map(|(_, line)| line.clone()).collect();
    assert_eq!(lines, outcome.logs, "heard what the outcome keeps, in order");
    assert_eq!(lines.len(), 5, "three steps, the token line, the escapes");
    assert!(
        returned.duration_since(heard[0].0) >= std::time::Duration::from_millis(250),
        "the first line was heard while the tool still ran"
    );
    let token_line = &lines[3];
    assert_eq!(token_line.message, "token is [REDACTED:GITHUB_TOKEN]");
    assert_eq!(
        token_line.fields,
        [("authorization".to_owned(), "Bearer [REDACTED:GITHUB_TOKEN]".to_owned())]
    );
    assert!(!format!("{lines:?}").contains(TOKEN), "the token reached the watcher");

    let capped = Limits { log_lines: 5, ..Limits::default() };
    let capped = grants(&tool, &policy, &[server.url("")], capped);
    let heard = Arc::new(Heard::default());
    let outcome = tool.call_watched(&capped, "{\"lines\": 50}", heard.clone()).await.expect("call");
    assert_eq!(heard.0.lock().expect("lock").len(), 5, "nothing past the log limit is heard");
    assert_eq!(outcome.logs_dropped, 46);
}

/// Content blocks come back in order, checked: every sort passes, SVG is
/// refused, a 100 MiB clip ends the call at the output limit whatever the
/// tool does, and a revealed secret is masked in text and bytes.
#[tokio::test]
pub(crate) async fn content_blocks() {
    let tool = tool(programs::CONTENT_BLOCKS).await;
    let server = HttpServer::start();
    let policy = reveal_and_bind_to(&server.url(""));
    let roomy = Limits { memory_bytes: 512 << 20, ..Limits::default() };
    let granted = grants(&tool, &policy, &[server.url("")], roomy);

    let all = call(&tool, &granted, json!({"kind": "all"})).await;
    assert_eq!(output(&all)["added"], 6);
    let kinds: Vec<&str> = all
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(_) => "text",
            ContentBlock::Image { .. } => "image",
            ContentBlock::Audio { .. } => "audio",
            ContentBlock::ResourceLink { .. } => "link",
            ContentBlock::Resource { body: ResourceBody::Text(_), .. } => "resource-text",
            ContentBlock::Resource { body: ResourceBody::Blob(_), .. } => "resource-blob",
        })
        .collect();
    assert_eq!(kinds, ["text", "image", "audio", "link", "resource-text", "resource-blob"]);

    let svg = call(&tool, &granted, json!({"kind": "svg"})).await;
    let refused = output(&svg)["refused"].as_str().unwrap_or_default().to_owned();
    assert!(refused.contains("image type `image/svg+xml` is not one of image/png"), "{refused}");
    assert!(svg.content.is_empty());

    let bomb = tool.call(&granted, &json!({"kind": "bomb", "mib": 100}).to_string()).await;
    match bomb {
        Err(CallError::Limit(LimitExceeded::Output { limit, actual })) => {
            assert_eq!(limit, Limits::default().output_bytes);
            assert!(actual > 100 << 20, "{actual}");
        }
        other => {
            panic!("a 100 MiB clip must end the call at the output limit: {:?}", other.map(|o| o.result))
        }
    }

    let secret = call(&tool, &granted, json!({"kind": "secret"})).await;
    let shown = format!("{:?}", secret.content);
    assert!(shown.contains("token [REDACTED:GITHUB_TOKEN]"), "{shown}");
    assert!(!shown.contains(TOKEN), "the token reached the content: {shown}");
    let image = secret.content.iter().find_map(|b| match b {
        ContentBlock::Image { data, .. } => Some(data.clone()),
        _ => None,
    });
    let image = image.expect("the image");
    assert!(!image.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is in the image bytes");
}

/// An attached secret reaches its bound destination, and the echo is redacted.
#[tokio::test]
pub(crate) async fn secret_bearer() {
    let server = HttpServer::start();
    let tool = tool(programs::SECRET_BEARER).await;
    let grants = grants(&tool, &bind_to(&server.url("")), &[server.url("")], Limits::default());
    let outcome = call(&tool, &grants, json!({ "url": server.url("/echo-headers") })).await;
    let out = output(&outcome);
    let seen = server.requests();
    let auth = seen[0].headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.clone());
    assert_eq!(auth, Some(format!("Bearer {TOKEN}")), "the server got the real value");
    assert!(!seen[0].headers.iter().any(|(k, _)| k == "airlock-secret"), "the tag never leaves the host");
    assert!(
        out["body"].as_str().is_some_and(|b| b.contains("authorization: Bearer [REDACTED:GITHUB_TOKEN]")),
        "{out}"
    );
    assert_eq!(outcome.redactions["GITHUB_TOKEN"], 1);
    assert_no_token(&outcome);
    // Usage: the secret was attached, the destination reached.
    assert_eq!(outcome.usage.secrets.iter().collect::<Vec<_>>(), ["GITHUB_TOKEN"]);
    let destination = format!("http://127.0.0.1:{}", server.port());
    assert_eq!(outcome.usage.destinations.iter().collect::<Vec<_>>(), [&destination]);
}

#[tokio::test]
async fn every_encoding_of_an_echoed_secret_is_redacted() {
    let server = HttpServer::start();
    let tool = tool(programs::SECRET_BEARER).await;
    let grants = grants(&tool, &bind_to(&server.url("")), &[server.url("")], Limits::default());
    let outcome = call(&tool, &grants, json!({ "url": server.url("/echo-encoded") })).await;
    let out = output(&outcome);
    let body = out["body"].as_str().expect("body");
    assert_eq!(body, ["[REDACTED:GITHUB_TOKEN]"; 5].join("\n"), "{body}");
    assert_eq!(outcome.redactions["GITHUB_TOKEN"], 5);
}

#[tokio::test]
async fn a_secret_header_template_is_filled_by_the_host() {
    let server = HttpServer::start();
    let tool = tool(programs::SECRET_BEARER).await;
    let grants = grants(&tool, &bind_to(&server.url("")), &[server.url("")], Limits::default());
    let input = json!({ "url": server.url("/ok"), "header": "x-api-key", "template": "key={secret}" });
    output(&call(&tool, &grants, input).await);
    let seen = server.requests();
    let key = seen[0].headers.iter().find(|(k, _)| k == "x-api-key").map(|(_, v)| v.clone());
    assert_eq!(key, Some(format!("key={TOKEN}")));
}

#[tokio::test]
async fn a_secret_sent_anywhere_else_is_refused_and_nothing_is_sent() {
    let bound = HttpServer::start();
    let other = HttpServer::start();
    let tool = tool(programs::SECRET_BEARER).await;
    let grants = grants(&tool, &bind_to(&bound.url("")), &[bound.url(""), other.url("")], Limits::default());
    let bound_only: Vec<String> = grants.secrets()[0].destinations.iter().map(ToString::to_string).collect();
    assert_eq!(bound_only, [bound.url("")], "the secret is bound to one destination");
    assert!(
        grants.hosts().iter().any(|h| h.destination.to_string() == other.url("")),
        "the other is granted"
    );
    let outcome = call(&tool, &grants, json!({ "url": other.url("/echo-headers") })).await;
    let reason = format!("secret GITHUB_TOKEN is not bound to http://127.0.0.1:{}", other.port());
    match &outcome.result {
        Err(ToolError::Denied(message)) => assert!(message.contains(&reason), "{message}"),
        result => panic!("expected a denial, got {result:?}"),
    }
    assert!(outcome.network.refusals.contains(&reason), "{:?}", outcome.network);
    assert_eq!(other.connections(), 0, "nothing reached the unbound destination");
    assert_no_token(&outcome);
}

#[tokio::test]
async fn without_secret_use_the_handle_is_denied() {
    let server = HttpServer::start();
    let tool = tool(programs::SECRET_BEARER).await;
    let grants = grants(&tool, ALLOW_NETWORK, &[server.url("")], Limits::default());
    assert!(grants.secrets().is_empty());
    let outcome = call(&tool, &grants, json!({ "url": server.url("/ok") })).await;
    match &outcome.result {
        Err(ToolError::Denied(message)) => {
            assert!(message.contains("secret GITHUB_TOKEN is not granted to this call"), "{message}")
        }
        result => panic!("expected a denial, got {result:?}"),
    }
    assert_eq!(server.connections(), 0);
}

/// Reflection: a bound destination echoes the token back. The response is
/// redacted before the tool reads it, so what it writes into its mount is
/// `[REDACTED:GITHUB_TOKEN]`. A tool that holds the value anyway (it was
/// revealed to it) can write it into a plain read-write mount: why CI gives
/// a checkout only through `--workspace`, whose changeset is refused when
/// it holds a secret (`runtime/cli/tests/cli/secrets.rs`).
#[tokio::test]
pub(crate) async fn workspace_secret_echo() {
    let server = HttpServer::start();
    let tool = tool(programs::WORKSPACE_SECRET_ECHO).await;
    let policy = format!(
        "{}\npermit (principal, action in [Action::\"fs.read\", Action::\"fs.write\", Action::\"secret.reveal\"], resource);",
        bind_to(&server.url(""))
    );
    for reveal in [false, true] {
        let checkout = tempfile::tempdir().expect("tempdir");
        let mount = airlock_policy::OfferedMount {
            host: checkout.path().to_owned(),
            guest: airlock_policy::GuestPath::new("/workspace").expect("path"),
            access: airlock_policy::Access::ReadWrite,
        };
        let grants = grants_with_mounts(&tool, &policy, &[server.url("")], Limits::default(), vec![mount]);
        let input = json!({ "url": server.url("/echo-headers"), "reveal": reveal });
        let outcome = call(&tool, &grants, input).await;
        let out = output(&outcome);
        assert!(
            out["echoed"].as_str().is_some_and(|e| e.contains("Bearer [REDACTED:GITHUB_TOKEN]")),
            "{out}"
        );
        assert_no_token(&outcome);
        let notes = std::fs::read_to_string(checkout.path().join("notes.md")).expect("written");
        if reveal {
            assert!(notes.contains(TOKEN), "a revealed value written to a plain mount lands: {notes}");
        } else {
            assert_eq!(
                notes, "debug: [REDACTED:GITHUB_TOKEN]\n",
                "the echo was redacted before the tool read it"
            );
        }
    }
}

/// A tool that holds a token's value sends it to a granted destination the
/// token is not bound to, in the query, a header and the middle of a
/// 200 KB body: each request is refused (the first two before anything is
/// sent), each refusal is reported without the value, and the other
/// server never sees the value in a request line or header.
#[tokio::test]
pub(crate) async fn secret_exfiltrate() {
    let bound = HttpServer::start();
    let other = HttpServer::start();
    let tool = tool(programs::SECRET_EXFILTRATE).await;
    let policy = format!(
        "{}\npermit (principal, action == Action::\"secret.reveal\", resource == Secret::\"GITHUB_TOKEN\");",
        bind_to(&bound.url(""))
    );
    let grants = grants(&tool, &policy, &[bound.url(""), other.url("")], Limits::default());
    let outcome = call(&tool, &grants, json!({ "url": other.url("/collect") })).await;
    let out = output(&outcome);
    assert_eq!(out["refused"].as_array().map(Vec::len), Some(3), "{out}");
    assert_no_token(&outcome);
    let refusals = outcome.network.refusals.join("\n");
    for what in ["the URL carries", "header x-leak carries", "its body carries"] {
        assert!(refusals.contains(&format!("{what} the value of secret GITHUB_TOKEN")), "{what}: {refusals}");
    }
    for seen in other.requests() {
        assert!(!seen.path.contains(TOKEN), "{seen:?}");
        assert!(seen.headers.iter().all(|(_, v)| !v.contains(TOKEN)), "{seen:?}");
    }
}
