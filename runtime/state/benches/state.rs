//! What each shared-state operation costs on PostgreSQL (the one
//! `.ci/postgres` starts, on this machine's loopback; a fresh schema,
//! dropped after): recording a token id, appending an audit record, filing
//! and redeeming an approval. Compare with the embedded backends' benches
//! (airlock-audit `append`, airlock-approval `clear`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_approval::{ApprovalStore, CallRequest};
use airlock_audit::{AuditSink, Event, TokensRefusedEvent};
use airlock_identity::ReplayCache;
use airlock_policy::authz::{Authorizer, PolicySource, ToolIdentity};
use airlock_policy::{CapabilityRequest, GrantSet, Principal};
use airlock_state::{Database, DatabaseSettings, PgApprovals, PgAudit, PgReplay, migrate};
use criterion::{Criterion, criterion_group, criterion_main};

fn url() -> String {
    std::env::var("AIRLOCK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

fn bench_state(c: &mut Criterion) {
    let mut settings = DatabaseSettings::new(&url());
    settings.schema = format!("bench_{}", std::process::id());
    let database = Arc::new(Database::open(&settings).expect("settings"));
    if let Err(error) = migrate(&database) {
        eprintln!("skipped: no PostgreSQL ({error}); run .ci/postgres");
        return;
    }
    let mut group = c.benchmark_group("state");
    group.measurement_time(Duration::from_secs(5));

    let replay = ReplayCache::shared(Box::new(PgReplay::new(database.clone())));
    let mut n = 0u64;
    group.bench_function("replay_consume", |b| {
        b.iter(|| {
            n += 1;
            replay.consume("https://issuer.test", &format!("jti-{n}"), u64::MAX / 2).expect("consume");
        });
    });

    let audit = PgAudit::new(database.clone());
    group.bench_function("audit_append", |b| {
        b.iter(|| {
            let event = Event::TokensRefused(TokensRefusedEvent {
                transport: "bench".into(),
                reason: "expired".into(),
                count: 1,
            });
            audit.append(event).expect("append");
        });
    });

    let store = ApprovalStore::shared(Box::new(PgApprovals::new(database.clone())));
    let bob =
        Principal::from_claims("human:bob", "https://id.example", &serde_json::Map::new()).expect("bob");
    let mut k = 0u64;
    group.bench_function("approval_file_approve_redeem", |b| {
        b.iter(|| {
            k += 1;
            let call = request(k);
            let now = SystemTime::now();
            let filed = store.file(&call, now, Duration::from_secs(600)).expect("file");
            store.approve(&filed.id, &bob, None, now, Duration::from_secs(600)).expect("approve");
            store.redeem(&filed.id, &call, now).expect("redeem");
        });
    });
    group.finish();

    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", settings.schema);
    let _ = database.run(move |client| async move { client.batch_execute(&sql).await });
}

/// A distinct gated request (input hash `n`) by an agent.
fn request(n: u64) -> CallRequest {
    let agent =
        Principal::from_claims("agent:fixer", "https://id.example", &serde_json::Map::new()).expect("agent");
    let source = PolicySource {
        name: "p.cedar".into(),
        text: "@id(\"h\") @approval(\"human\")\npermit (principal, action == Action::\"invoke\", resource);"
            .into(),
    };
    let authorizer = Authorizer::new(&[source]).expect("policy");
    let tool = ToolIdentity::file("push", "1", "sha256:ab");
    let decision = authorizer.decide(&agent, &tool, &CapabilityRequest::default()).expect("decide");
    CallRequest::new(&agent, &decision, &GrantSet::default(), &format!("sha256:{n}"))
}

criterion_group!(benches, bench_state);
criterion_main!(benches);
