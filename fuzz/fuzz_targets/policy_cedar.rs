//! Differential: airlock's policy decisions against a direct `cedar-policy`
//! evaluation of the same request.
//!
//! Policies are generated from the schema's actions, scopes and conditions
//! (claims, tags, delegation, paths, hosts, methods, secrets' destinations,
//! `@approval`), alone or beside the shipped examples. For every capability
//! of a generated request, airlock's verdict (its policy set split per
//! action, its entity store built for the whole call) must equal Cedar's
//! answer for that one capability, asked with the whole policy set parsed
//! here, entities written here as Cedar JSON from the inputs (not from
//! airlock's types), and the request validated against the schema: the
//! same decision, and `needs_approval` exactly when every deciding policy is
//! marked `@approval`.
#![no_main]

use std::str::FromStr;
use std::sync::LazyLock;

use airlock_policy::authz::{Authorizer, Capability, PolicySource, SCHEMA, ToolIdentity};
use airlock_policy::{
    Access, CapabilityRequest, Destination, EnvRequest, GuestPath, HostRequest, Methods, MountRequest,
    Principal, SecretRequest,
};
use arbitrary::{Arbitrary, Unstructured};
use cedar_policy::{Context, Entities, EntityUid, PolicySet, Request, Schema};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

static SCHEMA_PARSED: LazyLock<Schema> =
    LazyLock::new(|| Schema::from_cedarschema_str(SCHEMA).expect("the shipped schema parses").0);

const EXAMPLES: [(&str, &str); 3] = [
    ("gha.cedar", include_str!("../../examples/policies/github-actions-remediation.cedar")),
    ("triage.cedar", include_str!("../../examples/policies/triage-agent.cedar")),
    ("fixer.cedar", include_str!("../../examples/policies/fixer-agent.cedar")),
];

const SUBS: &[&str] = &["agent:fixer-1", "agent:triage", "human:alice", "repo:acme/app:ref:refs/heads/main"];
const ISSUERS: &[&str] = &["https://id.factory.example", "https://token.actions.githubusercontent.com"];
const CLAIM_NAMES: &[&str] = &["agent_class", "owner", "env", "team", "level", "repository", "ref"];
const CLAIM_VALUES: &[&str] =
    &["fixer", "triage", "platform", "prod", "acme/app", "refs/heads/main", "alice"];
const TOOLS: &[&str] = &["grep", "read-file", "patch-deps", "http-fetch"];
const PATHS: &[&str] = &["/workspace", "/workspace/.github", "/workspace/src/Cargo.toml", "/docs", "/tmp"];
const HOSTS: &[&str] = &[
    "https://api.example.com",
    "https://*.example.com",
    "https://api.osv.dev",
    "http://10.0.0.0/8:8080-8090",
    "tcp://10.1.2.3:5432",
    "https://*",
];
const SECRETS: &[&str] = &["GITHUB_TOKEN", "NPM_TOKEN"];
const ENV: &[&str] = &["LANG", "CI"];

/// Conditions that type-check for every action.
const ANY: &[&str] = &[
    "principal.sub == \"agent:fixer-1\"",
    "principal.sub like \"agent:*\"",
    "principal.iss == \"https://id.factory.example\"",
    "principal has agent_class && principal.agent_class == \"fixer\"",
    "principal has owner && principal.owner == \"alice\"",
    "principal.hasTag(\"team\") && principal.getTag(\"team\") == \"platform\"",
    "principal.hasTag(\"level\") && principal.getTag(\"level\") == \"3\"",
    "principal.act_depth == 0",
    "principal.act.contains(\"human:alice\")",
    "principal has repository && principal.repository like \"acme/*\"",
];

/// (action, resource scopes, conditions) per action.
fn action_parts(action: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match action {
        "invoke" => (
            &["resource", "resource == Tool::\"grep\""],
            &["resource.name == \"patch-deps\"", "resource.version like \"1.*\"", "resource has signer"],
        ),
        "fs.read" | "fs.write" => (
            &["resource", "resource in Path::\"/workspace\"", "resource == Path::\"/docs\""],
            &[
                "resource.path like \"*/Cargo.toml\"",
                "context.tool.name == \"grep\"",
                "resource in Path::\"/workspace/.github\"",
            ],
        ),
        "net.connect" => (
            &["resource", "resource == Host::\"https://api.osv.dev\""],
            &[
                "resource.host like \"*.example.com\"",
                "[\"GET\", \"HEAD\"].containsAll(context.methods)",
                "resource.port_min >= 8080",
                "resource.scheme == \"https\"",
                "context.tool.name == \"http-fetch\"",
            ],
        ),
        "secret.use" => (
            &["resource", "resource == Secret::\"GITHUB_TOKEN\""],
            &[
                "context.destination == Host::\"https://api.example.com\"",
                "context.destination.host like \"*.example.com\"",
                "resource.name == \"NPM_TOKEN\"",
            ],
        ),
        "secret.reveal" => {
            (&["resource", "resource == Secret::\"NPM_TOKEN\""], &["context.tool.name == \"grep\""])
        }
        _ => (&["resource", "resource == EnvVar::\"LANG\""], &["resource.name == \"CI\""]),
    }
}

const ACTIONS: [&str; 7] =
    ["invoke", "fs.read", "fs.write", "net.connect", "secret.use", "secret.reveal", "env.read"];

fn policy(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let action = *u.choose(&ACTIONS)?;
    let (scopes, specific) = action_parts(action);
    let effect = if u.ratio(1, 4)? { "forbid" } else { "permit" };
    let annotation = if effect == "permit" && u.ratio(1, 4)? { "@approval(\"human\")\n" } else { "" };
    let principal = if u.ratio(1, 8)? { "principal == Agent::\"agent:triage\"" } else { "principal" };
    let action_scope = if u.ratio(1, 8)? {
        "action in [Action::\"fs.read\", Action::\"fs.write\"]".to_owned()
    } else {
        format!("action == Action::\"{action}\"")
    };
    let resource = if action_scope.starts_with("action in") { "resource" } else { *u.choose(scopes)? };
    let mut conditions = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let pool: &[&str] =
            if u.arbitrary()? || action_scope.starts_with("action in") { ANY } else { specific };
        let mut condition = (*u.choose(pool)?).to_owned();
        if u.ratio(1, 5)? {
            condition = format!("!({condition})");
        }
        conditions.push(condition);
    }
    let when = if conditions.is_empty() {
        String::new()
    } else {
        format!(" when {{ {} }}", conditions.join(" && "))
    };
    Ok(format!("{annotation}{effect} ({principal}, {action_scope}, {resource}){when};\n"))
}

#[derive(Debug)]
struct Case {
    policies: String,
    examples: bool,
    sub: &'static str,
    iss: &'static str,
    claims: Map<String, Value>,
    act: Option<&'static str>,
    tool: ToolIdentity,
    request: CapabilityRequest,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let policies = (0..u.int_in_range(1..=6)?).map(|_| policy(u)).collect::<Result<String, _>>()?;
        let mut claims = Map::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let value = match u.int_in_range(0..=3)? {
                0 => json!(u.int_in_range(0..=4)?),
                1 => json!(u.arbitrary::<bool>()?),
                _ => json!(u.choose(CLAIM_VALUES)?),
            };
            claims.insert((*u.choose(CLAIM_NAMES)?).to_owned(), value);
        }
        let act = if u.ratio(1, 4)? { Some(*u.choose(&["human:alice", "agent:triage"])?) } else { None };
        let mut tool = ToolIdentity::file(u.choose(TOOLS)?, u.choose(&["1.2.0", "2.0.0"])?, "sha256:00");
        if u.arbitrary()? {
            tool.signer = Some("acme".into());
        }
        let mut request = CapabilityRequest::default();
        for _ in 0..u.int_in_range(0..=3)? {
            request.mounts.push(MountRequest {
                guest_path: GuestPath::new(u.choose(PATHS)?).expect("valid"),
                access: if u.arbitrary()? { Access::ReadWrite } else { Access::ReadOnly },
                reason: String::new(),
            });
        }
        for _ in 0..u.int_in_range(0..=3)? {
            let methods: &[&str] = u.choose(&[&["GET"][..], &["GET", "HEAD"], &["POST"], &[]])?;
            request.hosts.push(HostRequest {
                destination: Destination::from_str(u.choose(HOSTS)?).expect("valid"),
                methods: Methods::parse(methods).expect("valid"),
                reason: String::new(),
            });
        }
        for _ in 0..u.int_in_range(0..=2)? {
            request.secrets.push(SecretRequest {
                name: (*u.choose(SECRETS)?).into(),
                reason: String::new(),
                reveal: u.arbitrary()?,
            });
        }
        for _ in 0..u.int_in_range(0..=2)? {
            request.env.push(EnvRequest { name: (*u.choose(ENV)?).into(), reason: String::new() });
        }
        Ok(Case {
            policies,
            examples: u.ratio(1, 4)?,
            sub: u.choose(SUBS)?,
            iss: u.choose(ISSUERS)?,
            claims,
            act,
            tool,
            request,
        })
    }
}

static SELF_CHECK: std::sync::Once = std::sync::Once::new();

/// A case that loads, allows something and needs approval for something:
/// the comparison is not vacuous.
fn self_check() {
    let case = Case {
        policies: "permit (principal, action == Action::\"invoke\", resource);\n\
                   @approval(\"human\")\npermit (principal, action == Action::\"fs.write\", resource in Path::\"/workspace\");\n\
                   permit (principal, action == Action::\"fs.read\", resource) when { principal.hasTag(\"team\") };\n"
            .into(),
        examples: false,
        sub: SUBS[0],
        iss: ISSUERS[0],
        claims: Map::from_iter([("team".to_owned(), json!("platform"))]),
        act: Some("human:alice"),
        tool: ToolIdentity::file("grep", "1.2.0", "sha256:00"),
        request: CapabilityRequest {
            mounts: vec![MountRequest {
                guest_path: GuestPath::new("/workspace/.github").expect("valid"),
                access: Access::ReadWrite,
                reason: String::new(),
            }],
            ..CapabilityRequest::default()
        },
    };
    let (allowed, approval) = compare(&case).expect("the self-check policies load");
    assert_eq!((allowed, approval), (3, 1), "invoke, fs.read and fs.write allowed; fs.write needs approval");
}

fuzz_target!(|case: Case| {
    SELF_CHECK.call_once(self_check);
    compare(&case);
});

/// Compares every verdict; how many were allowed and how many need
/// approval (`None` when the generated policies do not load).
fn compare(case: &Case) -> Option<(usize, usize)> {
    let mut sources = vec![PolicySource { name: "generated.cedar".into(), text: case.policies.clone() }];
    if case.examples {
        sources.extend(
            EXAMPLES.iter().map(|(name, text)| PolicySource { name: (*name).into(), text: (*text).into() }),
        );
    }
    // Generated policies that do not validate are refused; only those that
    // load are compared.
    let authorizer = Authorizer::new(&sources).ok()?;
    let mut claims = case.claims.clone();
    if let Some(actor) = case.act {
        claims.insert("act".into(), json!({ "sub": actor }));
    }
    let principal = Principal::from_claims(case.sub, case.iss, &claims).expect("generated claims are valid");
    let decision = authorizer.decide(&principal, &case.tool, &case.request).expect("decides");
    let direct = DirectCedar::new(&sources);
    let capabilities = Capability::for_request(&case.request);
    assert_eq!(decision.verdicts().len(), capabilities.len());
    for (verdict, capability) in decision.verdicts().iter().zip(capabilities) {
        assert_eq!(verdict.capability, capability);
        let (allowed, needs_approval) = direct.decide(case, &capability);
        assert_eq!(verdict.allowed, allowed, "{capability:?} under\n{}", case.policies);
        assert_eq!(
            verdict.needs_approval, needs_approval,
            "{capability:?} approval under\n{}",
            case.policies
        );
    }
    let allowed = decision.verdicts().iter().filter(|v| v.allowed).count();
    let approval = decision.verdicts().iter().filter(|v| v.needs_approval).count();
    Some((allowed, approval))
}

/// The same policies, parsed and asked here.
struct DirectCedar {
    set: PolicySet,
}

impl DirectCedar {
    fn new(sources: &[PolicySource]) -> Self {
        let mut set = PolicySet::new();
        for (i, source) in sources.iter().enumerate() {
            let parsed = PolicySet::from_str(&source.text).expect("airlock loaded it");
            for policy in parsed.policies() {
                let id = cedar_policy::PolicyId::new(format!("s{i}.{}", policy.id()));
                set.add(policy.new_id(id)).expect("unique ids");
            }
        }
        Self { set }
    }

    /// Cedar's decision on one capability, and whether every deciding
    /// policy is marked `@approval`.
    fn decide(&self, case: &Case, capability: &Capability) -> (bool, bool) {
        let schema = &*SCHEMA_PARSED;
        let tool = json!({ "type": "Tool", "id": case.tool.name });
        let (resource, mut entities, context) = match capability {
            Capability::Invoke => (tool.clone(), vec![], json!({})),
            Capability::FsRead(path) | Capability::FsWrite(path) => (
                json!({ "type": "Path", "id": path.as_str() }),
                path_entities(path.as_str()),
                json!({ "tool": { "__entity": tool } }),
            ),
            Capability::NetConnect { destination, methods } => (
                host_uid(destination),
                vec![host_entity(destination)],
                json!({ "tool": { "__entity": tool }, "methods": methods.as_slice() }),
            ),
            Capability::SecretUse { name, destination } => (
                json!({ "type": "Secret", "id": name }),
                vec![named("Secret", name), host_entity(destination)],
                json!({ "tool": { "__entity": tool }, "destination": { "__entity": host_uid(destination) } }),
            ),
            Capability::SecretReveal(name) => (
                json!({ "type": "Secret", "id": name }),
                vec![named("Secret", name)],
                json!({ "tool": { "__entity": tool } }),
            ),
            Capability::EnvRead(name) => (
                json!({ "type": "EnvVar", "id": name }),
                vec![named("EnvVar", name)],
                json!({ "tool": { "__entity": tool } }),
            ),
            other => panic!("a capability this target does not model: {other:?}"),
        };
        entities.push(agent_entity(case));
        entities.push(tool_entity(&case.tool));
        let entities =
            Entities::from_json_value(Value::Array(entities), Some(schema)).expect("entities fit the schema");
        let action =
            EntityUid::from_json(json!({ "type": "Action", "id": capability.action() })).expect("action");
        let principal = EntityUid::from_json(json!({ "type": "Agent", "id": case.sub })).expect("principal");
        let resource = EntityUid::from_json(resource).expect("resource");
        let context =
            Context::from_json_value(context, Some((schema, &action))).expect("context fits the schema");
        let request =
            Request::new(principal, action, resource, context, Some(schema)).expect("the request validates");
        let response = cedar_policy::Authorizer::new().is_authorized(&request, &self.set, &entities);
        let allowed = response.decision() == cedar_policy::Decision::Allow;
        let reasons: Vec<_> = response.diagnostics().reason().collect();
        let approval = allowed
            && !reasons.is_empty()
            && reasons
                .iter()
                .all(|id| self.set.policy(id).is_some_and(|p| p.annotation("approval").is_some()));
        (allowed, approval)
    }
}

fn named(kind: &str, name: &str) -> Value {
    json!({ "uid": { "type": kind, "id": name }, "attrs": { "name": name }, "parents": [] })
}

fn host_uid(destination: &Destination) -> Value {
    json!({ "type": "Host", "id": destination.to_string() })
}

fn host_entity(destination: &Destination) -> Value {
    json!({
        "uid": host_uid(destination),
        "attrs": {
            "scheme": destination.scheme.to_string(),
            "host": destination.host.to_string(),
            "port_min": destination.first_port,
            "port_max": destination.last_port,
        },
        "parents": [],
    })
}

/// The path and each of its ancestors, each `in` its parent.
fn path_entities(path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut current = path.to_owned();
    loop {
        let parent = current.rfind('/').filter(|i| *i > 0).map(|i| current[..i].to_owned());
        let parents = parent.iter().map(|p| json!({ "type": "Path", "id": p })).collect::<Vec<_>>();
        out.push(json!({ "uid": { "type": "Path", "id": current }, "attrs": { "path": current }, "parents": parents }));
        match parent {
            Some(parent) => current = parent,
            None => return out,
        }
    }
}

/// The agent from the generated claims: known claims as attributes, every
/// scalar claim as a tag (numbers and booleans as their JSON text).
fn agent_entity(case: &Case) -> Value {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut attrs = json!({
        "sub": case.sub,
        "iss": case.iss,
        "act": case.act.into_iter().collect::<Vec<_>>(),
        "act_depth": usize::from(case.act.is_some()),
    });
    let mut tags = Map::new();
    for (name, value) in &case.claims {
        if airlock_policy::KNOWN_CLAIMS.contains(&name.as_str()) {
            attrs[name] = json!(text(value));
        }
        tags.insert(name.clone(), json!(text(value)));
    }
    json!({ "uid": { "type": "Agent", "id": case.sub }, "attrs": attrs, "parents": [], "tags": tags })
}

fn tool_entity(tool: &ToolIdentity) -> Value {
    let mut attrs =
        json!({ "name": tool.name, "version": tool.version, "digest": tool.digest, "source": tool.source });
    if let Some(signer) = &tool.signer {
        attrs["signer"] = json!(signer);
    }
    json!({ "uid": { "type": "Tool", "id": tool.name }, "attrs": attrs, "parents": [] })
}
