//! One property for one action, asked of the solver until it is proven,
//! answered with a call airlock could receive, or left unknown.

use std::str::FromStr;

use airlock_policy::authz::{Authorizer, DecidingPolicy, Verdict};
use cedar_policy::{Policy, PolicySet, RequestEnv, Schema};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicySet, err::Error};

use crate::literals::Literals;
use crate::replay::{self, Call, Reading};
use crate::{ProveError, Solver, guard};

/// How many times a check asks again after a counterexample no airlock
/// request can carry, before it gives up as not proven.
const MAX_REFINEMENTS: usize = 16;

/// The answer to one check.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Proven for every request airlock could receive.
    Proven,
    /// Not true: a call airlock could receive, replayed through the real
    /// authorizers with the expected result.
    Counterexample(Box<Found>),
    /// Neither proven nor refuted: the solver answered `unknown` (for
    /// example at its time limit), or the policies use something SymCC
    /// cannot compile. Never to be read as proven.
    NotProven(String),
    /// The solver's counterexample did not replay through the real
    /// authorizers as it should have: a bug in airlock or SymCC, reported
    /// rather than trusted either way.
    ReplayFailed(String),
}

/// A counterexample and how the real authorizers decided it.
#[derive(Clone, Debug)]
pub struct Found {
    /// The call.
    pub call: Call,
    /// The policies that permit it on the side that allows it (NEW for a
    /// widening, OLD for a narrowing, the policies for a violated
    /// invariant).
    pub permitted_by: Vec<DecidingPolicy>,
    /// Permitted only by `@approval` permits: it runs only with a human's
    /// approval (still a permit for every proof).
    pub needs_approval: bool,
}

/// Which property: the left set allows nothing the right one does not
/// (`Implies`), or the two never both allow (`Disjoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Property {
    Implies,
    Disjoint,
}

/// The solver session for a run of checks.
pub(crate) struct Session {
    pub(crate) solver: Solver,
    pub(crate) compiler: CedarSymCompiler<LocalSolver>,
    pub(crate) schema: Schema,
    pub(crate) literals: Literals,
    /// How many questions were sent to the solver.
    pub(crate) queries: usize,
}

/// A check: `left` (policies of the left-hand authorizer) against `right`
/// (a set), for `action`.
pub(crate) struct Check<'a> {
    pub(crate) action: &'static str,
    pub(crate) property: Property,
    pub(crate) left: Vec<Policy>,
    pub(crate) left_authorizer: &'a Authorizer,
    pub(crate) right: &'a PolicySet,
    pub(crate) right_authorizer: &'a Authorizer,
    /// The policy of the left side the check is about, which must be among
    /// the deciding policies when the counterexample replays.
    pub(crate) subject: Option<String>,
}

impl Session {
    pub(crate) async fn run(&mut self, check: &Check<'_>) -> Outcome {
        let Some(env) = request_env(&self.schema, check.action) else {
            return Outcome::NotProven(format!(
                "the schema has no request environment for `{}`",
                check.action
            ));
        };
        let right = match self.compile(check.action, check.right.policies().cloned(), &[], &env) {
            Ok(right) => right,
            Err(e) => return Outcome::NotProven(e),
        };
        let mut conditions = guard::conditions(check.action, &self.literals);
        let mut excluded = Vec::new();
        for _ in 0..=MAX_REFINEMENTS {
            let left = match self.compile(check.action, check.left.iter().cloned(), &conditions, &env) {
                Ok(left) => left,
                Err(e) => return Outcome::NotProven(e),
            };
            self.queries += 1;
            let answer = match check.property {
                Property::Implies => self.compiler.check_implies_with_counterexample_opt(&left, &right).await,
                Property::Disjoint => {
                    self.compiler.check_disjoint_with_counterexample_opt(&left, &right).await
                }
            };
            let env = match answer {
                Ok(None) => return Outcome::Proven,
                Ok(Some(env)) => env,
                Err(Error::SolverUnknown) => {
                    return Outcome::NotProven(
                        "the solver answered `unknown` (its time limit, or a hard query)".into(),
                    );
                }
                Err(e) => {
                    // The solver process may have ended on this error: the
                    // next check gets a fresh one.
                    if let Err(restart) = self.restart() {
                        return Outcome::NotProven(format!("SymCC: {e}; restarting the solver: {restart}"));
                    }
                    return Outcome::NotProven(format!("SymCC: {e}"));
                }
            };
            match replay::read(check.action, &env) {
                Err(bug) => {
                    return Outcome::ReplayFailed(format!("the counterexample cannot be read: {bug}"));
                }
                Ok(Reading::Unreceivable { condition, reason }) => {
                    excluded.push(reason);
                    conditions.push(condition);
                }
                Ok(Reading::Call(call)) => return replayed(check, *call),
            }
        }
        Outcome::NotProven(format!(
            "after {} attempts the solver found only requests airlock cannot receive ({})",
            MAX_REFINEMENTS + 1,
            excluded.join("; ")
        ))
    }

    pub(crate) fn start(solver: Solver, schema: Schema, literals: Literals) -> Result<Self, ProveError> {
        let compiler = Self::compiler(&solver)?;
        Ok(Self { solver, compiler, schema, literals, queries: 0 })
    }

    fn compiler(solver: &Solver) -> Result<CedarSymCompiler<LocalSolver>, ProveError> {
        CedarSymCompiler::new(solver.start()?)
            .map_err(|e| ProveError::SolverMissing { detail: e.to_string() })
    }

    fn restart(&mut self) -> Result<(), ProveError> {
        self.compiler = Self::compiler(&self.solver)?;
        Ok(())
    }

    fn compile(
        &self,
        action: &str,
        policies: impl Iterator<Item = Policy>,
        conditions: &[String],
        env: &RequestEnv,
    ) -> Result<CompiledPolicySet, String> {
        let mut set = PolicySet::new();
        for policy in policies {
            set.add(policy).map_err(|e| e.to_string())?;
        }
        let mut text = guard::policies(action, conditions);
        // Never empty: a permit that matches nothing keeps the set valid.
        text.push_str(&format!(
            "@id(\"{}never\")\npermit(principal, action == Action::\"{action}\", resource) when {{ false }};\n",
            guard::GUARD_ID_PREFIX
        ));
        let guards = PolicySet::from_str(&text).map_err(|e| format!("a guard does not parse: {e}"))?;
        for policy in guards.policies() {
            set.add(policy.clone()).map_err(|e| format!("policy id clash with a guard: {e}"))?;
        }
        CompiledPolicySet::compile(&set, env, &self.schema)
            .map_err(|e| format!("SymCC cannot compile the policies: {e}"))
    }
}

fn request_env(schema: &Schema, action: &str) -> Option<RequestEnv> {
    schema.request_envs().find(|env| env.action().id().unescaped() == action)
}

/// Replays `call` through both real authorizers: the left side must allow
/// it (through the policy the check is about), and the right side must deny
/// it (`Implies`) or allow it too (`Disjoint`).
fn replayed(check: &Check<'_>, call: Call) -> Outcome {
    let (left, right) = match decide(check, &call) {
        Ok(both) => both,
        Err(e) => return Outcome::ReplayFailed(format!("replay failed: {e}\n{call}")),
    };
    if replays(check, &left, &right) {
        let call = minimal(check, call);
        let left = decide(check, &call).map(|(left, _)| left).unwrap_or(left);
        let found = Found { call, permitted_by: left.policies, needs_approval: left.needs_approval };
        return Outcome::Counterexample(Box::new(found));
    }
    Outcome::ReplayFailed(format!(
        "the solver's counterexample does not replay: left {} (by {:?}), right {} (by {:?})\n{call}",
        if left.allowed { "allows" } else { "denies" },
        left.policies.iter().map(|p| &p.id).collect::<Vec<_>>(),
        if right.allowed { "allows" } else { "denies" },
        right.policies.iter().map(|p| &p.id).collect::<Vec<_>>(),
    ))
}

fn decide(check: &Check<'_>, call: &Call) -> Result<(Verdict, Verdict), String> {
    let decide = |authorizer: &Authorizer| {
        authorizer.verdict(&call.principal, &call.tool, call.capability.clone()).map_err(|e| e.to_string())
    };
    Ok((decide(check.left_authorizer)?, decide(check.right_authorizer)?))
}

/// Whether the two verdicts are what the check's counterexample must get.
fn replays(check: &Check<'_>, left: &Verdict, right: &Verdict) -> bool {
    let left_ok = left.allowed
        && check.subject.as_ref().is_none_or(|subject| left.policies.iter().any(|p| &p.id == subject));
    let right_ok = match check.property {
        Property::Implies => !right.allowed,
        Property::Disjoint => right.allowed,
    };
    left_ok && right_ok
}

/// `call` with every claim and delegation the outcome does not depend on
/// removed (one at a time, keeping each removal that still replays), so
/// the counterexample shows the claims that matter.
fn minimal(check: &Check<'_>, mut call: Call) -> Call {
    let still = |candidate: &Call| decide(check, candidate).is_ok_and(|(l, r)| replays(check, &l, &r));
    let names: Vec<String> = call.principal.claims().map(|(name, _)| name.to_owned()).collect();
    for name in names {
        let Some(principal) = replay::without(&call.principal, Some(&name), false) else { continue };
        let candidate = Call { principal, ..call.clone() };
        if still(&candidate) {
            call = candidate;
        }
    }
    if let Some(principal) = replay::without(&call.principal, None, true) {
        let candidate = Call { principal, ..call.clone() };
        if still(&candidate) {
            call = candidate;
        }
    }
    call
}
