//! Human approval gates for tool calls.
//!
//! A policy marks a capability as needing approval with `@approval` on the
//! `permit` that allows it. A call that needs one does not run: the runtime
//! files a [`CallRequest`] in the [`ApprovalStore`] and answers with its id
//! and [`CallRequest::hash`]. A human approves that id with their own token
//! ([`Approvers`] decides who counts as human, and refuses self-approval:
//! the requesting agent, its `owner`, anyone in its `act` chain). The agent
//! re-submits the call with the id; the runtime recomputes the hash from the
//! call as it now stands, and the approval is used up only if the hashes
//! match. An approval is single-use and expires; pending and used approvals
//! are in SQLite, so a restart neither loses one nor lets one be used twice.
//!
//! Break-glass: a principal the operator names may open a time-bounded
//! window (at most [`MAX_BREAK_GLASS`]) in which one agent's calls run
//! without per-request approval. Every such call is marked in the audit log.
#![forbid(unsafe_code)]

mod approvers;
mod backend;
mod error;
mod gate;
mod request;
mod sqlite;
mod store;

pub use approvers::{Approvers, HumanRule, MAX_APPROVAL_LIFETIME, MAX_BREAK_GLASS};
pub use backend::{ApprovalBackend, StoredRequest};
pub use error::{ApprovalError, StoreError};
pub use gate::{ApprovalGate, Clearance, MCP_META_KEY};
pub use request::{CallRequest, GrantLine, Requester, ToolLine};
pub use sqlite::DB_FILE;
pub use store::{ApprovalStore, Authority, BreakGlass, Filed, Granted, State, format_ms, state_counts};
