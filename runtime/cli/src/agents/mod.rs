//! `airlock agents`: the agent identities the audit log shows, each
//! identity's grants beside its use, and the report of both.

mod list;
mod report;
mod show;

use std::collections::BTreeSet;

use airlock_audit::Record;
use airlock_gateway::config::ConfigOverview;
use airlock_inventory::{Inventory, principals_named};
use anyhow::anyhow;

use crate::args::{AgentsCommand, AgentsWindowArgs, LogArgs};
use crate::audit::{open_log, since_time};
use crate::exit::{self, Failure};

pub(crate) async fn agents(command: AgentsCommand) -> Result<(), Failure> {
    match command {
        AgentsCommand::List(args) => list::list(args),
        AgentsCommand::Show(args) => show::show(args).await,
        AgentsCommand::Report(args) => report::report(args).await,
    }
}

/// What the configuration says about who should appear.
#[derive(Default)]
pub(super) struct Expected {
    pub(super) issuers: Vec<String>,
    pub(super) named: BTreeSet<String>,
    /// Policy ids by effect (`permit`, `forbid`).
    policies: Vec<(String, String)>,
}

impl Expected {
    /// What `overview` (the configuration, if any) expects.
    pub(super) fn of(overview: Option<&ConfigOverview>) -> Self {
        overview
            .map(|o| {
                let set = o.authorizer.policy_set();
                let policies: Vec<serde_json::Value> =
                    set.policies().filter_map(|p| p.to_json().ok()).collect();
                let ids = set.policies().map(|p| (p.id().to_string(), p.effect().to_string())).collect();
                Self { issuers: o.issuers.clone(), named: principals_named(&policies), policies: ids }
            })
            .unwrap_or_default()
    }

    /// The ids of the policies with `effect` (`permit`, `forbid`).
    pub(super) fn ids(&self, effect: &str) -> Vec<String> {
        self.policies.iter().filter(|(_, e)| e == effect).map(|(id, _)| id.clone()).collect()
    }
}

/// The start of the window `--since` names (RFC 3339), if any.
pub(crate) fn window_start(args: &AgentsWindowArgs) -> Result<Option<String>, Failure> {
    args.since.as_deref().map(since_time).transpose().map_err(|e| Failure::usage(anyhow!("--since: {e}")))
}

/// The time before which an identity's last call makes it stale
/// (`--stale`, an age).
fn stale_cutoff(age: &str) -> Result<String, Failure> {
    since_time(age).map_err(|e| Failure::usage(anyhow!("--stale: {e}")))
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

/// Gives each record of the log `log` names to `each`, in order, as the
/// chain is verified: one line at a time, so memory does not grow with the
/// log. A log that does not verify fails as a whole, and what `each` was
/// given must then be dropped: it is never analysed.
pub(crate) fn for_each_record(log: &LogArgs, each: impl FnMut(&Record)) -> Result<(), Failure> {
    let (path, reader) = open_log(log)?;
    airlock_audit::verify_reader(reader, each).map_err(|e| {
        Failure::new(exit::AUDIT_BROKEN, anyhow!("{}: {e}: refused, not analysed", path.display()))
    })?;
    Ok(())
}

/// Hygiene, one line each: stale identities, the longest token lifetimes,
/// policies that decided nothing, break-glass windows and approvals by who.
pub(super) fn hygiene(
    inventory: &Inventory,
    cutoff: &str,
    permits: &[String],
    forbids: &[String],
) -> Vec<String> {
    let mut lines = Vec::new();
    for identity in inventory.stale(cutoff) {
        lines.push(format!("stale: {} ({}) last called {}", identity.sub, identity.iss, identity.last_seen));
    }
    for identity in inventory.by_token_lifetime().into_iter().take(5) {
        let seconds = identity.longest_token_lifetime_s.unwrap_or_default();
        lines.push(format!("token lifetime: {} presented tokens living up to {seconds} s", identity.sub));
    }
    for id in inventory.idle_policies(permits) {
        lines.push(format!("permit `{id}` matched no call in the window"));
    }
    for id in inventory.idle_policies(forbids) {
        lines.push(format!("forbid `{id}` never fired in the window"));
    }
    for window in &inventory.break_glass {
        lines.push(format!(
            "break-glass: {} opened a window for {} at {}: {}",
            window.opener, window.agent, window.time, window.reason
        ));
    }
    for (approver, count) in &inventory.approvals_by {
        lines.push(format!("approvals: {approver} approved {count} request(s)"));
    }
    lines
}
