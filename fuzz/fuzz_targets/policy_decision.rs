//! Policy decisions on arbitrary claims and capability requests, under the
//! shipped example policies: never a panic, and the grants are always a
//! subset of the request, empty when `invoke` is denied.
#![no_main]

use std::sync::LazyLock;

use airlock_policy::authz::{Authorizer, PolicySource, ToolIdentity};
use airlock_policy::{
    Access, CapabilityRequest, EnvRequest, GuestPath, HostRequest, Methods, MountRequest, Principal,
    SecretRequest,
};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

static AUTHORIZER: LazyLock<Authorizer> = LazyLock::new(|| {
    let sources = [
        ("gha.cedar", include_str!("../../examples/policies/github-actions-remediation.cedar")),
        ("triage.cedar", include_str!("../../examples/policies/triage-agent.cedar")),
        ("local.cedar", include_str!("../../examples/policies/local-session.cedar")),
    ]
    .map(|(name, text)| PolicySource { name: name.into(), text: text.into() });
    Authorizer::new(&sources).expect("example policies validate")
});

#[derive(Debug, Arbitrary)]
struct Input {
    sub: String,
    iss: String,
    claims: Vec<(String, String)>,
    tool: String,
    mounts: Vec<(String, bool)>,
    hosts: Vec<(String, Vec<String>)>,
    secrets: Vec<(String, bool)>,
    env: Vec<String>,
}

fuzz_target!(|input: Input| {
    let claims: Map<String, Value> = input.claims.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let Ok(principal) = Principal::from_claims(&input.sub, &input.iss, &claims) else { return };
    let request = CapabilityRequest {
        mounts: input
            .mounts
            .into_iter()
            .filter_map(|(path, rw)| {
                let access = if rw { Access::ReadWrite } else { Access::ReadOnly };
                Some(MountRequest { guest_path: GuestPath::new(&path).ok()?, access, reason: String::new() })
            })
            .collect(),
        hosts: input
            .hosts
            .into_iter()
            .filter_map(|(destination, methods)| {
                Some(HostRequest {
                    destination: destination.parse().ok()?,
                    methods: Methods::parse(&methods).ok()?,
                    reason: String::new(),
                })
            })
            .collect(),
        secrets: input
            .secrets
            .into_iter()
            .map(|(name, reveal)| SecretRequest { name, reason: String::new(), reveal })
            .collect(),
        env: input.env.into_iter().map(|name| EnvRequest { name, reason: String::new() }).collect(),
    };
    let tool = ToolIdentity::file(&input.tool, "0.0.0", "sha256:00");
    let Ok(decision) = AUTHORIZER.decide(&principal, &tool, &request) else { return };
    let permitted = decision.permitted(&request);
    if !decision.invoke_allowed() {
        assert_eq!(permitted, CapabilityRequest::default());
    }
    assert!(
        permitted
            .mounts
            .iter()
            .all(|m| request.mounts.iter().any(|r| r.guest_path == m.guest_path && m.access <= r.access))
    );
    assert!(permitted.env.iter().all(|e| request.env.contains(e)));
    assert!(permitted.secrets.iter().all(|s| request.secrets.contains(s)));
    assert!(permitted.hosts.iter().all(|h| request.hosts.contains(h)));
    // A secret is bound only to permitted destinations, and revealed only
    // if the tool asked.
    for binding in decision.secret_bindings(&request) {
        assert!(binding.destinations.iter().all(|d| permitted.hosts.iter().any(|h| &h.destination == d)));
        assert!(!binding.reveal || request.secrets.iter().any(|s| s.name == binding.name && s.reveal));
    }
});
