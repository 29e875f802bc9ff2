//! Staged workspaces for CI remediation tools: the tool works on a stage,
//! and the runtime decides which of its changes reach the real checkout.
//!
//! [`Stage::create`] copies the checkout to a private directory the tool
//! is given instead; [`Stage::changeset`] lists every change it made
//! (added, modified, deleted, mode changes, symlinks; sizes and hashes);
//! [`Rules::check`] refuses what no policy may allow; [`Stage::apply`]
//! lands a checked changeset all or nothing through a sealed journal kept
//! in airlock's own state ([`Journals`]) that [`recover`] finishes or undoes
//! after a crash; [`patch`] writes it as a git-style patch instead. Policy
//! checks per path are the caller's (`airlock-policy`'s
//! `Authorizer::decide_writes`).
//!
//! Nothing in a checkout is trusted: every read and write of it goes
//! through a handle of its root that no symlink can lead out of; FIFOs,
//! sockets and devices are never opened; nothing in it is an instruction.
#![forbid(unsafe_code)]

mod apply;
mod changeset;
mod error;
mod handle;
mod journal;
mod patch;
mod rules;
mod stage;
mod tree;

pub use changeset::{Change, ChangeKind, Changeset};
pub use error::WorkspaceError;
pub use journal::{Journals, Recovery, recover};
pub use patch::{PatchError, patch};
pub use rules::{Rules, Violation};
pub use stage::{Stage, StageOptions};
pub use tree::{Entry, EntryKind, Skipped, Stamp, Tree};
