//! Proofs about airlock policy sets, by Cedar's symbolic compiler (SymCC)
//! and the cvc5 SMT solver.
//!
//! - [`Prover::diff`]: does a NEW policy set permit anything an OLD one does
//!   not (and what does it no longer permit)?
//! - [`Prover::prove`]: is each invariant (a `permit` describing requests
//!   that must never be allowed) disjoint from what the policies permit?
//!
//! Every check is per action of the shipped schema. A property that fails
//! comes with a counterexample: a call airlock could receive, replayed
//! through the real [`Authorizer`] on both sides before it is reported.
//! "Proven" is for airlock's real entities (see the guard module): a
//! `Path` is `in` exactly its ancestors, a `Host`'s attributes are those of
//! its destination, an `Agent`'s tags repeat its claims. `@approval` permits
//! count as permits. "Unknown" from the solver is never reported as proven.

#![forbid(unsafe_code)]

mod check;
mod diff;
mod guard;
mod invariant;
mod literals;
mod replay;
mod report;
mod solver;

use std::time::{Duration, Instant};

use airlock_policy::authz::{Authorizer, schema};

pub use check::{Found, Outcome};
pub use diff::DiffReport;
pub use invariant::ProveReport;
pub use replay::Call;
pub use report::{Finding, Verdict};
pub use solver::{INSTALL_HINT, Solver};

use check::Session;
use literals::Literals;

/// Why a proof could not be attempted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProveError {
    /// cvc5 is missing or does not run.
    #[error("no SMT solver: {detail}; {INSTALL_HINT}")]
    SolverMissing {
        /// What was tried.
        detail: String,
    },
    /// An invariant is not a `permit` describing forbidden requests.
    #[error(
        "invariant `{id}` ({origin}) is a `forbid`: write each invariant as a `permit(...)` that matches the requests which must never be allowed"
    )]
    InvariantNotPermit {
        /// The invariant's id.
        id: String,
        /// Where it was written.
        origin: String,
    },
}

/// Runs proofs with one solver.
#[derive(Clone, Debug)]
pub struct Prover {
    solver: Solver,
}

impl Prover {
    /// A prover using `solver`.
    pub fn new(solver: Solver) -> Self {
        Self { solver }
    }

    /// The solver in use.
    pub fn solver(&self) -> &Solver {
        &self.solver
    }

    async fn session(&self, sets: &[&Authorizer]) -> Result<Session, ProveError> {
        let literals = Literals::of(sets.iter().map(|a| a.policy_set()));
        Session::start(self.solver.clone(), schema(), literals)
    }

    /// Proves whether `new` permits anything `old` does not (the
    /// widenings, one check per permit of `new` and action) and what `old`
    /// permits that `new` no longer does (the narrowings, one check per
    /// permit of `old`).
    pub async fn diff(&self, old: &Authorizer, new: &Authorizer) -> Result<DiffReport, ProveError> {
        let started = Instant::now();
        let mut session = self.session(&[old, new]).await?;
        let widenings = diff::changes(&mut session, new, old).await;
        let narrowings = diff::changes(&mut session, old, new).await;
        Ok(DiffReport::new(widenings, narrowings, session.queries, elapsed(started), self.solver.version()))
    }

    /// Proves, for each invariant in `invariants` (each a `permit` matching
    /// requests that must never be allowed) and each action it applies to,
    /// that `policies` never allow what it matches.
    pub async fn prove(
        &self,
        policies: &Authorizer,
        invariants: &Authorizer,
    ) -> Result<ProveReport, ProveError> {
        let started = Instant::now();
        invariant::all_permits(invariants)?;
        let mut session = self.session(&[policies, invariants]).await?;
        let findings = invariant::check_all(&mut session, policies, invariants).await;
        Ok(ProveReport::new(findings, session.queries, elapsed(started), self.solver.version()))
    }
}

fn elapsed(started: Instant) -> Duration {
    started.elapsed()
}
