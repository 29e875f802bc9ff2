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
}
