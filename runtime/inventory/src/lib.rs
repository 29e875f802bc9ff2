//! Knowing your agents: the non-human identities an audit log shows.
//!
//! [`Inventory::build`] reads records (already verified: a tampered or
//! truncated log is refused before anything is analysed) and gives, per
//! identity (`iss`, `sub`): the claims policy saw, the delegation chains,
//! first and last seen, calls and how they ended, approvals asked and
//! granted, break-glass uses. It streams: memory grows with the number of
//! identities and tools, not of records.

#![forbid(unsafe_code)]

#[cfg(test)]
mod fixture;
mod grants;
mod identity;
mod named;
mod observed;
mod report;
mod slot;
mod suggest;

pub use grants::{
    AllGrants, Effective, EffectiveTool, Finding, GrantUse, IdentityGrants, ToolGrants, findings, grants_of,
    with_effective,
};
pub use identity::{Builder, Identity, Inventory, WindowOpened};
pub use named::principals_named;
pub use observed::{Observed, Subject, SubjectUse, Use};
pub use report::{Cell, Report, Row, cell};
pub use suggest::{SuggestError, Suggestion, suggest};
