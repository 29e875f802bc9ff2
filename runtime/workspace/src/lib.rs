//! Staged workspaces for CI remediation tools: the tool works on a stage,
//! and the runtime decides which of its changes reach the real checkout.
//!
//! This crate holds the part that does not depend on how the stage is
//! made: [`Changeset::between`] compares the workspace as it was with the
//! stage after the call and lists every change (added, modified, deleted,
//! mode changes, symlinks) with sizes and hashes, ready for a per-path
//! policy check. Staging and the atomic apply build on it.
#![forbid(unsafe_code)]

mod changeset;
mod error;
mod tree;

pub use changeset::{Change, ChangeKind, Changeset};
pub use error::WorkspaceError;
pub use tree::{Entry, EntryKind, Tree};
