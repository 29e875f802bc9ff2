//! MCP conformance `tools-call-with-logging`: three log lines, 50 ms apart.
use airlock_test_programs::airlock_sdk::log;

airlock_test_programs::program! {
    name: "test_tool_with_logging",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let pause = || std::thread::sleep(std::time::Duration::from_millis(50));
        log::info("Tool execution started", &[]);
        pause();
        log::info("Tool processing data", &[]);
        pause();
        log::info("Tool execution completed", &[]);
        airlock_test_programs::airlock_sdk::content::text("Tool with logging executed successfully")?;
        Ok(airlock_test_programs::json!({}))
    }
}
