//! Every kind of write into a read-only mount must fail.
use airlock_test_programs::{expect_denied, json};

airlock_test_programs::program! {
    name: "fs-write-read-only",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        use std::fs::OpenOptions;
        let results = vec![
            expect_denied("create a file", std::fs::write("/workspace/created-by-guest.txt", b"x"))?,
            expect_denied("overwrite a file", OpenOptions::new().write(true).open("/workspace/hello.txt"))?,
            expect_denied("append to a file", OpenOptions::new().append(true).open("/workspace/hello.txt"))?,
            expect_denied("remove a file", std::fs::remove_file("/workspace/hello.txt"))?,
            expect_denied("make a directory", std::fs::create_dir("/workspace/new-dir"))?,
            expect_denied("rename a file", std::fs::rename("/workspace/hello.txt", "/workspace/moved.txt"))?,
        ];
        // Reading is still allowed.
        let content = std::fs::read_to_string("/workspace/hello.txt")
            .map_err(|e| airlock_test_programs::ToolError::from_io("read hello.txt", &e))?;
        Ok(json!({ "denied": results, "read": content }))
    }
}
