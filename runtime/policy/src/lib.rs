//! Capability requests, grants, limits and policy decisions for airlock.
//!
//! A tool *requests* capabilities (its `describe()` answer, modelled by
//! [`CapabilityRequest`]); an operator *offers* grants ([`Offer`]); the
//! [`GrantSet`] a call runs with is the intersection of the two, computed by
//! [`resolve`]. Nothing outside the grant set is reachable from the sandbox.
//!
//! With an identity, the offer is filtered by policy first: [`authz`] decides,
//! for a verified [`Principal`], which requested capabilities the operator's
//! Cedar policies permit, and [`authz::Decision::grants`] builds the grant set
//! from that permitted subset.
//!
//! This crate is pure: no wasmtime, no tokio, no I/O. It can be fuzzed and
//! used by front ends that never run a tool.
#![forbid(unsafe_code)]

mod address;
pub mod authz;
mod destination;
mod egress;
mod grant;
mod limits;
mod method;
mod path;
mod principal;
mod request;
pub mod text;

pub use address::{AddressClass, classify};
pub use destination::{Destination, DestinationError, HostPattern, Scheme};
pub use egress::{EgressRefusal, Outbound, check_address, check_request, check_socket};
pub use grant::{
    EnvGrant, GrantError, GrantSet, MountGrant, NetGrant, Offer, OfferedEnv, OfferedMount, OfferedSecret,
    SecretBinding, SecretGrant, offered_hosts, resolve,
};
pub use limits::{Limits, LimitsError, NetLimits};
pub use method::{MethodError, Methods, STANDARD_METHODS};
pub use path::{GuestPath, GuestPathError};
pub use principal::{KNOWN_CLAIMS, MAX_ACT_DEPTH, Principal, PrincipalError};
pub use request::{
    Access, CapabilityRequest, EnvRequest, HostRequest, MountRequest, SecretRequest, ToolInfo,
};
