//! Structured logs through `airlock:tool/log`.

use airlock_policy::Limits;
use airlock_test_artifacts as programs;

use crate::fixture::{grants, output, tool};

#[tokio::test]
pub(crate) async fn log_lines() {
    let tool = tool(programs::LOG_LINES).await;
    let outcome =
        tool.call(&grants(&tool, &[], &[], Limits::default()), "{\"lines\": 2}").await.expect("call");
    assert_eq!(output(&outcome)["logged"], 3);
    let lines: Vec<_> =
        outcome.logs.iter().map(|l| (l.level, l.message.as_str(), l.fields.clone())).collect();
    assert_eq!(
        lines,
        [
            ("info", "step", vec![("i".to_owned(), "0".to_owned())]),
            ("info", "step", vec![("i".to_owned(), "1".to_owned())]),
            ("warn", "done", vec![]),
        ]
    );

    let capped = Limits { log_lines: 3, ..Limits::default() };
    let outcome = tool.call(&grants(&tool, &[], &[], capped), "{\"lines\": 5}").await.expect("call");
    assert_eq!(outcome.logs.len(), 3);
    assert_eq!(outcome.logs_dropped, 3);

    // Bytes are a budget of their own, whatever the line count allows:
    // each line here is "step" + "i" + its number (6 to 10 bytes).
    let by_bytes = Limits { log_lines: 1_000_000, log_bytes: 1024, ..Limits::default() };
    let outcome = tool.call(&grants(&tool, &[], &[], by_bytes), "{\"lines\": 5000}").await.expect("call");
    let kept: usize = outcome
        .logs
        .iter()
        .map(|l| l.message.len() + l.fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>())
        .sum();
    assert!(kept <= 1024 && kept > 1024 - 16, "kept {kept} bytes");
    assert_eq!(outcome.logs.len() as u64 + outcome.logs_dropped, 5001, "every line kept or counted");
}

/// The runtime hands an embedder what the tool produced, byte for byte:
/// escaping is the job of whatever shows it to a human (the CLI and the
/// server log; `runtime/cli/tests/cli/main.rs` checks they do).
#[tokio::test]
pub(crate) async fn terminal_forgery() {
    let tool = tool(programs::TERMINAL_FORGERY).await;
    let outcome = tool.call(&grants(&tool, &[], &[], Limits::default()), "{}").await.expect("call");
    assert_eq!(output(&outcome)["c1"], "\u{9b}31mred\u{9b}0m \u{202e}txt.exe");
    assert!(String::from_utf8_lossy(&outcome.stdout.bytes).contains("\u{1b}]52;c;"));
    assert_eq!(outcome.logs.len(), 1);
    assert!(outcome.logs[0].message.contains("\r\u{1b}[2Kairlock: call ok"));
    let failed =
        tool.call(&grants(&tool, &[], &[], Limits::default()), r#"{"mode":"error"}"#).await.expect("call");
    assert!(
        matches!(&failed.result, Err(airlock_host::ToolError::Failed(m)) if m.contains("\u{1b}]0;pwned"))
    );
}
