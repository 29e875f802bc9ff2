//! MCP conformance `tools-call-with-progress`: 0, 50, 100 of 100, 50 ms apart.
use airlock_test_programs::airlock_sdk::progress;

airlock_test_programs::program! {
    name: "test_tool_with_progress",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        for done in [0, 50, 100] {
            progress::report(done, Some(100), None);
            if done < 100 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        airlock_test_programs::airlock_sdk::content::text("Tool with progress executed successfully")?;
        Ok(airlock_test_programs::json!({}))
    }
}
