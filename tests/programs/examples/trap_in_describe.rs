//! Panics in `describe`: the tool must be rejected at load.
airlock_test_programs::program! {
    name: "trap-in-describe",
    capabilities: panic!("deliberate panic in describe"),
    run: |input| {
        Ok(input)
    }
}
