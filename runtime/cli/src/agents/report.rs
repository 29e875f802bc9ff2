//! `airlock agents report --html FILE`: the identity × tool grant matrix
//! and the findings, as one self-contained page.

use std::io::Write;

use airlock_inventory::{AllGrants, Builder, Report, Row, with_effective};
use anyhow::anyhow;

use super::{Expected, for_each_record, hygiene, sources, stale_cutoff, window_start};
use crate::args::AgentsReportArgs;
use crate::audit::since_time;
use crate::effective::{configured_tools, effective_grants, subject_from_record};
use crate::exit::Failure;

pub(super) async fn report(args: AgentsReportArgs) -> Result<(), Failure> {
    if args.window.json {
        return Err(Failure::usage(anyhow!(
            "--json: the report is HTML; `agents list --json` and `agents show --json` are for scripts"
        )));
    }
    let since = window_start(&args.window)?;
    let cutoff = stale_cutoff(&args.stale)?;
    let (overview, log) = sources(&args.window)?;
    let expected = Expected::of(overview.as_ref());
    let mut builder = Builder::default();
    let mut grants = AllGrants::new(since.as_deref());
    for_each_record(&log, |record| {
        builder.add(record, since.as_deref());
        grants.add(record);
    })?;
    let inventory = builder.finish(since.as_deref());
    let catalog = match &args.window.config {
        Some(config) => configured_tools(config, &args.cache).await?,
        None => None,
    };
    let mut rows = Vec::new();
    for identity in grants.finish() {
        let tools = match (&catalog, &overview) {
            (Some(catalog), Some(overview)) => {
                let subject = subject_from_record(&identity.last, &identity.last_time)?;
                let decided = effective_grants(catalog, &overview.authorizer, &subject.principal)?;
                with_effective(identity.tools, &decided)
            }
            _ => identity.tools,
        };
        let calls = inventory
            .identities
            .iter()
            .find(|i| i.iss == identity.last.iss && i.sub == identity.last.sub)
            .map_or(0, |i| i.calls);
        rows.push(Row { iss: identity.last.iss, sub: identity.last.sub, calls, tools });
    }
    let (permits, forbids) = (expected.ids("permit"), expected.ids("forbid"));
    let mut lines = hygiene(&inventory, &cutoff, &permits, &forbids);
    lines.extend(
        inventory.unseen_issuers(&expected.issuers).iter().map(|iss| format!("never seen: issuer {iss}")),
    );
    lines.extend(
        inventory
            .unseen_principals(&expected.named)
            .iter()
            .map(|sub| format!("never seen: {sub} (named in policy)")),
    );
    let report = Report {
        window: since.as_deref().map_or_else(|| "the whole log".to_owned(), |s| format!("since {s}")),
        generated: since_time("0s").map_err(Failure::internal)?,
        records: inventory.records,
        effective: catalog.is_some(),
        rows,
        hygiene: lines,
    };
    let page = report.html();
    airlock_seal::replace_file(&args.html, 0o644, |file| file.write_all(page.as_bytes()))
        .map_err(|e| Failure::usage(anyhow!("cannot write `{}`: {e}", args.html.display())))?;
    println!(
        "wrote {}: {} identities × {} tools, {} records",
        args.html.display(),
        report.rows.len(),
        report.tools().len(),
        report.records
    );
    Ok(())
}
