//! `airlock agents`: the agent identities the audit log shows.

use std::collections::BTreeSet;

use airlock_inventory::{Builder, Inventory, principals_named};
use anyhow::anyhow;
use serde_json::json;

use crate::args::{AgentsCommand, AgentsListArgs, LogArgs};
use crate::audit::{read_log, since_time};
use crate::exit::{self, Failure};

pub(crate) fn agents(command: AgentsCommand) -> Result<(), Failure> {
    match command {
        AgentsCommand::List(args) => list(args),
    }
}

/// What the configuration says about who should appear.
#[derive(Default)]
struct Expected {
    issuers: Vec<String>,
    named: BTreeSet<String>,
}

fn list(args: AgentsListArgs) -> Result<(), Failure> {
    let since = args.since.as_deref().map(since_time).transpose().map_err(Failure::usage)?;
    let overview = args
        .config
        .as_deref()
        .map(airlock_gateway::config::load_config_overview)
        .transpose()
        .map_err(|e| Failure::new(exit::CONFIG, e))?;
    // The fleet's chain when the configuration shares state and no file
    // log is named; else the file log.
    let log = match (&args.log, &overview) {
        (None, Some(o)) if o.has_state => LogArgs { dir: None, config: args.config.clone() },
        _ => LogArgs { dir: args.log.clone(), config: None },
    };
    let expected = overview
        .map(|o| {
            let policies: Vec<serde_json::Value> =
                o.authorizer.policy_set().policies().filter_map(|p| p.to_json().ok()).collect();
            Expected { issuers: o.issuers, named: principals_named(&policies) }
        })
        .unwrap_or_default();
    let inventory = read_inventory(&log, since.as_deref())?;
    if args.json {
        let document = json!({
            "inventory": inventory,
            "never_seen": {
                "issuers": inventory.unseen_issuers(&expected.issuers),
                "agents_named_in_policy": inventory.unseen_principals(&expected.named),
            },
        });
        println!("{document:#}");
    } else {
        print_table(&inventory, &expected);
    }
    Ok(())
}

/// The inventory of the log `log` names, from `since`. The whole chain is
/// verified first: a log that does not verify is never analysed.
fn read_inventory(log: &LogArgs, since: Option<&str>) -> Result<Inventory, Failure> {
    let (path, bytes) = read_log(log)?;
    airlock_audit::verify(&bytes).map_err(|e| {
        Failure::new(exit::AUDIT_BROKEN, anyhow!("{}: {e}: refused, not analysed", path.display()))
    })?;
    let mut builder = Builder::default();
    for (n, line) in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()).enumerate() {
        let record: airlock_audit::Record = serde_json::from_slice(line).map_err(|e| {
            Failure::new(
                exit::AUDIT_BROKEN,
                anyhow!("{} line {}: not an audit record: {e}", path.display(), n + 1),
            )
        })?;
        builder.add(&record, since);
    }
    Ok(builder.finish(since))
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
