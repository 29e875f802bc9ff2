//! `policy diff` on pairs of policy sets with known answers. Every
//! counterexample the prover reports has already been replayed through the
//! real authorizers; these tests replay it once more and check its shape.

mod common;

use airlock_policy::authz::{Capability, DecidingPolicy};
use airlock_prove::{DiffReport, Finding, Outcome, Verdict};
use common::{Side, policies, prover};

/// The widenings found, as (action, NEW policy id).
fn widenings(report: &DiffReport) -> Vec<(&str, &str)> {
    found(&report.widenings)
}

fn narrowings(report: &DiffReport) -> Vec<(&str, &str)> {
    found(&report.narrowings)
}

fn found(findings: &[Finding]) -> Vec<(&str, &str)> {
    findings
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Counterexample(_)))
        .map(|f| (f.action, f.policy.as_str()))
        .collect()
}

fn counterexample<'a>(findings: &'a [Finding], policy: &str) -> &'a airlock_prove::Found {
    findings
        .iter()
        .find_map(|f| match &f.outcome {
            Outcome::Counterexample(found) if f.policy == policy => Some(&**found),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no counterexample for `{policy}`"))
}

fn ids(policies: &[DecidingPolicy]) -> Vec<&str> {
    policies.iter().map(|p| p.id.as_str()).collect()
}

async fn diff(old: &str, new: &str) -> Option<(DiffReport, Side, Side)> {
    let prover = prover()?;
    let (old, new) = (policies("old.cedar", old), policies("new.cedar", new));
    let report = prover.diff(&old.authorizer, &new.authorizer).await.expect("the diff runs");
    println!("{report}");
    // Every reported counterexample replays: NEW allows it, OLD denies it
    // (and the reverse for what NEW no longer permits).
    for (findings, allows, denies) in [(&report.widenings, &new, &old), (&report.narrowings, &old, &new)] {
        for finding in findings.iter() {
            if let Outcome::Counterexample(found) = &finding.outcome {
                assert!(allows.decide(&found.call).allowed, "{}", found.call);
                assert!(!denies.decide(&found.call).allowed, "{}", found.call);
            }
        }
    }
    Some((report, old, new))
}

const READ_WORKSPACE: &str = r#"
    @id("invoke") permit(principal, action == Action::"invoke", resource);
    @id("read") permit(principal, action == Action::"fs.read", resource in Path::"/workspace");
"#;

#[tokio::test]
async fn narrower_through_a_nested_path_is_proven_and_the_narrowing_shown() {
    let new = r#"
        @id("invoke") permit(principal, action == Action::"invoke", resource);
        @id("read-src") permit(principal, action == Action::"fs.read", resource in Path::"/workspace/src");
    "#;
    let Some((report, ..)) = diff(READ_WORKSPACE, new).await else { return };
    // Without the Path guard, SymCC would find `/workspace/src` outside
    // `/workspace` and call this a widening.
    assert_eq!(report.verdict(), Verdict::Proven, "{report}");
    assert_eq!(narrowings(&report), [("fs.read", "read")]);
    let lost = counterexample(&report.narrowings, "read");
    let Capability::FsRead(path) = &lost.call.capability else { panic!("{:?}", lost.call.capability) };
    assert!(
        path.as_str() == "/workspace" || !path.as_str().starts_with("/workspace/src"),
        "a path OLD reads and NEW does not: {path}"
    );
    assert!(report.to_string().contains("NEW is narrower or equal: proven"), "{report}");
}

#[tokio::test]
async fn equal_sets_written_differently_are_proven_both_ways() {
    // `in` written as path comparisons, a Host by its attributes, a claim
    // through its tag: equal for every request airlock can receive.
    let old = r#"
        @id("invoke") permit(principal, action == Action::"invoke", resource);
        @id("read") permit(principal, action == Action::"fs.read", resource in Path::"/workspace");
        @id("net") permit(principal, action == Action::"net.connect", resource == Host::"https://api.github.com");
        @id("env") permit(principal, action == Action::"env.read", resource)
            when { principal has env && principal.env == "prod" };
    "#;
    let new = r#"
        @id("invoke2") permit(principal, action == Action::"invoke", resource);
        @id("read2") permit(principal, action == Action::"fs.read", resource)
            when { resource.path == "/workspace" || resource.path like "/workspace/*" };
        @id("net2") permit(principal, action == Action::"net.connect", resource)
            when { resource.scheme == "https" && resource.host == "api.github.com"
                   && resource.port_min == 443 && resource.port_max == 443 };
        @id("env2") permit(principal, action == Action::"env.read", resource)
            when { principal.hasTag("env") && principal.getTag("env") == "prod" };
    "#;
    let Some((report, ..)) = diff(old, new).await else { return };
    assert_eq!(report.verdict(), Verdict::Proven, "{report}");
    assert_eq!(narrowings(&report), [], "{report}");
}

#[tokio::test]
async fn wider_in_one_action_names_that_action_and_policy_only() {
    let new = format!(
        r#"{READ_WORKSPACE}
        @id("github") permit(principal, action == Action::"net.connect", resource == Host::"https://api.github.com");"#
    );
    let Some((report, ..)) = diff(READ_WORKSPACE, &new).await else { return };
    assert_eq!(report.verdict(), Verdict::Fails);
    assert_eq!(widenings(&report), [("net.connect", "github")]);
    let found = counterexample(&report.widenings, "github");
    match &found.call.capability {
        Capability::NetConnect { destination, .. } => {
            assert_eq!(destination.to_string(), "https://api.github.com")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ids(&found.permitted_by), ["github"]);
    assert!(!found.needs_approval);
    let text = report.to_string();
    assert!(text.contains("widens: net.connect — NEW policy `github` (new.cedar:"), "{text}");
    assert!(text.contains("Host::\"https://api.github.com\""), "{text}");
}

#[tokio::test]
async fn wider_only_through_a_nested_path_is_found_there() {
    let old = r#"
        @id("write") permit(principal, action == Action::"fs.write", resource in Path::"/workspace");
        @id("no-github") forbid(principal, action == Action::"fs.write", resource in Path::"/workspace/.github");
    "#;
    let new = r#"
        @id("write") permit(principal, action == Action::"fs.write", resource in Path::"/workspace");
        @id("no-workflows") forbid(principal, action == Action::"fs.write", resource in Path::"/workspace/.github/workflows");
    "#;
    let Some((report, ..)) = diff(old, new).await else { return };
    assert_eq!(report.verdict(), Verdict::Fails);
    assert_eq!(widenings(&report), [("fs.write", "write")]);
    let Capability::FsWrite(path) = &counterexample(&report.widenings, "write").call.capability else {
        panic!("not a write")
    };
    let path = path.as_str();
    assert!(
        (path == "/workspace/.github" || path.starts_with("/workspace/.github/"))
            && !path.starts_with("/workspace/.github/workflows"),
        "the only widening is under .github but outside workflows: {path}"
    );
}

#[tokio::test]
async fn wider_through_a_claim_condition_shows_the_claim() {
    let old = r#"
        @id("invoke") permit(principal, action == Action::"invoke", resource)
            when { principal has ref_protected && principal.ref_protected == "true" };
    "#;
    let new = r#"
        @id("invoke") permit(principal, action == Action::"invoke", resource)
            when { principal has ref_protected };
    "#;
    let Some((report, ..)) = diff(old, new).await else { return };
    assert_eq!(report.verdict(), Verdict::Fails);
    let found = counterexample(&report.widenings, "invoke");
    let claim = found.call.principal.claim("ref_protected");
    assert!(claim.is_some_and(|v| v != "true"), "ref_protected present and not \"true\": {claim:?}");
    // Only the claims that matter are shown.
    assert_eq!(found.call.principal.claims().count(), 1, "{}", found.call);
}

#[tokio::test]
async fn an_approval_permit_is_a_widening_and_says_so() {
    let new = format!(
        r#"{READ_WORKSPACE}
        @id("reveal") @approval permit(principal, action == Action::"secret.reveal", resource == Secret::"NPM_TOKEN");"#
    );
    let Some((report, ..)) = diff(READ_WORKSPACE, &new).await else { return };
    assert_eq!(report.verdict(), Verdict::Fails);
    assert_eq!(widenings(&report), [("secret.reveal", "reveal")]);
    let found = counterexample(&report.widenings, "reveal");
    assert!(found.needs_approval);
    assert_eq!(found.call.capability, Capability::SecretReveal("NPM_TOKEN".into()));
    assert!(report.to_string().contains("with a human's approval"), "{report}");
}

#[tokio::test]
async fn a_wider_host_pattern_is_found_with_a_receivable_destination() {
    let old = r#"@id("net") permit(principal, action == Action::"net.connect", resource == Host::"https://api.github.com");"#;
    let new = r#"@id("net") permit(principal, action == Action::"net.connect", resource)
        when { resource.scheme == "https" && resource.host like "*github.com" };"#;
    let Some((report, ..)) = diff(old, new).await else { return };
    assert_eq!(report.verdict(), Verdict::Fails, "{report}");
    let found = counterexample(&report.widenings, "net");
    let Capability::NetConnect { destination, .. } = &found.call.capability else { panic!() };
    assert_ne!(destination.to_string(), "https://api.github.com");
    assert!(destination.host.to_string().ends_with("github.com"), "{destination}");
}
