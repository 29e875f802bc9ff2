//! The per-call authorisation cost: verifying an agent token and deciding a
//! tool's capabilities under policy.
//!
//! - `authorize/verify_eddsa`: one fresh EdDSA token, all checks, `jti`
//!   recorded in the in-memory replay cache;
//! - `authorize/decide_5_capabilities`: a Cedar decision for a tool that
//!   requests 5 capabilities (+ `invoke`) under the shipped local-session
//!   example policy;
//! - `authorize/verify_and_decide`: both, as `airlock run` does per call.
//!
//! A p50/p99 latency report for `verify_and_decide` (20,000 fresh tokens) is
//! printed first, since criterion reports means and medians only.

use std::time::{Duration, Instant};

use airlock_identity::{JwksKeys, LocalKey, ReplayCache, TrustStore, Verifier, VerifierSettings};
use airlock_policy::authz::{Authorizer, PolicySource, ToolIdentity};
use airlock_policy::{Access, CapabilityRequest, EnvRequest, GuestPath, MountRequest, SecretRequest};
use criterion::{BatchSize, Criterion, criterion_group};
use serde_json::json;

const ISSUER: &str = "https://airlock.local";
const AUDIENCE: &str = "https://airlock.local/runtime";

struct Setup {
    key: LocalKey,
    verifier: Verifier,
    authorizer: Authorizer,
    tool: ToolIdentity,
    request: CapabilityRequest,
}

fn setup() -> Setup {
    let key = LocalKey::generate().expect("key");
    let mut trust = TrustStore::new();
    trust
        .add(ISSUER, Box::new(JwksKeys::from_json(ISSUER, &key.jwks().to_string()).expect("jwks")))
        .expect("add");
    let verifier =
        Verifier::new(trust, VerifierSettings::new(AUDIENCE), ReplayCache::in_memory()).expect("verifier");
    let policy = include_str!("../../../examples/policies/local-session.cedar");
    let authorizer =
        Authorizer::new(&[PolicySource { name: "local-session.cedar".into(), text: policy.into() }])
            .expect("policy");
    let mount = |p: &str, access| MountRequest {
        guest_path: GuestPath::new(p).expect("path"),
        access,
        reason: String::new(),
    };
    // 5 capability checks: fs.read + fs.write on /workspace, fs.read on
    // /workspace/cache, env.read LANG, secret.use GITHUB_TOKEN.
    let request = CapabilityRequest {
        mounts: vec![mount("/workspace", Access::ReadWrite), mount("/workspace/cache", Access::ReadOnly)],
        env: vec![EnvRequest { name: "LANG".into(), reason: String::new() }],
        secrets: vec![SecretRequest { name: "GITHUB_TOKEN".into(), reason: String::new(), reveal: false }],
        hosts: vec![],
    };
    let tool = ToolIdentity::file("grep", "0.1.0", &format!("sha256:{}", "0".repeat(64)));
    Setup { key, verifier, authorizer, tool, request }
}

fn token(s: &Setup) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let jti = LocalKey::generate().expect("key").kid().to_owned() + &now.to_string();
    s.key
        .sign(&json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "human:alice", "iat": now, "nbf": now,
                      "exp": now + 600, "jti": jti, "owner": "team:platform"}))
        .expect("sign")
}

fn verify_and_decide(s: &Setup, token: &str) {
    let verified = s.verifier.verify(token).expect("verify");
    let decision = s.authorizer.decide(&verified.principal, &s.tool, &s.request).expect("decide");
    assert!(decision.invoke_allowed());
}

fn latency_report() {
    let s = setup();
    let tokens: Vec<String> = (0..22_000).map(|_| token(&s)).collect();
    let mut samples = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let start = Instant::now();
        verify_and_decide(&s, t);
        if i >= 2_000 {
            samples.push(start.elapsed());
        }
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "latency verify + decide (5 capabilities) over {} fresh tokens: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
        samples.len(),
        micros(pct(0.50)),
        micros(pct(0.90)),
        micros(pct(0.99))
    );
}

fn bench_authorize(c: &mut Criterion) {
    let s = setup();
    let mut group = c.benchmark_group("authorize");
    group.bench_function("verify_eddsa", |b| {
        b.iter_batched(|| token(&s), |t| s.verifier.verify(&t).expect("verify"), BatchSize::SmallInput)
    });
    let principal = s.verifier.verify(&token(&s)).expect("verify").principal;
    group.bench_function("decide_5_capabilities", |b| {
        b.iter(|| s.authorizer.decide(&principal, &s.tool, &s.request).expect("decide"))
    });
    group.bench_function("verify_and_decide", |b| {
        b.iter_batched(|| token(&s), |t| verify_and_decide(&s, &t), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, bench_authorize);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The report runs with `cargo bench`, not when a single benchmark is
    // selected by name.
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a.starts_with("authorize/")) {
        latency_report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
