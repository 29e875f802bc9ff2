//! Redaction throughput (issue 5 target: ≥ 500 MB/s): 10 MB of tool output
//! scanned for 20 secrets in every encoding, with a few hits.

use std::hint::black_box;

use airlock_host::{Redactor, Streaming};
use airlock_policy::SecretGrant;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;

fn secrets() -> Vec<SecretGrant> {
    (0..20)
        .map(|i| SecretGrant {
            name: format!("SECRET_{i}"),
            destinations: Vec::new(),
            reveal: false,
            value: SecretString::from(format!("ghp_{i:02}a8f3kQ9zLmN2pR7tV5wX1yB4cD6eF0gH")),
        })
        .collect()
}

/// 10 MB of log-like text with three secrets in it.
fn output() -> Vec<u8> {
    let line = b"2026-11-29T01:02:03Z INFO fetched https://api.github.com/repos/acme/app/pulls?page=2 status=200 bytes=18234\n";
    let mut out = Vec::with_capacity(10 << 20);
    while out.len() < 10 << 20 {
        out.extend_from_slice(line);
    }
    for (at, i) in [(1 << 20, 3), (5 << 20, 11), (9 << 20, 19)] {
        let value = format!("ghp_{i:02}a8f3kQ9zLmN2pR7tV5wX1yB4cD6eF0gH");
        out.splice(at..at + value.len(), value.bytes());
    }
    out
}

fn bench_redact(c: &mut Criterion) {
    let secrets = secrets();
    let data = output();
    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);
    group.bench_function("10MB_20_secrets", |b| {
        b.iter(|| {
            let redactor = Redactor::new(&secrets).expect("redactor");
            let out = redactor.bytes(black_box(&data));
            assert_eq!(redactor.counts().values().sum::<u64>(), 3);
            out
        })
    });
    // A response body streamed to the guest in 64 KiB chunks: every chunk
    // scanned with the held-back tail of the one before.
    group.bench_function("10MB_20_secrets_streamed_64KiB", |b| {
        let redactor = std::sync::Arc::new(Redactor::new(&secrets).expect("redactor"));
        b.iter(|| {
            let mut stream = Streaming::redacting(redactor.clone());
            let mut total = 0;
            for chunk in black_box(&data).chunks(64 << 10) {
                total += stream.push(chunk).expect("redacting").len();
            }
            total + stream.finish().expect("redacting").len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_redact);
criterion_main!(benches);
