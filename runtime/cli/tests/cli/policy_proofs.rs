//! `airlock policy diff` and `airlock policy prove`: exit codes, output and
//! errors, on the shipped examples.

use std::path::{Path, PathBuf};

use super::{airlock, airlock_with_env};

fn example(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(path).display().to_string()
}

/// Whether cvc5 is here; CI requires it (`AIRLOCK_REQUIRE_CVC5`).
pub(super) fn solver_present() -> bool {
    let found = std::process::Command::new(std::env::var("CVC5").unwrap_or_else(|_| "cvc5".into()))
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("AIRLOCK_REQUIRE_CVC5").is_none(), "cvc5 is required and missing");
        eprintln!("skipped: cvc5 is not installed");
    }
    found
}

#[test]
fn diff_prints_each_widening_replayed_and_exits_22() {
    if !solver_present() {
        return;
    }
    let cache = tempfile::tempdir().expect("tempdir");
    let old = example("ci/patch-deps.cedar");
    let new = example("policies/github-actions-remediation.cedar");
    let r = airlock(cache.path(), &["policy", "diff", &old, &new]);
    assert_eq!(r.code, 22, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("widens: fs.write — NEW policy `gha-write-checkout`"), "{}", r.stdout);
    assert!(r.stdout.contains("widens: net.connect — NEW policy `gha-osv-lookup`"), "{}", r.stdout);
    assert!(r.stdout.contains("Host::\"https://api.osv.dev\""), "{}", r.stdout);
    assert!(r.stdout.contains("replayed through the real authorizer: yes"), "{}", r.stdout);
    assert!(r.stdout.contains("narrows: fs.write — OLD policy `ci-write-manifests`"), "{}", r.stdout);
    assert!(r.stderr.contains("NEW permits what OLD does not"), "{}", r.stderr);

    // The other way round: the CI policy mounts the checkout without a
    // protected ref, and /advisories, which the other never grants.
    let r = airlock(cache.path(), &["policy", "diff", &new, &old]);
    assert_eq!(r.code, 22, "{}", r.stdout);
    assert!(
        r.stdout.contains("widens: fs.read — NEW policy `ci-read-checkout-and-advisories`"),
        "{}",
        r.stdout
    );
}

#[test]
fn diff_of_equal_sets_is_proven_for_files_directories_and_configs() {
    if !solver_present() {
        return;
    }
    let cache = tempfile::tempdir().expect("tempdir");
    for (old, new) in [
        (example("ci/airlock.toml"), example("ci/patch-deps.cedar")),
        (example("policies"), example("policies")),
    ] {
        let r = airlock(cache.path(), &["policy", "diff", &old, &new]);
        assert_eq!(r.code, 0, "{old} {new}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("NEW is narrower or equal: proven"), "{}", r.stdout);
        assert!(r.stdout.contains("solver checks"), "{}", r.stdout);
    }
}

#[test]
fn prove_checks_the_shipped_invariants_and_catches_a_violation() {
    if !solver_present() {
        return;
    }
    let cache = tempfile::tempdir().expect("tempdir");
    let r = airlock(
        cache.path(),
        &["policy", "prove", &example("ci/airlock.toml"), "--invariants", &example("ci/invariants.cedar")],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("proven: fs.write `never-write-git-or-workflows`"), "{}", r.stdout);
    assert!(r.stdout.contains("every invariant holds: proven"), "{}", r.stdout);

    let r = airlock(
        cache.path(),
        &["policy", "prove", &example("policies"), "--invariants", &example("policies/invariants")],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // Humans' local sessions may read the environment: an invariant that
    // says nobody may is violated, with the request that shows it.
    let invariant = cache.path().join("never.cedar");
    std::fs::write(
        &invariant,
        "@id(\"nobody-reads-env\")\npermit (principal, action == Action::\"env.read\", resource);\n",
    )
    .expect("write");
    let r = airlock(
        cache.path(),
        &["policy", "prove", &example("policies"), "--invariants", &invariant.display().to_string()],
    );
    assert_eq!(r.code, 22, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("violated: env.read invariant `nobody-reads-env`"), "{}", r.stdout);
    assert!(r.stdout.contains("permitted by local-env"), "{}", r.stdout);
    assert!(r.stdout.contains("iss \"https://airlock.local\""), "{}", r.stdout);
    assert!(r.stderr.contains("an invariant is violated"), "{}", r.stderr);
}

#[test]
fn proof_errors_name_the_problem() {
    let cache = tempfile::tempdir().expect("tempdir");
    let policy = example("ci/patch-deps.cedar");

    // No solver: exit 23, and how to install one.
    let r = airlock_with_env(
        cache.path(),
        &["policy", "diff", &policy, &policy],
        &[("CVC5", "/nonexistent/cvc5")],
    );
    assert_eq!(r.code, 23, "{}", r.stderr);
    assert!(r.stderr.contains("no SMT solver: cannot run `/nonexistent/cvc5`"), "{}", r.stderr);
    assert!(r.stderr.contains("apt-get install cvc5"), "{}", r.stderr);

    // A policy that does not validate: exit 7 with file:line:column,
    // before any solver is looked for.
    let bad = cache.path().join("bad.cedar");
    std::fs::write(&bad, "permit (principal, action == Action::\"invoke\", resource)\n  when { principal.nickname == \"x\" };\n")
        .expect("write");
    let bad = bad.display().to_string();
    let r = airlock(cache.path(), &["policy", "diff", &policy, &bad]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{bad}:2:10:")), "{}", r.stderr);

    // A directory without policies, and a missing file: usage errors.
    let empty = tempfile::tempdir().expect("tempdir");
    let r = airlock(cache.path(), &["policy", "diff", &policy, &empty.path().display().to_string()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("holds no .cedar files"), "{}", r.stderr);
    let missing = PathBuf::from("/nonexistent/policies.cedar").display().to_string();
    let r = airlock(cache.path(), &["policy", "diff", &policy, &missing]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("/nonexistent/policies.cedar"), "{}", r.stderr);

    // A forbid as an invariant: exit 7, and how to write one.
    let forbid = cache.path().join("forbid.cedar");
    std::fs::write(&forbid, "@id(\"f\")\nforbid (principal, action, resource);\n").expect("write");
    let r = airlock_with_env(
        cache.path(),
        &["policy", "prove", &policy, "--invariants", &forbid.display().to_string()],
        &[],
    );
    if solver_present() {
        assert_eq!(r.code, 7, "{}", r.stderr);
        assert!(r.stderr.contains("invariant `f`"), "{}", r.stderr);
        assert!(r.stderr.contains("write each invariant as a `permit(...)`"), "{}", r.stderr);
    }
}
