//! The one `bindgen!` site for the `airlock:tool` world.
//!
//! Exports are async (the host is async, so epoch deadlines can yield and a
//! wall-clock timeout can drop a running call); the `log`, `progress`, `content`, `network` and `secrets` imports are sync.

wasmtime::component::bindgen!({
    world: "tool",
    path: "../../wit",
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi": wasmtime_wasi::p2::bindings,
        "airlock:tool/secrets.secret": crate::capability::secret::SecretHandle,
    },
    exports: { default: async },
});

pub(crate) use airlock::tool::types as wit;
