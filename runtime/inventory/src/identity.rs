//! Identities and what the audit log says each did.

use std::collections::{BTreeMap, BTreeSet};

use airlock_audit::{ApprovalStatus, CallEvent, Event, Outcome, Record};

use crate::slot::slot;
use serde::Serialize;

/// Most distinct delegation chains kept per identity (the rest are counted
/// as calls, not listed).
const MAX_CHAINS: usize = 8;

/// One agent identity, as the audit log shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Identity {
    /// The issuer that vouched for it.
    pub iss: String,
    /// Its subject.
    pub sub: String,
    /// The claims policy saw on its latest call.
    pub claims: BTreeMap<String, serde_json::Value>,
    /// The delegation chains (`act`, outermost first) it called through;
    /// empty when it always called for itself.
    pub chains: BTreeSet<Vec<String>>,
    /// Its first record in the window (RFC 3339).
    pub first_seen: String,
    /// Its last record in the window (RFC 3339).
    pub last_seen: String,
    /// Calls, whatever their outcome.
    pub calls: u64,
    /// Calls that returned output.
    pub ok: u64,
    /// Calls policy refused before anything ran, or that the runtime
    /// denied inside (a refused request, a refused secret use).
    pub denials: u64,
    /// Calls that needed a human's approval and were filed.
    pub approvals_asked: u64,
    /// Calls that ran on an approval.
    pub approvals_granted: u64,
    /// Calls that ran through a break-glass window.
    pub break_glass_calls: u64,
    /// Break-glass windows opened for it.
    pub break_glass_windows: u64,
    /// Calls per tool.
    pub tools: BTreeMap<String, u64>,
    /// The longest lifetime (`exp` minus `iat`, seconds) of the tokens it
    /// presented, when they carried `iat`.
    pub longest_token_lifetime_s: Option<u64>,
}

/// Every identity in a window of the log.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Inventory {
    /// The start of the window (RFC 3339), if any.
    pub since: Option<String>,
    /// Records read in the window.
    pub records: u64,
    /// Calls made with `--operator-override` (no identity).
    pub operator_overrides: u64,
    /// The identities, by issuer then subject.
    pub identities: Vec<Identity>,
    /// Every policy id that decided a capability in the window.
    pub policies_deciding: BTreeSet<String>,
    /// Break-glass windows opened: who opened one for whom, when.
    pub break_glass: Vec<WindowOpened>,
    /// Approvals granted, by approver `sub`.
    pub approvals_by: BTreeMap<String, u64>,
}

/// A break-glass window opened.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WindowOpened {
    /// When (RFC 3339).
    pub time: String,
    /// Who opened it (`sub`).
    pub opener: String,
    /// The agent it let through (`sub`).
    pub agent: String,
    /// Why, as the opener wrote it.
    pub reason: String,
}

impl Inventory {
    /// The inventory of `records` at or after `since` (RFC 3339; records
    /// are compared by their time text, which sorts as time does).
    pub fn build<'a>(records: impl IntoIterator<Item = &'a Record>, since: Option<&str>) -> Self {
        let mut builder = Builder::default();
        for record in records {
            builder.add(record, since);
        }
        builder.finish(since)
    }

    /// Issuers in `trusted` that no identity in the window came from.
    pub fn unseen_issuers<'a>(&self, trusted: &'a [String]) -> Vec<&'a str> {
        trusted
            .iter()
            .filter(|iss| !self.identities.iter().any(|i| &i.iss == *iss))
            .map(String::as_str)
            .collect()
    }

    /// The identities that presented tokens with a known lifetime, longest
    /// lifetime first.
    pub fn by_token_lifetime(&self) -> Vec<&Identity> {
        let mut known: Vec<&Identity> =
            self.identities.iter().filter(|i| i.longest_token_lifetime_s.is_some()).collect();
        known.sort_by_key(|i| std::cmp::Reverse(i.longest_token_lifetime_s));
        known
    }

    /// Identities whose last call was before `cutoff` (RFC 3339).
    pub fn stale(&self, cutoff: &str) -> Vec<&Identity> {
        self.identities.iter().filter(|i| i.last_seen.as_str() < cutoff).collect()
    }

    /// Policy ids in `ids` that decided nothing in the window: a permit no
    /// call matched, or a forbid that never fired.
    pub fn idle_policies<'a>(&self, ids: &'a [String]) -> Vec<&'a str> {
        ids.iter().filter(|id| !self.policies_deciding.contains(*id)).map(String::as_str).collect()
    }

    /// Subjects in `named` (as policies name them) that never called in
    /// the window.
    pub fn unseen_principals<'a>(&self, named: &'a BTreeSet<String>) -> Vec<&'a str> {
        named
            .iter()
            .filter(|sub| !self.identities.iter().any(|i| &i.sub == *sub))
            .map(String::as_str)
            .collect()
    }
}

/// Builds an [`Inventory`] one record at a time.
#[derive(Debug, Default)]
pub struct Builder {
    records: u64,
    operator_overrides: u64,
    /// By issuer, then subject.
    identities: BTreeMap<String, BTreeMap<String, Identity>>,
    /// Break-glass windows opened, by (agent issuer, agent): the issuer is
    /// empty in records from before windows were bound to one.
    windows: BTreeMap<(String, String), u64>,
    policies_deciding: BTreeSet<String>,
    break_glass: Vec<WindowOpened>,
    approvals_by: BTreeMap<String, u64>,
}

impl Builder {
    /// Adds `record` when it is at or after `since`.
    pub fn add(&mut self, record: &Record, since: Option<&str>) {
        if since.is_some_and(|since| record.time.as_str() < since) {
            return;
        }
        self.records += 1;
        match &record.event {
            Event::Call(call) => self.call(call, &record.time),
            Event::BreakGlass(window) => {
                *self.windows.entry((window.agent_iss.clone(), window.agent.clone())).or_default() += 1;
                self.break_glass.push(WindowOpened {
                    time: record.time.clone(),
                    opener: window.opener.sub.clone(),
                    agent: window.agent.clone(),
                    reason: window.reason.clone(),
                });
            }
            Event::Approval(approval) => {
                *self.approvals_by.entry(approval.approver.sub.clone()).or_default() += 1;
            }
            _ => {}
        }
    }

    fn call(&mut self, call: &CallEvent, time: &str) {
        for capability in &call.capabilities {
            for id in &capability.policies {
                if !self.policies_deciding.contains(id) {
                    self.policies_deciding.insert(id.clone());
                }
            }
        }
        let Some(principal) = &call.principal else {
            self.operator_overrides += 1;
            return;
        };
        let identity = slot(slot(&mut self.identities, &principal.iss), &principal.sub);
        if identity.calls == 0 {
            identity.iss.clone_from(&principal.iss);
            identity.sub.clone_from(&principal.sub);
            time.clone_into(&mut identity.first_seen);
        }
        time.clone_into(&mut identity.last_seen);
        if identity.claims != principal.claims {
            identity.claims.clone_from(&principal.claims);
        }
        if !principal.act.is_empty() && identity.chains.len() < MAX_CHAINS {
            identity.chains.insert(principal.act.clone());
        }
        identity.calls += 1;
        identity.longest_token_lifetime_s = identity.longest_token_lifetime_s.max(principal.token_lifetime_s);
        *slot(&mut identity.tools, &call.tool.name) += 1;
        match call.outcome {
            Outcome::Ok => identity.ok += 1,
            Outcome::Refused | Outcome::Denied => identity.denials += 1,
            Outcome::ApprovalRequired => identity.approvals_asked += 1,
            _ => {}
        }
        match call.approval.as_ref().map(|a| a.status) {
            Some(ApprovalStatus::Approved) => identity.approvals_granted += 1,
            Some(ApprovalStatus::BreakGlass) => identity.break_glass_calls += 1,
            _ => {}
        }
    }

    /// The inventory of what was added.
    pub fn finish(mut self, since: Option<&str>) -> Inventory {
        for ((iss, sub), opened) in &self.windows {
            let matching = self
                .identities
                .iter_mut()
                .filter(|(i, _)| iss.is_empty() || *i == iss)
                .filter_map(|(_, subs)| subs.get_mut(sub));
            for identity in matching {
                identity.break_glass_windows += opened;
            }
        }
        Inventory {
            since: since.map(str::to_owned),
            records: self.records,
            operator_overrides: self.operator_overrides,
            identities: self.identities.into_values().flat_map(BTreeMap::into_values).collect(),
            policies_deciding: self.policies_deciding,
            break_glass: self.break_glass,
            approvals_by: self.approvals_by,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixture::{call, record};

    #[test]
    fn calls_approvals_and_break_glass_are_counted_per_identity() {
        let window = json!({
            "kind": "break_glass", "window_id": "brk-1", "agent": "agent:fixer", "agent_iss": "https://ci.example",
            "opener": {"sub": "human:carol", "iss": "https://sso.example"}, "reason": "incident", "expires": "2026-12-08T00:00:00Z", "severity": "high",
        });
        let records = [
            record(1, "2026-12-01T00:00:00.000Z", call(Some("agent:triage"), "grep", "ok", None)),
            // The window is opened before the agent's first call.
            record(2, "2026-12-02T00:00:00.000Z", window),
            record(
                3,
                "2026-12-02T00:01:00.000Z",
                call(Some("agent:fixer"), "patch-deps", "approval_required", None),
            ),
            record(
                4,
                "2026-12-02T00:02:00.000Z",
                call(Some("agent:fixer"), "patch-deps", "ok", Some("approved")),
            ),
            record(
                5,
                "2026-12-02T00:03:00.000Z",
                call(Some("agent:fixer"), "patch-deps", "ok", Some("break_glass")),
            ),
            record(6, "2026-12-03T00:00:00.000Z", call(Some("agent:fixer"), "http-fetch", "denied", None)),
            record(7, "2026-12-03T00:00:00.000Z", call(None, "echo", "ok", None)),
            record(
                8,
                "2026-12-03T00:00:01.000Z",
                json!({
                    "kind": "approval", "request_id": "apr-1", "request_hash": "00", "requester": "agent:fixer",
                    "tool": "patch-deps", "gated": [], "approver": {"sub": "human:carol", "iss": "https://sso.example"},
                    "reason": "reviewed", "expires": "2026-12-04T00:00:00Z",
                }),
            ),
        ];
        let all = Inventory::build(&records, None);
        assert_eq!((all.records, all.operator_overrides, all.identities.len()), (8, 1, 2));
        assert_eq!(all.approvals_by["human:carol"], 1);
        assert_eq!(all.break_glass.len(), 1);
        assert_eq!(
            (all.break_glass[0].opener.as_str(), all.break_glass[0].agent.as_str()),
            ("human:carol", "agent:fixer")
        );
        assert_eq!(
            all.stale("2026-12-02").iter().map(|i| i.sub.as_str()).collect::<Vec<_>>(),
            ["agent:triage"]
        );
        let fixer = &all.identities[0];
        assert_eq!(fixer.sub, "agent:fixer");
        assert_eq!((fixer.calls, fixer.ok, fixer.denials), (4, 2, 1));
        assert_eq!((fixer.approvals_asked, fixer.approvals_granted), (1, 1));
        assert_eq!((fixer.break_glass_calls, fixer.break_glass_windows), (1, 1));
        assert_eq!(fixer.chains.iter().collect::<Vec<_>>(), [&vec!["human:dana".to_owned()]]);
        assert_eq!(
            (fixer.first_seen.as_str(), fixer.last_seen.as_str()),
            ("2026-12-02T00:01:00.000Z", "2026-12-03T00:00:00.000Z")
        );
        assert_eq!(fixer.tools["patch-deps"], 3);
        assert_eq!(fixer.claims["repo"], "acme/app");

        // A window: the triage agent's only call is before it.
        let recent = Inventory::build(&records, Some("2026-12-02"));
        assert_eq!(recent.identities.iter().map(|i| i.sub.as_str()).collect::<Vec<_>>(), ["agent:fixer"]);
        assert_eq!(
            recent.unseen_principals(&["agent:triage".to_owned(), "agent:fixer".to_owned()].into()),
            ["agent:triage"]
        );
        let trusted = ["https://ci.example".to_owned(), "https://other.example".to_owned()];
        assert_eq!(recent.unseen_issuers(&trusted), ["https://other.example"]);
    }
}
