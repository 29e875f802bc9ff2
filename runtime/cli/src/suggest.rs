//! `airlock policy suggest --from-audit`: a least-privilege policy set from
//! what the verified audit log shows was used.

use std::io::Write;

use airlock_inventory::{Observed, SuggestError};
use airlock_policy::authz::{Authorizer, PolicySource};
use anyhow::anyhow;
use serde_json::json;

use crate::agents::{for_each_record, sources, window_start};
use crate::args::SuggestArgs;
use crate::exit::{self, Failure};

pub(crate) fn suggest(args: SuggestArgs) -> Result<(), Failure> {
    let since = window_start(&args.window)?;
    let (overview, log) = sources(&args.window)?;
    let overview = overview.ok_or_else(|| {
        Failure::new(
            exit::CONFIG,
            anyhow!("no runtime configuration: the suggestion narrows its policies (pass --config FILE or set AIRLOCK_CONFIG)"),
        )
    })?;
    let mut observed = Observed::new(args.group_by.as_deref(), since.as_deref());
    for_each_record(&log, |record| observed.add(record))?;
    let suggestion =
        airlock_inventory::suggest(&observed, overview.authorizer.policy_set(), since.as_deref()).map_err(
            |e| match e {
                SuggestError::NoUse => Failure::usage(anyhow!("{e}: widen --since or check --log")),
                other => Failure::internal(other),
            },
        )?;
    // What is written must load as the runtime loads it.
    let name = args.out.as_ref().map_or_else(|| "(suggestion)".to_owned(), |p| p.display().to_string());
    Authorizer::new(&[PolicySource { name, text: suggestion.text.clone() }])
        .map_err(|e| Failure::internal(anyhow!("the suggested policy does not validate (a bug): {e}")))?;
    match &args.out {
        Some(path) => {
            airlock_seal::replace_file(path, 0o644, |file| file.write_all(suggestion.text.as_bytes()))
                .map_err(|e| Failure::usage(anyhow!("cannot write `{}`: {e}", path.display())))?
        }
        None if !args.window.json => print!("{}", suggestion.text),
        None => {}
    }
    if args.window.json {
        let document = json!({
            "policy": suggestion.text,
            "permits": suggestion.permits,
            "forbids_kept": suggestion.forbids,
            "permits_not_carried_over": suggestion.unused_permits,
            "uses_dropped": suggestion.dropped,
            "calls": observed.calls,
            "break_glass_calls_left_out": observed.break_glass_calls,
        });
        println!("{document:#}");
    }
    eprintln!(
        "airlock: {} permit(s) from {} call(s) of {} identity group(s); {} forbid(s) kept; {} permit(s) not carried over",
        suggestion.permits,
        observed.calls,
        observed.subjects.len(),
        suggestion.forbids,
        suggestion.unused_permits.len()
    );
    if let (Some(out), Some(config)) = (&args.out, &args.window.config) {
        eprintln!("airlock: check it: airlock policy diff {} {}", config.display(), out.display());
    }
    Ok(())
}
