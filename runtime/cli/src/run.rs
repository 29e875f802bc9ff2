//! `airlock run`: one call, with grants derived from the caller's token by
//! policy, or (marked) exactly the command-line grants.

use std::sync::Arc;

use airlock_audit::{AuditSink, Outcome, WorkspaceRecord};
use airlock_gateway::{CallReport, CallRequest, Caller, Credential, Ended, Gateway, ToolRef};
use airlock_host::{CallError, CallOutcome, LoadedTool, ToolError};
use airlock_policy::authz::Decision;
use airlock_policy::text::{json_for_terminal, printable, printable_lines};
use airlock_policy::{Limits, Offer};
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
use crate::workspace::{self, Workspace};

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
        let log = Arc::new(audit::open_for_calls(&AuditSettings::default())?);
        let rt = runtime::runtime(&args.cache)?;
        let tool = runtime::load(&rt, &args.tool, &args.cache).await?;
        let workspace = prepare_workspace(&args, &tool, &*log)?;
        offer.mounts.extend(workspace.as_ref().map(Workspace::offer));
        offer.secrets = secret::offered_by_flags(&args.secrets, &args.store)?;
        let gateway = Gateway::without_policy(log);
        let identity = authorize::tool_identity(&tool, &args.tool);
        let named = ToolRef { loaded: &tool, identity: &identity };
        let report =
            call(&gateway, &args, Credential::OperatorOverride, named, workspace.as_ref(), &input, offer)
                .await;
        return settle(&args, &tool, report);
    }

    let (config, token) = authorize::config_and_token(&args.identity)?;
    let log = audit::open_sink(&config)?;
    let caller = match authorize::verify(&config, &token) {
        Ok(caller) => caller,
        Err(failure) => {
            audit::record_refused_token(&*log, "cli", &failure)?;
            return Err(failure);
        }
    };
    let Config { authorizer, approvals, limits, secrets, tool_signers, .. } = config;
    let gateway = Gateway::new(authorizer, approvals, log.clone());
    let setup = Setup { limits, secrets: secrets.as_deref(), signers: &tool_signers };
    // From here on every way out leaves a record of the call: the gateway's,
    // or (when it failed before reaching the gateway) this one.
    let (result, recorded) = authorized_call(&args, &gateway, &setup, &caller, &input, offer).await;
    if let Err(failure) = &result
        && !recorded
    {
        let outcome = match failure.code {
            exit::LIMIT => Outcome::Limit,
            exit::DENIED => Outcome::Refused,
            _ => Outcome::Internal,
        };
        let tool = args.tool.display().to_string();
        let message = format!("{:#}", failure.error);
        gateway
            .record_not_started("cli", Credential::Caller(&caller), &tool, &input, outcome, &message)
            .await
            .map(drop)
            .map_err(|e| Failure::new(exit::INTERNAL, anyhow!("{e}")))?;
    }
    result
}

/// What the configuration adds to a verified caller's offer.
struct Setup<'a> {
    limits: Limits,
    secrets: Option<&'a std::path::Path>,
    /// `[[tool_signers]]`: a registry tool's signature is checked for policy.
    signers: &'a [airlock_registry::TrustedSigner],
}

/// A verified caller's call: load, prepare the workspace, build the offer,
/// then the gateway's pipeline. Also says whether the gateway recorded it.
async fn authorized_call(
    args: &RunArgs,
    gateway: &Gateway,
    setup: &Setup<'_>,
    caller: &Caller,
    input: &str,
    mut offer: Offer,
) -> (Result<(), Failure>, bool) {
    let prepared = async {
        let rt = runtime::runtime(&args.cache)?;
        let tool = runtime::load(&rt, &args.tool, &args.cache).await?;
        let workspace = prepare_workspace(args, &tool, &**gateway.audit())?;
        offer.mounts.extend(workspace.as_ref().map(Workspace::offer));
        offer.limits = limits::with_flags(setup.limits, &args.limits)?;
        offer.secrets = secret::offered_by_config(&tool, setup.secrets)?;
        Ok::<_, Failure>((rt, tool, workspace, offer))
    };
    let (_rt, tool, workspace, offer) = match prepared.await {
        Ok(prepared) => prepared,
        Err(failure) => return (Err(failure), false),
    };
    let mut identity = authorize::tool_identity(&tool, &args.tool);
    identity.signer = crate::registry::signer_of(&args.tool, setup.signers).await;
    let named = ToolRef { loaded: &tool, identity: &identity };
    let report =
        call(gateway, args, Credential::Caller(caller), named, workspace.as_ref(), input, offer).await;
    let recorded = report.recorded.is_ok();
    (settle(args, &tool, report), recorded)
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

/// The gateway's pipeline for one call from the command line.
async fn call(
    gateway: &Gateway,
    args: &RunArgs,
    credential: Credential<'_>,
    tool: ToolRef<'_>,
    workspace: Option<&Workspace>,
    input: &str,
    offer: Offer,
) -> CallReport {
    let hosts = offer.hosts.clone();
    let request = CallRequest {
        transport: "cli",
        credential,
        tool,
        input,
        parsed_input: None,
        approval: args.approval.clone(),
        resubmit: "`--approval ID` added to the same command",
        hosts: &hosts,
        workspace,
        watcher: None,
    };
    gateway.call(request, move |_| Ok(offer), std::future::pending()).await
}

/// How the call ended, as notes, output and an exit code.
fn settle(args: &RunArgs, tool: &LoadedTool, report: CallReport) -> Result<(), Failure> {
    let name = printable(&tool.info().name).into_owned();
    report.recorded.map_err(|e| Failure::new(exit::INTERNAL, anyhow!("{e}")))?;
    workspace::print_notes(&report.notes);
    approve::note(&report.clearance, args.approval.is_some());
    let decision = report.decision.as_deref();
    match report.ended {
        Ended::BadRequest(error) | Ended::NotPrepared(error) => Err(Failure::usage(anyhow!("{error}"))),
        Ended::PolicyError(error) | Ended::ApprovalUnchecked(error) => {
            Err(Failure::internal(anyhow!("{error}")))
        }
        Ended::NotInvocable => {
            let decision = decision.map(ToString::to_string).unwrap_or_default();
            Err(Failure::new(exit::DENIED, anyhow!("policy denies invoking tool `{name}`:\n{decision}")))
        }
        Ended::InvalidInput(problems) => Err(Failure::new(
            exit::TOOL_ERROR,
            anyhow!(
                "tool `{name}`: invalid input: input does not match the schema: {}",
                printable(&problems)
            ),
        )),
        Ended::ApprovalRequired(message) => Err(approve::required(&report.clearance, message)),
        Ended::NotStaged(failure) => Err(workspace::failure(failure)),
        Ended::Cancelled => Err(Failure::internal(anyhow!("the call to `{name}` was cancelled"))),
        Ended::Ran(result) => {
            if let Some(decision) = decision
                && decision.denials().next().is_some()
            {
                eprintln!(
                    "note: policy denied part of what `{name}` requested:\n{}",
                    printable_lines(&decision.to_string())
                );
            }
            let outcome = (*result).map_err(|e| {
                let code = match &e {
                    CallError::Limit(_) => exit::LIMIT,
                    CallError::Trap(_) => exit::TOOL_ERROR,
                    CallError::Grant(_) | CallError::Limits(_) => exit::USAGE,
                    _ => exit::INTERNAL,
                };
                Failure::new(code, anyhow!("tool `{name}`: {}", printable_lines(&e.to_string())))
            })?;
            report_call(args, tool, Called { outcome, workspace: report.workspace }, decision)
        }
    }
}

/// A finished call, and what became of its workspace when it had one.
pub(crate) struct Called {
    pub(crate) outcome: CallOutcome,
    pub(crate) workspace: Option<WorkspaceRecord>,
}

fn report_call(
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
    report_content(&called.outcome);
    finish(tool, called, decision)
}

/// Content blocks are for MCP clients; `run` says what there was, on
/// stderr, so nothing a tool returned goes unseen.
fn report_content(outcome: &CallOutcome) {
    use airlock_host::{ContentBlock, ResourceBody};
    for block in &outcome.content {
        let what = match block {
            ContentBlock::Text(text) => format!("text, {} bytes", text.len()),
            ContentBlock::Image { mime_type, data } => format!("image {mime_type}, {} bytes", data.len()),
            ContentBlock::Audio { mime_type, data } => format!("audio {mime_type}, {} bytes", data.len()),
            ContentBlock::ResourceLink { uri, .. } => format!("link to {}", printable(uri)),
            ContentBlock::Resource { uri, body, .. } => {
                let size = match body {
                    ResourceBody::Text(text) => text.len(),
                    ResourceBody::Blob(data) => data.len(),
                };
                format!("resource {}, {size} bytes", printable(uri))
            }
        };
        eprintln!("note: content block ({what}); MCP clients receive it, `run` prints only the JSON output");
    }
}

/// Refused requests are notes on stderr even when the tool handled them.
fn report_network(outcome: &CallOutcome) {
    for refusal in &outcome.network.refusals {
        eprintln!("note: tool network request refused: {}", printable(refusal));
    }
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
