//! What the gateway adds to a call: the same `echo` call bare
//! (`LoadedTool::call` with grants made once), through `Gateway::call`
//! with the caller's decision already cached, and through it with a fresh
//! token per call (mint, verify with the replay check, decide, call). The
//! audit sink records nothing: the append is measured on its own
//! (`cargo bench -p airlock-audit`).
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::sync::Arc;
use std::time::Duration;

use airlock_approval::{ApprovalGate, Approvers};
use airlock_audit::{AuditError, AuditSink, Event, Receipt};
use airlock_gateway::{CallRequest, Caller, Callers, Credential, Ended, Gateway, Metrics, ToolRef};
use airlock_host::{LoadedTool, Runtime, RuntimeConfig};
use airlock_identity::{
    JwksKeys, LocalKey, MintRequest, ReplayCache, TrustStore, Verifier, VerifierSettings,
};
use airlock_policy::authz::{Authorizer, PolicySource, ToolIdentity};
use airlock_policy::{Offer, resolve};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Map;

const AUDIENCE: &str = "https://airlock.bench";
const ISSUER: &str = "https://issuer.airlock.bench";
const INPUT: &str = r#"{"n":1}"#;

struct NoAudit;

impl AuditSink for NoAudit {
    fn append(&self, _: Event) -> Result<Receipt, AuditError> {
        Ok(Receipt { seq: 0, hash: String::new() })
    }

    fn waits(&self) -> bool {
        false
    }
}

fn verifier(key: &LocalKey) -> Verifier {
    let mut trust = TrustStore::new();
    trust
        .add(ISSUER, Box::new(JwksKeys::from_json(ISSUER, &key.jwks().to_string()).expect("jwks")))
        .expect("trust");
    Verifier::new(trust, VerifierSettings::new(AUDIENCE), ReplayCache::in_memory()).expect("verifier")
}

fn token(key: &LocalKey) -> String {
    let request = MintRequest {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        subject: "agent:bench".to_owned(),
        ttl: Duration::from_secs(600),
        claims: Map::new(),
    };
    key.mint(&request).expect("mint")
}

fn request<'a>(caller: &'a Caller, tool: &'a LoadedTool, identity: &'a ToolIdentity) -> CallRequest<'a> {
    CallRequest {
        transport: "bench",
        credential: Credential::Caller(caller),
        tool: ToolRef { loaded: tool, identity },
        input: INPUT,
        parsed_input: None,
        approval: None,
        resubmit: "",
        hosts: &[],
        workspace: None,
        watcher: None,
    }
}

fn bench_gateway(c: &mut Criterion) {
    let exec = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let echo = exec.block_on(runtime.load(std::path::Path::new(airlock_test_artifacts::ECHO))).expect("load");
    let identity = ToolIdentity::file(&echo.info().name, &echo.info().version, &echo.digest().to_string());
    let policy = PolicySource { name: "bench".into(), text: "permit (principal, action, resource);".into() };
    let authorizer = Authorizer::new(&[policy]).expect("policy");
    let approvals = ApprovalGate::new(None, Approvers::new(Vec::new(), Vec::new()));
    let gateway = Gateway::new(authorizer, approvals, Arc::new(NoAudit));
    let key = LocalKey::generate().expect("key");
    let verifier = Arc::new(verifier(&key));
    let grants = resolve(&identity.name, &echo.info().capabilities, &Offer::default()).expect("grants");
    let caller = Callers::new(verifier.clone()).caller(&token(&key)).expect("verify");
    let offer = |_: &LoadedTool| Ok(Offer::default());

    let mut group = c.benchmark_group("gateway");
    group.bench_function("bare_loaded_tool_call", |b| {
        b.iter(|| exec.block_on(echo.call(&grants, INPUT)).expect("call"));
    });
    group.bench_function("cached_decision", |b| {
        b.iter(|| {
            let report = exec.block_on(gateway.call(
                request(&caller, &echo, &identity),
                offer,
                std::future::pending(),
            ));
            assert!(matches!(report.ended, Ended::Ran(_)));
        });
    });
    group.bench_function("fresh_token_per_call", |b| {
        b.iter(|| {
            let caller = Callers::new(verifier.clone()).caller(&token(&key)).expect("verify");
            let report = exec.block_on(gateway.call(
                request(&caller, &echo, &identity),
                offer,
                std::future::pending(),
            ));
            assert!(matches!(report.ended, Ended::Ran(_)));
        });
    });
    let measured = Gateway::new(
        Authorizer::new(&[PolicySource {
            name: "bench".into(),
            text: "permit (principal, action, resource);".into(),
        }])
        .expect("policy"),
        ApprovalGate::new(None, Approvers::new(Vec::new(), Vec::new())),
        Arc::new(NoAudit),
    )
    .with_metrics(Arc::new(Metrics::new().expect("metrics")));
    group.bench_function("cached_decision_with_metrics", |b| {
        b.iter(|| {
            let report = exec.block_on(measured.call(
                request(&caller, &echo, &identity),
                offer,
                std::future::pending(),
            ));
            assert!(matches!(report.ended, Ended::Ran(_)));
        });
    });
    let callers = Callers::new(verifier.clone());
    let remembered = token(&key);
    callers.caller(&remembered).expect("verify");
    group.bench_function("remembered_token", |b| {
        b.iter(|| callers.caller(&remembered).expect("remembered"));
    });
    group.bench_function("mint_and_verify_only", |b| {
        b.iter(|| Callers::new(verifier.clone()).caller(&token(&key)).expect("verify"));
    });
    group.finish();
}

criterion_group!(benches, bench_gateway);
criterion_main!(benches);
