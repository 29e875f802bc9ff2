//! MCP conformance `tools-call-simple-text`: returns text.
airlock_test_programs::program! {
    name: "test_simple_text",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        airlock_test_programs::airlock_sdk::content::text("This is a simple text response for testing.")?;
        Ok(airlock_test_programs::json!({}))
    }
}
