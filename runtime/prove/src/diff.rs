//! `policy diff`: what one policy set permits that another does not.

use std::time::Duration;

use airlock_policy::authz::{ACTIONS, Authorizer};
use cedar_policy::{Effect, Policy};

use crate::check::{Check, Property, Session};
use crate::report::{Finding, Verdict};

/// The answer to `policy diff OLD NEW`.
#[derive(Clone, Debug)]
pub struct DiffReport {
    /// One finding per permit of NEW and action: what it permits that OLD
    /// does not.
    pub widenings: Vec<Finding>,
    /// One finding per permit of OLD and action: what it permitted that NEW
    /// no longer does.
    pub narrowings: Vec<Finding>,
    /// Questions sent to the solver.
    pub queries: usize,
    /// Wall time of the whole diff.
    pub elapsed: Duration,
    /// The cvc5 version used.
    pub solver_version: String,
}

impl DiffReport {
    pub(crate) fn new(
        widenings: Vec<Finding>,
        narrowings: Vec<Finding>,
        queries: usize,
        elapsed: Duration,
        solver_version: &str,
    ) -> Self {
        Self { widenings, narrowings, queries, elapsed, solver_version: solver_version.to_owned() }
    }

    /// The overall answer about widening: proven narrower or equal, widens,
    /// or not proven (a replay failure is reported as not proven too, and
    /// by [`DiffReport::replay_failures`]).
    pub fn verdict(&self) -> Verdict {
        Verdict::of(&self.widenings)
    }
}

/// For every action and every permit of `wider` that can apply to it: is
/// everything it allows (with `wider`'s forbids) also allowed by
/// `narrower`?
pub(crate) async fn changes(
    session: &mut Session,
    wider: &Authorizer,
    narrower: &Authorizer,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for action in ACTIONS {
        let (Some(left), Some(right)) = (wider.policies_for(action), narrower.policies_for(action)) else {
            continue;
        };
        let forbids: Vec<Policy> =
            left.policies().filter(|p| p.effect() == Effect::Forbid).cloned().collect();
        for permit in left.policies().filter(|p| p.effect() == Effect::Permit) {
            let id = permit.id().to_string();
            let mut policies = forbids.clone();
            policies.push(permit.clone());
            let check = Check {
                action,
                property: Property::Implies,
                left: policies,
                left_authorizer: wider,
                right,
                right_authorizer: narrower,
                subject: Some(id.clone()),
            };
            let outcome = session.run(&check).await;
            findings.push(Finding::new(action, id, wider, outcome));
        }
    }
    findings
}
