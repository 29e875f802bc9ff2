//! MCP conformance `tools-call-embedded-resource`: returns a text resource.
airlock_test_programs::program! {
    name: "test_embedded_resource",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        airlock_test_programs::airlock_sdk::content::embedded_text(
            "test://embedded-resource",
            Some("text/plain"),
            "This is an embedded resource content.",
        )?;
        Ok(airlock_test_programs::json!({}))
    }
}
