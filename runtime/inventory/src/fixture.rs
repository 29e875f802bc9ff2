//! Audit records for the tests, written as the log writes them.

use airlock_audit::Record;
use serde_json::{Value, json};

pub(crate) fn record(seq: u64, time: &str, event: Value) -> Record {
    serde_json::from_value(json!({
        "schema": airlock_audit::SCHEMA, "seq": seq, "time": time, "prev": "0", "hash": "0", "event": event,
    }))
    .expect("record")
}

pub(crate) fn call(sub: Option<&str>, tool: &str, outcome: &str, approval: Option<&str>) -> Value {
    let mut event = json!({
        "kind": "call",
        "transport": "mcp-stdio",
        "principal": sub.map(|sub| json!({
            "sub": sub, "iss": "https://ci.example", "claims": {"repo": "acme/app"},
            "act": if sub == "agent:fixer" { json!(["human:dana"]) } else { json!([]) },
        })),
        "tool": {"name": tool, "version": "1.0.0", "digest": "sha256:00"},
        "input_sha256": "00",
        "capabilities": [],
        "effects": {"requests": 0, "bytes_sent": 0, "bytes_received": 0, "refusals": [], "refusals_dropped": 0, "redactions": {}},
        "outcome": outcome,
        "error": null,
        "output_sha256": null,
        "duration_ms": 1,
    });
    if let Some(status) = approval {
        event["approval"] = json!({"status": status, "id": "apr-1", "request_hash": "00", "gated": [], "approver": "human:carol", "reason": "ok"});
    }
    event
}
