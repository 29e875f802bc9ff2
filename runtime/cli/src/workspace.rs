//! `airlock run --workspace DIR`, as the command line reports it: staging
//! and settling are `airlock_gateway::workspace`'s; this maps its failures
//! and outcomes to exit codes and prints its notes.

use airlock_audit::{WorkspaceRecord, WorkspaceStatus};
pub(crate) use airlock_gateway::workspace::Workspace;
use airlock_gateway::workspace::{FailureKind, WorkspaceFailure};
use airlock_policy::text::printable;
use anyhow::anyhow;

use crate::exit::{self, Failure};

/// The exit code for a workspace that could not be prepared or staged.
pub(crate) fn failure(error: WorkspaceFailure) -> Failure {
    let code = match error.kind {
        FailureKind::Usage => exit::USAGE,
        FailureKind::Denied => exit::DENIED,
        FailureKind::Limit => exit::LIMIT,
        FailureKind::Internal => exit::INTERNAL,
    };
    Failure::new(code, error)
}

/// Prints what preparing or staging found, one `note:` line each.
pub(crate) fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("note: {note}");
    }
}

/// The exit code and message for a call whose tool succeeded.
pub(crate) fn exit_for(record: &WorkspaceRecord) -> Result<(), Failure> {
    let list = || {
        record
            .refused
            .iter()
            .map(|r| format!("\n  {}: {}", printable(&r.path), printable(&r.reason)))
            .collect::<String>()
    };
    match record.status {
        WorkspaceStatus::Applied | WorkspaceStatus::DryRun => Ok(()),
        WorkspaceStatus::Unchanged => {
            Err(Failure::new(exit::WORKSPACE_UNCHANGED, anyhow!("the tool changed nothing in the workspace")))
        }
        WorkspaceStatus::Refused => Err(Failure::new(
            exit::CHANGES_REFUSED,
            anyhow!(
                "nothing was applied: {} of {} changes refused:{}",
                record.refused.len(),
                record.changes.len(),
                list()
            ),
        )),
        WorkspaceStatus::Discarded => Ok(()),
    }
}
