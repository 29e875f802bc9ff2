//! No ambient authority and no state across calls.

use airlock_policy::Limits;
use airlock_test_artifacts as programs;

use crate::fixture::{grants, output, tool};

#[tokio::test]
pub(crate) async fn env_read() {
    let tool = tool(programs::ENV_READ).await;
    // The host process certainly has PATH; the guest must not see it.
    assert!(std::env::var_os("PATH").is_some());

    let none = grants(&tool, &[], &[], Limits::default());
    let outcome = tool.call(&none, "{}").await.expect("call");
    assert!(outcome.usage.env.is_empty(), "nothing granted, nothing used");
    let out = output(&outcome);
    assert_eq!(out["vars"], serde_json::json!([]), "ambient env leaked: {out}");
    assert_eq!(out["args"], serde_json::json!([]), "ambient args leaked: {out}");
    assert_eq!(out["stdin"], "", "stdin must be closed");

    let one = grants(&tool, &[], &[("AIRLOCK_TEST_GRANTED", "yes")], Limits::default());
    let outcome = tool.call(&one, "{}").await.expect("call");
    assert_eq!(outcome.usage.env.iter().collect::<Vec<_>>(), ["AIRLOCK_TEST_GRANTED"]);
    let out = output(&outcome);
    assert_eq!(out["vars"], serde_json::json!([["AIRLOCK_TEST_GRANTED", "yes"]]));
}

#[tokio::test]
pub(crate) async fn isolation_static_counter() {
    let tool = tool(programs::ISOLATION_STATIC_COUNTER).await;
    let none = grants(&tool, &[], &[], Limits::default());
    for i in 0..1000 {
        let outcome = tool.call(&none, &format!("{{\"call\": {i}}}")).await.expect("call");
        assert_eq!(output(&outcome)["calls"], 1, "call {i} saw state from an earlier call");
    }
}

#[tokio::test]
pub(crate) async fn net_denied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let tool = tool(programs::NET_DENIED).await;
    let input = serde_json::json!({ "port": port }).to_string();
    let outcome = tool.call(&grants(&tool, &[], &[], Limits::default()), &input).await.expect("call");
    assert!(outcome.usage.destinations.is_empty(), "refused uses are no use: {:?}", outcome.usage);
    let out = output(&outcome);
    assert_eq!(out["denied"].as_array().map(Vec::len), Some(4), "{out}");
    // Nothing reached the listener.
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the guest connected: {accepted:?}"
    );
}

/// The witness records each run in its mount: two calls, two lines (the
/// gateway's tests use it to show an invalid input never runs a tool).
#[tokio::test]
pub(crate) async fn instantiation_witness() {
    let tree = crate::fixture::Tree::new();
    let witness = crate::fixture::tool(programs::INSTANTIATION_WITNESS).await;
    let grants = crate::fixture::workspace(&witness, &tree, airlock_policy::Access::ReadWrite);
    for n in 0..2 {
        let outcome = witness.call(&grants, &format!("{{\"n\":{n}}}")).await.expect("call");
        assert_eq!(outcome.result.as_deref(), Ok(format!("{{\"n\":{n}}}").as_str()));
    }
    let recorded = std::fs::read_to_string(tree.workspace.join("invocations")).expect("recorded");
    assert_eq!(recorded.lines().collect::<Vec<_>>(), ["{\"n\":0}", "{\"n\":1}"]);
}

/// A call the runtime ends (here the output limit, after the tool wrote to
/// its mount) still reports what it used: an audit that dropped it would
/// call the write grant unused.
#[tokio::test]
async fn a_call_ended_by_a_limit_still_reports_its_usage() {
    let tree = crate::fixture::Tree::new();
    let witness = crate::fixture::tool(programs::INSTANTIATION_WITNESS).await;
    let tiny = Limits { output_bytes: 1, ..Limits::default() };
    let grants =
        grants(&witness, &[(&tree.workspace, "/workspace", airlock_policy::Access::ReadWrite)], &[], tiny);
    let (result, usage) = witness.call_reporting_usage(&grants, "{\"n\":1}", None).await;
    let err = result.expect_err("the output is over the limit").to_string();
    assert!(err.contains("output"), "{err}");
    assert!(tree.workspace.join("invocations").exists(), "the tool wrote before the limit ended it");
    assert!(usage.mounts["/workspace"].written, "{usage:?}");
    let ending = airlock_host::audit::ending(
        &Err(airlock_host::CallError::Trap("x".into())),
        &usage,
        Default::default(),
    );
    assert!(ending.effects.usage.mounts["/workspace"].written, "the audit ending carries it");
}
