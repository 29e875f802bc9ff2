//! Reports every environment variable and argument the guest can see.
use airlock_test_programs::{Capabilities, json};

airlock_test_programs::program! {
    name: "env-read",
    capabilities: Capabilities::none().env("AIRLOCK_TEST_GRANTED", "the one variable tests grant"),
    run: |input| {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let args: Vec<String> = std::env::args().collect();
        let cwd = std::env::current_dir().map(|p| p.display().to_string()).ok();
        let stdin = std::io::read_to_string(std::io::stdin()).unwrap_or_default();
        Ok(json!({ "vars": vars, "args": args, "cwd": cwd, "stdin": stdin }))
    }
}
