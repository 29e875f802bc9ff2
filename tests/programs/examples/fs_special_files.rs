//! Opening a FIFO, a socket or a device node in a mount (directly or
//! through a symlink inside it) is refused at once: it never blocks the
//! call past its deadline and never reads a device.
use airlock_test_programs::{expect_denied, json, str_list};

airlock_test_programs::program! {
    name: "fs-special-files",
    capabilities: airlock_test_programs::workspace(),
    run: |input| {
        let mut results = Vec::new();
        for path in str_list(&input, "paths") {
            results.push(expect_denied(&format!("read {path}"), std::fs::read(&path))?);
            results.push(expect_denied(
                &format!("write {path}"),
                std::fs::OpenOptions::new().write(true).open(&path),
            )?);
        }
        Ok(json!({ "denied": results }))
    }
}
