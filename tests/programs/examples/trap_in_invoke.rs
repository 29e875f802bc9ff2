//! Panics in `invoke`: the call must fail as a trap, the runtime must go on.
airlock_test_programs::program! {
    name: "trap-in-invoke",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        panic!("deliberate panic in invoke")
    }
}
