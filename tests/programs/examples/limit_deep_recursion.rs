//! Recurses without end; the runtime must stop it with a stack error.
#[expect(unconditional_recursion, reason = "runaway recursion is what this program tests")]
fn descend(depth: u64) -> u64 {
    std::hint::black_box(descend(std::hint::black_box(depth + 1))) + 1
}

airlock_test_programs::program! {
    name: "limit-deep-recursion",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let depth = descend(0);
        Err(airlock_test_programs::ToolError::failed(format!("{}: returned from depth {depth}", airlock_test_programs::ESCAPED)))
    }
}
