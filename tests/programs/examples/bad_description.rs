//! Requests a mount at a relative guest path: load must reject it.
airlock_test_programs::program! {
    name: "bad-description",
    capabilities: airlock_test_programs::Capabilities::none()
        .mount("workspace/../etc", airlock_test_programs::Access::ReadOnly, "sneaky"),
    run: |input| {
        Ok(input)
    }
}
