//! `airlock approve`, and the approval check `airlock run` makes before a
//! call that policy marks `@approval`.

use std::time::SystemTime;

use airlock_approval::{ApprovalError, ApprovalGate, Authority, CallRequest, Clearance, format_ms};
use airlock_audit::{ApprovalEvent, ApprovalRefusedEvent, ApproverRecord, AuditSink, BreakGlassEvent, Event};
use airlock_policy::Principal;
use airlock_policy::text::printable;
use anyhow::anyhow;
use serde_json::json;

use crate::args::ApproveArgs;
use crate::audit;
use crate::authorize;
use crate::config::{self, Config};
use crate::exit::{self, Failure};

pub(crate) fn approve(args: ApproveArgs) -> Result<(), Failure> {
    if args.list {
        let config = config::load(args.identity.config.config.as_deref())?;
        return list(&config);
    }
    let (config, token) = authorize::config_and_token(&args.identity)?;
    let log = audit::open_sink(&config)?;
    let verified = authorize::verify(&config, &token)?;
    let approver = verified.principal();
    let (attempt, result) = match (&args.request, &args.agent) {
        (Some(id), _) => (id.as_str(), grant(&config.approvals, &*log, approver, id, args.reason.as_deref())),
        (None, Some(agent)) => {
            let reason = args.reason.as_deref().unwrap_or_default();
            let window =
                Window { agent, agent_iss: args.agent_issuer.as_deref(), reason, duration: args.duration };
            ("break-glass", break_glass(&config, &*log, approver, &window))
        }
        (None, None) => {
            return Err(Failure::usage(anyhow!("name a REQUEST_ID, --list, or --break-glass --agent SUB")));
        }
    };
    match result {
        Err(failure) if failure.code != exit::INTERNAL => {
            record_refusal(&*log, approver, attempt, &failure)?;
            Err(failure)
        }
        other => other,
    }
}

/// Records a refused approval step: who tried what, and why.
pub(crate) fn record_refusal(
    log: &dyn AuditSink,
    approver: &Principal,
    attempt: &str,
    failure: &Failure,
) -> Result<(), Failure> {
    let event = ApprovalRefusedEvent {
        request_id: attempt.to_owned(),
        approver: ApproverRecord { sub: approver.sub().to_owned(), iss: approver.iss().to_owned() },
        error: airlock_audit::bounded(&format!("{:#}", failure.error)),
    };
    log.append(Event::ApprovalRefused(Box::new(event))).map(drop).map_err(|e| Failure::new(exit::INTERNAL, e))
}

/// Approves one request as `approver` (who must be human and unrelated to
/// the requester), records the approval and prints what was approved.
pub(crate) fn grant(
    gate: &ApprovalGate,
    log: &dyn AuditSink,
    approver: &Principal,
    id: &str,
    reason: Option<&str>,
) -> Result<(), Failure> {
    let approvers = gate.approvers();
    approvers.check_human(approver).map_err(refused)?;
    let store = gate.store().map_err(Failure::internal)?;
    let filed = store
        .approve(id, approver, reason, SystemTime::now(), approvers.approval_lifetime())
        .map_err(refused)?;
    let Some(granted) = &filed.approval else {
        return Err(Failure::internal(anyhow!("request `{id}` is not marked approved after approving it")));
    };
    let event = ApprovalEvent {
        request_id: filed.id.clone(),
        request_hash: filed.hash.clone(),
        requester: filed.request.requester.sub.clone(),
        tool: filed.request.tool.name.clone(),
        gated: filed.request.gated().collect(),
        approver: ApproverRecord { sub: approver.sub().to_owned(), iss: approver.iss().to_owned() },
        reason: reason.map(str::to_owned),
        expires: format_ms(granted.until_ms),
    };
    log.append(Event::Approval(Box::new(event))).map_err(|e| Failure::new(exit::INTERNAL, e))?;
    println!("approved {} ({}): {}", printable(&filed.id), filed.hash, who_calls_what(&filed.request));
    for gated in filed.request.gated() {
        println!("  {}", printable(&gated.to_string()));
    }
    println!("usable once, for exactly this call, until {}", format_ms(granted.until_ms));
    Ok(())
}

/// The break-glass window asked for on the command line.
struct Window<'a> {
    agent: &'a str,
    /// `--agent-issuer`, if given.
    agent_iss: Option<&'a str>,
    reason: &'a str,
    duration: std::time::Duration,
}

/// Opens a break-glass window for one agent `(iss, sub)`.
fn break_glass(
    config: &Config,
    log: &dyn AuditSink,
    opener: &Principal,
    asked: &Window<'_>,
) -> Result<(), Failure> {
    config.approvals.approvers().check_break_glass(opener).map_err(refused)?;
    let agent_iss = match (asked.agent_iss, config.issuers.as_slice()) {
        (Some(iss), trusted) if trusted.iter().any(|t| t == iss) => iss,
        (Some(iss), _) => {
            return Err(Failure::usage(anyhow!(
                "--agent-issuer `{}` is not a trusted [[issuer]] of this configuration",
                printable(iss)
            )));
        }
        (None, [only]) => only.as_str(),
        (None, _) => {
            return Err(Failure::usage(anyhow!(
                "several issuers are trusted: name the agent's with --agent-issuer ISS (a window lets through one (iss, sub) only)"
            )));
        }
    };
    let store = config.approvals.store().map_err(Failure::internal)?;
    let window = store
        .open_break_glass(opener, asked.agent, agent_iss, asked.reason, SystemTime::now(), asked.duration)
        .map_err(refused)?;
    let event = BreakGlassEvent {
        window_id: window.id.clone(),
        agent: window.agent.clone(),
        agent_iss: window.agent_iss.clone(),
        opener: ApproverRecord { sub: window.opener.clone(), iss: window.opener_iss.clone() },
        reason: window.reason.clone(),
        expires: format_ms(window.until_ms),
        severity: "high".to_owned(),
    };
    log.append(Event::BreakGlass(Box::new(event))).map_err(|e| Failure::new(exit::INTERNAL, e))?;
    println!(
        "BREAK-GLASS window {} open until {}: calls by `{}` (issuer `{}`) that need approval run without one, each flagged in the audit log",
        window.id,
        format_ms(window.until_ms),
        printable(&window.agent),
        printable(&window.agent_iss)
    );
    Ok(())
}

fn list(config: &Config) -> Result<(), Failure> {
    let store = config.approvals.store().map_err(Failure::internal)?;
    let pending = store.pending(SystemTime::now()).map_err(Failure::internal)?;
    if pending.is_empty() {
        println!("no requests are waiting for approval");
    }
    for filed in pending {
        println!(
            "{}  {}  {}  waiting until {}",
            printable(&filed.id),
            format_ms(filed.filed_ms),
            who_calls_what(&filed.request),
            format_ms(filed.pending_until_ms)
        );
        for gated in filed.request.gated() {
            println!("    {}", printable(&gated.to_string()));
        }
    }
    Ok(())
}

/// "`sub` (issuer `iss`) calling tool version (digest)", every part that
/// a token or a tool chose escaped, so a `sub` holding a newline or a
/// bidirectional override cannot pose as another line or another agent.
fn who_calls_what(request: &CallRequest) -> String {
    let tool = &request.tool;
    format!(
        "`{}` (issuer `{}`) calling {} {} ({})",
        printable(&request.requester.sub),
        printable(&request.requester.iss),
        printable(&tool.name),
        printable(&tool.version),
        printable(&tool.digest)
    )
}

/// The exit code for a refused approval step: 3 when the approver may not
/// approve it, 2 when the request cannot be approved (unknown, expired,
/// approved already), 6 when the store failed.
fn refused(error: ApprovalError) -> Failure {
    let code = match &error {
        ApprovalError::NotHuman { .. }
        | ApprovalError::SelfApproval { .. }
        | ApprovalError::NotBreakGlass(_) => exit::DENIED,
        ApprovalError::Store(_) => exit::INTERNAL,
        _ => exit::USAGE,
    };
    Failure::new(code, error)
}

/// Notes on stderr saying on whose authority a gated call ran, or that an
/// approval presented was not needed.
pub(crate) fn note(clearance: &Clearance, presented: bool) {
    match clearance {
        Clearance::NotNeeded if presented => {
            eprintln!("note: nothing in this call needs approval; --approval was not used");
        }
        Clearance::Cleared { authority, .. } => match authority.as_ref() {
            Authority::Approval { id, granted, .. } => {
                eprintln!(
                    "note: running on approval {} by `{}` (now used up)",
                    printable(id),
                    printable(&granted.approver)
                );
            }
            Authority::BreakGlass(window) => eprintln!(
                "airlock: BREAK-GLASS: running without approval under window {} opened by `{}` ({}) until {}",
                printable(&window.id),
                printable(&window.opener),
                printable(&window.reason),
                format_ms(window.until_ms)
            ),
        },
        _ => {}
    }
}

/// For a filed call: the JSON line for scripts (stdout) and the failure.
pub(crate) fn required(clearance: &Clearance, message: String) -> Failure {
    if let Clearance::Filed { filed, .. } = clearance {
        let line = json!({
            "approval_required": {
                "request_id": filed.id,
                "request_hash": filed.hash,
                "waiting_until": format_ms(filed.pending_until_ms),
            }
        });
        println!("{line}");
    }
    Failure::new(exit::APPROVAL_REQUIRED, anyhow!(message))
}
