//! airlock's call pipeline as a library, for every door (`airlock run`,
//! `airlock serve`, the demo, embedders).
//!
//! This crate owns the runtime configuration: [`config::load`] reads an
//! `airlock.toml` (the audience, trusted issuers, policy files, limits,
//! network budgets, the secret store, the audit log, approvals, tools) and
//! validates all of it, or refuses it whole with an error naming the key
//! and the file. Unknown keys are errors; relative paths are relative to
//! the file.
#![forbid(unsafe_code)]

pub mod config;
pub mod limits;
pub mod units;

pub use config::{AuditSettings, Config};

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
