//! Spins forever; the runtime must stop it at the deadline.
airlock_test_programs::program! {
    name: "limit-infinite-loop",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}
