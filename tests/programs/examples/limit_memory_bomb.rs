//! Allocates until something gives; the runtime must refuse the growth.
airlock_test_programs::program! {
    name: "limit-memory-bomb",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0xA5; 1 << 20]);
            if hoard.len() >= 8192 {
                return Err(airlock_test_programs::ToolError::failed(format!(
                    "{}: allocated {} MiB",
                    airlock_test_programs::ESCAPED,
                    hoard.len()
                )));
            }
        }
    }
}
