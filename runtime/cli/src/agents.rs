//! `airlock agents`: the agent identities the audit log shows.

use std::collections::BTreeSet;

use airlock_audit::Record;
use airlock_inventory::{
    Builder, Inventory, ToolGrants, findings, grants_of, principals_named, with_effective,
};
use anyhow::anyhow;
use serde_json::json;

use crate::args::{AgentsCommand, AgentsListArgs, AgentsShowArgs, AgentsWindowArgs, LogArgs};
use crate::audit::{read_log, since_time};
use crate::effective::{Subject, effective_grants, subject_from_file, subject_from_record};
use crate::exit::{self, Failure};

pub(crate) async fn agents(command: AgentsCommand) -> Result<(), Failure> {
    match command {
        AgentsCommand::List(args) => list(args),
        AgentsCommand::Show(args) => show(args).await,
    }
}

/// What the configuration says about who should appear.
#[derive(Default)]
struct Expected {
    issuers: Vec<String>,
    named: BTreeSet<String>,
    /// Policy ids by effect (`permit`, `forbid`).
    policies: Vec<(String, String)>,
}

impl Expected {
    fn ids(&self, effect: &str) -> Vec<String> {
        self.policies.iter().filter(|(_, e)| e == effect).map(|(id, _)| id.clone()).collect()
    }
}

fn list(AgentsListArgs { stale, window: args }: AgentsListArgs) -> Result<(), Failure> {
    let since = args
        .since
        .as_deref()
        .map(since_time)
        .transpose()
        .map_err(|e| Failure::usage(anyhow!("--since: {e}")))?;
    let (overview, log) = sources(&args)?;
    let expected = overview
        .map(|o| {
            let set = o.authorizer.policy_set();
            let policies: Vec<serde_json::Value> = set.policies().filter_map(|p| p.to_json().ok()).collect();
            let ids = set.policies().map(|p| (p.id().to_string(), p.effect().to_string())).collect();
            Expected { issuers: o.issuers, named: principals_named(&policies), policies: ids }
        })
        .unwrap_or_default();
    let mut builder = Builder::default();
    for_each_record(&log, |record| builder.add(record, since.as_deref()))?;
    let inventory = builder.finish(since.as_deref());
    let cutoff = since_time(&stale).map_err(|e| Failure::usage(anyhow!("--stale: {e}")))?;
    let (permits, forbids) = (expected.ids("permit"), expected.ids("forbid"));
    if args.json {
        let stale: Vec<&str> = inventory.stale(&cutoff).iter().map(|i| i.sub.as_str()).collect();
        let document = json!({
            "inventory": inventory,
            "never_seen": {
                "issuers": inventory.unseen_issuers(&expected.issuers),
                "agents_named_in_policy": inventory.unseen_principals(&expected.named),
            },
            "findings": {
                "stale": stale,
                "permits_never_matched": inventory.idle_policies(&permits),
                "forbids_never_fired": inventory.idle_policies(&forbids),
            },
        });
        println!("{document:#}");
    } else {
        print_table(&inventory, &expected);
        print_findings(&inventory, &cutoff, &permits, &forbids);
    }
    Ok(())
}

/// The configuration (its issuers and policies), and the log to read: the
/// fleet's chain when the configuration shares state and no file log is
/// named, else the file log.
pub(crate) fn sources(
    args: &AgentsWindowArgs,
) -> Result<(Option<airlock_gateway::config::ConfigOverview>, LogArgs), Failure> {
    let overview = args
        .config
        .as_deref()
        .map(airlock_gateway::config::load_config_overview)
        .transpose()
        .map_err(|e| Failure::new(exit::CONFIG, e))?;
    let log = match (&args.log, &overview) {
        (None, Some(o)) if o.has_state => LogArgs { dir: None, config: args.config.clone() },
        _ => LogArgs { dir: args.log.clone(), config: None },
    };
    Ok((overview, log))
}

/// Gives each record of the log `log` names to `each`, in order. The whole
/// chain is verified first: a log that does not verify is never analysed.
pub(crate) fn for_each_record(log: &LogArgs, mut each: impl FnMut(&Record)) -> Result<(), Failure> {
    let (path, bytes) = read_log(log)?;
    airlock_audit::verify(&bytes).map_err(|e| {
        Failure::new(exit::AUDIT_BROKEN, anyhow!("{}: {e}: refused, not analysed", path.display()))
    })?;
    for (n, line) in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()).enumerate() {
        let record: Record = serde_json::from_slice(line).map_err(|e| {
            Failure::new(
                exit::AUDIT_BROKEN,
                anyhow!("{} line {}: not an audit record: {e}", path.display(), n + 1),
            )
        })?;
        each(&record);
    }
    Ok(())
}

async fn show(args: AgentsShowArgs) -> Result<(), Failure> {
    let since = args.window.since.as_deref().map(since_time).transpose().map_err(Failure::usage)?;
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
            Some(subject) => {
                let decided =
                    effective_grants(config, &overview.authorizer, &subject.principal, &args.cache).await?;
                (with_effective(recorded, &decided), Some(subject.claims_from))
            }
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

/// Hygiene: stale identities, policies that decided nothing, break-glass
/// windows and approvals by who.
fn print_findings(inventory: &Inventory, cutoff: &str, permits: &[String], forbids: &[String]) {
    for identity in inventory.stale(cutoff) {
        println!("stale: {} ({}) last called {}", identity.sub, identity.iss, identity.last_seen);
    }
    for identity in inventory.by_token_lifetime().into_iter().take(5) {
        let seconds = identity.longest_token_lifetime_s.unwrap_or_default();
        println!("token lifetime: {} presented tokens living up to {seconds} s", identity.sub);
    }
    for id in inventory.idle_policies(permits) {
        println!("permit `{id}` matched no call in the window");
    }
    for id in inventory.idle_policies(forbids) {
        println!("forbid `{id}` never fired in the window");
    }
    for window in &inventory.break_glass {
        println!(
            "break-glass: {} opened a window for {} at {}: {}",
            window.opener, window.agent, window.time, window.reason
        );
    }
    for (approver, count) in &inventory.approvals_by {
        println!("approvals: {approver} approved {count} request(s)");
    }
}

fn print_table(inventory: &Inventory, expected: &Expected) {
    let window =
        inventory.since.as_deref().map_or_else(|| "the whole log".to_owned(), |s| format!("since {s}"));
    println!("{} identities, {} records ({window})", inventory.identities.len(), inventory.records);
    if !inventory.identities.is_empty() {
        println!(
            "{:<28} {:<40} {:>6} {:>6} {:>7} {:>9} {:>11}  {:<24} LAST SEEN",
            "SUB", "ISS", "CALLS", "OK", "DENIED", "APPROVED", "BREAK-GLASS", "FIRST SEEN"
        );
    }
    for identity in &inventory.identities {
        println!(
            "{:<28} {:<40} {:>6} {:>6} {:>7} {:>9} {:>11}  {:<24} {}",
            identity.sub,
            identity.iss,
            identity.calls,
            identity.ok,
            identity.denials,
            format!(
                "{}/{}",
                identity.approvals_granted,
                identity.approvals_asked + identity.approvals_granted
            ),
            format!("{}/{}", identity.break_glass_calls, identity.break_glass_windows),
            identity.first_seen,
            identity.last_seen,
        );
        for chain in &identity.chains {
            println!("  acting for: {}", chain.join(" -> "));
        }
    }
    if inventory.operator_overrides > 0 {
        println!("{} call(s) by --operator-override (no identity)", inventory.operator_overrides);
    }
    for iss in inventory.unseen_issuers(&expected.issuers) {
        println!("never seen: issuer {iss} (trusted by the configuration)");
    }
    for sub in inventory.unseen_principals(&expected.named) {
        println!("never seen: {sub} (named in policy)");
    }
}
