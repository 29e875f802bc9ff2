//! `airlock serve --log-format json`: one JSON object per line, and the
//! lines about a call carry its `call_id`, the same as in its audit record,
//! so an operator can join the two.

use std::time::Duration;

use serde_json::{Value, json};

use crate::mcp::Setup;

#[tokio::test]
async fn json_log_lines_carry_the_call_id_of_the_calls_audit_record() {
    let setup = Setup::new();
    let server = setup.http(&["--log-format", "json"]);
    let http = crate::http();
    // The bot may not invoke http-fetch: a denial, logged at info.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "http-fetch", "arguments": {"url": "https://x.example/"}}});
    let answered = server.post(&http, &setup.token("agent:bot"), &call).send().await.expect("post");
    assert!(answered.status().is_success(), "{}", answered.status());
    assert!(
        server.wait_for_log("call denied by policy", Duration::from_secs(20)),
        "{:?}",
        server.log_lines()
    );

    let lines = server.log_lines();
    let json_lines: Vec<Value> = lines
        .iter()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(!json_lines.is_empty(), "{lines:?}");
    let denial = json_lines
        .iter()
        .find(|line| line["fields"]["message"] == "call denied by policy")
        .unwrap_or_else(|| panic!("no denial line: {lines:?}"));
    assert_eq!(denial["level"], "INFO", "{denial}");
    assert_eq!(denial["fields"]["sub"], "agent:bot", "{denial}");
    let call_id = denial["span"]["call_id"].as_str().unwrap_or_else(|| panic!("no call_id: {denial}"));
    assert!(call_id.starts_with("call-") && call_id.len() == 37, "{call_id}");

    let audit = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("audit log");
    let records: Vec<Value> = audit.lines().map(|line| serde_json::from_str(line).expect("record")).collect();
    let joined: Vec<&Value> = records.iter().filter(|r| r["event"]["call_id"] == call_id).collect();
    assert_eq!(joined.len(), 1, "one audit record with that id: {audit}");
    assert_eq!(joined[0]["event"]["tool"]["name"], "http-fetch");
    assert_eq!(joined[0]["event"]["outcome"], "refused");
    let ids: std::collections::HashSet<_> =
        records.iter().filter_map(|r| r["event"]["call_id"].as_str()).collect();
    assert_eq!(ids.len(), records.iter().filter(|r| r["event"]["kind"] == "call").count(), "ids are unique");
}
