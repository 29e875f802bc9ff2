//! What each identity (or claim group) used, per tool and capability: the
//! evidence a least-privilege suggestion is built from.
//!
//! Only calls that ran count, and of each only the capabilities policy
//! allowed and the call used. Calls through a break-glass window are left
//! out: an emergency is not a reason to grant something for good.

use std::collections::{BTreeMap, BTreeSet};

use airlock_audit::{ApprovalStatus, CallEvent, Event, Outcome, PrincipalRecord, Record};

use crate::grants::used;
use crate::slot::slot;

/// Who a suggested permit is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// One identity: its issuer and `sub`.
    Identity {
        /// `iss`.
        iss: String,
        /// `sub`.
        sub: String,
    },
    /// Every identity of an issuer whose claim `claim` is `value` (for
    /// example a repository's CI identities).
    Claim {
        /// `iss`.
        iss: String,
        /// The claim's name.
        claim: String,
        /// Its value, as policy reads it.
        value: String,
    },
}

impl Subject {
    /// How the subject reads in a comment or an id.
    pub fn describe(&self) -> String {
        match self {
            Self::Identity { iss, sub } => format!("{sub} ({iss})"),
            Self::Claim { iss, claim, value } => format!("{claim} = {value} ({iss})"),
        }
    }
}

/// One capability a subject used with one tool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Use {
    /// Calls of the tool that used it.
    pub calls: u64,
    /// The permits that allowed it, over those calls.
    pub permits: BTreeSet<String>,
    /// The first and last call that used it (RFC 3339).
    pub first: String,
    /// See `first`.
    pub last: String,
}

/// What one subject used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectUse {
    /// The identities (`sub`) it covers.
    pub identities: BTreeSet<String>,
    /// Calls that ran, per tool.
    pub calls: BTreeMap<String, u64>,
    /// Each capability used: by tool, then action, then resource (as
    /// recorded). Nested, so that a record's uses are counted without
    /// allocating a key for each.
    pub used: BTreeMap<String, BTreeMap<String, BTreeMap<String, Use>>>,
}

/// The use observed in a window of the log, by subject.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    group_by: Option<String>,
    since: Option<String>,
    /// Records read in the window.
    pub records: u64,
    /// Calls that ran and count.
    pub calls: u64,
    /// Calls left out because they ran through a break-glass window.
    pub break_glass_calls: u64,
    /// Every subject seen, with what it used.
    pub subjects: BTreeMap<Subject, SubjectUse>,
}

impl Observed {
    /// Folds records at or after `since` by identity, or, with `group_by`,
    /// by issuer and the value of that claim (identities without the claim
    /// stay per identity).
    pub fn new(group_by: Option<&str>, since: Option<&str>) -> Self {
        Self { group_by: group_by.map(str::to_owned), since: since.map(str::to_owned), ..Self::default() }
    }

    /// Adds one record.
    pub fn add(&mut self, record: &Record) {
        if self.since.as_deref().is_some_and(|since| record.time.as_str() < since) {
            return;
        }
        self.records += 1;
        let Event::Call(call) = &record.event else { return };
        let Some(principal) = &call.principal else { return };
        if matches!(call.outcome, Outcome::Refused | Outcome::InvalidInput | Outcome::ApprovalRequired) {
            return;
        }
        if call.approval.as_ref().is_some_and(|a| a.status == ApprovalStatus::BreakGlass) {
            self.break_glass_calls += 1;
            return;
        }
        self.calls += 1;
        let subject = self.subject(principal);
        let entry = self.subjects.entry(subject).or_default();
        if !entry.identities.contains(&principal.sub) {
            entry.identities.insert(principal.sub.clone());
        }
        add_call(entry, call, &record.time);
    }

    fn subject(&self, principal: &PrincipalRecord) -> Subject {
        let value = self.group_by.as_ref().and_then(|claim| {
            let value = principal.claims.get(claim)?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
                _ => return None,
            };
            Some((claim.clone(), text))
        });
        match value {
            Some((claim, value)) => Subject::Claim { iss: principal.iss.clone(), claim, value },
            None => Subject::Identity { iss: principal.iss.clone(), sub: principal.sub.clone() },
        }
    }
}

fn add_call(entry: &mut SubjectUse, call: &CallEvent, time: &str) {
    let tool = &call.tool.name;
    *slot(&mut entry.calls, tool) += 1;
    for capability in call.capabilities.iter().filter(|c| c.allowed && !c.policies.is_empty()) {
        if !used(capability, &call.effects.usage) {
            continue;
        }
        let by_action = slot(&mut entry.used, tool);
        let this = slot(slot(by_action, &capability.action), &capability.resource);
        if this.calls == 0 {
            this.first = time.to_owned();
        }
        this.calls += 1;
        time.clone_into(&mut this.last);
        for policy in &capability.policies {
            if !this.permits.contains(policy) {
                this.permits.insert(policy.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixture::{call, record};

    fn reading_call(sub: &str, outcome: &str) -> serde_json::Value {
        let mut event = call(Some(sub), "patch-deps", outcome, None);
        event["capabilities"] = json!([
            {"action": "invoke", "resource": "Tool::\"patch-deps\"", "allowed": true, "policies": ["ci"]},
            {"action": "fs.read", "resource": "Path::\"/workspace\"", "allowed": true, "policies": ["ci"]},
            {"action": "fs.write", "resource": "Path::\"/workspace\"", "allowed": true, "policies": ["ci"]},
            {"action": "net.connect", "resource": "Host::\"https://evil.example\"", "allowed": false, "policies": []},
        ]);
        event["effects"]["usage"] = json!({"mounts": {"/workspace": {"read": true, "written": false}}});
        event
    }

    #[test]
    fn only_what_ran_was_allowed_and_was_used_counts() {
        let mut observed = Observed::new(None, Some("2026-12-01T00:00:00.000Z"));
        let mut glass = reading_call("agent:ci", "ok");
        glass["approval"] = json!({"status": "break_glass", "id": "brk-1", "request_hash": "00", "gated": [], "approver": "human:carol", "reason": "fire"});
        for (seq, time, event) in [
            (1, "2026-11-01T00:00:00.000Z", reading_call("agent:ci", "ok")),
            (2, "2026-12-01T00:00:00.000Z", reading_call("agent:ci", "ok")),
            (3, "2026-12-02T00:00:00.000Z", reading_call("agent:ci", "refused")),
            (4, "2026-12-03T00:00:00.000Z", glass),
            (5, "2026-12-04T00:00:00.000Z", reading_call("agent:ci", "tool_error")),
        ] {
            observed.add(&record(seq, time, event));
        }
        assert_eq!((observed.records, observed.calls, observed.break_glass_calls), (4, 2, 1));
        let subject = Subject::Identity { iss: "https://ci.example".into(), sub: "agent:ci".into() };
        let used = &observed.subjects[&subject].used["patch-deps"];
        let keys: Vec<&str> = used.keys().map(String::as_str).collect();
        assert_eq!(keys, ["fs.read", "invoke"], "written never, the denied host never");
        let read = &used["fs.read"]["Path::\"/workspace\""];
        assert_eq!(
            (read.calls, read.first.as_str(), read.last.as_str()),
            (2, "2026-12-01T00:00:00.000Z", "2026-12-04T00:00:00.000Z")
        );
    }

    #[test]
    fn a_claim_groups_the_identities_that_carry_it() {
        let mut observed = Observed::new(Some("repo"), None);
        observed.add(&record(1, "2026-12-01T00:00:00.000Z", reading_call("agent:a", "ok")));
        observed.add(&record(2, "2026-12-01T00:00:01.000Z", reading_call("agent:b", "ok")));
        let subject = Subject::Claim {
            iss: "https://ci.example".into(),
            claim: "repo".into(),
            value: "acme/app".into(),
        };
        assert_eq!(observed.subjects.len(), 1);
        let identities: Vec<&str> =
            observed.subjects[&subject].identities.iter().map(String::as_str).collect();
        assert_eq!(identities, ["agent:a", "agent:b"]);
        assert_eq!(observed.subjects[&subject].calls["patch-deps"], 2);
    }
}
