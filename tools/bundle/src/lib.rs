//! The airlock tools, built to wasm32-wasip2 by this crate's build script
//! and embedded, so the CLI's demo needs no separate build step.
#![forbid(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/tools.rs"));
