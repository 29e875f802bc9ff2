//! Opens the same file again and again and keeps every handle: one call
//! must not take the process's descriptors (or the host memory behind its
//! handles) from every other call.
airlock_test_programs::program! {
    name: "limit-handle-flood",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        let mut open = Vec::new();
        for _ in 0..100_000 {
            match std::fs::File::open("/workspace/hello.txt") {
                Ok(file) => open.push(file),
                Err(e) => {
                    return Err(airlock_test_programs::ToolError::failed(format!(
                        "the host refused handle {} with `{e}` instead of ending the call at its limit",
                        open.len()
                    )));
                }
            }
        }
        Err(airlock_test_programs::ToolError::failed(format!(
            "{}: {} files open at once",
            airlock_test_programs::ESCAPED,
            open.len()
        )))
    }
}
