//! The embedding example (`examples/embed`) runs as the README shows it.

#[allow(dead_code, reason = "the example's own `main` is not called here")]
#[path = "../../../examples/embed/main.rs"]
mod example;

#[test]
fn the_embedding_example_runs_a_permitted_call_through_the_gateway() {
    let answer = example::run_example().expect("the example runs");
    assert!(answer.starts_with("ran: Ok(Ok("), "{answer}");
    assert!(answer.contains("TODO: write docs"), "grep found the line: {answer}");
}
