//! Reads a file inside the granted mount and returns its content.
airlock_test_programs::program! {
    name: "fs-read-granted",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        let path = airlock_test_programs::str_field(&input, "path")?;
        let content = std::fs::read_to_string(path)
            .map_err(|e| airlock_test_programs::ToolError::from_io(format!("read {path}"), &e))?;
        Ok(airlock_test_programs::json!({ "content": content }))
    }
}
