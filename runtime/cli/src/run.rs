//! `airlock run`: one call, with grants derived from the caller's token by
//! policy, or (marked) exactly the command-line grants.

use std::time::Instant;

use airlock_audit::{AuditSink, CallApproval, CallEvent, Ending, Outcome, WorkspaceRecord};
use airlock_host::{CallError, CallOutcome, LoadedTool, ToolError};
use airlock_policy::authz::Decision;
use airlock_policy::text::{json_for_terminal, printable, printable_lines};
use airlock_policy::{GrantSet, Limits, Offer, Principal, resolve};
use airlock_workspace::StageOptions;
use anyhow::anyhow;

use crate::approve;
use crate::args::{self, RunArgs};
use crate::audit;
use crate::authorize;
use crate::config::{AuditSettings, Config};
use crate::exit::{self, Failure};
use crate::limits;
use crate::runtime;
use crate::secret;
use crate::workspace::{self, Judge, Staged, Workspace};

/// Printed to stderr whenever a call runs without an identity.
pub(crate) const OVERRIDE_NOTICE: &str = "airlock: OPERATOR OVERRIDE: no identity, no policy; the call gets exactly the --mount/--env/--net/--secret flags";

pub(crate) async fn run(args: RunArgs) -> Result<(), Failure> {
    let input = args::read_input(&args.input).map_err(Failure::usage)?;
    let (mounts, env) = args::parse_bindings(&args.mounts, &args.env).map_err(Failure::usage)?;
    let hosts =
        args.net.iter().map(|n| args::parse_net(n)).collect::<Result<Vec<_>, _>>().map_err(Failure::usage)?;
    let limits = limits::with_flags(Limits::default(), &args.limits)?;
    let mut offer = Offer { mounts, env, hosts, limits, ..Offer::default() };

    if args.operator_override {
        eprintln!("{OVERRIDE_NOTICE}");
        let log = audit::open_for_calls(&AuditSettings::default())?;
        let rt = runtime::runtime(&args.cache)?;
        let tool = runtime::load(&rt, &args.tool).await?;
        let workspace = prepare_workspace(&args, &tool, &log)?;
        offer.mounts.extend(workspace.as_ref().map(Workspace::offer));
        offer.secrets = secret::offered_by_flags(&args.secrets, &args.store)?;
        let grants = resolve(&tool.info().name, &tool.info().capabilities, &offer).map_err(Failure::usage)?;
        let (staged, grants) = stage(workspace.as_ref(), grants, || Judge::Override)?;
        let audited = Audited { log: &log, principal: None, decision: None, approval: None };
        let called = call(&tool, &grants, &input, audited, staged.as_ref()).await?;
        return report(&args, &tool, called, None);
    }

    let (config, token) = authorize::config_and_token(&args.identity)?;
    let log = audit::open_for_calls(&config.audit)?;
    let verified = match authorize::verify(&config, &token) {
        Ok(verified) => verified,
        Err(failure) => {
            audit::record_refused_token(&log, "cli", &failure)?;
            return Err(failure);
        }
    };
    // From here on every way out leaves a record of the call.
    let tracked = audit::Tracked::new(&log);
    let result = authorized_call(&args, &config, &tracked, &verified.principal, &input, offer).await;
    if let Err(failure) = &result
        && !tracked.recorded_a_call()
    {
        audit::record_failure(&log, "cli", Some(&verified.principal), &args.tool, &input, failure)?;
    }
    result
}

/// A verified caller's call: decide, clear approval, bind, stage, call,
/// record, report. Every call it makes is recorded in `log`.
async fn authorized_call(
    args: &RunArgs,
    config: &Config,
    log: &dyn AuditSink,
    principal: &Principal,
    input: &str,
    mut offer: Offer,
) -> Result<(), Failure> {
    let rt = runtime::runtime(&args.cache)?;
    let tool = runtime::load(&rt, &args.tool).await?;
    let workspace = prepare_workspace(args, &tool, log)?;
    offer.mounts.extend(workspace.as_ref().map(Workspace::offer));
    offer.limits = limits::with_flags(config.limits, &args.limits)?;
    offer.secrets = secret::offered_by_config(&tool, config.secrets.as_deref())?;
    let mut request = authorize::request(&tool, &offer.hosts)?;
    if let Some(workspace) = &workspace {
        request = workspace.request_for_decision(request);
    }
    let decision = authorize::decide(config, principal, &tool, &request)?;
    let mut audited = Audited { log, principal: Some(principal), decision: Some(&decision), approval: None };
    if !decision.invoke_allowed() {
        audited.record(
            &tool,
            input,
            Ending::before_start(Outcome::Refused, "policy denies invoking the tool"),
        )?;
    }
    let grants = authorize::grants(&decision, &tool, &request, &offer)?;
    let clearance =
        approve::clear(&config.approvals, principal, &decision, &grants, input, args.approval.as_deref())?;
    let approval = clearance.audit_record();
    audited.approval = approval.as_ref();
    if let Some(message) = clearance.message("`--approval ID` added to the same command") {
        audited.record(&tool, input, Ending::before_start(Outcome::ApprovalRequired, &message))?;
        return Err(approve::required(&clearance, message));
    }
    if decision.denials().next().is_some() {
        eprintln!(
            "note: policy denied part of what `{}` requested:\n{}",
            printable(&tool.info().name),
            printable_lines(&decision.to_string())
        );
    }
    let judge =
        || Judge::Policy { authorizer: &config.authorizer, principal, tool: authorize::tool_identity(&tool) };
    let (staged, grants) = stage(workspace.as_ref(), grants, judge)?;
    let called = call(&tool, &grants, input, audited, staged.as_ref()).await?;
    report(args, &tool, called, Some(&decision))
}

fn prepare_workspace(
    args: &RunArgs,
    tool: &LoadedTool,
    log: &dyn AuditSink,
) -> Result<Option<Workspace>, Failure> {
    let stage = StageOptions { parent: args.stage_dir.clone(), max_bytes: args.stage_max_bytes };
    let prepare = |dir| Workspace::prepare(dir, tool, args.dry_run.clone(), stage.clone(), log);
    let workspace = args.workspace.as_deref().map(prepare).transpose().map_err(workspace::failure)?;
    workspace::print_notes(workspace.as_ref().map_or(&[], Workspace::notes));
    Ok(workspace)
}

/// Stages the workspace, if there is one, and points its mount at the
/// stage.
fn stage<'a>(
    workspace: Option<&'a Workspace>,
    grants: GrantSet,
    judge: impl FnOnce() -> Judge<'a>,
) -> Result<(Option<Staged<'a>>, GrantSet), Failure> {
    match workspace {
        Some(workspace) => {
            let (staged, grants) = workspace.stage(grants, judge()).map_err(workspace::failure)?;
            workspace::print_notes(staged.notes());
            Ok((Some(staged), grants))
        }
        None => Ok((None, grants)),
    }
}

/// Where and as whom a call is recorded.
#[derive(Clone, Copy)]
pub(crate) struct Audited<'a> {
    pub(crate) log: &'a dyn AuditSink,
    pub(crate) principal: Option<&'a Principal>,
    pub(crate) decision: Option<&'a Decision>,
    /// How the call's approval was handled, when it needed one.
    pub(crate) approval: Option<&'a CallApproval>,
}

impl Audited<'_> {
    /// Appends the call's event; a call that cannot be recorded fails.
    pub(crate) fn record(&self, tool: &LoadedTool, input: &str, ending: Ending) -> Result<(), Failure> {
        self.record_with(tool, input, ending, None)
    }

    /// [`Audited::record`], with what became of a staged workspace.
    fn record_with(
        &self,
        tool: &LoadedTool,
        input: &str,
        ending: Ending,
        workspace: Option<WorkspaceRecord>,
    ) -> Result<(), Failure> {
        let identity = authorize::tool_identity(tool);
        let event = CallEvent::new("cli", self.principal, &identity, self.decision, input, ending)
            .with_approval(self.approval.cloned())
            .with_workspace(workspace);
        audit::record(self.log, event)
    }
}

/// A finished call, and what became of its workspace when it had one.
pub(crate) struct Called {
    pub(crate) outcome: CallOutcome,
    pub(crate) workspace: Option<WorkspaceRecord>,
}

fn report(
    args: &RunArgs,
    tool: &LoadedTool,
    called: Called,
    decision: Option<&Decision>,
) -> Result<(), Failure> {
    if args.show_output {
        print_captured(&called.outcome);
    }
    report_truncation(&called.outcome);
    report_network(&called.outcome);
    finish(tool, called, decision)
}

/// Refused requests are notes on stderr even when the tool handled them.
fn report_network(outcome: &CallOutcome) {
    for refusal in &outcome.network.refusals {
        eprintln!("note: tool network request refused: {}", printable(refusal));
    }
}

/// Calls the tool, settles its staged workspace (if any), records the
/// call, and maps runtime failures to exit codes. A call whose record
/// cannot be written fails.
pub(crate) async fn call(
    tool: &LoadedTool,
    grants: &GrantSet,
    input: &str,
    audited: Audited<'_>,
    staged: Option<&Staged<'_>>,
) -> Result<Called, Failure> {
    let started = Instant::now();
    let result = tool.call(grants, input).await;
    let elapsed = started.elapsed();
    let workspace = staged.map(|staged| staged.settle(&result));
    audited.record_with(tool, input, airlock_host::audit::ending(&result, elapsed), workspace.clone())?;
    let outcome = result.map_err(|e| {
        let code = match &e {
            CallError::Limit(_) => exit::LIMIT,
            CallError::Trap(_) => exit::TOOL_ERROR,
            CallError::Grant(_) | CallError::Limits(_) => exit::USAGE,
            _ => exit::INTERNAL,
        };
        Failure::new(
            code,
            anyhow!("tool `{}`: {}", printable(&tool.info().name), printable_lines(&e.to_string())),
        )
    })?;
    Ok(Called { outcome, workspace })
}

/// Prints the result (pretty JSON; with a workspace, `{"output": …,
/// "workspace": …}`) or maps the tool's error to an exit code. A denial
/// carries the policy explanation when there is one.
fn finish(tool: &LoadedTool, called: Called, decision: Option<&Decision>) -> Result<(), Failure> {
    match called.outcome.result {
        Ok(output) => {
            let value = serde_json::from_str::<serde_json::Value>(&output);
            let printed = match (&called.workspace, value) {
                (Some(workspace), value) => {
                    let output = value.unwrap_or(serde_json::Value::String(output));
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "output": output, "workspace": workspace }),
                    )
                    .map_err(Failure::internal)?
                }
                (None, Ok(value)) => serde_json::to_string_pretty(&value).map_err(Failure::internal)?,
                (None, Err(_)) => printable_lines(&output).into_owned(),
            };
            // Tool-controlled: JSON keeps its value with C1 controls escaped;
            // other output has every control character but newlines escaped.
            println!("{}", json_for_terminal(&printed));
            called.workspace.as_ref().map_or(Ok(()), workspace::exit_for)
        }
        Err(e) => {
            let denied = matches!(e, ToolError::Denied(_));
            let code = if denied { exit::DENIED } else { exit::TOOL_ERROR };
            let error = match decision {
                Some(decision) if denied => {
                    anyhow!(
                        "tool `{}`: {}\npolicy decision:\n{}",
                        printable(&tool.info().name),
                        printable(&e.to_string()),
                        printable_lines(&decision.to_string())
                    )
                }
                _ => anyhow!("tool `{}`: {}", printable(&tool.info().name), printable(&e.to_string())),
            };
            Err(Failure::new(code, error))
        }
    }
}

fn print_captured(outcome: &CallOutcome) {
    for (name, captured) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        for line in String::from_utf8_lossy(&captured.bytes).lines() {
            eprintln!("[tool {name}] {}", printable(line));
        }
    }
    for line in &outcome.logs {
        let fields: Vec<String> =
            line.fields.iter().map(|(k, v)| format!("{}={}", printable(k), printable(v))).collect();
        eprintln!("[tool log] {} {} {}", line.level, printable(&line.message), fields.join(" "));
    }
}

fn report_truncation(outcome: &CallOutcome) {
    for (name, captured) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if captured.truncated() {
            eprintln!("note: tool {name} truncated: {} bytes dropped past the cap", captured.dropped);
        }
    }
    if outcome.logs_dropped > 0 {
        eprintln!("note: {} tool log lines dropped past the cap", outcome.logs_dropped);
    }
}
