//! `policy prove`: invariants (what must never be permitted) against a
//! policy set.

use std::time::Duration;

use airlock_policy::authz::{ACTIONS, Authorizer};
use cedar_policy::{Effect, PolicySet};

use crate::ProveError;
use crate::check::{Check, Property, Session};
use crate::report::{Finding, Verdict};

/// The answer to `policy prove POLICIES --invariants FILE`.
#[derive(Clone, Debug)]
pub struct ProveReport {
    /// One finding per invariant and action it applies to.
    pub findings: Vec<Finding>,
    /// Questions sent to the solver.
    pub queries: usize,
    /// Wall time of the whole proof.
    pub elapsed: Duration,
    /// The cvc5 version used.
    pub solver_version: String,
}

impl ProveReport {
    pub(crate) fn new(
        findings: Vec<Finding>,
        queries: usize,
        elapsed: Duration,
        solver_version: &str,
    ) -> Self {
        Self { findings, queries, elapsed, solver_version: solver_version.to_owned() }
    }

    /// Proven (every invariant holds), violated, or not proven.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(&self.findings)
    }
}

pub(crate) fn all_permits(invariants: &Authorizer) -> Result<(), ProveError> {
    match invariants.policy_set().policies().find(|p| p.effect() == Effect::Forbid) {
        None => Ok(()),
        Some(policy) => {
            let id = policy.id().to_string();
            let origin = invariants.origin(&id).map(|o| format!("{}:{}", o.file, o.line)).unwrap_or_default();
            Err(ProveError::InvariantNotPermit { id, origin })
        }
    }
}

pub(crate) async fn check_all(
    session: &mut Session,
    policies: &Authorizer,
    invariants: &Authorizer,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for invariant in invariants.policy_set().policies() {
        let id = invariant.id().to_string();
        for action in ACTIONS {
            let (Some(allowed), Some(applies)) =
                (policies.policies_for(action), invariants.policies_for(action))
            else {
                continue;
            };
            if applies.policy(invariant.id()).is_none() {
                continue;
            }
            let mut alone = PolicySet::new();
            if alone.add(invariant.clone()).is_err() {
                continue;
            }
            let check = Check {
                action,
                property: Property::Disjoint,
                left: allowed.policies().cloned().collect(),
                left_authorizer: policies,
                right: &alone,
                right_authorizer: invariants,
                subject: None,
            };
            let outcome = session.run(&check).await;
            findings.push(Finding::new(action, id.clone(), invariants, outcome));
        }
    }
    findings
}
