//! Findings and how they read.

use std::fmt;

use airlock_policy::authz::Authorizer;

use crate::check::Outcome;
use crate::{DiffReport, ProveReport};

/// The answer to one check: an action, the policy it was about, and the
/// outcome.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The Cedar action.
    pub action: &'static str,
    /// The policy the check was about: a permit of the wider side for a
    /// diff, the invariant for a proof.
    pub policy: String,
    /// Where that policy was written (`file:line`).
    pub origin: Option<String>,
    /// The answer.
    pub outcome: Outcome,
}

impl Finding {
    pub(crate) fn new(
        action: &'static str,
        policy: String,
        authorizer: &Authorizer,
        outcome: Outcome,
    ) -> Self {
        let origin = authorizer.origin(&policy).map(|o| format!("{}:{}", o.file, o.line));
        Self { action, policy, origin, outcome }
    }

    fn policy_named(&self) -> String {
        match &self.origin {
            Some(origin) if origin != &self.policy => format!("`{}` ({origin})", self.policy),
            _ => format!("`{}`", self.policy),
        }
    }
}

/// The overall answer of a diff (about widening) or a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check proven.
    Proven,
    /// At least one check has a counterexample: the diff widens, or an
    /// invariant is violated.
    Fails,
    /// No counterexample, but at least one check was not proven.
    NotProven,
    /// A counterexample did not replay through the real authorizers: a bug,
    /// never trusted either way.
    ReplayFailed,
}

impl Verdict {
    pub(crate) fn of(findings: &[Finding]) -> Self {
        let any = |f: fn(&Outcome) -> bool| findings.iter().any(|x| f(&x.outcome));
        if any(|o| matches!(o, Outcome::ReplayFailed(_))) {
            Self::ReplayFailed
        } else if any(|o| matches!(o, Outcome::Counterexample(_))) {
            Self::Fails
        } else if any(|o| matches!(o, Outcome::NotProven(_))) {
            Self::NotProven
        } else {
            Self::Proven
        }
    }
}

fn write_found(f: &mut fmt::Formatter<'_>, finding: &Finding, allows: &str) -> fmt::Result {
    match &finding.outcome {
        Outcome::Proven => Ok(()),
        Outcome::Counterexample(found) => {
            write!(f, "{}", found.call)?;
            let ids: Vec<String> = found.permitted_by.iter().map(ToString::to_string).collect();
            let approval =
                if found.needs_approval { " (an @approval permit: with a human's approval)" } else { "" };
            writeln!(f, "    {allows} by {}{approval}", ids.join(", "))?;
            writeln!(f, "    replayed through the real authorizer: yes")
        }
        Outcome::NotProven(why) => writeln!(f, "    not proven: {why}"),
        Outcome::ReplayFailed(why) => writeln!(f, "    BUG, please report: {why}"),
    }
}

fn summary(f: &mut fmt::Formatter<'_>, queries: usize, report_ms: u128, version: &str) -> fmt::Result {
    writeln!(
        f,
        "({queries} solver checks, {report_ms} ms, cvc5 {version}; `@approval` permits count as permits)"
    )
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.widenings {
            let title = match finding.outcome {
                Outcome::Proven => continue,
                Outcome::Counterexample(_) => "widens",
                Outcome::NotProven(_) => "not proven",
                Outcome::ReplayFailed(_) => "replay failed",
            };
            writeln!(
                f,
                "{title}: {} — NEW policy {} permits what OLD denies:",
                finding.action,
                finding.policy_named()
            )?;
            write_found(f, finding, "NEW permits it")?;
        }
        for finding in &self.narrowings {
            if let Outcome::Counterexample(_) = finding.outcome {
                writeln!(
                    f,
                    "narrows: {} — OLD policy {} permitted what NEW denies:",
                    finding.action,
                    finding.policy_named()
                )?;
                write_found(f, finding, "OLD permitted it")?;
            }
        }
        match self.verdict() {
            Verdict::Proven => writeln!(f, "NEW is narrower or equal: proven")?,
            Verdict::Fails => {
                let n =
                    self.widenings.iter().filter(|w| matches!(w.outcome, Outcome::Counterexample(_))).count();
                writeln!(f, "NEW widens what OLD permits: {n} widening(s), each replayed above")?
            }
            Verdict::NotProven => {
                writeln!(f, "NOT PROVEN: no widening was found, but not every check was proven")?
            }
            Verdict::ReplayFailed => {
                writeln!(f, "NOT PROVEN: a counterexample did not replay (a bug; see above)")?
            }
        }
        summary(f, self.queries, self.elapsed.as_millis(), &self.solver_version)
    }
}

impl fmt::Display for ProveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let title = match finding.outcome {
                Outcome::Proven => {
                    writeln!(f, "proven: {} {}", finding.action, finding.policy_named())?;
                    continue;
                }
                Outcome::Counterexample(_) => "violated",
                Outcome::NotProven(_) => "not proven",
                Outcome::ReplayFailed(_) => "replay failed",
            };
            writeln!(
                f,
                "{title}: {} invariant {} — the policies permit:",
                finding.action,
                finding.policy_named()
            )?;
            write_found(f, finding, "permitted")?;
        }
        match self.verdict() {
            Verdict::Proven => writeln!(f, "every invariant holds: proven")?,
            Verdict::Fails => writeln!(f, "an invariant is violated: see the counterexamples above")?,
            Verdict::NotProven => {
                writeln!(f, "NOT PROVEN: no violation was found, but not every check was proven")?
            }
            Verdict::ReplayFailed => {
                writeln!(f, "NOT PROVEN: a counterexample did not replay (a bug; see above)")?
            }
        }
        summary(f, self.queries, self.elapsed.as_millis(), &self.solver_version)
    }
}
