//! Rich results over MCP: a tool's text, image, audio and resource blocks
//! (`airlock:tool/content`) in the `tools/call` result, checked, counted
//! against the output limit and redacted.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::mcp_live::{TOKEN, setup};

/// The `result` of a raw `tools/call` of `content-blocks` with `arguments`.
async fn call_blocks(arguments: Value) -> Value {
    call_blocks_in(&setup(), arguments).await
}

/// [`call_blocks`] against a server of `setup`.
async fn call_blocks_in(setup: &super::mcp::Setup, arguments: Value) -> Value {
    let server = setup.http(&[]);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "content-blocks", "arguments": arguments}});
    let http = crate::http();
    let response = server.post(&http, &setup.token("human:alice"), &body).send().await.expect("response");
    let message: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    message["result"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sort_of_block_arrives_in_order_as_mcp_content_and_is_in_the_audit_record() {
    let setup = setup();
    let result = call_blocks_in(&setup, json!({"kind": "all"})).await;
    let log = std::fs::read_to_string(setup.path("audit/audit.jsonl")).expect("audit log");
    let call: Value = serde_json::from_str(log.lines().next_back().expect("a record")).expect("record");
    let hash = call["event"]["content_sha256"].as_str().unwrap_or_default();
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{call}");
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"], json!({"added": 6}));
    let content = result["content"].as_array().expect("content");
    let types: Vec<&str> = content.iter().map(|c| c["type"].as_str().unwrap_or("")).collect();
    // The JSON output's own text first, then the blocks as added.
    assert_eq!(types, ["text", "text", "image", "audio", "resource_link", "resource", "resource"]);
    assert_eq!(content[1]["text"], "plain text");
    assert_eq!(content[2]["mimeType"], "image/png");
    let png = STANDARD.decode(content[2]["data"].as_str().expect("base64")).expect("valid base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(content[3]["mimeType"], "audio/wav");
    assert_eq!(content[4]["uri"], "file:///workspace/report.md");
    assert_eq!(content[4]["name"], "report.md");
    assert_eq!(
        content[5]["resource"],
        json!({"uri": "file:///workspace/notes.txt", "mimeType": "text/plain", "text": "embedded text"})
    );
    assert_eq!(content[6]["resource"]["blob"], STANDARD.encode([0u8, 1, 2, 255]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_100_mib_audio_clip_ends_the_call_at_the_output_limit() {
    let result = call_blocks(json!({"kind": "bomb", "mib": 100})).await;
    assert_eq!(result["isError"], true, "{result}");
    let shown = result["content"][0]["text"].as_str().unwrap_or_default();
    // Memory runs out first at the default 64 MiB; either way no block
    // reaches the client.
    assert!(shown.contains("stopped: output limit") || shown.contains("stopped: memory limit"), "{shown}");
    assert_eq!(result["content"].as_array().map(Vec::len), Some(1));

    let result = call_blocks(json!({"kind": "bomb", "mib": 2})).await;
    assert_eq!(result["isError"], true, "{result}");
    let shown = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(shown.contains("stopped: output limit 1 MiB exceeded"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn svg_is_refused_and_a_secret_never_reaches_the_client_in_any_block() {
    let svg = call_blocks(json!({"kind": "svg"})).await;
    assert!(
        svg["structuredContent"]["refused"].as_str().is_some_and(|r| r.contains("image/svg+xml")),
        "{svg}"
    );
    assert_eq!(svg["content"].as_array().map(Vec::len), Some(1), "only the JSON output's text");

    let secret = call_blocks(json!({"kind": "secret"})).await;
    let shown = secret.to_string();
    assert!(shown.contains("token [REDACTED:GITHUB_TOKEN]"), "{shown}");
    assert!(!shown.contains(TOKEN), "the token reached the client");
    let image =
        secret["content"].as_array().expect("content").iter().find(|c| c["type"] == "image").expect("image");
    let bytes = STANDARD.decode(image["data"].as_str().expect("base64")).expect("base64");
    assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is in the image bytes");
}

/// `airlock run` prints the JSON output and names each block on stderr.
#[test]
fn run_names_every_content_block_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["run", "--operator-override", "--input", r#"{"kind": "all"}"#])
        .arg(super::programs::CONTENT_BLOCKS)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("AIRLOCK_AUDIT_LOG", dir.path().join("audit"))
        .output()
        .expect("run airlock");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).expect("JSON"), json!({"added": 6}));
    for what in [
        "(text, 10 bytes)",
        "(image image/png, 69 bytes)",
        "(audio audio/wav, 44 bytes)",
        "(link to file:///workspace/report.md)",
        "(resource file:///workspace/notes.txt, 13 bytes)",
    ] {
        assert!(stderr.contains(&format!("note: content block {what}")), "{what}: {stderr}");
    }
}

/// Every masked secret value is counted in `--metrics`, by tool.
#[tokio::test(flavor = "multi_thread")]
async fn masked_secrets_are_counted_in_the_metrics() {
    use super::mcp_metrics::{sample, scrape};
    let setup = setup();
    let server = setup.http(&["--metrics", "127.0.0.1:0"]);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "content-blocks", "arguments": {"kind": "secret"}}});
    let http = crate::http();
    let response = server.post(&http, &setup.token("human:alice"), &body).send().await.expect("response");
    assert_eq!(response.status(), 200);
    let _ = response.text().await;
    let scraped = scrape(&server.metrics_url()).await;
    let masked = sample(&scraped, "airlock_redactions_total{tool=\"content-blocks\"}");
    assert!(masked.is_some_and(|n| n >= 1.0), "{scraped}");
}
