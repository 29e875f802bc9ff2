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

/// A violation is named by its JSON pointer and schema keyword, never by
/// the value: the message is recorded in the audit log, which holds inputs
/// only as hashes.
#[tokio::test]
async fn schema_violations_name_the_field_and_keyword_never_the_value() {
    let m = invalid("{\"path\": 31337424242}").await;
    assert!(m.contains("`/path` violates `type` at schema `/properties/path/type`"), "{m}");
    assert!(!m.contains("31337424242"), "the value is quoted: {m}");
    let m = invalid("{\"path\": \"a\", \"max_bytes\": \"hunter2-credential\"}").await;
    assert!(m.contains("`/max_bytes` violates"), "{m}");
    assert!(!m.contains("hunter2"), "the value is quoted: {m}");
    let m = invalid("{}").await;
    assert!(m.contains("violates `required`") && m.contains("(missing \"path\")"), "{m}");
    let m = invalid("{\"path\": \"a\", \"sk-live-bogus\": true}").await;
    assert!(m.contains("violates `additionalProperties`") && !m.contains("sk-live"), "{m}");
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
