//! The egress policy check per outbound request (issue 4 target: ≤ 5 µs,
//! DNS excluded): a request against 10 destination grants, before DNS
//! (`check_request`) and on the resolved address (`check_address`).

use std::hint::black_box;
use std::net::IpAddr;

use airlock_policy::{Methods, NetGrant, Outbound, Scheme, check_address, check_request};
use criterion::{Criterion, criterion_group, criterion_main};

fn grants() -> Vec<NetGrant> {
    [
        "https://api.github.com",
        "https://uploads.github.com",
        "https://*.githubusercontent.com",
        "https://api.osv.dev",
        "https://registry.npmjs.org",
        "https://crates.io",
        "https://static.crates.io",
        "https://pypi.org",
        "https://*.pythonhosted.org",
        "http://127.0.0.0/8:8000-8100",
    ]
    .iter()
    .map(|g| NetGrant { destination: g.parse().expect("grant"), methods: Methods::standard() })
    .collect()
}

fn get(host: &str) -> Outbound<'_> {
    Outbound { method: "GET", scheme: Scheme::Https, host, port: 443 }
}

fn bench_egress(c: &mut Criterion) {
    let grants = grants();
    let public: IpAddr = "140.82.112.6".parse().expect("ip");
    let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
    let mut group = c.benchmark_group("egress");
    group.bench_function("granted_name_public_address", |b| {
        b.iter(|| {
            let request = get(black_box("objects.githubusercontent.com"));
            check_request(black_box(&grants), &request)
                .and_then(|()| check_address(&grants, &request, public))
                .expect("allowed")
        })
    });
    group.bench_function("name_resolving_to_loopback_refused", |b| {
        b.iter(|| {
            let request = get(black_box("pypi.org"));
            check_request(black_box(&grants), &request)
                .and_then(|()| check_address(&grants, &request, loopback))
                .expect_err("refused")
        })
    });
    group.bench_function("ungranted_host_refused", |b| {
        b.iter(|| check_request(black_box(&grants), &get(black_box("evil.example"))).expect_err("refused"))
    });
    group.finish();
}

criterion_group!(benches, bench_egress);
criterion_main!(benches);
