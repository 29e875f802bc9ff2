//! MCP conformance `tools-call-error`: always fails.
airlock_test_programs::program! {
    name: "test_error_handling",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        Err(airlock_test_programs::ToolError::failed("This tool intentionally returns an error for testing"))
    }
}
