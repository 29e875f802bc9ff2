//! Human approval gates, end to end through the binary: a call that policy
//! allows only `@approval` is filed instead of run; self-approval (agent,
//! owner, `act` chain), non-humans, a changed input, reuse and expiry are
//! refused; a human's approval lets exactly that call run once; break-glass
//! is for named principals, bounded and flagged; every step is audited; and
//! over MCP `approval required` is a tool result the agent can act on.

use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use super::audit::{Out, airlock};
use super::mcp::{ISSUER, Setup};
use super::programs;

/// The fixer agent may call echo only with a human's approval, and
/// read-file freely.
pub(super) const POLICY: &str = r#"
@id("fixer-echo-needs-a-human") @approval("human")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:fixer" && resource.name == "echo" };

@id("fixer-reads")
permit (principal, action == Action::"invoke", resource)
when { principal.sub == "agent:fixer" && resource.name == "read-file" };
"#;

fn approvals(extra: &str) -> String {
    format!(
        "\n[approvals]\ndir = \"approvals\"\nbreak_glass = [\"human:carol\"]\n{extra}\n[[approvals.human]]\niss = \"{ISSUER}\"\nsub_prefix = \"human:\"\n"
    )
}

/// The fixer's token: owned by alice, delegated by an orchestrator acting
/// for dave.
pub(super) fn fixer(setup: &Setup) -> String {
    setup.token_with(
        "agent:fixer",
        json!({"owner": "human:alice", "act": {"sub": "agent:orchestrator", "act": {"sub": "human:dave"}}}),
    )
}

fn echo(setup: &Setup, input: &str, approval: Option<&str>) -> Out {
    let token = fixer(setup);
    let mut args = vec!["run", "--token", &token, programs::ECHO, "--input", input];
    if let Some(id) = approval {
        args.extend(["--approval", id]);
    }
    airlock(setup, &args)
}

/// The request id from a filed call's JSON line on stdout.
fn request_id(out: &Out) -> String {
    assert_eq!(out.code, 9, "expected `approval required` (exit 9): {}", out.stderr);
    let line: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line on stdout");
    line["approval_required"]["request_id"].as_str().expect("request id").to_owned()
}

pub(super) fn approve(setup: &Setup, id: &str, token: &str, extra: &[&str]) -> Out {
    let mut args = vec!["approve", id, "--token", token];
    args.extend(extra);
    airlock(setup, &args)
}

fn audit_records(setup: &Setup) -> Vec<Value> {
    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("log");
    log.lines().map(|l| serde_json::from_str(l).expect("record")).collect()
}

#[test]
fn a_gated_call_runs_once_on_a_humans_approval_of_exactly_that_call() {
    let setup = Setup::with(POLICY, &approvals(""));
    let filed = echo(&setup, r#"{"a":1}"#, None);
    let id = request_id(&filed);
    assert!(
        filed.stderr.contains("approval required: policy allows `echo` for `agent:fixer`"),
        "{}",
        filed.stderr
    );
    assert!(filed.stderr.contains("invoke Tool::\"echo\""), "{}", filed.stderr);
    assert!(filed.stderr.contains(&format!("airlock approve {id}")), "{}", filed.stderr);
    assert!(!filed.stdout.contains("\"a\""), "the tool did not run: {}", filed.stdout);
    assert_eq!(request_id(&echo(&setup, r#"{"a":1}"#, None)), id, "a retry finds the same request");
    // Calls that need no approval are untouched.
    let token = fixer(&setup);
    let free = airlock(
        &setup,
        &["run", "--token", &token, airlock_tools::READ_FILE_PATH, "--input", r#"{"path":"x"}"#],
    );
    assert_ne!(free.code, 9, "{}", free.stderr);

    // Nobody related to the agent, and nobody who is not human, may approve.
    for (token, code, message) in [
        (fixer(&setup), 3, "not a human approver"),
        (setup.token("human:alice"), 3, "the requesting agent's owner (no self-approval)"),
        (setup.token("human:dave"), 3, "delegation chain"),
        (setup.token_with("human:bob", json!({"act": {"sub": "agent:orchestrator"}})), 3, "delegated"),
        (setup.token("robot:bob"), 3, "humans are `human:*`"),
    ] {
        let out = approve(&setup, &id, &token, &[]);
        assert_eq!(out.code, code, "{message}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{message}: {}", out.stderr);
    }
    let unknown = approve(&setup, "apr-doesnotexist", &setup.token("human:bob"), &[]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("no approval request `apr-doesnotexist`"), "{}", unknown.stderr);

    let approved = approve(&setup, &id, &setup.token("human:bob"), &["--reason", "ENG-123 fix"]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert!(approved.stdout.contains(&format!("approved {id}")), "{}", approved.stdout);
    assert!(approved.stdout.contains("usable once, for exactly this call"), "{}", approved.stdout);
    let twice = approve(&setup, &id, &setup.token("human:carol"), &[]);
    assert_eq!(twice.code, 2, "{}", twice.stderr);
    assert!(twice.stderr.contains("already approved (by `human:bob`)"), "{}", twice.stderr);

    // A changed input is another request: refused, filed anew, not run.
    let changed = echo(&setup, r#"{"a":2}"#, Some(&id));
    let other = request_id(&changed);
    assert_ne!(other, id);
    assert!(changed.stderr.contains("the approval presented was not used"), "{}", changed.stderr);
    assert!(changed.stderr.contains("a changed input"), "{}", changed.stderr);

    // The approved call runs, once.
    let ran = echo(&setup, r#"{"a":1}"#, Some(&id));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains(&format!("running on approval {id} by `human:bob`")), "{}", ran.stderr);
    let output: Value = serde_json::from_str(&ran.stdout).expect("echo output");
    assert_eq!(output["a"], 1);
    let reused = echo(&setup, r#"{"a":1}"#, Some(&id));
    assert_eq!(reused.code, 9, "{}", reused.stderr);
    assert!(reused.stderr.contains("already used"), "{}", reused.stderr);

    let list = airlock(&setup, &["approve", "--list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains(&other) && !list.stdout.contains(&id), "{}", list.stdout);
    assert!(
        list.stdout.contains("`agent:fixer` (issuer `https://issuer.airlock.test`) calling echo"),
        "{}",
        list.stdout
    );

    // The audit log holds every step, and verifies.
    let verified = airlock(&setup, &["audit", "verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    let records = audit_records(&setup);
    let events: Vec<String> = records
        .iter()
        .map(|r| {
            let e = &r["event"];
            match e["kind"].as_str() {
                Some("call") => format!(
                    "{} {} {}",
                    e["tool"]["name"].as_str().unwrap_or_default(),
                    e["outcome"].as_str().unwrap_or_default(),
                    e["approval"]["status"].as_str().unwrap_or("-")
                ),
                Some(kind) => kind.to_owned(),
                None => "?".to_owned(),
            }
        })
        .collect();
    let refused = |n: usize| std::iter::repeat_n("approval_refused", n);
    let expected: Vec<&str> =
        ["echo approval_required required", "echo approval_required required", "read-file tool_error -"]
            .into_iter()
            .chain(refused(6))
            .chain(["approval"])
            .chain(refused(1))
            .chain(["echo approval_required required", "echo ok approved", "echo approval_required required"])
            .collect();
    assert_eq!(events, expected);
    let of_kind =
        |kind: &'static str| records.iter().filter(move |r| r["event"]["kind"] == kind).map(|r| &r["event"]);
    let owner_try = of_kind("approval_refused").nth(1).expect("the owner's attempt");
    assert_eq!(owner_try["approver"]["sub"], "human:alice");
    assert!(owner_try["error"].as_str().is_some_and(|e| e.contains("no self-approval")), "{owner_try}");
    let approval = of_kind("approval").next().expect("the approval");
    assert_eq!(
        (approval["request_id"].as_str(), approval["approver"]["sub"].as_str()),
        (Some(id.as_str()), Some("human:bob"))
    );
    assert_eq!(approval["reason"], "ENG-123 fix");
    let ran = of_kind("call")
        .find(|e| e["outcome"] == "ok" && e["tool"]["name"] == "echo")
        .expect("the approved call");
    assert_eq!(
        (ran["approval"]["id"].as_str(), ran["approval"]["approver"].as_str()),
        (Some(id.as_str()), Some("human:bob"))
    );
    assert_eq!(ran["approval"]["request_hash"], approval["request_hash"]);
    let query = airlock(&setup, &["audit", "query", "--outcome", "approval_required"]);
    assert_eq!(query.stdout.lines().count(), 4, "{}", query.stdout);
}

#[test]
fn an_approval_expires() {
    let setup = Setup::with(POLICY, &approvals("expiry = \"1s\""));
    let id = request_id(&echo(&setup, "{}", None));
    let approved = approve(&setup, &id, &setup.token("human:bob"), &[]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    let late = echo(&setup, "{}", Some(&id));
    assert_eq!(late.code, 9, "{}", late.stderr);
    assert!(late.stderr.contains(&format!("request `{id}` expired at")), "{}", late.stderr);
}

#[test]
fn break_glass_is_for_named_principals_bounded_and_flagged() {
    let setup = Setup::with(POLICY, &approvals(""));
    let open = |token: &str, extra: &[&str]| {
        let mut args = vec!["approve", "--break-glass", "--agent", "agent:fixer", "--token", token];
        args.extend(extra);
        airlock(&setup, &args)
    };
    let bob = open(&setup.token("human:bob"), &["--reason", "outage"]);
    assert_eq!(bob.code, 3, "{}", bob.stderr);
    assert!(bob.stderr.contains("`human:bob` may not break glass"), "{}", bob.stderr);
    let no_reason = open(&setup.token("human:carol"), &[]);
    assert_eq!(no_reason.code, 2, "{}", no_reason.stderr);
    assert!(no_reason.stderr.contains("--reason"), "{}", no_reason.stderr);
    let too_long = open(&setup.token("human:carol"), &["--reason", "outage", "--for", "2h"]);
    assert_eq!(too_long.code, 2, "{}", too_long.stderr);
    assert!(too_long.stderr.contains("longer than the maximum"), "{}", too_long.stderr);
    let stranger =
        open(&setup.token("human:carol"), &["--reason", "outage", "--agent-issuer", "https://elsewhere"]);
    assert_eq!(stranger.code, 2, "{}", stranger.stderr);
    assert!(
        stranger.stderr.contains("`https://elsewhere` is not a trusted [[issuer]]"),
        "{}",
        stranger.stderr
    );
    let filed = echo(&setup, r#"{"b":1}"#, None);
    assert_eq!(filed.code, 9, "no window is open yet: {}", filed.stderr);

    let opened = open(&setup.token("human:carol"), &["--reason", "INC-7 outage", "--for", "10m"]);
    assert_eq!(opened.code, 0, "{}", opened.stderr);
    assert!(opened.stdout.contains("BREAK-GLASS window brk-"), "{}", opened.stdout);
    assert!(opened.stdout.contains(&format!("`agent:fixer` (issuer `{ISSUER}`)")), "{}", opened.stdout);
    let ran = echo(&setup, r#"{"b":1}"#, None);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("BREAK-GLASS: running without approval under window brk-"), "{}", ran.stderr);

    let records = audit_records(&setup);
    let window = records.iter().find(|r| r["event"]["kind"] == "break_glass").expect("break-glass record");
    assert_eq!(window["event"]["severity"], "high");
    assert_eq!(window["event"]["reason"], "INC-7 outage");
    assert_eq!(window["event"]["opener"]["sub"], "human:carol");
    assert_eq!(window["event"]["agent_iss"], ISSUER, "the window binds the agent's issuer too");
    let last = &records[records.len() - 1]["event"];
    assert_eq!(
        (last["outcome"].as_str(), last["approval"]["status"].as_str()),
        (Some("ok"), Some("break_glass"))
    );
    assert_eq!(last["approval"]["id"], window["event"]["window_id"]);
    let tail = airlock(&setup, &["audit", "tail", "-n", "2"]);
    assert!(tail.stdout.contains("BREAK-GLASS    human:carol opened brk-"), "{}", tail.stdout);
}

#[test]
fn bad_approval_settings_are_config_errors_naming_the_key() {
    for (extra, message) in [
        ("\n[approvals]\ncolour = \"red\"\n", "unknown field `colour`"),
        ("\n[approvals]\nexpiry = \"2h\"\n", "config `approvals.expiry`: approval lifetime"),
        (
            "\n[[approvals.human]]\niss = \"https://elsewhere\"\nsub_prefix = \"human:\"\n",
            "`approvals.human[0].iss`: `https://elsewhere` is not a trusted [[issuer]]",
        ),
        (
            &format!("\n[[approvals.human]]\niss = \"{ISSUER}\"\nsub_prefix = \"\"\n"),
            "`approvals.human[0].sub_prefix` is empty",
        ),
        ("\n[approvals]\nbreak_glass = [\"\"]\n", "`approvals.break_glass[0]` is empty"),
    ] {
        let setup = Setup::with(POLICY, extra);
        let token = fixer(&setup);
        let out = airlock(&setup, &["run", "--token", &token, programs::ECHO, "--input", "{}"]);
        assert_eq!(out.code, 7, "{extra}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{extra}: {}", out.stderr);
    }
    let setup = Setup::with("@approval(\"robot\") permit (principal, action, resource);", "");
    let token = fixer(&setup);
    let out = airlock(&setup, &["run", "--token", &token, programs::ECHO, "--input", "{}"]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains("the only approver class is `human`"), "{}", out.stderr);
}

#[tokio::test]
async fn over_mcp_approval_required_is_a_tool_result_and_the_approved_call_runs() {
    let setup = Setup::with(POLICY, &approvals(""));
    let token_file = setup.write_token_text("fixer.jwt", &fixer(&setup));
    let client = setup.stdio(&token_file).await;
    let arguments = json!({"n": 7});
    let Value::Object(arguments) = arguments else { unreachable!() };
    let params = CallToolRequestParams::new("echo").with_arguments(arguments.clone());
    let filed = client.call_tool(params).await.expect("tools/call");
    assert_eq!(filed.is_error, Some(true));
    let text: String = filed.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect();
    assert!(text.contains("approval required") && text.contains("airlock/approval"), "{text}");
    let id = filed_id(&filed);

    let approved = approve(&setup, &id, &setup.token("human:bob"), &[]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    let mut meta = rmcp::model::RequestMetaObject::default();
    meta.0.insert("airlock/approval".to_owned(), Value::String(id.clone()));
    let mut params = CallToolRequestParams::new("echo").with_arguments(arguments);
    params.meta = Some(meta);
    let ran = client.call_tool(params.clone()).await.expect("tools/call");
    assert_ne!(ran.is_error, Some(true), "{ran:?}");
    assert_eq!(ran.structured_content.as_ref().map(|s| &s["n"]), Some(&json!(7)));
    let again = client.call_tool(params).await.expect("tools/call");
    assert_eq!(again.is_error, Some(true), "single use: {again:?}");
    client.cancel().await.expect("close");

    let records = audit_records(&setup);
    let statuses: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["event"]["kind"] == "call")
        .map(|r| {
            let e = &r["event"];
            (
                e["transport"].as_str().unwrap_or_default().to_owned(),
                e["approval"]["status"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let expected = [("mcp-stdio", "required"), ("mcp-stdio", "approved"), ("mcp-stdio", "required")];
    assert_eq!(statuses, expected.map(|(t, s)| (t.to_owned(), s.to_owned())));
}

/// `--metrics` follows an approval: filed, granted by a human (read from
/// the store at the scrape), then used by the call it approved.
#[tokio::test(flavor = "multi_thread")]
async fn approval_metrics_follow_a_request_from_filed_to_granted_to_used() {
    use super::mcp_metrics::{sample, scrape};
    let setup = Setup::with(POLICY, &approvals(""));
    let server = setup.http(&["--metrics", "127.0.0.1:0"]);
    let url = server.metrics_url();
    let client = server.client(&fixer(&setup)).await;
    let Value::Object(arguments) = json!({"n": 7}) else { unreachable!() };
    let params = CallToolRequestParams::new("echo").with_arguments(arguments);
    let filed = client.call_tool(params.clone()).await.expect("tools/call");
    let id = filed_id(&filed);
    let scraped = scrape(&url).await;
    assert_eq!(sample(&scraped, "airlock_approvals_total{event=\"filed\"}"), Some(1.0), "{scraped}");
    assert_eq!(sample(&scraped, "airlock_approval_requests{state=\"pending\"}"), Some(1.0), "{scraped}");

    let approved = approve(&setup, &id, &setup.token("human:bob"), &[]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    let scraped = scrape(&url).await;
    assert_eq!(sample(&scraped, "airlock_approval_requests{state=\"approved\"}"), Some(1.0), "{scraped}");
    assert_eq!(sample(&scraped, "airlock_approval_requests{state=\"pending\"}"), Some(0.0));

    let mut with_approval = params;
    let mut meta = rmcp::model::RequestMetaObject::default();
    meta.0.insert("airlock/approval".to_owned(), Value::String(id));
    with_approval.meta = Some(meta);
    let ran = client.call_tool(with_approval).await.expect("tools/call");
    assert_ne!(ran.is_error, Some(true), "{ran:?}");
    let scraped = scrape(&url).await;
    assert_eq!(sample(&scraped, "airlock_approvals_total{event=\"used\"}"), Some(1.0), "{scraped}");
    assert_eq!(sample(&scraped, "airlock_approval_requests{state=\"used\"}"), Some(1.0));
    assert_eq!(sample(&scraped, "airlock_approval_requests{state=\"approved\"}"), Some(0.0));
}

/// The request id of a call MCP answered with `approval_required`.
pub(super) fn filed_id(filed: &rmcp::model::CallToolResult) -> String {
    filed
        .structured_content
        .as_ref()
        .and_then(|s| s["approval_required"]["request_id"].as_str())
        .expect("the call was filed for approval")
        .to_owned()
}
