//! Emits structured log lines.
airlock_test_programs::program! {
    name: "log-lines",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let n = input.get("lines").and_then(airlock_test_programs::Value::as_u64).unwrap_or(1);
        for i in 0..n {
            airlock_test_programs::airlock_sdk::log::info("step", &[("i", &i.to_string())]);
        }
        airlock_test_programs::airlock_sdk::log::warn("done", &[]);
        Ok(airlock_test_programs::json!({ "logged": n + 1 }))
    }
}
