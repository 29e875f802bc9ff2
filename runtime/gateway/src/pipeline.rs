//! One call, every step in one order: decide (once per caller and tool),
//! bind the operator's offer, check the input, clear approval, stage the
//! workspace, run in a fresh sandbox (or be cancelled), settle the
//! workspace, record. [`Gateway::call`] is the only way through: each way a
//! call can end is an [`Ended`], and every one of them is appended to the
//! audit log before the door hears of it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use airlock_approval::{ApprovalGate, Approvers, Clearance};
use airlock_audit::{AuditSink, CallApproval, CallEvent, Ending, Event, Outcome, WorkspaceRecord};
use airlock_host::{CallError, CallOutcome, LoadedTool, Watcher};
use airlock_policy::authz::{Authorizer, Decision, ToolIdentity};
use airlock_policy::{CapabilityRequest, GrantSet, NetGrant, Offer, Principal};

use crate::caller::Caller;
use crate::metrics::Metrics;
use crate::schema::Schemas;
use crate::workspace::{Judge, Staged, Workspace, WorkspaceFailure};

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
    schemas: Schemas,
    metrics: Option<Arc<Metrics>>,
    /// Tells this gateway's decisions from another's (a reload makes a new
    /// gateway): a caller reuses only decisions of the gateway at hand.
    id: u64,
}

/// The next gateway's id.
static NEXT_GATEWAY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A tool as the gateway sees it: the loaded component and how policy
/// names it.
#[derive(Clone, Copy)]
pub struct ToolRef<'a> {
    /// The compiled, pre-instantiated component.
    pub loaded: &'a LoadedTool,
    /// Its name, version and digest.
    pub identity: &'a ToolIdentity,
}

impl<'a> ToolRef<'a> {
    /// `loaded`, as policy names it (see [`identity_of`]).
    pub fn new(loaded: &'a LoadedTool, identity: &'a ToolIdentity) -> Self {
        Self { loaded, identity }
    }
}

/// How policy names a loaded tool: its name, version and the digest of its
/// component.
/// Its `source` is `file` and it has no signer: a door that loaded it from
/// a registry says so itself.
pub fn identity_of(tool: &LoadedTool) -> ToolIdentity {
    ToolIdentity::file(&tool.info().name, &tool.info().version, &tool.digest().to_string())
}

/// Who a call is made as.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// A verified caller: policy decides its grants.
    Caller(&'a Caller),
    /// An operator at the command line, on purpose (`--operator-override`):
    /// no identity, no policy, no approval; the call gets exactly the
    /// offer. Recorded with no principal.
    OperatorOverride,
}

/// One call as a door hands it over.
pub struct CallRequest<'a> {
    /// The door, as recorded: `mcp-http`, `mcp-stdio`, `cli`.
    pub transport: &'static str,
    /// Who calls.
    pub credential: Credential<'a>,
    /// What is called.
    pub tool: ToolRef<'a>,
    /// The input, as recorded (its hash) and handed to the tool.
    pub input: &'a str,
    /// `input` already parsed, when the door has it (the MCP door receives
    /// the arguments as JSON values): the schema check then does not parse
    /// `input` again. It must be the value `input` is the text of.
    pub parsed_input: Option<&'a serde_json::Value>,
    /// The id of an approved request, when the caller presents one.
    pub approval: Option<String>,
    /// How a caller re-submits a call once approved, in this door's words
    /// (for the approval-required message).
    pub resubmit: &'a str,
    /// Destinations the operator offers beyond the tool's own request
    /// (each must lie inside a requested one); policy decides them too. A
    /// decision with offered hosts is not remembered for the caller.
    pub hosts: &'a [NetGrant],
    /// A checkout the tool works on through a private stage, if any.
    pub workspace: Option<&'a Workspace>,
    /// Hears the tool's log lines while it runs (the MCP door forwards
    /// them to the client that asked for them), if any.
    pub watcher: Option<Arc<dyn Watcher>>,
}

impl<'a> CallRequest<'a> {
    /// A call of `tool` with `input` by `credential` through `transport`,
    /// with no input check, no approval presented, no offered hosts and no
    /// workspace (set those fields to add them).
    pub fn new(
        transport: &'static str,
        credential: Credential<'a>,
        tool: ToolRef<'a>,
        input: &'a str,
    ) -> Self {
        Self {
            transport,
            credential,
            tool,
            input,
            parsed_input: None,
            approval: None,
            resubmit: "the approved request's id",
            hosts: &[],
            workspace: None,
            watcher: None,
        }
    }
}

/// How a call ended. Every variant was recorded in the audit log (unless
/// [`CallReport::recorded`] says the record failed).
#[derive(Debug)]
pub enum Ended {
    /// The tool's capability request, with the offered hosts, is not
    /// valid (an offered host outside what the tool requests); nothing ran.
    BadRequest(String),
    /// Policy could not be evaluated; nothing ran.
    PolicyError(String),
    /// Policy does not let the caller invoke the tool; nothing ran.
    NotInvocable,
    /// The input does not match the tool's input schema (or the door's
    /// check refused it): the violations, each by JSON pointer and keyword.
    /// No instance was made.
    InvalidInput(String),
    /// The operator's offer could not be bound to the decision; nothing ran.
    NotPrepared(String),
    /// The call needs a human's approval, which could not be checked.
    ApprovalUnchecked(String),
    /// The call needs a human's approval: it was filed (or the approval
    /// presented was refused), and the message says how to re-submit.
    ApprovalRequired(String),
    /// The workspace could not be staged; nothing ran.
    NotStaged(WorkspaceFailure),
    /// The door cancelled the call while it ran; the instance is gone.
    Cancelled,
    /// The tool ran: its outcome, or the limit, trap or error that ended it.
    Ran(Box<Result<CallOutcome, CallError>>),
}

/// What became of one call.
pub struct CallReport {
    /// The call's id, as in its audit record (`call-…`): doors put it in
    /// their log lines about the call.
    pub call_id: String,
    /// How it ended.
    pub ended: Ended,
    /// The decision, when one was taken.
    pub decision: Option<Arc<Decision>>,
    /// How its approval was handled, when it needed one.
    pub approval: Option<CallApproval>,
    /// The approval check's answer ([`Clearance::NotNeeded`] when it was
    /// not reached).
    pub clearance: Clearance,
    /// What became of the workspace, when the call had one and ran.
    pub workspace: Option<WorkspaceRecord>,
    /// What staging found that the operator should know.
    pub notes: Vec<String>,
    /// The audit record: `Err` with the reason when it could not be
    /// written. A door must then report the call as failed.
    pub recorded: Result<(), String>,
}

/// What the steps before the record produced.
struct Steps {
    ended: Ended,
    decision: Option<Arc<Decision>>,
    clearance: Clearance,
    workspace: Option<WorkspaceRecord>,
    notes: Vec<String>,
    ending: Ending,
}

impl Steps {
    /// A call that ended before it ran.
    fn before(ended: Ended, outcome: Outcome, message: &str, decision: Option<Arc<Decision>>) -> Self {
        let ending = Ending::before_start(outcome, message);
        Self { ended, decision, clearance: Clearance::NotNeeded, workspace: None, notes: Vec::new(), ending }
    }
}

impl Gateway {
    /// A gateway deciding with `authorizer`, checking calls marked
    /// `@approval` against `approvals` and recording every call in `audit`.
    pub fn new(authorizer: Authorizer, approvals: ApprovalGate, audit: Arc<dyn AuditSink>) -> Self {
        let id = NEXT_GATEWAY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            authorizer,
            approvals: Arc::new(approvals),
            audit,
            schemas: Schemas::default(),
            metrics: None,
            id,
        }
    }

    /// The same gateway, counting every call, denial, approval, refusal
    /// and audit append in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        metrics.watch_approvals(self.approvals.clone());
        self.metrics = Some(metrics);
        self
    }

    /// A gateway with no policy and no approvers, for operator-override
    /// calls ([`Credential::OperatorOverride`]) only: a verified caller's
    /// call through it is denied by default.
    pub fn without_policy(audit: Arc<dyn AuditSink>) -> Self {
        let authorizer = match Authorizer::new(&[]) {
            Ok(authorizer) => authorizer,
            Err(e) => unreachable!("an empty policy set always loads: {e}"),
        };
        let approvals = ApprovalGate::new(None, Approvers::new(Vec::new(), Vec::new()));
        Self::new(authorizer, approvals, audit)
    }

    /// Where calls are recorded.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// Who may approve gated calls, and the store of requests.
    pub fn approvals(&self) -> &ApprovalGate {
        &self.approvals
    }

    /// The decision for `caller` and `tool`, taken on first use and then
    /// remembered by the caller for its token's lifetime.
    pub fn authorize(&self, caller: &Caller, tool: ToolRef<'_>) -> Result<Arc<Authorized>, String> {
        self.decide(caller, tool, &[], None).map_err(|e| match e {
            Ended::BadRequest(error) | Ended::PolicyError(error) => error,
            other => format!("{other:?}"),
        })
    }

    /// The decision for `caller` and `tool` with `hosts` offered and the
    /// workspace (if any) asked read-only; remembered for the caller only
    /// when neither is there (the same every time).
    fn decide(
        &self,
        caller: &Caller,
        tool: ToolRef<'_>,
        hosts: &[NetGrant],
        workspace: Option<&Workspace>,
    ) -> Result<Arc<Authorized>, Ended> {
        let plain = hosts.is_empty() && workspace.is_none();
        if plain && let Some(known) = caller.decision(self.id, &tool.identity.name) {
            return Ok(known);
        }
        let (request, decision) = decision(&self.authorizer, caller.principal(), tool, hosts, workspace)?;
        let authorized = Arc::new(Authorized { decision: Arc::new(decision), request });
        if plain {
            caller.remember(self.id, &tool.identity.name, authorized.clone());
        }
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
        let arrived = Instant::now();
        let Steps { ended, decision, clearance, workspace, notes, ending } =
            self.run(&request, offer, cancelled).await;
        let approval = clearance.audit_record();
        let event = CallEvent::new(
            request.transport,
            principal(request.credential),
            request.tool.identity,
            decision.as_deref(),
            request.input,
            ending,
        )
        .with_approval(approval.clone())
        .with_workspace(workspace.clone());
        let call_id = event.call_id.clone().unwrap_or_default();
        if let Some(metrics) = &self.metrics {
            metrics.call(&request.tool.identity.name, &event, Some(arrived.elapsed()));
        }
        let recorded = self.append(event).await;
        CallReport { call_id, ended, decision, approval, clearance, workspace, notes, recorded }
    }

    /// Records a call that ended before it could start: a tool that does
    /// not exist or did not load, a workspace that could not be prepared,
    /// an offer that could not be built. `tool` is the name the caller
    /// used; `outcome` and `message` say how it ended. Returns the record's
    /// call id (for the door's log line), or why it could not be written.
    pub async fn record_not_started(
        &self,
        transport: &'static str,
        credential: Credential<'_>,
        tool: &str,
        input: &str,
        outcome: Outcome,
        message: &str,
    ) -> Result<String, String> {
        let named = ToolIdentity::file(tool, "", "");
        let ending = Ending::before_start(outcome, message);
        let event = CallEvent::new(transport, principal(credential), &named, None, input, ending);
        if let Some(metrics) = &self.metrics {
            metrics.call(crate::metrics::NO_TOOL, &event, None);
        }
        let call_id = event.call_id.clone().unwrap_or_default();
        self.append(event).await.map(|()| call_id)
    }

    /// The steps before the record.
    async fn run(
        &self,
        request: &CallRequest<'_>,
        offer: impl FnOnce(&LoadedTool) -> Result<Offer, String>,
        cancelled: impl Future<Output = ()>,
    ) -> Steps {
        let name = &request.tool.identity.name;
        let Credential::Caller(caller) = request.credential else {
            return self.run_override(request, offer, cancelled).await;
        };
        let authorized = match self.decide(caller, request.tool, request.hosts, request.workspace) {
            Ok(authorized) => authorized,
            Err(ended @ Ended::BadRequest(_)) => {
                return Steps::before(ended, Outcome::Refused, "the capability request is not valid", None);
            }
            Err(ended) => {
                let message = format!("the call to `{name}` could not be authorised");
                return Steps::before(ended, Outcome::Internal, &message, None);
            }
        };
        let decision = Some(authorized.decision.clone());
        if !authorized.decision.invoke_allowed() {
            return Steps::before(
                Ended::NotInvocable,
                Outcome::Refused,
                "policy denies invoking the tool",
                decision,
            );
        }
        let grants = match offer(request.tool.loaded).and_then(|offer| {
            authorized.decision.grants(&authorized.request, &offer).map_err(|e| e.to_string())
        }) {
            Ok(grants) => grants,
            Err(error) => {
                return Steps::before(Ended::NotPrepared(error.clone()), Outcome::Internal, &error, decision);
            }
        };
        if let Some(refused) = self.refused_input(request, &decision) {
            return refused;
        }
        let clearance = match self.clear(request, caller.principal(), &authorized.decision, &grants).await {
            Ok(clearance) => clearance,
            Err(error) => {
                let message = format!("the call to `{name}` needs approval, which could not be checked");
                return Steps::before(Ended::ApprovalUnchecked(error), Outcome::Internal, &message, decision);
            }
        };
        if let Some(message) = clearance.message(request.resubmit) {
            let ending = Ending::before_start(Outcome::ApprovalRequired, &message);
            let ended = Ended::ApprovalRequired(message);
            return Steps { ended, decision, clearance, workspace: None, notes: Vec::new(), ending };
        }
        let judge = || Judge::Policy {
            authorizer: &self.authorizer,
            principal: caller.principal(),
            tool: request.tool.identity.clone(),
        };
        let mut steps = self.stage_and_run(request, grants, judge, cancelled).await;
        steps.decision = decision;
        steps.clearance = clearance;
        steps
    }

    /// The input against the tool's schema (compiled once per tool): how
    /// the call ends ([`Ended::InvalidInput`]) when it does not fit.
    fn refused_input(&self, request: &CallRequest<'_>, decision: &Option<Arc<Decision>>) -> Option<Steps> {
        let checked = match (self.schemas.of(request.tool.loaded).as_ref(), request.parsed_input) {
            (Ok(schema), Some(value)) => schema.check_value(value),
            (Ok(schema), None) => schema.check(request.input),
            (Err(error), _) => Err(error.clone()),
        };
        checked.err().map(|problems| {
            let message = format!("invalid arguments for `{}`: {problems}", request.tool.identity.name);
            Steps::before(Ended::InvalidInput(problems), Outcome::InvalidInput, &message, decision.clone())
        })
    }

    /// An operator-override call: exactly the offer, no policy, no approval.
    async fn run_override(
        &self,
        request: &CallRequest<'_>,
        offer: impl FnOnce(&LoadedTool) -> Result<Offer, String>,
        cancelled: impl Future<Output = ()>,
    ) -> Steps {
        let tool = request.tool;
        let grants = offer(tool.loaded).and_then(|offer| {
            airlock_policy::resolve(&tool.identity.name, &tool.loaded.info().capabilities, &offer)
                .map_err(|e| e.to_string())
        });
        let grants = match grants {
            Ok(grants) => grants,
            Err(error) => {
                return Steps::before(Ended::NotPrepared(error.clone()), Outcome::Internal, &error, None);
            }
        };
        if let Some(refused) = self.refused_input(request, &None) {
            return refused;
        }
        self.stage_and_run(request, grants, || Judge::Override, cancelled).await
    }

    /// Stages the workspace (if any), runs the call (unless cancelled) and
    /// settles the workspace.
    async fn stage_and_run<'a>(
        &self,
        request: &'a CallRequest<'_>,
        grants: GrantSet,
        judge: impl FnOnce() -> Judge<'a>,
        cancelled: impl Future<Output = ()>,
    ) -> Steps {
        let name = &request.tool.identity.name;
        // A call whose record cannot be written must not run: a shared
        // store that does not answer now stops it here.
        if let Err(error) = self.audit.ready() {
            let message = format!("the audit log cannot be reached ({error}); nothing ran");
            return Steps::before(Ended::NotPrepared(message.clone()), Outcome::Internal, &message, None);
        }
        let (staged, grants): (Option<Staged<'_>>, GrantSet) = match request.workspace {
            None => (None, grants),
            Some(workspace) => match workspace.stage(grants, judge()) {
                Ok((staged, grants)) => (Some(staged), grants),
                Err(failure) => {
                    let outcome = match failure.kind {
                        crate::workspace::FailureKind::Limit => Outcome::Limit,
                        crate::workspace::FailureKind::Denied => Outcome::Refused,
                        _ => Outcome::Internal,
                    };
                    let message = failure.to_string();
                    return Steps::before(Ended::NotStaged(failure), outcome, &message, None);
                }
            },
        };
        let notes = staged.as_ref().map(|s| s.notes().to_vec()).unwrap_or_default();
        let _running = self.metrics.as_ref().map(Metrics::running);
        let started = Instant::now();
        tokio::select! {
            (outcome, usage) = request.tool.loaded.call_reporting_usage(&grants, request.input, request.watcher.clone()) => {
                let ending = airlock_host::audit::ending(&outcome, &usage, started.elapsed());
                let workspace = staged.as_ref().map(|staged| staged.settle(&outcome));
                let ended = Ended::Ran(Box::new(outcome));
                Steps { ended, decision: None, clearance: Clearance::NotNeeded, workspace, notes, ending }
            }
            () = cancelled => {
                // Dropping the call future drops its store: the instance is gone.
                let message = format!("the call to `{name}` was cancelled");
                let ending = Ending {
                    duration_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
                    ..Ending::before_start(Outcome::Cancelled, &message)
                };
                Steps { ended: Ended::Cancelled, decision: None, clearance: Clearance::NotNeeded, workspace: None, notes, ending }
            }
        }
    }

    /// The approval check, on the blocking pool when it touches the store
    /// (SQLite).
    async fn clear(
        &self,
        request: &CallRequest<'_>,
        principal: &Principal,
        decision: &Arc<Decision>,
        grants: &GrantSet,
    ) -> Result<Clearance, String> {
        if decision.needing_approval().next().is_none() {
            return Ok(Clearance::NotNeeded);
        }
        let (approvals, principal, decision, grants, input, presented) = (
            self.approvals.clone(),
            principal.clone(),
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
    /// multi-threaded runtime (a server) with a sink that waits for its
    /// disk, the worker hands its other tasks to another thread while it
    /// waits (`block_in_place`); otherwise the append runs in place (a
    /// one-shot command has nothing else to run, and a quick append is
    /// cheaper than the hand-off).
    async fn append(&self, event: CallEvent) -> Result<(), String> {
        let append = || {
            let started = Instant::now();
            let appended =
                self.audit.append(Event::Call(Box::new(event))).map(drop).map_err(|e| e.to_string());
            if let Some(metrics) = &self.metrics {
                metrics.appended(started.elapsed());
            }
            appended
        };
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        if flavor == tokio::runtime::RuntimeFlavor::MultiThread && self.audit.waits() {
            tokio::task::block_in_place(append)
        } else {
            append()
        }
    }
}

/// Who a call is recorded as: the caller, or no one (an operator override).
fn principal(credential: Credential<'_>) -> Option<&Principal> {
    match credential {
        Credential::Caller(caller) => Some(caller.principal()),
        Credential::OperatorOverride => None,
    }
}

/// The tool's capability request (with `hosts` offered, and the
/// workspace's mount asked read-only) and policy's decision on it for
/// `principal`: what [`Gateway::call`] decides, and what `policy explain`
/// shows without running anything.
pub fn decision(
    authorizer: &Authorizer,
    principal: &Principal,
    tool: ToolRef<'_>,
    hosts: &[NetGrant],
    workspace: Option<&Workspace>,
) -> Result<(CapabilityRequest, Decision), Ended> {
    let mut request = tool
        .loaded
        .info()
        .capabilities
        .with_offered_hosts(&tool.identity.name, hosts)
        .map_err(|e| Ended::BadRequest(e.to_string()))?;
    if let Some(workspace) = workspace {
        request = workspace.request_for_decision(request);
    }
    let decision = authorizer
        .decide(principal, tool.identity, &request)
        .map_err(|e| Ended::PolicyError(e.to_string()))?;
    Ok((request, decision))
}
