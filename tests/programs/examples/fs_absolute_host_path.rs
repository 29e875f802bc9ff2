//! Host paths outside every mount do not exist for the guest.
use airlock_test_programs::{expect_denied, json, str_list};

airlock_test_programs::program! {
    name: "fs-absolute-host-path",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        let mut results = Vec::new();
        for path in str_list(&input, "paths").into_iter().chain(["/etc/passwd".to_owned(), "/proc/self/environ".to_owned()]) {
            results.push(expect_denied(&format!("read {path}"), std::fs::read(&path))?);
            results.push(expect_denied(&format!("list {path}"), std::fs::read_dir(&path))?);
        }
        results.push(expect_denied("list /", std::fs::read_dir("/"))?);
        Ok(json!({ "denied": results }))
    }
}
