//! `airlock agents list`: every identity, and the hygiene findings.

use airlock_inventory::{Builder, Inventory};
use serde_json::json;

use super::{Expected, for_each_record, hygiene, sources, stale_cutoff, window_start};
use crate::args::AgentsListArgs;
use crate::exit::Failure;

pub(super) fn list(AgentsListArgs { stale, window: args }: AgentsListArgs) -> Result<(), Failure> {
    let since = window_start(&args)?;
    let (overview, log) = sources(&args)?;
    let expected = Expected::of(overview.as_ref());
    let mut builder = Builder::default();
    for_each_record(&log, |record| builder.add(record, since.as_deref()))?;
    let inventory = builder.finish(since.as_deref());
    let cutoff = stale_cutoff(&stale)?;
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
        for line in hygiene(&inventory, &cutoff, &permits, &forbids) {
            println!("{line}");
        }
    }
    Ok(())
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
