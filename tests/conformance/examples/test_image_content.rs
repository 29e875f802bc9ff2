//! MCP conformance `tools-call-image`: returns a 1×1 PNG.
airlock_test_programs::program! {
    name: "test_image_content",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        airlock_test_programs::airlock_sdk::content::image("image/png", airlock_conformance_tools::PNG)?;
        Ok(airlock_test_programs::json!({}))
    }
}
