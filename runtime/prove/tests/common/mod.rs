//! Shared by the proof tests: the solver (skipped when absent, unless CI
//! requires it) and policy sets with a way to replay a call.

#![allow(dead_code, reason = "each test binary uses a subset")]

use std::time::Duration;

use airlock_policy::authz::{Authorizer, PolicySource, Verdict};
use airlock_prove::{Call, Prover, Solver};

/// The prover, or `None` (test skipped) when cvc5 is missing and
/// `AIRLOCK_REQUIRE_CVC5` is not set. CI sets it.
pub(crate) fn prover() -> Option<Prover> {
    match Solver::locate(Duration::from_secs(60)) {
        Ok(solver) => Some(Prover::new(solver)),
        Err(e) if std::env::var_os("AIRLOCK_REQUIRE_CVC5").is_some() => panic!("{e}"),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// A policy set.
pub(crate) struct Side {
    pub(crate) authorizer: Authorizer,
}

impl Side {
    /// How the real authorizer decides `call`.
    pub(crate) fn decide(&self, call: &Call) -> Verdict {
        self.authorizer.verdict(&call.principal, &call.tool, call.capability.clone()).expect("decides")
    }
}

pub(crate) fn policies(name: &str, text: &str) -> Side {
    let authorizer = Authorizer::new(&[PolicySource { name: name.into(), text: text.into() }])
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Side { authorizer }
}
