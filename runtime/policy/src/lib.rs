//! Capability requests, grants and limits for airlock.
//!
//! A tool *requests* capabilities (its `describe()` answer, modelled by
//! [`CapabilityRequest`]); an operator *offers* grants ([`Offer`]); the
//! [`GrantSet`] a call runs with is the intersection of the two, computed by
//! [`resolve`]. Nothing outside the grant set is reachable from the sandbox.
//!
//! This crate is pure: no wasmtime, no tokio, no I/O. It can be fuzzed and
//! used by front ends that never run a tool.
#![forbid(unsafe_code)]

mod grant;
mod limits;
mod path;
mod request;

pub use grant::{EnvGrant, GrantError, GrantSet, MountGrant, Offer, OfferedEnv, OfferedMount, resolve};
pub use limits::{Limits, LimitsError};
pub use path::{GuestPath, GuestPathError};
pub use request::{
    Access, CapabilityRequest, EnvRequest, HostRequest, MountRequest, SecretRequest, ToolInfo,
};
