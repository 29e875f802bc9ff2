//! Logs while it runs, for the tests of log lines forwarded live (MCP
//! `notifications/message`): `lines` lines (pausing `pause_ms` after the
//! first, so a watcher can be shown to hear it while the tool still runs),
//! then, with `"secret": true`, the revealed `GITHUB_TOKEN` in a message and
//! a field, then a line of terminal escapes.
use airlock_test_programs::airlock_sdk::log;
use airlock_test_programs::airlock_sdk::secrets::Secret;
use airlock_test_programs::{Value, json};

airlock_test_programs::program! {
    name: "log-stream",
    capabilities: airlock_test_programs::Capabilities::none()
        .secret_reveal("GITHUB_TOKEN", "to prove a logged secret reaches no client")
        .host("http://*:1-65535", "where the secret may be sent"),
    run: |input| {
        let lines = input.get("lines").and_then(Value::as_u64).unwrap_or(3);
        let pause = input.get("pause_ms").and_then(Value::as_u64).unwrap_or(0);
        for i in 0..lines {
            log::info("step", &[("i", &i.to_string())]);
            if i == 0 && pause > 0 {
                std::thread::sleep(std::time::Duration::from_millis(pause));
            }
        }
        if input.get("secret").and_then(Value::as_bool) == Some(true) {
            let value = Secret::get("GITHUB_TOKEN")?.reveal()?;
            log::warn(&format!("token is {value}"), &[("authorization", &format!("Bearer {value}"))]);
        }
        log::error("\u{1b}]0;pwned\u{7}\u{202e}title", &[]);
        Ok(json!({ "logged": lines }))
    }
}
