//! The SDK's input validation, seen through a real tool (`read-file`).

use airlock_host::ToolError;
use airlock_policy::Access;

use crate::fixture::{Tree, tool, workspace};

async fn invalid(input: &str) -> String {
    let tree = Tree::new();
    let tool = tool(airlock_tools::READ_FILE_PATH).await;
    let outcome = tool.call(&workspace(&tool, &tree, Access::ReadOnly), input).await.expect("call");
    match outcome.result {
        Err(ToolError::InvalidInput(m)) => m,
        other => panic!("{input}: expected invalid input, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_json_is_invalid_input() {
    let m = invalid("{\"path\": ").await;
    assert!(m.starts_with("input is not valid JSON"), "{m}");
}

/// Called directly (no host-side validation in front), an input that does
/// not fit the tool's type is invalid input, named by where it is, never
/// by the value: the message is recorded in the audit log, which holds
/// inputs only as hashes. Through airlock's doors the host validates first
/// and names the JSON pointer and keyword (see the gateway's tests).
#[tokio::test]
async fn an_input_that_does_not_fit_never_has_its_value_quoted() {
    for (input, value) in [
        ("{\"path\": 31337424242}", "31337424242"),
        ("{\"path\": \"a\", \"max_bytes\": \"hunter2-credential\"}", "hunter2"),
        ("{}", "path"),
        ("{\"path\": \"a\", \"sk-live-bogus\": true}", "sk-live"),
    ] {
        let m = invalid(input).await;
        assert!(m.starts_with("input does not match the schema (at line 1, column "), "{input}: {m}");
        assert!(!m.contains(value), "{input}: the value is quoted: {m}");
    }
}

#[tokio::test]
async fn read_file_reads_and_bounds() {
    let tree = Tree::new();
    let tool = tool(airlock_tools::READ_FILE_PATH).await;
    let grants = workspace(&tool, &tree, Access::ReadOnly);
    let outcome = tool.call(&grants, "{\"path\": \"hello.txt\", \"max_bytes\": 5}").await.expect("call");
    let out: serde_json::Value = serde_json::from_str(outcome.result.as_deref().expect("ok")).expect("json");
    assert_eq!(out["content"], "hello");
    assert_eq!(out["truncated"], true);
    assert_eq!(out["size"], 25);
    let outcome = tool.call(&grants, "{\"path\": \"link_out_rel\"}").await.expect("call");
    assert!(matches!(outcome.result, Err(ToolError::Denied(_))), "{:?}", outcome.result);
    crate::fixture::assert_no_leak(&outcome, &tree.canary);
}
