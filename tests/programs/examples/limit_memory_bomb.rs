//! Allocates until something gives; the runtime must refuse the growth.
//! With `"graceful": true` it asks with `try_reserve` and, refused, fails
//! with an error of its own (as Python's `MemoryError` does): the call
//! must still end at the memory limit, not as the tool's error.
airlock_test_programs::program! {
    name: "limit-memory-bomb",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let graceful = input.get("graceful").and_then(airlock_test_programs::Value::as_bool) == Some(true);
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block: Vec<u8> = Vec::new();
            if graceful && block.try_reserve_exact(1 << 20).is_err() {
                return Err(airlock_test_programs::ToolError::failed(format!("out of memory after {} MiB", hoard.len())));
            }
            block.resize(1 << 20, 0xA5);
            hoard.push(block);
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
