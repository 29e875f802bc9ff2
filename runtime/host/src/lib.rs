//! The airlock host: runs tool components under wasmtime with per-call
//! grants.
//!
//! One [`Runtime`] per process owns the wasmtime `Engine` (tuned pooling
//! allocator, epoch interruption, bounded wasm stack) and the compiled
//! artifact cache. [`Runtime::load`] validates and compiles a component
//! once and asks it to `describe()` itself; [`LoadedTool::call`] runs one call
//! in a **fresh store and instance** built from a
//! [`GrantSet`](airlock_policy::GrantSet): nothing crosses calls, nothing is
//! ambient (no host env, args, stdin, network or files unless granted).
//!
//! Capabilities live in [`capability`], one module each, all with the same
//! shape: a `prepare` step that turns a grant into WASI configuration.
#![deny(unsafe_code)]

mod artifact;
pub mod audit;
mod bindings;
mod call;
pub mod capability;
mod component;
mod descriptors;
mod engine;
mod error;
mod limiter;
mod redact;
mod state;
mod usage;

pub use call::{CallOutcome, Captured, LogLine, Progress, ToolError, Watcher};
pub use capability::content::{AUDIO_TYPES, ContentBlock, IMAGE_TYPES, ResourceBody};
pub use capability::net::NetworkReport;
pub use component::{LoadedTool, ToolDigest};
pub use engine::{Runtime, RuntimeConfig};
pub use error::{CallError, LimitExceeded, LoadError, RuntimeError};
pub use redact::{Redactor, Streaming};
pub use usage::{MountUse, Usage};
