//! `policy prove`: invariants against policy sets, the shipped ones
//! included, and what happens when the solver cannot answer.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_policy::authz::{Authorizer, Capability, PolicySource};
use airlock_prove::{INSTALL_HINT, Outcome, ProveError, Prover, Solver, Verdict};
use common::{policies, prover};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn from_files(files: &[PathBuf]) -> Authorizer {
    let sources: Vec<PolicySource> = files
        .iter()
        .map(|f| PolicySource {
            name: f.display().to_string(),
            text: std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())),
        })
        .collect();
    Authorizer::new(&sources).expect("valid policies")
}

fn cedar_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .expect("directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cedar"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_shipped_invariants_hold_for_the_shipped_policies() {
    let Some(prover) = prover() else { return };
    for (policy_files, invariants) in [
        (vec![repo("examples/ci/patch-deps.cedar")], vec![repo("examples/ci/invariants.cedar")]),
        (cedar_files("examples/policies"), cedar_files("examples/policies/invariants")),
    ] {
        let report = prover.prove(&from_files(&policy_files), &from_files(&invariants)).await.expect("runs");
        println!("{report}");
        assert_eq!(report.verdict(), Verdict::Proven, "{report}");
        assert!(report.findings.len() >= 5, "every invariant was checked for its actions: {report}");
    }
}

#[tokio::test]
async fn a_violated_invariant_gets_a_counterexample_that_replays() {
    let Some(prover) = prover() else { return };
    let allowed = policies(
        "policies.cedar",
        r#"@id("humans-write") permit(principal, action == Action::"fs.write", resource in Path::"/workspace")
             when { principal.iss == "https://airlock.local" };
           @id("no-git") forbid(principal, action == Action::"fs.write", resource in Path::"/workspace/.git");"#,
    );
    let invariants = policies(
        "invariants.cedar",
        r#"@id("never-git") permit(principal, action == Action::"fs.write", resource in Path::"/workspace/.git");
           @id("never-workflows") permit(principal, action == Action::"fs.write", resource in Path::"/workspace/.github");"#,
    );
    let report = prover.prove(&allowed.authorizer, &invariants.authorizer).await.expect("runs");
    println!("{report}");
    assert_eq!(report.verdict(), Verdict::Fails);
    let outcome = |id: &str| &report.findings.iter().find(|f| f.policy == id).expect("checked").outcome;
    assert!(matches!(outcome("never-git"), Outcome::Proven), "{report}");
    let Outcome::Counterexample(found) = outcome("never-workflows") else { panic!("{report}") };
    let Capability::FsWrite(path) = &found.call.capability else { panic!("{report}") };
    assert!(
        path.as_str() == "/workspace/.github" || path.as_str().starts_with("/workspace/.github/"),
        "{path}"
    );
    assert_eq!(found.call.principal.iss(), "https://airlock.local");
    assert!(allowed.decide(&found.call).allowed && invariants.decide(&found.call).allowed);
    let text = report.to_string();
    assert!(text.contains("violated: fs.write invariant `never-workflows` (invariants.cedar:2)"), "{text}");
    assert!(text.contains("permitted by humans-write (policies.cedar:1)"), "{text}");
}

#[tokio::test]
async fn a_forbid_invariant_is_refused_with_how_to_write_it() {
    let Some(prover) = prover() else { return };
    let allowed = policies("p.cedar", r#"permit(principal, action == Action::"invoke", resource);"#);
    let invariants =
        policies("inv.cedar", r#"@id("x") forbid(principal, action == Action::"invoke", resource);"#);
    let err = prover.prove(&allowed.authorizer, &invariants.authorizer).await.expect_err("refused");
    assert!(matches!(err, ProveError::InvariantNotPermit { .. }));
    let message = err.to_string();
    assert!(message.contains("invariant `x` (inv.cedar:1) is a `forbid`"), "{message}");
    assert!(message.contains("write each invariant as a `permit(...)`"), "{message}");
}

#[test]
fn a_missing_solver_is_an_error_that_says_how_to_install_it() {
    let err = Solver::at(PathBuf::from("/nonexistent/cvc5"), Duration::from_secs(1)).expect_err("missing");
    let message = err.to_string();
    assert!(message.contains("cannot run `/nonexistent/cvc5`"), "{message}");
    assert!(message.contains(INSTALL_HINT), "{message}");
    assert!(message.contains("apt-get install cvc5"), "{message}");

    // A program that is not cvc5 is refused too.
    let err = Solver::at(PathBuf::from("/bin/true"), Duration::from_secs(1)).expect_err("not cvc5");
    assert!(err.to_string().contains("does not report a cvc5 version"), "{err}");
}

/// A stand-in solver that says it is cvc5 and answers every question
/// `unknown`, as cvc5 does at its time limit.
fn unknowing_solver(dir: &Path) -> PathBuf {
    let path = dir.join("cvc5");
    std::fs::write(
        &path,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'This is cvc5 version 1.0.3'; exit 0; fi\n\
         while read -r line; do case \"$line\" in *check-sat*) echo unknown;; esac; done\n",
    )
    .expect("write");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn unknown_is_never_reported_as_proven() {
    let dir = tempfile::tempdir().expect("tempdir");
    let solver = Solver::at(unknowing_solver(dir.path()), Duration::from_secs(5)).expect("stand-in");
    let prover = Prover::new(solver);
    // Not decidable by simplification alone: the solver is asked.
    let old = policies(
        "old.cedar",
        r#"permit(principal, action == Action::"invoke", resource) when { resource.name like "a*" };"#,
    );
    let new = policies(
        "new.cedar",
        r#"permit(principal, action == Action::"invoke", resource) when { resource.name == "ab" };"#,
    );
    let report = prover.diff(&old.authorizer, &new.authorizer).await.expect("runs");
    assert_eq!(report.verdict(), Verdict::NotProven, "{report}");
    let text = report.to_string();
    assert!(text.contains("not proven: the solver answered `unknown`"), "{text}");
    assert!(text.contains("NOT PROVEN"), "{text}");
    assert!(!text.contains(": proven"), "{text}");

    let report = prover.prove(&old.authorizer, &new.authorizer).await.expect("runs");
    assert_eq!(report.verdict(), Verdict::NotProven, "{report}");
}
