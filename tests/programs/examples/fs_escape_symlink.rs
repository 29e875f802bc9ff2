//! Symlinks that lead out of the mount (relative or absolute), and absolute
//! symlinks even when they point back inside, must not be followed.
use airlock_test_programs::{expect_denied, json, str_list};

airlock_test_programs::program! {
    name: "fs-escape-symlink",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        let mut results = Vec::new();
        for path in str_list(&input, "read") {
            results.push(expect_denied(&format!("read {path}"), std::fs::read(&path))?);
        }
        for path in str_list(&input, "write") {
            results.push(expect_denied(&format!("write {path}"), std::fs::write(&path, b"x"))?);
        }
        if results.is_empty() {
            return Err(airlock_test_programs::ToolError::invalid_input("nothing to try"));
        }
        Ok(json!({ "denied": results }))
    }
}
