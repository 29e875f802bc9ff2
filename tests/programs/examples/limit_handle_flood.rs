//! Makes timers (pollables: host memory, no descriptor) again and again and
//! keeps every handle: one call must not take the host memory behind its
//! handles from every other call.
airlock_test_programs::program! {
    name: "limit-handle-flood",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |_input| {
        let mut held = Vec::new();
        for _ in 0..1_000_000 {
            held.push(wasip2::clocks::monotonic_clock::subscribe_duration(60_000_000_000));
        }
        Err(airlock_test_programs::ToolError::failed(format!(
            "{}: {} handles held at once",
            airlock_test_programs::ESCAPED,
            held.len()
        )))
    }
}
