//! Paths of the guest test programs and tools, built to wasm32-wasip2 by
//! this crate's build script. `foreach_program!(m)` calls `m!(name)` for
//! every program, so a test suite can require a test per program.
#![forbid(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
