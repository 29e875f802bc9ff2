//! What the approval gate adds to a call: nothing measurable when policy
//! marks nothing `@approval` (one pass over the verdicts), and for a gated
//! call the SQLite work: filing it (insert + sync), and the approved
//! re-submission (read, hash check, single-use update + sync).
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::time::{Duration, SystemTime};

use airlock_approval::{ApprovalGate, Approvers, CallRequest, Clearance};
use airlock_policy::authz::{Authorizer, Decision, PolicySource, ToolIdentity};
use airlock_policy::{CapabilityRequest, GrantSet, Principal};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn decision(policy: &str, principal: &Principal) -> Decision {
    let source = PolicySource { name: "bench.cedar".into(), text: policy.into() };
    let authorizer = Authorizer::new(&[source]).expect("policy");
    let tool = ToolIdentity::file("push", "1.0.0", "sha256:ab");
    authorizer.decide(principal, &tool, &CapabilityRequest::default()).expect("decide")
}

fn bench(c: &mut Criterion) {
    let serde_json::Value::Object(claims) = json!({"owner": "human:alice"}) else { unreachable!() };
    let agent = Principal::from_claims("agent:fixer", "https://id.example", &claims).expect("agent");
    let approver =
        Principal::from_claims("human:bob", "https://id.example", &serde_json::Map::new()).expect("bob");
    let free = decision("permit (principal, action, resource);", &agent);
    let gated = decision("@approval permit (principal, action, resource);", &agent);
    let dir = tempfile::tempdir().expect("tempdir");
    let gate = ApprovalGate::new(Some(dir.path().to_owned()), Approvers::new(Vec::new(), Vec::new()));
    let grants = GrantSet::default();
    let mut group = c.benchmark_group("approval");
    group.measurement_time(Duration::from_secs(5));

    group.bench_function("clear/no approval needed", |b| {
        b.iter(|| gate.clear(&agent, &free, &grants, "{}", None, SystemTime::now()).expect("clear"));
    });

    let mut n = 0u64;
    group.bench_function("clear/gated call filed", |b| {
        b.iter(|| {
            n += 1;
            let input = format!("{{\"n\":{n}}}");
            match gate.clear(&agent, &gated, &grants, &input, None, SystemTime::now()).expect("clear") {
                Clearance::Filed { .. } => {}
                other => panic!("expected a filed request, got {other:?}"),
            }
        });
    });

    let store = gate.store().expect("store");
    group.bench_function("clear/approved call re-submitted (approval used)", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                n += 1;
                let input = format!("{{\"n\":{n}}}");
                let request = CallRequest::new(&agent, &gated, &grants, &airlock_audit::input_sha256(&input));
                let now = SystemTime::now();
                let filed = store.file(&request, now, Duration::from_secs(60)).expect("file");
                store.approve(&filed.id, &approver, None, now, Duration::from_secs(60)).expect("approve");
                let started = std::time::Instant::now();
                let cleared =
                    gate.clear(&agent, &gated, &grants, &input, Some(&filed.id), now).expect("clear");
                spent += started.elapsed();
                assert!(matches!(cleared, Clearance::Cleared { .. }), "{cleared:?}");
            }
            spent
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
