//! MCP conformance `tools-call-audio`: returns a WAV clip.
airlock_test_programs::program! {
    name: "test_audio_content",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        airlock_test_programs::airlock_sdk::content::audio("audio/wav", airlock_conformance_tools::WAV)?;
        Ok(airlock_test_programs::json!({}))
    }
}
