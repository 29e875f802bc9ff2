//! `..` must never leave the mount.
use airlock_test_programs::{expect_denied, json};

airlock_test_programs::program! {
    name: "fs-escape-dotdot",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        let mut results = Vec::new();
        for path in [
            "/workspace/../outside/secret.txt",
            "/workspace/sub/../../outside/secret.txt",
            "/workspace/sub/../../../../../../etc/passwd",
            "../outside/secret.txt",
        ] {
            results.push(expect_denied(path, std::fs::read(path))?);
        }
        results.push(expect_denied("list /workspace/..", std::fs::read_dir("/workspace/..").and_then(|mut d| {
            d.next().transpose().map(|_| ())
        }))?);
        results.push(expect_denied(
            "write /workspace/../escape.txt",
            std::fs::write("/workspace/../escape.txt", b"x"),
        )?);
        Ok(json!({ "denied": results }))
    }
}
