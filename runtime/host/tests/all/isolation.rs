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
    let out = output(&tool.call(&none, "{}").await.expect("call"));
    assert_eq!(out["vars"], serde_json::json!([]), "ambient env leaked: {out}");
    assert_eq!(out["args"], serde_json::json!([]), "ambient args leaked: {out}");
    assert_eq!(out["stdin"], "", "stdin must be closed");

    let one = grants(&tool, &[], &[("AIRLOCK_TEST_GRANTED", "yes")], Limits::default());
    let out = output(&tool.call(&one, "{}").await.expect("call"));
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
