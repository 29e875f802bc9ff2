//! MCP conformance `tools-call-mixed-content`: text, an image and a resource.
use airlock_test_programs::airlock_sdk::content;

airlock_test_programs::program! {
    name: "test_multiple_content_types",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        content::text("Multiple content types test:")?;
        content::image("image/png", airlock_conformance_tools::PNG)?;
        content::embedded_text(
            "test://mixed-content-resource",
            Some("application/json"),
            r#"{"test":"data","value":123}"#,
        )?;
        Ok(airlock_test_programs::json!({}))
    }
}
