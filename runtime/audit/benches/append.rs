//! Audit append cost per durability mode, for a typical call record (a
//! principal with claims, five capability verdicts, a refusal, hashes):
//! canonical encoding, SHA-256, the lock, the tail read, the write and, per
//! mode, the `fdatasync`.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::collections::BTreeMap;
use std::time::Duration;

use airlock_audit::{
    AuditSink, CallEvent, CapabilityRecord, Checkpointer, Durability, Effects, Event, FileLog, Outcome,
    PrincipalRecord, ToolRecord, input_sha256,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn event(n: u64) -> Event {
    let capability = |action: &str, resource: &str| CapabilityRecord {
        action: action.to_owned(),
        resource: resource.to_owned(),
        allowed: true,
        policies: vec!["ci-remediation".to_owned()],
    };
    Event::Call(Box::new(CallEvent {
        call_id: None,
        transport: "mcp-http".to_owned(),
        principal: Some(PrincipalRecord {
            sub: "repo:acme/app:ref:refs/heads/main".to_owned(),
            iss: "https://token.actions.githubusercontent.com".to_owned(),
            claims: BTreeMap::from([
                ("repository".to_owned(), "acme/app".into()),
                ("workflow".to_owned(), "remediate".into()),
                ("ref".to_owned(), "refs/heads/main".into()),
            ]),
            act: Vec::new(),
            token_lifetime_s: None,
        }),
        tool: ToolRecord {
            name: "osv-query".to_owned(),
            version: "0.1.0".to_owned(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            source: None,
            signer: None,
        },
        input_sha256: input_sha256(&format!("{{\"packages\":[{n}]}}")),
        capabilities: vec![
            capability("invoke", "Tool::\"osv-query\""),
            capability("fs.read", "Path::\"/workspace\""),
            capability("net.connect", "Host::\"https://api.osv.dev\""),
            capability("secret.use", "Secret::\"OSV_TOKEN\" for https://api.osv.dev"),
            capability("env.read", "EnvVar::\"LANG\""),
        ],
        effects: Effects {
            requests: 1,
            bytes_sent: 512,
            bytes_received: 8192,
            refusals: vec!["destination not granted: http://10.0.0.5:80".to_owned()],
            ..Effects::default()
        },
        outcome: Outcome::Ok,
        error: None,
        output_sha256: Some(input_sha256("{}")),
        content_sha256: None,
        duration_ms: 42,
        approval: None,
        workspace: None,
    }))
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    for (name, durability) in
        [("fsync_every_record", Durability::EveryRecord), ("group_commit_64", Durability::Group(64))]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = FileLog::open(dir.path(), durability).expect("open");
        let mut n = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                log.append(event(n)).expect("append")
            })
        });
    }
    // 16 callers at once, each waiting for its own record to be on disk:
    // group commit lets them share `fdatasync`s. Time per record.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = FileLog::open(dir.path(), Durability::EveryRecord).expect("open");
    let mut base = 0;
    group.bench_function("fsync_every_record_16_threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(16);
            let first = base;
            base += per_thread * 16;
            let log = &log;
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for t in 0..16 {
                    scope.spawn(move || {
                        for i in 0..per_thread {
                            log.append(event(first + t * per_thread + i)).expect("append");
                        }
                    });
                }
            });
            start.elapsed().mul_f64(iters as f64 / (per_thread * 16) as f64)
        })
    });
    // The worst case for signing: a checkpoint (Ed25519 + one more record)
    // after every record, group commit so the signature is not hidden by
    // an fsync.
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = tempfile::tempdir().expect("tempdir");
    let (private, _) = Checkpointer::generate_pem().expect("keygen");
    let key_path = keys.path().join("checkpoint.key");
    std::fs::write(&key_path, private).expect("write key");
    std::fs::set_permissions(&key_path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let checkpoints = Checkpointer::from_file(&key_path, 1).expect("key");
    let log = FileLog::open(dir.path(), Durability::Group(64)).expect("open").with_checkpoints(checkpoints);
    let mut n = 0;
    group.bench_function("group_commit_64_checkpoint_every_record", |b| {
        b.iter(|| {
            n += 1;
            log.append(event(n)).expect("append")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = append
}
criterion_main!(benches);
