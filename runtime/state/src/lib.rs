//! State a fleet of airlock servers shares, kept in PostgreSQL.
//!
//! By default every airlock process keeps its state on local disk (the
//! replay cache file, the SQLite approval store, the audit log file) and
//! needs no database. With `[state] url = "postgres://..."` in the
//! configuration, the state that must hold across replicas lives in one
//! database instead, so a fleet behind a load balancer behaves as one
//! server. Today: the record of used token ids ([`PgReplay`]): a
//! single-use token used on one replica is refused on every other, and a
//! bearer token verified by one is accepted by all for its lifetime; and
//! one audit hash chain that every replica appends to ([`PgAudit`]).
//!
//! airlock creates and migrates its own tables ([`migrate`]), in a schema of
//! their own (`airlock` by default), under an advisory lock so replicas
//! starting together do not race. Every database operation has a time limit;
//! when the database cannot be reached, tokens are refused (fail closed)
//! until it returns.
#![forbid(unsafe_code)]

mod approvals;
mod audit;
mod database;
mod error;
mod migrate;
mod replay;

pub use approvals::PgApprovals;
pub use audit::PgAudit;
pub use database::{Database, DatabaseSettings};
pub use error::StateError;
pub use migrate::{MIGRATIONS, Migration, MigrationStatus, migrate, status};
pub use replay::PgReplay;
