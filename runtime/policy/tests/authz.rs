//! Policy decisions: loading and validation errors, Cedar semantics, path
//! handling, and the shipped example policies (table-driven).

use std::path::PathBuf;

use airlock_policy::authz::{Authorizer, Capability, PolicySource, ToolIdentity};
use airlock_policy::{
    Access, CapabilityRequest, EnvRequest, GrantError, GuestPath, GuestPathError, HostRequest, Methods,
    MountRequest, NetGrant, Offer, OfferedMount, Principal, SecretRequest,
};
use serde_json::{Value, json};

fn source(name: &str, text: &str) -> PolicySource {
    PolicySource { name: name.to_owned(), text: text.to_owned() }
}

fn authorizer(text: &str) -> Authorizer {
    match Authorizer::new(&[source("test.cedar", text)]) {
        Ok(a) => a,
        Err(e) => panic!("policy should load:\n{e}"),
    }
}

fn example(name: &str) -> Authorizer {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match Authorizer::new(&[source(name, &text)]) {
        Ok(a) => a,
        Err(e) => panic!("example policy {name} must validate:\n{e}"),
    }
}

fn principal(sub: &str, iss: &str, claims: Value) -> Principal {
    let Value::Object(map) = claims else { panic!("claims must be an object") };
    match Principal::from_claims(sub, iss, &map) {
        Ok(p) => p,
        Err(e) => panic!("claims: {e}"),
    }
}

fn tool(name: &str) -> ToolIdentity {
    ToolIdentity::file(name, "1.0.0", "sha256:00")
}

fn path(p: &str) -> GuestPath {
    match GuestPath::new(p) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn mount(p: &str, access: Access) -> MountRequest {
    MountRequest { guest_path: path(p), access, reason: "test".to_owned() }
}

/// Shorthand for a request: mounts, env names, secret names, hosts.
fn request(mounts: &[(&str, Access)], env: &[&str], secrets: &[&str], hosts: &[&str]) -> CapabilityRequest {
    CapabilityRequest {
        mounts: mounts.iter().map(|(p, a)| mount(p, *a)).collect(),
        env: env.iter().map(|n| EnvRequest { name: (*n).to_owned(), reason: String::new() }).collect(),
        secrets: secrets
            .iter()
            .map(|n| SecretRequest { name: (*n).to_owned(), reason: String::new(), reveal: false })
            .collect(),
        hosts: hosts
            .iter()
            .map(|d| HostRequest {
                destination: d.parse().expect("destination"),
                methods: Methods::standard(),
                reason: String::new(),
            })
            .collect(),
    }
}

/// `(action, allowed)` pairs for every verdict, in order.
fn outcomes(a: &Authorizer, p: &Principal, t: &ToolIdentity, r: &CapabilityRequest) -> Vec<(String, bool)> {
    let decision = match a.decide(p, t, r) {
        Ok(d) => d,
        Err(e) => panic!("decide: {e}"),
    };
    decision
        .verdicts()
        .iter()
        .map(|v| (format!("{} {}", v.capability.action(), v.resource(t)), v.allowed))
        .collect()
}

/// Every verdict of a decision as `("action Resource", allowed)`.
type Outcomes = Vec<(String, bool)>;
/// A table row: case name, caller, tool name, request, expected outcomes.
type Case<'a> = (&'a str, Principal, &'a str, &'a CapabilityRequest, Outcomes);
/// A table row with a request shared by the whole table.
type TriageCase<'a> = (&'a str, Principal, &'a str, Outcomes);

fn expect(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs.iter().map(|(s, b)| ((*s).to_owned(), *b)).collect()
}

// ---- loading and validation ----

#[test]
fn syntax_error_names_file_line_and_column() {
    let err = Authorizer::new(&[source(
        "p.cedar",
        "// one\npermit (principal, action, resource)\n  when { principal.sub == };\n",
    )])
    .expect_err("syntax error");
    let first = &err.0[0];
    assert_eq!((first.file.as_str(), first.line), ("p.cedar", 3), "{err}");
    assert!(first.column > 1, "{err}");
    assert!(err.to_string().starts_with("p.cedar:3:"), "{err}");
}

#[test]
fn unknown_attribute_is_a_validation_error_with_location() {
    let text = "permit (principal, action == Action::\"invoke\", resource)\n  when { principal.nickname == \"x\" };\n";
    let err = Authorizer::new(&[source("p.cedar", text)]).expect_err("unknown attribute");
    let message = err.to_string();
    assert!(message.starts_with("p.cedar:2:"), "{message}");
    assert!(message.contains("nickname"), "{message}");
}

#[test]
fn unknown_action_and_entity_type_are_refused() {
    let err =
        Authorizer::new(&[source("p.cedar", "permit (principal, action == Action::\"delete\", resource);")])
            .expect_err("unknown action");
    assert!(err.to_string().contains("delete"), "{err}");
    let err = Authorizer::new(&[source("q.cedar", "permit (principal == User::\"bob\", action, resource);")])
        .expect_err("unknown entity type");
    assert!(err.to_string().starts_with("q.cedar:1:"), "{err}");
    assert!(err.to_string().contains("User"), "{err}");
}

#[test]
fn optional_claim_needs_a_has_check() {
    let err = Authorizer::new(&[source(
        "p.cedar",
        "permit (principal, action == Action::\"invoke\", resource) when { principal.repository == \"a\" };",
    )])
    .expect_err("strict validation");
    assert!(err.to_string().contains("repository"), "{err}");
}

#[test]
fn one_bad_file_loads_nothing() {
    let good = source("good.cedar", "permit (principal, action == Action::\"invoke\", resource);");
    let bad = source("bad.cedar", "permit (principal, action, resource) when { nope };");
    let err = Authorizer::new(&[good, bad]).expect_err("no partial policy");
    assert!(err.0.iter().all(|d| d.file == "bad.cedar"), "{err}");
}

#[test]
fn duplicate_ids_across_files_are_refused() {
    let a = source("a.cedar", "@id(\"same\")\npermit (principal, action == Action::\"invoke\", resource);");
    let b =
        source("b.cedar", "\n\n@id(\"same\")\nforbid (principal, action == Action::\"invoke\", resource);");
    let err = Authorizer::new(&[a, b]).expect_err("duplicate id");
    assert!(
        err.to_string().starts_with("b.cedar:3:1: duplicate policy id `same` (first used at a.cedar:1)"),
        "{err}"
    );
}

#[test]
fn templates_are_refused() {
    let err = Authorizer::new(&[source("t.cedar", "permit (principal == ?principal, action, resource);")])
        .expect_err("templates");
    assert!(err.to_string().contains("templates are not supported"), "{err}");
}

#[test]
fn policies_without_id_are_named_by_file_and_line() {
    let a = authorizer("\n\npermit (principal, action == Action::\"invoke\", resource);\n");
    assert_eq!(a.policy_count(), 1);
    let origin = a.origin("test.cedar:3").expect("named by line");
    assert_eq!(origin.line, 3);
}

// ---- semantics ----

#[test]
fn default_is_deny() {
    let a = authorizer(
        "permit (principal, action == Action::\"invoke\", resource) when { resource.name == \"other\" };",
    );
    let p = principal("agent", "https://i", json!({}));
    let decision = a.decide(&p, &tool("grep"), &CapabilityRequest::default()).expect("decide");
    assert!(!decision.invoke_allowed());
    assert!(decision.to_string().contains("no policy permits it (default deny)"), "{decision}");
}

#[test]
fn forbid_overrides_permit_and_is_named() {
    let a = authorizer(
        "@id(\"allow-all\") permit (principal, action, resource);\n@id(\"no-home\") forbid (principal, action == Action::\"env.read\", resource == EnvVar::\"HOME\");",
    );
    let p = principal("agent", "https://i", json!({}));
    let r = request(&[], &["HOME", "LANG"], &[], &[]);
    let decision = a.decide(&p, &tool("t"), &r).expect("decide");
    let home = decision
        .verdicts()
        .iter()
        .find(|v| v.capability == Capability::EnvRead("HOME".into()))
        .expect("HOME");
    assert!(!home.allowed);
    assert_eq!(home.policies.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["no-home"]);
    let text = decision.to_string();
    assert!(text.contains("forbidden by no-home"), "{text}");
    assert!(text.contains("permitted by allow-all"), "{text}");
    assert_eq!(decision.permitted(&r).env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["LANG"]);
}

#[test]
fn nothing_is_permitted_without_invoke() {
    let a = authorizer("permit (principal, action == Action::\"fs.read\", resource);");
    let p = principal("agent", "https://i", json!({}));
    let r = request(&[("/workspace", Access::ReadOnly)], &[], &[], &[]);
    let decision = a.decide(&p, &tool("t"), &r).expect("decide");
    assert!(!decision.invoke_allowed());
    assert_eq!(decision.permitted(&r), CapabilityRequest::default());
}

#[test]
fn path_hierarchy_matches_subdirectories_only() {
    let a = authorizer(
        "permit (principal, action == Action::\"invoke\", resource);\npermit (principal, action == Action::\"fs.read\", resource in Path::\"/workspace\");",
    );
    let p = principal("agent", "https://i", json!({}));
    let r = request(
        &[
            ("/workspace", Access::ReadOnly),
            ("/workspace/src", Access::ReadOnly),
            ("/workspace2", Access::ReadOnly),
            ("/etc", Access::ReadOnly),
        ],
        &[],
        &[],
        &[],
    );
    assert_eq!(
        outcomes(&a, &p, &tool("t"), &r),
        expect(&[
            ("invoke Tool::\"t\"", true),
            ("fs.read Path::\"/workspace\"", true),
            ("fs.read Path::\"/workspace/src\"", true),
            ("fs.read Path::\"/workspace2\"", false),
            ("fs.read Path::\"/etc\"", false),
        ])
    );
}

#[test]
fn dot_dot_can_never_reach_a_policy() {
    // A `like "/workspace/*"` policy would match "/workspace/../etc" as a
    // string; such a path cannot be expressed as a request at all.
    for sneaky in ["/workspace/../etc", "/workspace/./x", "/workspace//x", "/workspace/"] {
        assert!(matches!(GuestPath::new(sneaky), Err(GuestPathError::NotNormalised(_))), "{sneaky}");
    }
    let a = authorizer(
        "permit (principal, action == Action::\"invoke\", resource);\npermit (principal, action == Action::\"fs.read\", resource) when { resource.path like \"/workspace/*\" };",
    );
    let p = principal("agent", "https://i", json!({}));
    let r = request(&[("/etc", Access::ReadOnly), ("/workspace/a", Access::ReadOnly)], &[], &[], &[]);
    assert_eq!(
        outcomes(&a, &p, &tool("t"), &r),
        expect(&[
            ("invoke Tool::\"t\"", true),
            ("fs.read Path::\"/etc\"", false),
            ("fs.read Path::\"/workspace/a\"", true)
        ])
    );
}

#[test]
fn read_write_mount_is_narrowed_when_write_is_denied_and_denied_bindings_are_dropped() {
    let a = authorizer(
        "permit (principal, action in [Action::\"invoke\", Action::\"fs.read\"], resource);\nforbid (principal, action == Action::\"fs.read\", resource == Path::\"/secret\");",
    );
    let p = principal("agent", "https://i", json!({}));
    let r = request(&[("/workspace", Access::ReadWrite), ("/secret", Access::ReadOnly)], &[], &[], &[]);
    let decision = a.decide(&p, &tool("t"), &r).expect("decide");
    let offer = Offer {
        mounts: vec![
            OfferedMount { host: "/host/ws".into(), guest: path("/workspace"), access: Access::ReadWrite },
            OfferedMount { host: "/host/secret".into(), guest: path("/secret"), access: Access::ReadOnly },
        ],
        ..Offer::default()
    };
    let grants = decision.grants(&r, &offer).expect("grants");
    assert_eq!(grants.mounts().len(), 1);
    assert_eq!(grants.mounts()[0].guest, path("/workspace"));
    assert_eq!(grants.mounts()[0].access, Access::ReadOnly);
}

#[test]
fn offering_an_unrequested_mount_is_still_an_error() {
    let a = authorizer("permit (principal, action, resource);");
    let p = principal("agent", "https://i", json!({}));
    let r = request(&[("/workspace", Access::ReadOnly)], &[], &[], &[]);
    let decision = a.decide(&p, &tool("t"), &r).expect("decide");
    let offer = Offer {
        mounts: vec![OfferedMount { host: "/h".into(), guest: path("/other"), access: Access::ReadOnly }],
        ..Offer::default()
    };
    assert!(decision.grants(&r, &offer).is_err());
}

#[test]
fn claims_are_readable_as_attributes_and_tags() {
    let a = authorizer(
        "permit (principal, action == Action::\"invoke\", resource) when { principal has owner && principal.owner == \"team:platform\" && principal.hasTag(\"team_size\") && principal.getTag(\"team_size\") == \"7\" };",
    );
    let yes = principal("a", "https://i", json!({"owner": "team:platform", "team_size": 7}));
    let no = principal("a", "https://i", json!({"owner": "team:other", "team_size": 7}));
    let t = tool("t");
    let empty = CapabilityRequest::default();
    assert!(a.decide(&yes, &t, &empty).expect("decide").invoke_allowed());
    assert!(!a.decide(&no, &t, &empty).expect("decide").invoke_allowed());
}

// ---- network destinations ----

fn host_request(destination: &str, methods: &[&str]) -> HostRequest {
    HostRequest {
        destination: destination.parse().expect("destination"),
        methods: Methods::parse(methods).expect("methods"),
        reason: String::new(),
    }
}

fn net_grant(destination: &str, methods: &[&str]) -> NetGrant {
    NetGrant {
        destination: destination.parse().expect("destination"),
        methods: Methods::parse(methods).expect("methods"),
    }
}

#[test]
fn methods_are_restricted_through_context() {
    let a = authorizer(
        r#"permit (principal, action == Action::"invoke", resource);
permit (principal, action == Action::"net.connect", resource == Host::"https://api.github.com")
  when { ["GET", "HEAD"].containsAll(context.methods) };"#,
    );
    let p = principal("agent", "https://i", json!({}));
    let read_only = CapabilityRequest {
        hosts: vec![host_request("https://api.github.com", &["GET"])],
        ..Default::default()
    };
    let any =
        CapabilityRequest { hosts: vec![host_request("https://api.github.com", &[])], ..Default::default() };
    let granted = a.decide(&p, &tool("t"), &read_only).expect("decide").grants(&read_only, &Offer::default());
    assert_eq!(granted.expect("grants").hosts(), [net_grant("https://api.github.com", &["GET"])]);
    let decision = a.decide(&p, &tool("t"), &any).expect("decide");
    assert!(
        decision.grants(&any, &Offer::default()).expect("grants").hosts().is_empty(),
        "POST was asked for too"
    );
}

#[test]
fn host_attributes_match_as_written() {
    let a = authorizer(
        r#"permit (principal, action == Action::"invoke", resource);
permit (principal, action == Action::"net.connect", resource)
  when { resource.scheme == "https" && resource.host like "*.osv.dev" && resource.port_min == 443 };"#,
    );
    let p = principal("agent", "https://i", json!({}));
    let r = CapabilityRequest {
        hosts: vec![
            host_request("https://api.osv.dev", &[]),
            host_request("http://api.osv.dev", &[]),
            host_request("https://evil.dev", &[]),
        ],
        ..Default::default()
    };
    let grants = a.decide(&p, &tool("t"), &r).expect("decide").grants(&r, &Offer::default()).expect("grants");
    let granted: Vec<String> = grants.hosts().iter().map(|h| h.destination.to_string()).collect();
    assert_eq!(granted, ["https://api.osv.dev"]);
}

#[test]
fn offered_destinations_must_lie_inside_the_request_and_are_decided_too() {
    let a = authorizer(
        r#"permit (principal, action == Action::"invoke", resource);
permit (principal, action == Action::"net.connect", resource == Host::"https://api.osv.dev");"#,
    );
    let p = principal("agent", "https://i", json!({}));
    let r = CapabilityRequest { hosts: vec![host_request("https://*", &["POST"])], ..Default::default() };
    let offer = Offer {
        hosts: vec![net_grant("https://api.osv.dev", &[]), net_grant("https://evil.dev", &[])],
        ..Offer::default()
    };
    let candidates = r.with_offered_hosts("t", &offer.hosts).expect("inside the request");
    let grants =
        a.decide(&p, &tool("t"), &candidates).expect("decide").grants(&candidates, &offer).expect("grants");
    assert_eq!(
        grants.hosts(),
        [net_grant("https://api.osv.dev", &["POST"])],
        "methods narrowed to the request"
    );

    let outside = [net_grant("http://10.0.0.5:80", &[])];
    let err = r.with_offered_hosts("t", &outside).expect_err("not requested");
    assert!(matches!(err, GrantError::HostNotRequested { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "tool `t` does not request destination `http://10.0.0.5` (it requests: https://*)"
    );
    let wrong_method = [net_grant("https://api.osv.dev", &["DELETE"])];
    let err = r.with_offered_hosts("t", &wrong_method).expect_err("method not requested").to_string();
    assert!(err.contains("DELETE") && err.contains("POST"), "{err}");
}

// ---- secrets ----

fn secret_request(name: &str, reveal: bool) -> SecretRequest {
    SecretRequest { name: name.to_owned(), reason: String::new(), reveal }
}

#[test]
fn a_secret_is_bound_to_the_destinations_policy_names() {
    let a = authorizer(
        r#"permit (principal, action in [Action::"invoke", Action::"net.connect"], resource);
@id("token-to-github")
permit (principal, action == Action::"secret.use", resource == Secret::"GITHUB_TOKEN")
  when { context.destination == Host::"https://api.github.com" && principal has repository && principal.repository == "acme/app" };"#,
    );
    let r = CapabilityRequest {
        hosts: vec![host_request("https://api.github.com", &[]), host_request("https://evil.example", &[])],
        secrets: vec![secret_request("GITHUB_TOKEN", true), secret_request("NPM_TOKEN", false)],
        ..CapabilityRequest::default()
    };
    let app = principal("agent", "https://i", json!({"repository": "acme/app"}));
    let decision = a.decide(&app, &tool("t"), &r).expect("decide");
    let bindings = decision.secret_bindings(&r);
    assert_eq!(bindings[0].destinations, ["https://api.github.com".parse().expect("destination")]);
    assert!(!bindings[0].reveal, "reveal needs its own permit");
    assert!(bindings[1].destinations.is_empty());
    let names: Vec<String> = decision.permitted(&r).secrets.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["GITHUB_TOKEN"]);
    assert!(decision.to_string().contains("allow  secret.use"), "{decision}");
    assert!(decision.to_string().contains("Secret::\"GITHUB_TOKEN\" for https://evil.example"), "{decision}");

    let other = principal("agent", "https://i", json!({"repository": "acme/other"}));
    let decision = a.decide(&other, &tool("t"), &r).expect("decide");
    assert!(decision.permitted(&r).secrets.is_empty(), "another repository gets no secret");
}

// ---- the shipped examples ----

fn gha_claims(overrides: Value) -> Principal {
    let mut claims = json!({
        "repository": "acme/app", "repository_id": "424242", "ref": "refs/heads/main", "ref_protected": "true",
        "runner_environment": "github-hosted",
        "job_workflow_ref": "acme/app/.github/workflows/remediate.yml@refs/heads/main",
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut claims, overrides) {
        base.extend(extra);
    }
    principal("repo:acme/app:ref:refs/heads/main", "https://token.actions.githubusercontent.com", claims)
}

#[test]
fn example_github_actions_remediation() {
    let a = example("github-actions-remediation.cedar");
    let rw =
        request(&[("/workspace", Access::ReadWrite), ("/workspace/.git", Access::ReadWrite)], &[], &[], &[]);
    let ro = request(&[("/workspace", Access::ReadOnly)], &[], &[], &[]);
    let cases: Vec<Case> = vec![
        (
            "patch-deps on a protected ref writes the checkout but never .git",
            gha_claims(json!({})),
            "patch-deps",
            &rw,
            expect(&[
                ("invoke Tool::\"patch-deps\"", true),
                ("fs.read Path::\"/workspace\"", true),
                ("fs.write Path::\"/workspace\"", true),
                ("fs.read Path::\"/workspace/.git\"", true),
                ("fs.write Path::\"/workspace/.git\"", false),
            ]),
        ),
        (
            "read-file reads but may not write",
            gha_claims(json!({})),
            "read-file",
            &rw,
            expect(&[
                ("invoke Tool::\"read-file\"", true),
                ("fs.read Path::\"/workspace\"", true),
                ("fs.write Path::\"/workspace\"", false),
                ("fs.read Path::\"/workspace/.git\"", true),
                ("fs.write Path::\"/workspace/.git\"", false),
            ]),
        ),
        (
            "unprotected ref gets nothing",
            gha_claims(json!({"ref_protected": "false"})),
            "patch-deps",
            &ro,
            expect(&[("invoke Tool::\"patch-deps\"", false), ("fs.read Path::\"/workspace\"", false)]),
        ),
        (
            "a fork with the same name but another repository id gets nothing",
            gha_claims(json!({"repository_id": "999"})),
            "grep",
            &ro,
            expect(&[("invoke Tool::\"grep\"", false), ("fs.read Path::\"/workspace\"", false)]),
        ),
        (
            "another workflow in the same repository may not invoke",
            gha_claims(json!({"job_workflow_ref": "acme/app/.github/workflows/other.yml@refs/heads/main"})),
            "grep",
            &ro,
            expect(&[("invoke Tool::\"grep\"", false), ("fs.read Path::\"/workspace\"", true)]),
        ),
        (
            "a self-hosted runner may not invoke",
            gha_claims(json!({"runner_environment": "self-hosted"})),
            "grep",
            &ro,
            expect(&[("invoke Tool::\"grep\"", false), ("fs.read Path::\"/workspace\"", true)]),
        ),
        (
            "a tool outside the list may not run",
            gha_claims(json!({})),
            "http-fetch",
            &ro,
            expect(&[("invoke Tool::\"http-fetch\"", false), ("fs.read Path::\"/workspace\"", true)]),
        ),
    ];
    for (name, p, t, r, expected) in cases {
        assert_eq!(outcomes(&a, &p, &tool(t), r), expected, "case: {name}");
    }

    // osv-query may POST to the public OSV API; nothing else goes out.
    let osv = CapabilityRequest {
        hosts: vec![
            host_request("https://api.osv.dev", &["POST"]),
            host_request("https://*:1-65535", &["POST"]),
        ],
        ..CapabilityRequest::default()
    };
    let decision = a.decide(&gha_claims(json!({})), &tool("osv-query"), &osv).expect("decide");
    let granted: Vec<String> =
        decision.permitted(&osv).hosts.iter().map(|h| h.destination.to_string()).collect();
    assert_eq!(granted, ["https://api.osv.dev"]);
    for other in ["patch-deps", "grep"] {
        let decision = a.decide(&gha_claims(json!({})), &tool(other), &osv).expect("decide");
        assert!(decision.permitted(&osv).hosts.is_empty(), "{other} got the network");
    }
    let get =
        CapabilityRequest { hosts: vec![host_request("https://api.osv.dev", &[])], ..Default::default() };
    let decision = a.decide(&gha_claims(json!({})), &tool("osv-query"), &get).expect("decide");
    assert!(decision.permitted(&get).hosts.is_empty(), "more than POST was granted");
}

#[test]
fn example_triage_agent() {
    let a = example("triage-agent.cedar");
    let triage = |extra: Value| {
        let mut claims = json!({"agent_class": "triage-bot", "env": "prod", "owner": "team:support"});
        if let (Value::Object(base), Value::Object(extra)) = (&mut claims, extra) {
            base.extend(extra);
        }
        principal("spiffe://factory.example/agent/triage-bot/i-1", "https://id.factory.example", claims)
    };
    let r =
        request(&[("/workspace", Access::ReadWrite)], &[], &["GITHUB_TOKEN"], &["https://api.github.com"]);
    let cases: Vec<TriageCase> = vec![
        (
            "reads, never writes, no network, no secrets",
            triage(json!({})),
            "grep",
            expect(&[
                ("invoke Tool::\"grep\"", true),
                ("fs.read Path::\"/workspace\"", true),
                ("fs.write Path::\"/workspace\"", false),
                ("net.connect Host::\"https://api.github.com\"", false),
                ("secret.use Secret::\"GITHUB_TOKEN\" for https://api.github.com", false),
            ]),
        ),
        (
            "staging identity gets nothing",
            triage(json!({"env": "staging"})),
            "grep",
            expect(&[
                ("invoke Tool::\"grep\"", false),
                ("fs.read Path::\"/workspace\"", false),
                ("fs.write Path::\"/workspace\"", false),
                ("net.connect Host::\"https://api.github.com\"", false),
                ("secret.use Secret::\"GITHUB_TOKEN\" for https://api.github.com", false),
            ]),
        ),
        (
            "a write tool is not in its list",
            triage(json!({})),
            "patch-deps",
            expect(&[
                ("invoke Tool::\"patch-deps\"", false),
                ("fs.read Path::\"/workspace\"", true),
                ("fs.write Path::\"/workspace\"", false),
                ("net.connect Host::\"https://api.github.com\"", false),
                ("secret.use Secret::\"GITHUB_TOKEN\" for https://api.github.com", false),
            ]),
        ),
        (
            "deep delegation is refused outright",
            triage(json!({"act": {"sub": "orchestrator", "act": {"sub": "human:bob"}}})),
            "grep",
            expect(&[
                ("invoke Tool::\"grep\"", false),
                ("fs.read Path::\"/workspace\"", false),
                ("fs.write Path::\"/workspace\"", false),
                ("net.connect Host::\"https://api.github.com\"", false),
                ("secret.use Secret::\"GITHUB_TOKEN\" for https://api.github.com", false),
            ]),
        ),
    ];
    for (name, p, t, expected) in cases {
        assert_eq!(outcomes(&a, &p, &tool(t), &r), expected, "case: {name}");
    }
}

#[test]
fn example_local_session() {
    let a = example("local-session.cedar");
    let r = request(
        &[("/workspace", Access::ReadWrite), ("/home", Access::ReadOnly)],
        &["LANG", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY"],
        &[],
        &[],
    );
    let human = principal("human:alice", "https://airlock.local", json!({}));
    assert_eq!(
        outcomes(&a, &human, &tool("grep"), &r),
        expect(&[
            ("invoke Tool::\"grep\"", true),
            ("fs.read Path::\"/workspace\"", true),
            ("fs.write Path::\"/workspace\"", true),
            ("fs.read Path::\"/home\"", false),
            ("env.read EnvVar::\"LANG\"", true),
            ("env.read EnvVar::\"GITHUB_TOKEN\"", false),
            ("env.read EnvVar::\"AWS_SECRET_ACCESS_KEY\"", false),
        ])
    );
    let agent = principal("agent:bot", "https://airlock.local", json!({}));
    assert!(outcomes(&a, &agent, &tool("grep"), &r).iter().all(|(_, allowed)| !allowed));

    // The web: public HTTPS names for GET/HEAD only; never an address.
    let web = CapabilityRequest {
        hosts: vec![
            host_request("https://*:1-65535", &["GET", "HEAD"]),
            host_request("https://*", &["POST"]),
            host_request("http://*:1-65535", &["GET"]),
            host_request("https://10.0.0.0/8", &["GET"]),
        ],
        ..CapabilityRequest::default()
    };
    let granted = a.decide(&human, &tool("http-fetch"), &web).expect("decide").permitted(&web).hosts;
    let granted: Vec<String> = granted.iter().map(|h| h.destination.to_string()).collect();
    assert_eq!(granted, ["https://*:1-65535"]);
    let other_issuer = principal("human:alice", "https://elsewhere", json!({}));
    assert!(outcomes(&a, &other_issuer, &tool("grep"), &r).iter().all(|(_, allowed)| !allowed));
}

// ---- approval markers ----

#[test]
fn a_capability_allowed_only_by_approval_permits_needs_approval() {
    let a = authorizer(
        "@id(\"run\") permit (principal, action == Action::\"invoke\", resource);\n\
         @id(\"read\") permit (principal, action == Action::\"fs.read\", resource in Path::\"/workspace\");\n\
         @id(\"ci-writes\") @approval(\"human\")\n\
         permit (principal, action == Action::\"fs.write\", resource in Path::\"/workspace/.github\");",
    );
    let p = principal("agent", "https://i", json!({}));
    let r = request(
        &[("/workspace/.github", Access::ReadWrite), ("/workspace/src", Access::ReadOnly)],
        &[],
        &[],
        &[],
    );
    let decision = a.decide(&p, &tool("t"), &r).expect("decide");
    let gated: Vec<String> = decision
        .needing_approval()
        .map(|v| format!("{} {}", v.capability.action(), v.resource(&tool("t"))))
        .collect();
    assert_eq!(gated, ["fs.write Path::\"/workspace/.github\""]);
    let text = decision.to_string();
    assert!(text.contains("permitted with a human's approval by ci-writes"), "{text}");
    assert!(text.contains("permitted by read"), "{text}");
}

#[test]
fn an_unmarked_permit_for_the_same_capability_lifts_the_approval() {
    let a = authorizer(
        "@id(\"run-approved\") @approval permit (principal, action == Action::\"invoke\", resource);\n\
         @id(\"run-grep\") permit (principal, action == Action::\"invoke\", resource) when { resource.name == \"grep\" };",
    );
    let p = principal("agent", "https://i", json!({}));
    let none = CapabilityRequest::default();
    let grep = a.decide(&p, &tool("grep"), &none).expect("decide");
    assert_eq!(grep.needing_approval().count(), 0, "{grep}");
    let push = a.decide(&p, &tool("push"), &none).expect("decide");
    assert_eq!(
        push.needing_approval().map(|v| v.capability.clone()).collect::<Vec<_>>(),
        [Capability::Invoke]
    );
}

#[test]
fn a_forbid_wins_over_an_approval_permit_and_nothing_needs_approval() {
    let a = authorizer(
        "@approval permit (principal, action == Action::\"invoke\", resource);\n\
         @id(\"never\") forbid (principal, action == Action::\"invoke\", resource);",
    );
    let p = principal("agent", "https://i", json!({}));
    let decision = a.decide(&p, &tool("t"), &CapabilityRequest::default()).expect("decide");
    assert!(!decision.invoke_allowed());
    assert_eq!(decision.needing_approval().count(), 0, "a denied call is refused, not sent for approval");
}

#[test]
fn approval_markers_are_checked_when_loading() {
    let on_forbid = Authorizer::new(&[source("p.cedar", "@approval forbid (principal, action, resource);")])
        .expect_err("approval on forbid");
    assert!(on_forbid.to_string().starts_with("p.cedar:1:1: `@approval` on a `forbid`"), "{on_forbid}");
    let class = Authorizer::new(&[source(
        "p.cedar",
        "permit (principal, action, resource);\n@approval(\"robot\")\npermit (principal, action, resource);",
    )])
    .expect_err("unknown class");
    assert!(
        class
            .to_string()
            .starts_with("p.cedar:2:1: `@approval(\"robot\")`: the only approver class is `human`"),
        "{class}"
    );
}

#[test]
fn example_fixer_agent() {
    let a = example("fixer-agent.cedar");
    let fixer = principal(
        "spiffe://factory.example/agent/fixer/i-1",
        "https://id.factory.example",
        json!({"agent_class": "fixer", "owner": "human:alice"}),
    );
    let r = request(&[("/workspace", Access::ReadWrite)], &[], &[], &[]);
    // (tool, every verdict, the ones that need approval)
    let cases: Vec<(&str, Outcomes, Vec<&str>)> = vec![
        (
            "grep",
            expect(&[
                ("invoke Tool::\"grep\"", true),
                ("fs.read Path::\"/workspace\"", true),
                ("fs.write Path::\"/workspace\"", true),
            ]),
            vec!["fs.write"],
        ),
        (
            "read-file",
            expect(&[
                ("invoke Tool::\"read-file\"", true),
                ("fs.read Path::\"/workspace\"", true),
                ("fs.write Path::\"/workspace\"", true),
            ]),
            vec!["invoke", "fs.write"],
        ),
        (
            "http-fetch",
            expect(&[
                ("invoke Tool::\"http-fetch\"", false),
                ("fs.read Path::\"/workspace\"", true),
                ("fs.write Path::\"/workspace\"", true),
            ]),
            vec![],
        ),
    ];
    for (name, expected, gated) in cases {
        assert_eq!(outcomes(&a, &fixer, &tool(name), &r), expected, "tool {name}");
        let decision = a.decide(&fixer, &tool(name), &r).expect("decide");
        let needing: Vec<&str> = decision.needing_approval().map(|v| v.capability.action()).collect();
        assert_eq!(needing, gated, "tool {name}");
    }
    let read_only = request(&[("/workspace", Access::ReadOnly)], &[], &[], &[]);
    let grep = a.decide(&fixer, &tool("grep"), &read_only).expect("decide");
    assert_eq!(grep.needing_approval().count(), 0, "a read-only search needs nobody");
    let other = principal(
        "spiffe://factory.example/agent/x",
        "https://id.factory.example",
        json!({"agent_class": "triage-bot"}),
    );
    assert!(!a.decide(&other, &tool("read-file"), &read_only).expect("decide").invoke_allowed());
}

/// Staged workspace changes: one `fs.write` check per changed path, each
/// path `in` its directories (so a `forbid` on a directory covers every
/// file under it) and matchable by `resource.path like`.
#[test]
fn each_changed_path_is_decided_on_its_own() {
    let authz = authorizer(
        r#"
        @id("manifests")
        permit (principal, action == Action::"fs.write", resource)
        when { resource.path like "/workspace/*Cargo.toml" || resource.path like "/workspace/*package.json" };

        @id("never-ci-config")
        forbid (principal, action == Action::"fs.write", resource in Path::"/workspace/.github");
        "#,
    );
    let paths = [
        "/workspace/Cargo.toml",
        "/workspace/crates/core/Cargo.toml",
        "/workspace/.github/workflows/Cargo.toml",
        "/workspace/src/main.rs",
    ]
    .map(path);
    let ci = principal("repo:acme/app", "https://token.actions.githubusercontent.com", json!({}));
    let verdicts = authz.decide_writes(&ci, &tool("patch-deps"), &paths).expect("decides");
    let summary: Vec<(bool, Vec<&str>)> =
        verdicts.iter().map(|v| (v.allowed, v.policies.iter().map(|p| p.id.as_str()).collect())).collect();
    assert_eq!(
        summary,
        [
            (true, vec!["manifests"]),
            (true, vec!["manifests"]),
            (false, vec!["never-ci-config"]),
            (false, vec![])
        ]
    );
    assert!(verdicts.iter().zip(&paths).all(|(v, p)| v.capability == Capability::FsWrite(p.clone())));
}

#[test]
fn policy_sees_where_a_tool_came_from_and_who_signed_it() {
    let a = authorizer(
        r#"@id("signed-registry-tools")
           permit (principal, action == Action::"invoke", resource)
           when { resource has signer && resource.signer == "acme-release" && resource.source like "oci://*" };"#,
    );
    let p = principal("agent:ci", "https://issuer", json!({}));
    let invoke = |tool: &ToolIdentity| a.verdict(&p, tool, Capability::Invoke).expect("decides").allowed;
    let registry = |signer: Option<&str>| ToolIdentity {
        source: "oci://registry.acme.example/tools/grep@sha256:00".into(),
        signer: signer.map(str::to_owned),
        ..tool("grep")
    };
    assert!(invoke(&registry(Some("acme-release"))));
    assert!(!invoke(&registry(Some("someone-else"))), "another signer");
    assert!(!invoke(&registry(None)), "unsigned: `resource has signer` is false, no error");
    assert!(
        !invoke(&ToolIdentity { signer: Some("acme-release".into()), ..tool("grep") }),
        "a file is not from a registry"
    );
    assert!(!invoke(&tool("grep")));
}
