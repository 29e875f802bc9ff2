//! airlock's call pipeline as a library, for every door (`airlock run`,
//! `airlock serve`, the demo, embedders).
//!
//! [`Gateway::call`] takes a verified [`Caller`], a tool and its input
//! through every step in one order: the policy decision (taken once per
//! caller and tool, for the token's lifetime), the operator's offer bound
//! to the decision, the input checked against the tool's schema on the
//! host, the approval check, the workspace staged, the call in a fresh
//! sandbox, and the audit record. There is no other public way to
//! run a tool with a caller's grants, so no door can skip a step.
//!
//! This crate also owns the runtime configuration: [`config::load`] reads an
//! `airlock.toml` (the audience, trusted issuers, policy files, limits,
//! network budgets, the secret store, the audit log, approvals, tools) and
//! validates all of it, or refuses it whole with an error naming the key
//! and the file. Unknown keys are errors; relative paths are relative to
//! the file.
#![forbid(unsafe_code)]

mod caller;
pub mod config;
mod issuers;
pub mod limits;
pub mod metrics;
mod pipeline;
pub mod schema;
pub mod state;
pub mod units;
pub mod workspace;

pub use caller::{Caller, Callers};
pub use config::{AuditSettings, Config};
pub use metrics::Metrics;
pub use pipeline::{
    Authorized, CallReport, CallRequest, Credential, Ended, Gateway, ToolRef, decision, identity_of,
};

/// The configuration (or a limit in it) is not usable. The message names
/// the key and the file; nothing of a refused configuration is used.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: String,
}

impl From<anyhow::Error> for ConfigError {
    fn from(error: anyhow::Error) -> Self {
        Self { message: format!("{error:#}") }
    }
}
