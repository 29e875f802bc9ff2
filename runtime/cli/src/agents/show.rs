//! `airlock agents show`: one identity's effective grants beside its use.

use std::collections::BTreeSet;

use airlock_audit::Record;
use airlock_inventory::{ToolGrants, findings, grants_of, with_effective};
use anyhow::anyhow;
use serde_json::json;

use super::{for_each_record, sources, window_start};
use crate::args::AgentsShowArgs;
use crate::effective::{Subject, configured_tools, effective_grants, subject_from_file, subject_from_record};
use crate::exit::Failure;

pub(super) async fn show(args: AgentsShowArgs) -> Result<(), Failure> {
    let since = window_start(&args.window)?;
    let (overview, log) = sources(&args.window)?;
    // One pass for the issuers the sub came from, then its grants.
    let mut records = Vec::new();
    let mut issuers = BTreeSet::new();
    for_each_record(&log, |record| {
        if let airlock_audit::Event::Call(call) = &record.event
            && let Some(principal) = &call.principal
            && principal.sub == args.sub
            && since.as_deref().is_none_or(|s| record.time.as_str() >= s)
        {
            issuers.insert(principal.iss.clone());
            records.push(record.clone());
        }
    })?;
    if args.iss.is_none() && issuers.len() > 1 {
        let listed: Vec<&str> = issuers.iter().map(String::as_str).collect();
        return Err(Failure::usage(anyhow!(
            "`{}` called from {} issuers ({}): name one with --iss",
            args.sub,
            listed.len(),
            listed.join(", ")
        )));
    }
    let iss = args.iss.clone().or_else(|| issuers.into_iter().next());
    let recorded = grants_of(&records, iss.as_deref(), &args.sub, since.as_deref());
    let (tools, claims_from) = match (&overview, &args.window.config) {
        (Some(overview), Some(config)) => match subject(&args, iss.as_deref(), &records)? {
            Some(subject) => match configured_tools(config, &args.cache).await? {
                Some(catalog) => {
                    let decided = effective_grants(&catalog, &overview.authorizer, &subject.principal)?;
                    (with_effective(recorded, &decided), Some(subject.claims_from))
                }
                None => (recorded, None),
            },
            None => (recorded, None),
        },
        _ => (recorded, None),
    };
    let findings = findings(&tools);
    if args.window.json {
        let document = json!({
            "sub": args.sub,
            "iss": iss,
            "since": since,
            "effective_grants_for": claims_from,
            "tools": tools,
            "findings": findings,
        });
        println!("{document:#}");
        return Ok(());
    }
    let window = since.as_deref().map_or_else(|| "in the whole log".to_owned(), |s| format!("since {s}"));
    if tools.is_empty() {
        println!("{}: no calls {window}", args.sub);
        return Ok(());
    }
    println!("{} ({}), calls {window}:", args.sub, iss.unwrap_or_default());
    match &claims_from {
        Some(from) => println!("effective grants (\"now:\") decided for {from}"),
        None if args.window.config.is_none() => {
            println!("(no --config: the grants recorded in calls only, not what policy permits now)")
        }
        None => {}
    }
    for tool in &tools {
        print_tool(tool);
    }
    if !findings.is_empty() {
        println!("findings:");
        for finding in &findings {
            println!("  {}", finding.message);
        }
    }
    Ok(())
}

/// Whose effective grants to decide: the claims in --claims, else those of
/// the identity's last call in the window; none without either.
fn subject(args: &AgentsShowArgs, iss: Option<&str>, records: &[Record]) -> Result<Option<Subject>, Failure> {
    if let Some(file) = &args.claims {
        return subject_from_file(file, &args.sub, args.iss.as_deref(), iss).map(Some);
    }
    let last = records.iter().rev().find_map(|record| match &record.event {
        airlock_audit::Event::Call(call) => call
            .principal
            .as_ref()
            .filter(|p| iss.is_none_or(|iss| p.iss == iss))
            .map(|p| (p, record.time.as_str())),
        _ => None,
    });
    last.map(|(principal, time)| subject_from_record(principal, time)).transpose()
}

fn print_tool(tool: &ToolGrants) {
    if tool.calls == 0 {
        println!("{}: never called", tool.tool);
    } else {
        println!("{}: {} call(s) ran", tool.tool, tool.calls);
    }
    for grant in &tool.grants {
        let policies: Vec<&str> = grant.policies.iter().map(String::as_str).collect();
        let decided = match (grant.granted, grant.denied) {
            (0, 0) => "never asked".to_owned(),
            (0, denied) => format!("denied in {denied}"),
            (granted, 0) => format!("granted in {granted}, used in {}", grant.used),
            (granted, denied) => format!("granted in {granted}, used in {}, denied in {denied}", grant.used),
        };
        let by = match (grant.granted + grant.denied, policies.is_empty()) {
            (0, _) => String::new(),
            (_, true) => " (default deny)".to_owned(),
            (_, false) => format!(" ({})", policies.join(", ")),
        };
        let now = grant.effective.as_ref().map_or_else(String::new, |effective| {
            let verdict = if effective.allowed { "allow" } else { "deny" };
            match effective.policies.is_empty() {
                true if effective.allowed => format!("; now: {verdict}"),
                true => format!("; now: {verdict} (default deny)"),
                false => format!("; now: {verdict} ({})", effective.policies.join(", ")),
            }
        });
        println!("  {:<14} {:<48} {decided}{by}{now}", grant.action, grant.resource);
    }
}
