//! One call, every step in one order: decide (once per caller and tool),
//! check the input, bind the operator's offer, clear approval, run in a
//! fresh sandbox (or be cancelled), record. [`Gateway::call`] is the only
//! way through: each way a call can end is an [`Ended`], and every one of
//! them is appended to the audit log before the door hears of it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use airlock_approval::{ApprovalGate, Clearance};
use airlock_audit::{AuditSink, CallApproval, CallEvent, Ending, Event, Outcome};
use airlock_host::{CallError, CallOutcome, LoadedTool};
use airlock_policy::authz::{Authorizer, Decision, ToolIdentity};
use airlock_policy::{CapabilityRequest, GrantSet, Offer};

use crate::caller::Caller;

/// The decision for one caller and tool, and the request it answered.
pub struct Authorized {
    /// What policy decided, capability by capability.
    pub decision: Arc<Decision>,
    request: CapabilityRequest,
}

/// Policy, approvals and the audit log: what every call passes through.
/// One per process, shared by every door.
pub struct Gateway {
    authorizer: Authorizer,
    approvals: Arc<ApprovalGate>,
    audit: Arc<dyn AuditSink>,
}

/// A tool as the gateway sees it: the loaded component and how policy
/// names it.
#[derive(Clone, Copy)]
pub struct ToolRef<'a> {
    /// The compiled, pre-instantiated component.
    pub loaded: &'a LoadedTool,
    /// Its name, version and digest.
    pub identity: &'a ToolIdentity,
}

/// One call as a door hands it over.
pub struct CallRequest<'a> {
    /// The door, as recorded: `mcp-http`, `mcp-stdio`, `cli`.
    pub transport: &'static str,
    /// Who calls, verified.
    pub caller: &'a Caller,
    /// What is called.
    pub tool: ToolRef<'a>,
    /// The input, as recorded (its hash) and handed to the tool.
    pub input: &'a str,
    /// The door's check of the input before anything runs (the MCP door
    /// validates against the tool's input schema): an error ends the call
    /// as [`Ended::InvalidInput`].
    pub check_input: Option<&'a (dyn Fn() -> Result<(), String> + Sync)>,
    /// The id of an approved request, when the caller presents one.
    pub approval: Option<String>,
    /// How a caller re-submits a call once approved, in this door's words
    /// (for the approval-required message).
    pub resubmit: &'a str,
}

/// How a call ended. Every variant was recorded in the audit log (unless
/// [`CallReport::recorded`] says the record failed).
#[derive(Debug)]
pub enum Ended {
    /// Policy could not be evaluated; nothing ran.
    PolicyError(String),
    /// Policy does not let the caller invoke the tool; nothing ran.
    NotInvocable,
    /// The door's input check refused the input; nothing ran.
    InvalidInput(String),
    /// The operator's offer could not be bound to the decision; nothing ran.
    NotPrepared(String),
    /// The call needs a human's approval, which could not be checked.
    ApprovalUnchecked(String),
    /// The call needs a human's approval: it was filed (or the approval
    /// presented was refused), and the message says how to re-submit.
    ApprovalRequired(String),
    /// The door cancelled the call while it ran; the instance is gone.
    Cancelled,
    /// The tool ran: its outcome, or the limit, trap or error that ended it.
    Ran(Box<Result<CallOutcome, CallError>>),
}

/// What became of one call.
pub struct CallReport {
    /// How it ended.
    pub ended: Ended,
    /// The decision, when one was taken.
    pub decision: Option<Arc<Decision>>,
    /// How its approval was handled, when it needed one.
    pub approval: Option<CallApproval>,
    /// The audit record: `Err` with the reason when it could not be
    /// written. A door must then report the call as failed.
    pub recorded: Result<(), String>,
}

impl Gateway {
    /// A gateway deciding with `authorizer`, checking calls marked
    /// `@approval` against `approvals` and recording every call in `audit`.
    pub fn new(authorizer: Authorizer, approvals: ApprovalGate, audit: Arc<dyn AuditSink>) -> Self {
        Self { authorizer, approvals: Arc::new(approvals), audit }
    }

    /// Where calls are recorded.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// The decision for `caller` and `tool`, taken on first use and then
    /// remembered by the caller for its token's lifetime.
    pub fn authorize(&self, caller: &Caller, tool: ToolRef<'_>) -> Result<Arc<Authorized>, String> {
        if let Some(known) = caller.decision(&tool.identity.name) {
            return Ok(known);
        }
        let request = tool
            .loaded
            .info()
            .capabilities
            .with_offered_hosts(&tool.identity.name, &[])
            .map_err(|e| e.to_string())?;
        let decision =
            self.authorizer.decide(caller.principal(), tool.identity, &request).map_err(|e| e.to_string())?;
        let authorized = Arc::new(Authorized { decision: Arc::new(decision), request });
        caller.remember(&tool.identity.name, authorized.clone());
        Ok(authorized)
    }

    /// Runs one call through every step, records it, and reports how it
    /// ended. `offer` is the operator's offer for the tool (asked for only
    /// once policy allows the call); `cancelled` ends a running call when
    /// it completes.
    pub async fn call(
        &self,
        request: CallRequest<'_>,
        offer: impl FnOnce(&LoadedTool) -> Result<Offer, String>,
        cancelled: impl Future<Output = ()>,
    ) -> CallReport {
        let started = Instant::now();
        let (ended, decision, approval, ending) = self.run(&request, offer, cancelled, started).await;
        let event = CallEvent::new(
            request.transport,
            Some(request.caller.principal()),
            request.tool.identity,
            decision.as_deref(),
            request.input,
            ending,
        )
        .with_approval(approval.clone());
        let recorded = self.append(event).await;
        CallReport { ended, decision, approval, recorded }
    }

    /// Records a call of a tool that does not exist (or is not loaded).
    pub async fn record_unknown_tool(
        &self,
        transport: &'static str,
        caller: &Caller,
        name: &str,
        input: &str,
    ) -> Result<(), String> {
        let unknown = ToolIdentity { name: name.to_owned(), version: String::new(), digest: String::new() };
        let ending = Ending::before_start(Outcome::Refused, "no such tool");
        self.append(CallEvent::new(transport, Some(caller.principal()), &unknown, None, input, ending)).await
    }

    /// The steps before the record: how the call ended, the decision, the
    /// approval and the audit ending.
    async fn run(
        &self,
        request: &CallRequest<'_>,
        offer: impl FnOnce(&LoadedTool) -> Result<Offer, String>,
        cancelled: impl Future<Output = ()>,
        started: Instant,
    ) -> (Ended, Option<Arc<Decision>>, Option<CallApproval>, Ending) {
        let name = &request.tool.identity.name;
        let before = |ended: Ended, outcome: Outcome, message: &str, decision: Option<Arc<Decision>>| {
            (ended, decision, None, Ending::before_start(outcome, message))
        };
        let authorized = match self.authorize(request.caller, request.tool) {
            Ok(authorized) => authorized,
            Err(error) => {
                let message = format!("the call to `{name}` could not be authorised");
                return before(Ended::PolicyError(error), Outcome::Internal, &message, None);
            }
        };
        let decision = Some(authorized.decision.clone());
        if !authorized.decision.invoke_allowed() {
            return before(
                Ended::NotInvocable,
                Outcome::Refused,
                "policy denies invoking the tool",
                decision,
            );
        }
        if let Some(Err(problems)) = request.check_input.map(|check| check()) {
            let message = format!("invalid arguments for `{name}`: {problems}");
            return before(Ended::InvalidInput(message.clone()), Outcome::InvalidInput, &message, decision);
        }
        let grants = match offer(request.tool.loaded).and_then(|offer| {
            authorized.decision.grants(&authorized.request, &offer).map_err(|e| e.to_string())
        }) {
            Ok(grants) => grants,
            Err(error) => {
                return before(Ended::NotPrepared(error.clone()), Outcome::Internal, &error, decision);
            }
        };
        let clearance = match self.clear(request, &authorized.decision, &grants).await {
            Ok(clearance) => clearance,
            Err(error) => {
                let message = format!("the call to `{name}` needs approval, which could not be checked");
                return before(Ended::ApprovalUnchecked(error), Outcome::Internal, &message, decision);
            }
        };
        let approval = clearance.audit_record();
        if let Some(message) = clearance.message(request.resubmit) {
            let ending = Ending::before_start(Outcome::ApprovalRequired, &message);
            return (Ended::ApprovalRequired(message), decision, approval, ending);
        }
        tokio::select! {
            outcome = request.tool.loaded.call(&grants, request.input) => {
                let ending = airlock_host::audit::ending(&outcome, started.elapsed());
                (Ended::Ran(Box::new(outcome)), decision, approval, ending)
            }
            () = cancelled => {
                // Dropping the call future drops its store: the instance is gone.
                let message = format!("the call to `{name}` was cancelled");
                let ending = Ending {
                    duration_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
                    ..Ending::before_start(Outcome::Cancelled, &message)
                };
                (Ended::Cancelled, decision, approval, ending)
            }
        }
    }

    /// The approval check, on the blocking pool when it touches the store
    /// (SQLite).
    async fn clear(
        &self,
        request: &CallRequest<'_>,
        decision: &Arc<Decision>,
        grants: &GrantSet,
    ) -> Result<Clearance, String> {
        if decision.needing_approval().next().is_none() {
            return Ok(Clearance::NotNeeded);
        }
        let (approvals, principal, decision, grants, input, presented) = (
            self.approvals.clone(),
            request.caller.principal().clone(),
            decision.clone(),
            grants.clone(),
            request.input.to_owned(),
            request.approval.clone(),
        );
        tokio::task::spawn_blocking(move || {
            approvals
                .clear(&principal, &decision, &grants, &input, presented.as_deref(), SystemTime::now())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Appends `event`. An fsync can take a millisecond: on a
    /// multi-threaded runtime (a server) the worker hands its other tasks
    /// to the rest while it waits (`block_in_place`, no thread hand-off); a
    /// single-threaded one (a one-shot command) has nothing else to run.
    async fn append(&self, event: CallEvent) -> Result<(), String> {
        let append = || self.audit.append(Event::Call(Box::new(event))).map(drop).map_err(|e| e.to_string());
        match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(append),
            _ => append(),
        }
    }
}
