//! MCP round trips through the whole server: rmcp client → transport →
//! identity → policy (cached per caller) → schema check → a fresh sandbox
//! running `echo` → structured result → client.
//!
//! - `stdio/tools_call_echo`: one client over a pair of OS pipes (what
//!   `airlock serve --stdio` reads and writes), calls one after another;
//!   client and server each on their own thread and runtime, as in two
//!   processes. Also prints p50/p90/p99 of 2,000 timed calls (target: p50
//!   ≤ 60 µs). On a small VM the result depends on whether the kernel puts
//!   the two threads on one core or two (a cross-core wake-up costs tens of
//!   µs): run it under `taskset -c 0` as well (see docs/performance.md).
//! - `http/tools_call_echo_16_clients`: 16 HTTP clients, each with its
//!   own bearer token, calling at once against the loopback server; the
//!   throughput line is calls per second. `..._fsync_audit`: the same
//!   with every call recorded in a file audit log with the default
//!   durability (each call waits for its record's fdatasync).
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_audit::{AuditError, AuditSink, Durability, Event, FileLog, Receipt};
use airlock_host::{LoadedTool, Runtime, RuntimeConfig};
use airlock_identity::{
    JwksKeys, LocalKey, MintRequest, ReplayCache, TrustStore, Verifier, VerifierSettings,
};
use airlock_mcp::{AirlockServer, BearerTokens, Catalog, Gate, OfferSource, TokenFile};
use airlock_policy::Offer;
use airlock_policy::authz::{Authorizer, PolicySource};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, json};
use tokio::net::unix::pipe::{Receiver, Sender};

const AUDIENCE: &str = "https://airlock.bench/mcp";
const ISSUER: &str = "https://issuer.airlock.bench";
const HTTP_CLIENTS: usize = 16;

type Client = RunningService<RoleClient, ()>;

/// Records nothing: the round trips below measure the server path; the
/// audit append is measured on its own (`cargo bench -p airlock-audit`)
/// and added per durability mode in docs/performance.md.
struct NoAudit;

impl AuditSink for NoAudit {
    fn append(&self, _: Event) -> Result<Receipt, AuditError> {
        Ok(Receipt { seq: 0, hash: String::new() })
    }

    fn waits(&self) -> bool {
        false
    }
}

struct NoOffer;

impl OfferSource for NoOffer {
    fn offer(&self, _: &LoadedTool) -> Result<Offer, String> {
        Ok(Offer::default())
    }
}

struct Fixture {
    key: LocalKey,
    verifier: Arc<Verifier>,
    runtime: Runtime,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let key = LocalKey::generate().expect("key");
        let mut trust = TrustStore::new();
        let jwks = JwksKeys::from_json(ISSUER, &key.jwks().to_string()).expect("jwks");
        trust.add(ISSUER, Box::new(jwks)).expect("trust");
        let verifier = Verifier::new(trust, VerifierSettings::new(AUDIENCE), ReplayCache::in_memory())
            .expect("verifier");
        let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
        Self { key, verifier: Arc::new(verifier), runtime, dir: tempfile::tempdir().expect("tempdir") }
    }

    fn token(&self, sub: &str) -> String {
        let request = MintRequest {
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            subject: sub.to_owned(),
            ttl: Duration::from_secs(900),
            claims: Map::new(),
        };
        self.key.mint(&request).expect("mint")
    }

    async fn parts(&self) -> (Catalog, Gate) {
        let paths = [std::path::PathBuf::from(airlock_test_artifacts::ECHO)];
        let catalog = Catalog::load(&self.runtime, &paths, |_| {}).await.expect("catalog");
        let policy = PolicySource {
            name: "bench.cedar".to_owned(),
            text: r#"permit (principal, action, resource) when { principal.sub like "agent:*" };"#.to_owned(),
        };
        let authorizer = Authorizer::new(&[policy]).expect("policy");
        (catalog, Gate::new(authorizer, NoOffer))
    }
}

fn echo_call(n: u64) -> CallToolRequestParams {
    let Ok(serde_json::Value::Object(arguments)) = serde_json::to_value(json!({"n": n})) else {
        unreachable!("an object")
    };
    CallToolRequestParams::new("echo").with_arguments(arguments)
}

async fn stdio_client(fixture: &Fixture) -> Client {
    let (catalog, gate) = fixture.parts().await;
    let token_path = fixture.dir.path().join("agent.jwt");
    std::fs::write(&token_path, fixture.token("agent:stdio")).expect("token");
    let token_file = TokenFile::open(&token_path, fixture.verifier.clone()).expect("token file");
    let server = AirlockServer::for_stdio(catalog, gate, token_file, Arc::new(NoAudit));
    // Two OS pipes, as between an agent and `airlock serve --stdio`; the
    // server has its own runtime and thread, as it would in its own process.
    let (client_to_server_read, client_to_server_write) = std::io::pipe().expect("pipe");
    let (server_to_client_read, server_to_client_write) = std::io::pipe().expect("pipe");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("server runtime");
        rt.block_on(async move {
            let input = Receiver::from_owned_fd(client_to_server_read.into()).expect("server input");
            let output = Sender::from_owned_fd(server_to_client_write.into()).expect("server output");
            airlock_mcp::stdio::serve(server, input, output).await.expect("serve");
        });
    });
    let client_to_server_tx = Sender::from_owned_fd(client_to_server_write.into()).expect("client output");
    let server_to_client_rx = Receiver::from_owned_fd(server_to_client_read.into()).expect("client input");
    ().serve((server_to_client_rx, client_to_server_tx)).await.expect("client")
}

fn stdio(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let fixture = Fixture::new();
    let client = rt.block_on(stdio_client(&fixture));

    // Percentiles, which criterion does not print.
    let mut samples: Vec<Duration> = rt.block_on(async {
        let mut samples = Vec::with_capacity(2_000);
        for n in 0..2_200u64 {
            let started = Instant::now();
            client.call_tool(echo_call(n)).await.expect("call");
            if n >= 200 {
                samples.push(started.elapsed());
            }
        }
        samples
    });
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!("stdio tools/call echo: p50 {:?}, p90 {:?}, p99 {:?} (2,000 calls)", at(0.5), at(0.9), at(0.99));

    let mut group = c.benchmark_group("stdio");
    group.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    group.bench_function("tools_call_echo", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(client.call_tool(echo_call(n))).expect("call")
        })
    });
    group.finish();
}

fn http(c: &mut Criterion) {
    http_with(c, "tools_call_echo_16_clients", Arc::new(NoAudit));
    // The default durability: every call waits until its own record is on
    // disk (group commit shares one fdatasync among concurrent callers).
    let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("tempdir");
    let log = FileLog::open(dir.path(), Durability::EveryRecord).expect("audit log");
    http_with(c, "tools_call_echo_16_clients_fsync_audit", Arc::new(log));
}

/// 16 HTTP clients calling `echo` at once, every call recorded in `audit`.
fn http_with(c: &mut Criterion, name: &str, audit: Arc<dyn AuditSink>) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    let fixture = Fixture::new();
    let clients: Vec<Arc<Client>> = rt.block_on(async {
        let (catalog, gate) = fixture.parts().await;
        let server = AirlockServer::for_http(catalog, gate, audit);
        let tokens = Arc::new(BearerTokens::new(fixture.verifier.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        tokio::spawn(airlock_mcp::http::serve(listener, None, None, server, tokens, std::future::pending()));
        let mut clients = Vec::new();
        // reqwest's rustls has no built-in provider here: ring, as airlock uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        for i in 0..HTTP_CLIENTS {
            let config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                .auth_header(fixture.token(&format!("agent:http-{i}")));
            let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
            clients.push(Arc::new(().serve(transport).await.expect("client")));
        }
        clients
    });

    let mut group = c.benchmark_group("http");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let per_client = iters.div_ceil(HTTP_CLIENTS as u64);
                let started = Instant::now();
                let tasks: Vec<_> = clients
                    .iter()
                    .map(|client| {
                        let client = client.clone();
                        tokio::spawn(async move {
                            for n in 0..per_client {
                                client.call_tool(echo_call(n)).await.expect("call");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("join");
                }
                // Time per call as if `iters` calls ran: the throughput line
                // is then calls per second.
                started.elapsed().mul_f64(iters as f64 / (per_client * HTTP_CLIENTS as u64) as f64)
            })
        })
    });
    group.finish();
}

/// The allocator the `airlock` binary uses (`runtime/cli/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = stdio, http
}
criterion_main!(benches);
