//! Returns a result larger than the output limit.
airlock_test_programs::program! {
    name: "limit-output-too-large",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let size = input.get("bytes").and_then(airlock_test_programs::Value::as_u64).unwrap_or(2 << 20);
        Ok(airlock_test_programs::Value::String("y".repeat(size as usize)))
    }
}
