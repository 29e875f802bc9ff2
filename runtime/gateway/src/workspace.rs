//! A staged workspace (`airlock run --workspace DIR`): the tool works on a
//! private stage of the checkout, and its changes land only if every one
//! of them is allowed.
//!
//! The workspace mount is decided read-only (`fs.read` on its guest path);
//! writing is decided afterwards, one `fs.write` check per changed path,
//! after the [`Rules`] no policy can lift. Any refusal, or a tool that
//! fails, lands nothing.

use std::path::{Path, PathBuf};

use airlock_audit::{
    AuditSink, ChangeRecord, Event, RefusedChange, WorkspaceRecord, WorkspaceRecoveredEvent, WorkspaceStatus,
};
use airlock_host::{CallError, CallOutcome, LoadedTool, Redactor};
use airlock_policy::authz::{Authorizer, ToolIdentity};
use airlock_policy::text::printable;
use airlock_policy::{Access, CapabilityRequest, GrantSet, GuestPath, OfferedMount, Principal};
use airlock_workspace::{
    Changeset, EntryKind, Journals, Recovery, Rules, Stage, StageOptions, Violation, WorkspaceError,
};

/// Why a workspace could not be prepared or staged. Nothing was staged or
/// applied; the message names the problem.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct WorkspaceFailure {
    /// What kind of problem it is (a door maps it to its own codes).
    pub kind: FailureKind,
    message: String,
}

/// The kinds of [`WorkspaceFailure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The checkout or the tool does not fit a workspace.
    Usage,
    /// Policy does not grant reading the workspace.
    Denied,
    /// The checkout is over the stage's size budget.
    Limit,
    /// airlock's own state failed (journals, the audit log, the stage).
    Internal,
}

impl WorkspaceFailure {
    fn new(kind: FailureKind, message: impl std::fmt::Display) -> Self {
        Self { kind, message: message.to_string() }
    }
}

/// Where workspaces keep their apply journals: `$AIRLOCK_JOURNALS`, else
/// `$XDG_STATE_HOME/airlock/journals`, else
/// `~/.local/state/airlock/journals`. Never inside a checkout.
fn journals_dir() -> Result<PathBuf, WorkspaceFailure> {
    crate::config::default_state_path(Some("AIRLOCK_JOURNALS"), "journals").ok_or_else(|| {
        WorkspaceFailure::new(
            FailureKind::Usage,
            "--workspace needs a private state directory for its apply journals: set AIRLOCK_JOURNALS, XDG_STATE_HOME or HOME",
        )
    })
}

/// A workspace given to one call.
pub struct Workspace {
    /// The checkout, canonical.
    dir: PathBuf,
    /// Where the tool sees it: its one read-write mount request.
    guest: GuestPath,
    /// With `--dry-run FILE`: where the patch goes instead of applying.
    dry_run: Option<PathBuf>,
    /// How the stage is made (`--stage-dir`, `--stage-max-bytes`).
    stage: StageOptions,
    /// airlock's own apply journals (never in the checkout).
    journals: Journals,
    rules: Rules,
    notes: Vec<String>,
}

/// Who decides each changed path.
pub enum Judge<'a> {
    /// `fs.write` on the path's guest `Path`, for the verified caller.
    Policy {
        /// The policies.
        authorizer: &'a Authorizer,
        /// The caller.
        principal: &'a Principal,
        /// The tool that made the changes.
        tool: ToolIdentity,
    },
    /// An operator override: no policy, only the rules.
    Override,
}

impl Workspace {
    /// Finishes or undoes an apply an earlier run left unfinished (from
    /// airlock's own sealed journal; recorded in `log`), and finds where
    /// `tool` expects the workspace.
    pub fn prepare(
        dir: &Path,
        tool: &LoadedTool,
        dry_run: Option<PathBuf>,
        stage: StageOptions,
        log: &dyn AuditSink,
    ) -> Result<Self, WorkspaceFailure> {
        let shown = || printable(&dir.display().to_string()).into_owned();
        let usage = |message: String| WorkspaceFailure::new(FailureKind::Usage, message);
        let internal = |error: &dyn std::fmt::Display| WorkspaceFailure::new(FailureKind::Internal, error);
        let dir = dir.canonicalize().map_err(|e| usage(format!("--workspace `{}`: {e}", shown())))?;
        if !dir.is_dir() {
            return Err(usage(format!("--workspace `{}` is not a directory", shown())));
        }
        let journals = Journals::open(&journals_dir()?).map_err(|e| internal(&e))?;
        let recovery = airlock_workspace::recover(&dir, &journals).map_err(|e| internal(&e))?;
        let mut notes = Vec::new();
        if recovery != Recovery::Clean {
            let event = WorkspaceRecoveredEvent {
                workspace: dir.display().to_string(),
                outcome: recovery.as_str().to_owned(),
            };
            log.append(Event::WorkspaceRecovered(event)).map_err(|e| internal(&e))?;
            let done = if recovery == Recovery::RolledBack {
                "died before committing; undone"
            } else {
                "died after committing; finished"
            };
            notes.push(format!("an earlier apply to the workspace {done}"));
        }
        let writable: Vec<&GuestPath> = tool
            .info()
            .capabilities
            .mounts
            .iter()
            .filter(|m| m.access == Access::ReadWrite)
            .map(|m| &m.guest_path)
            .collect();
        let [guest] = writable.as_slice() else {
            return Err(usage(format!(
                "--workspace needs a tool with exactly one read-write mount request; `{}` has {}",
                tool.info().name,
                writable.len()
            )));
        };
        Ok(Self { dir, guest: (*guest).clone(), dry_run, stage, journals, rules: Rules::default(), notes })
    }

    /// What preparing it found that the operator should know (an earlier
    /// apply finished or undone).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The checkout, offered at the tool's read-write mount.
    pub fn offer(&self) -> OfferedMount {
        OfferedMount { host: self.dir.clone(), guest: self.guest.clone(), access: Access::ReadWrite }
    }

    /// The request policy decides: the tool's, with the workspace mount
    /// asked read-only. Writes are decided per changed path after the
    /// call, where `fs.write` on `/workspace/Cargo.toml` means "this change
    /// may land".
    pub fn request_for_decision(&self, mut request: CapabilityRequest) -> CapabilityRequest {
        for mount in request.mounts.iter_mut().filter(|m| m.guest_path == self.guest) {
            mount.access = Access::ReadOnly;
        }
        request
    }

    /// Copies the checkout to a private stage and serves the workspace
    /// mount from it, read-write. Refused (exit 3) when policy did not
    /// grant reading the workspace at all.
    pub fn stage<'a>(
        &'a self,
        grants: GrantSet,
        judge: Judge<'a>,
    ) -> Result<(Staged<'a>, GrantSet), WorkspaceFailure> {
        if !grants.mounts().iter().any(|m| m.guest == self.guest) {
            return Err(WorkspaceFailure::new(
                FailureKind::Denied,
                format!("policy does not grant reading `{}`, so the workspace cannot be staged", self.guest),
            ));
        }
        let stage = Stage::create(&self.dir, &self.stage).map_err(|e| match e {
            WorkspaceError::TooLarge { .. } => WorkspaceFailure::new(FailureKind::Limit, e),
            e => WorkspaceFailure::new(FailureKind::Internal, e),
        })?;
        let notes = stage
            .skipped()
            .iter()
            .map(|skipped| {
                format!(
                    "not staged (never opened; a change there is never applied): {} ({})",
                    printable(&skipped.path),
                    skipped.kind
                )
            })
            .collect();
        // Built before the call from the call's own secrets: a change that
        // holds one of their values (in any form redaction knows) never
        // lands in the checkout, whatever policy says of its path.
        let secrets = Redactor::new(grants.secrets());
        let grants = grants.with_mount_redirected(&self.guest, stage.path().to_owned(), Access::ReadWrite);
        Ok((Staged { workspace: self, stage, judge, secrets, notes }, grants))
    }
}

/// A workspace staged for one call.
pub struct Staged<'a> {
    workspace: &'a Workspace,
    stage: Stage,
    judge: Judge<'a>,
    /// The call's secret values, to refuse a change that carries one.
    secrets: Option<Redactor>,
    notes: Vec<String>,
}

impl Staged<'_> {
    /// What staging skipped (FIFOs, sockets, devices, names that are not
    /// UTF-8): never opened, never applied.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// After the call: what the tool changed, checked by the rules and the
    /// judge, then applied (or written as a patch). Never fails: a problem
    /// is a refusal in the returned record, so the call is always recorded
    /// with what became of its changes.
    pub fn settle(&self, result: &Result<CallOutcome, CallError>) -> WorkspaceRecord {
        let (stage, judge) = (&self.stage, &self.judge);
        if !matches!(result, Ok(outcome) if outcome.result.is_ok()) {
            return record(WorkspaceStatus::Discarded, &Changeset::default(), Vec::new());
        }
        let changes = match stage.changeset() {
            Ok(changes) => changes,
            Err(e) => return failed(&Changeset::default(), "(stage)", &e.to_string()),
        };
        if changes.is_empty() {
            return record(WorkspaceStatus::Unchanged, &changes, Vec::new());
        }
        let mut refused = match self.workspace.refusals(&changes, judge) {
            Ok(refused) => refused,
            Err(message) => return failed(&changes, "(policy)", &message),
        };
        refused.extend(self.carrying_secrets(&changes));
        refused.sort_by(|a, b| a.path.cmp(&b.path));
        if !refused.is_empty() {
            return record(WorkspaceStatus::Refused, &changes, refused);
        }
        if let Some(file) = &self.workspace.dry_run {
            return match write_patch(stage, &changes, file) {
                Ok(()) => record(WorkspaceStatus::DryRun, &changes, Vec::new()),
                Err(message) => failed(&changes, &file.display().to_string(), &message),
            };
        }
        match stage.apply(&changes, &self.workspace.journals) {
            Ok(()) => record(WorkspaceStatus::Applied, &changes, Vec::new()),
            Err(e) => failed(&changes, &apply_path(&e), &apply_error(&e)),
        }
    }
}

impl Staged<'_> {
    /// Every added or modified file whose new content holds a value of one
    /// of the call's secrets (raw or in an encoding redaction knows): a
    /// secret must never land in a pull request. A file that cannot be
    /// read back is refused too.
    fn carrying_secrets(&self, changes: &Changeset) -> Vec<RefusedChange> {
        let Some(secrets) = &self.secrets else { return Vec::new() };
        changes
            .changes()
            .iter()
            .filter(|change| change.sha256.is_some())
            .filter_map(|change| {
                let reason = match self.stage.read(&change.path) {
                    Ok(content) => format!(
                        "holds the value of secret {}; a secret never lands in the checkout",
                        secrets.find(&content)?
                    ),
                    Err(e) => format!("cannot be read back to check it for secrets: {e}"),
                };
                Some(RefusedChange { path: change.path.clone(), reason, policies: Vec::new() })
            })
            .collect()
    }
}

impl Workspace {
    /// Every change a rule or policy refuses.
    fn refusals(&self, changes: &Changeset, judge: &Judge<'_>) -> Result<Vec<RefusedChange>, String> {
        let mut refused: Vec<RefusedChange> = self
            .rules
            .check(changes)
            .into_iter()
            .map(|Violation { path, reason }| RefusedChange { path, reason, policies: Vec::new() })
            .collect();
        let Judge::Policy { authorizer, principal, tool } = judge else { return Ok(refused) };
        let paths = changes
            .changes()
            .iter()
            .map(|c| GuestPath::new(&format!("{}/{}", self.guest, c.path)).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let verdicts = authorizer.decide_writes(principal, tool, &paths).map_err(|e| e.to_string())?;
        for ((change, path), verdict) in changes.changes().iter().zip(&paths).zip(verdicts) {
            let policies: Vec<String> = verdict.policies.iter().map(|p| p.id.clone()).collect();
            let reason = if !verdict.allowed && policies.is_empty() {
                format!("no policy permits fs.write on {path} (default deny)")
            } else if !verdict.allowed {
                format!("fs.write on {path} forbidden by {}", policies.join(", "))
            } else if verdict.needs_approval {
                format!(
                    "fs.write on {path} is permitted only with a human's approval, which staged changes cannot get yet"
                )
            } else {
                continue;
            };
            refused.push(RefusedChange { path: change.path.clone(), reason, policies });
        }
        refused.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(refused)
    }
}

fn record(status: WorkspaceStatus, changes: &Changeset, refused: Vec<RefusedChange>) -> WorkspaceRecord {
    let changes = changes
        .changes()
        .iter()
        .map(|c| ChangeRecord {
            path: c.path.clone(),
            kind: c.kind.as_str().to_owned(),
            size: c.after.as_ref().and_then(|e| match e.kind {
                EntryKind::File { size } => Some(size),
                _ => None,
            }),
            sha256: c.sha256.clone(),
        })
        .collect();
    WorkspaceRecord { status, changes, refused }
}

/// A changeset that could not be checked or landed: refused as a whole.
fn failed(changes: &Changeset, path: &str, reason: &str) -> WorkspaceRecord {
    let refused =
        vec![RefusedChange { path: path.to_owned(), reason: reason.to_owned(), policies: Vec::new() }];
    record(WorkspaceStatus::Refused, changes, refused)
}

/// The path an apply failure names: the changed path when there is one,
/// else the workspace as a whole (`.`).
fn apply_path(error: &WorkspaceError) -> String {
    match error {
        WorkspaceError::ChangedDuringCall { path }
        | WorkspaceError::NotEmptied { path, .. }
        | WorkspaceError::OtherFilesystem { path }
        | WorkspaceError::Symlink { path }
        | WorkspaceError::Swapped { path } => path.clone(),
        _ => ".".to_owned(),
    }
}

/// Why an apply failed, and what state it left: refused before anything
/// was written, or stopped part-way (then the next `--workspace` run
/// finishes or undoes it from airlock's own journal).
fn apply_error(error: &WorkspaceError) -> String {
    match error {
        WorkspaceError::ChangedDuringCall { .. }
        | WorkspaceError::NotEmptied { .. }
        | WorkspaceError::OtherFilesystem { .. }
        | WorkspaceError::Symlink { .. }
        | WorkspaceError::PendingApply { .. } => format!("nothing was applied: {error}"),
        _ => format!(
            "applying stopped part-way ({error}); the workspace is unchanged or, past the commit point, the next --workspace run on it finishes the apply"
        ),
    }
}

fn write_patch(stage: &Stage, changes: &Changeset, file: &Path) -> Result<(), String> {
    let text = airlock_workspace::patch(stage, changes).map_err(|e| e.to_string())?;
    std::fs::write(file, text).map_err(|e| format!("cannot write the patch: {e}"))
}
