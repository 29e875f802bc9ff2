//! Network grants, end to end: the `http-fetch` and `osv-query` tools
//! against a loopback fixture server. Every refusal also checks that the
//! server saw no connection (or no extra request).

use std::sync::Arc;
use std::time::Duration;

use airlock_host::{CallOutcome, LoadedTool, ToolError};
use airlock_policy::{
    Access, GrantSet, GuestPath, Limits, Methods, NetGrant, NetLimits, Offer, OfferedMount, resolve,
};
use serde_json::{Value, json};

use airlock_test_artifacts as programs;

use crate::fixture::{output, tool};
use crate::http_server::HttpServer;

async fn http_fetch() -> LoadedTool {
    tool(airlock_tools::HTTP_FETCH_PATH).await
}

/// Grants `destinations` (`(destination, methods)`, empty methods = any the
/// tool requests) to `tool`.
fn net(tool: &LoadedTool, destinations: &[(&str, &[&str])], limits: Limits) -> GrantSet {
    let hosts = destinations
        .iter()
        .map(|(d, m)| NetGrant {
            destination: d.parse().expect("destination"),
            methods: if m.is_empty() { Methods::standard() } else { Methods::parse(m).expect("methods") },
        })
        .collect();
    let offer = Offer { hosts, limits, ..Offer::default() };
    resolve(&tool.info().name, &tool.info().capabilities, &offer).expect("grants resolve")
}

async fn fetch(tool: &LoadedTool, grants: &GrantSet, input: Value) -> CallOutcome {
    tool.call(grants, &input.to_string()).await.expect("the call completes")
}

/// The call failed with `Denied` naming `reason`, and the refusal is in the
/// call's network report.
fn assert_denied(outcome: &CallOutcome, reason: &str) {
    match &outcome.result {
        Err(ToolError::Denied(message)) => assert!(message.contains(reason), "{message}"),
        other => panic!("expected a denial naming `{reason}`, got {other:?}"),
    }
    assert!(outcome.network.refusals.iter().any(|r| r.contains(reason)), "{:?}", outcome.network);
}

fn failed_with(outcome: &CallOutcome, what: &str) {
    match &outcome.result {
        Err(ToolError::Failed(message)) => assert!(message.contains(what), "{message}"),
        other => panic!("expected a failure naming `{what}`, got {other:?}"),
    }
}

#[tokio::test]
async fn granted_destination_succeeds() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let grants = net(&tool, &[(&server.url(""), &[])], Limits::default());
    let outcome = fetch(&tool, &grants, json!({ "url": server.url("/ok") })).await;
    let out = output(&outcome);
    assert_eq!((out["status"].as_u64(), out["body"].as_str()), (Some(200), Some("hello")), "{out}");
    assert_eq!(outcome.network.requests, 1);
    assert!(outcome.network.refusals.is_empty());
    assert_eq!(outcome.network.bytes_received, 5);
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let host = seen[0].headers.iter().find(|(k, _)| k == "host").map(|(_, v)| v.as_str());
    assert_eq!(host, Some(server.addr.to_string().as_str()), "Host is the granted authority");
}

#[tokio::test]
async fn ungranted_host_port_scheme_and_method_are_refused_before_connecting() {
    let server = HttpServer::start();
    let port = server.port();
    let tool = http_fetch().await;
    let grants = net(&tool, &[(&server.url(""), &["GET"])], Limits::default());
    for (url, method, reason) in [
        (
            format!("http://localhost:{port}/ok"),
            "GET",
            format!("destination not granted: http://localhost:{port}"),
        ),
        (
            format!("http://127.0.0.1:{}/ok", port + 1),
            "GET",
            format!("destination not granted: http://127.0.0.1:{}", port + 1),
        ),
        (
            format!("https://127.0.0.1:{port}/ok"),
            "GET",
            format!("destination not granted: https://127.0.0.1:{port}"),
        ),
        (
            format!("http://10.0.0.5:{port}/ok"),
            "GET",
            format!("destination not granted: http://10.0.0.5:{port}"),
        ),
        (server.url("/ok"), "POST", format!("method POST not granted for http://127.0.0.1:{port}")),
    ] {
        let outcome = fetch(&tool, &grants, json!({ "url": url, "method": method })).await;
        assert_denied(&outcome, &reason);
    }
    assert_eq!(server.connections(), 0, "a refused request reached the server");
}

#[tokio::test]
async fn a_granted_name_resolving_to_loopback_is_refused_unless_loopback_is_granted() {
    let server = HttpServer::start();
    let port = server.port();
    let tool = http_fetch().await;
    let by_name = format!("http://localhost:{port}");
    let url = format!("{by_name}/ok");
    let grants = net(&tool, &[(&by_name, &[])], Limits::default());
    let outcome = fetch(&tool, &grants, json!({ "url": url })).await;
    assert_denied(&outcome, "(loopback address), which no grant names");
    assert_eq!(server.connections(), 0, "the refused request reached the server");

    let grants =
        net(&tool, &[(&by_name, &[]), (&format!("http://127.0.0.0/8:{port}"), &[])], Limits::default());
    let out = output(&fetch(&tool, &grants, json!({ "url": url })).await);
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn redirects_come_back_to_the_guest_and_following_one_is_checked_again() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let grants = net(&tool, &[(&server.url(""), &[])], Limits::default());
    let elsewhere = format!("http://localhost:{}/ok", server.port());
    let url = server.url(&format!("/redirect?to={elsewhere}"));

    let out = output(&fetch(&tool, &grants, json!({ "url": url })).await);
    assert_eq!(out["status"], 302, "the host does not follow redirects: {out}");

    let outcome = fetch(&tool, &grants, json!({ "url": url, "follow_redirects": 1 })).await;
    assert_denied(&outcome, &format!("destination not granted: http://localhost:{}", server.port()));
    assert_eq!(outcome.network.requests, 2);
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [format!("/redirect?to={elsewhere}"), format!("/redirect?to={elsewhere}")]);

    let same_origin = server.url("/redirect?to=/ok");
    let out = output(&fetch(&tool, &grants, json!({ "url": same_origin, "follow_redirects": 1 })).await);
    assert_eq!((out["status"].as_u64(), out["body"].as_str()), (Some(200), Some("hello")), "{out}");
}

#[tokio::test]
async fn the_request_budget_stops_a_redirect_loop() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let limits = Limits { net: NetLimits { requests: 3, ..NetLimits::default() }, ..Limits::default() };
    let grants = net(&tool, &[(&server.url(""), &[])], limits);
    let outcome = fetch(&tool, &grants, json!({ "url": server.url("/loop"), "follow_redirects": 5 })).await;
    assert_denied(&outcome, "request budget exhausted: 3 requests per call");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(outcome.network.requests, 3);
}

#[tokio::test]
async fn the_response_byte_budget_cuts_a_large_body() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let limits =
        Limits { net: NetLimits { response_bytes: 64 << 10, ..NetLimits::default() }, ..Limits::default() };
    let grants = net(&tool, &[(&server.url(""), &[])], limits);
    let outcome = fetch(&tool, &grants, json!({ "url": server.url("/big") })).await;
    failed_with(&outcome, "response body size exceeds limit: 65536 bytes");
    assert!(outcome.network.bytes_received <= 64 << 10, "{:?}", outcome.network);
}

#[tokio::test]
async fn the_request_byte_budget_refuses_a_large_body() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let limits =
        Limits { net: NetLimits { request_bytes: 1000, ..NetLimits::default() }, ..Limits::default() };
    let grants = net(&tool, &[(&server.url(""), &[])], limits);
    let body = "y".repeat(5000);
    let outcome =
        fetch(&tool, &grants, json!({ "url": server.url("/ok"), "method": "POST", "body": body })).await;
    failed_with(&outcome, "HttpRequestBodySize(Some(1000))");
    let refusal = "request body of 5000 bytes exceeds the budget of 1000 bytes";
    assert!(outcome.network.refusals.iter().any(|r| r == refusal), "{:?}", outcome.network);
    assert_eq!(server.connections(), 0, "a body over budget is refused before connecting");
}

#[tokio::test]
async fn a_stalling_server_hits_the_response_timeout() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let limits = Limits {
        net: NetLimits { response_timeout: Duration::from_millis(300), ..NetLimits::default() },
        ..Limits::default()
    };
    let grants = net(&tool, &[(&server.url(""), &[])], limits);
    let outcome = fetch(&tool, &grants, json!({ "url": server.url("/stall") })).await;
    failed_with(&outcome, "ConnectionReadTimeout");
}

#[tokio::test]
async fn https_certificates_are_always_verified() {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let private = rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![key.cert.der().clone()], private.into())
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen on loopback");
    let port = listener.local_addr().expect("addr").port();
    let handshake = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("the client connects");
        acceptor.accept(tcp).await.is_ok()
    });
    let tool = http_fetch().await;
    let origin = format!("https://127.0.0.1:{port}");
    let grants = net(&tool, &[(&origin, &[])], Limits::default());
    let outcome = fetch(&tool, &grants, json!({ "url": format!("{origin}/ok") })).await;
    failed_with(&outcome, "TlsCertificateError");
    assert!(!handshake.await.expect("server task"), "a handshake completed with an untrusted certificate");
}

#[tokio::test]
async fn a_guest_cannot_set_credentials_headers() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let grants = net(&tool, &[(&server.url(""), &[])], Limits::default());
    for header in ["authorization", "cookie", "host"] {
        let input = json!({ "url": server.url("/echo-headers"), "headers": [[header, "forged"]] });
        failed_with(&fetch(&tool, &grants, input).await, "headers");
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn nothing_is_reachable_without_a_grant() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let outcome = fetch(&tool, &GrantSet::none(), json!({ "url": server.url("/ok") })).await;
    assert_denied(&outcome, "destination not granted");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn offering_a_destination_the_tool_does_not_request_is_an_error() {
    let tool = tool(airlock_tools::OSV_QUERY_PATH).await;
    let offer = Offer {
        hosts: vec![NetGrant {
            destination: "https://api.osv.dev".parse().expect("destination"),
            methods: Methods::parse(&["GET"]).expect("methods"),
        }],
        ..Offer::default()
    };
    let err = resolve("osv-query", &tool.info().capabilities, &offer).expect_err("GET is not requested");
    assert!(err.to_string().contains("does not request methods"), "{err}");
}

#[tokio::test]
pub(crate) async fn net_tcp_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on loopback");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the granted connection");
        let mut ping = [0; 4];
        std::io::Read::read_exact(&mut stream, &mut ping).expect("ping");
        std::io::Write::write_all(&mut stream, b"pong").expect("pong");
        listener.set_nonblocking(true).expect("nonblocking");
        listener.accept().is_ok()
    });
    let tool = tool(programs::NET_TCP_GRANTED).await;
    let grants = net(&tool, &[(&format!("tcp://127.0.0.1:{port}"), &[])], Limits::default());
    let outcome = fetch(&tool, &grants, json!({ "port": port })).await;
    let out = output(&outcome);
    assert_eq!(out["reply"], "pong", "{out}");
    assert_eq!(out["denied"].as_array().map(Vec::len), Some(4), "{out}");
    assert!(!server.join().expect("server thread"), "a second connection reached the listener");
    let refused = format!("destination not granted: tcp://127.0.0.1:{}", port + 1);
    assert!(outcome.network.refusals.contains(&refused), "{:?}", outcome.network);
    // Usage: the granted destination only; refused ones are no use.
    let reached = format!("tcp://127.0.0.1:{port}");
    assert_eq!(outcome.usage.destinations.iter().collect::<Vec<_>>(), [&reached]);
}

#[tokio::test]
async fn osv_query_reports_advisories_from_an_osv_compatible_api() {
    let server = HttpServer::start();
    let tool = tool(airlock_tools::OSV_QUERY_PATH).await;
    let grants = net(&tool, &[(&server.url(""), &["POST"])], Limits::default());
    let input = json!({
        "api": server.url(""),
        "packages": [
            { "ecosystem": "crates.io", "name": "vulnerable-time", "version": "0.1.0" },
            { "ecosystem": "npm", "name": "left-pad", "version": "1.3.0" },
        ],
    });
    let out = output(&fetch(&tool, &grants, input).await);
    assert_eq!(out["vulnerable"], 1, "{out}");
    assert_eq!(out["results"][0]["vulns"], json!(["GHSA-test-vulnerable-time"]));
    assert_eq!(out["results"][1]["vulns"], json!([]));
    let seen = server.requests();
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/v1/querybatch"));

    // Without a grant for the mirror, nothing is sent.
    let other = HttpServer::start();
    let input =
        json!({ "api": other.url(""), "packages": [{ "ecosystem": "npm", "name": "a", "version": "1" }] });
    assert_denied(&fetch(&tool, &grants, input).await, "destination not granted");
    assert_eq!(other.connections(), 0);
}

#[tokio::test]
async fn patch_deps_fetches_the_advisories_for_the_installed_versions_from_an_osv_api() {
    let server = HttpServer::start();
    let checkout = tempfile::tempdir().expect("tempdir");
    let manifest =
        "[package]\nname = \"app\"\n\n[dependencies]\nvulnerable-time = \"0.1.0\" # pinned\nserde = \"1\"\n";
    std::fs::write(checkout.path().join("Cargo.toml"), manifest).expect("write");
    let lock = "version = 3\n\n[[package]]\nname = \"vulnerable-time\"\nversion = \"0.1.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    std::fs::write(checkout.path().join("Cargo.lock"), lock).expect("write");
    let tool = tool(airlock_tools::PATCH_DEPS_PATH).await;
    let offer = Offer {
        mounts: vec![OfferedMount {
            host: checkout.path().to_owned(),
            guest: GuestPath::new("/workspace").expect("guest path"),
            access: Access::ReadWrite,
        }],
        hosts: vec![NetGrant {
            destination: server.url("").parse().expect("destination"),
            methods: Methods::standard(),
        }],
        ..Offer::default()
    };
    let grants = resolve("patch-deps", &tool.info().capabilities, &offer).expect("grants resolve");
    let out = output(&fetch(&tool, &grants, json!({ "osv_api": server.url("") })).await);
    assert_eq!(out["changed"][0]["package"], "vulnerable-time", "{out}");
    assert_eq!(out["changed"][0]["to"], "1.0.0", "{out}");
    assert_eq!(out["changed"][0]["advisories"], json!(["GHSA-test-vulnerable-time"]));
    assert_eq!(
        std::fs::read_to_string(checkout.path().join("Cargo.toml")).expect("read"),
        manifest.replace("\"0.1.0\" # pinned", "\"1.0.0\" # pinned")
    );
    let seen: Vec<(String, String)> = server.requests().into_iter().map(|s| (s.method, s.path)).collect();
    assert_eq!(
        seen,
        [
            ("POST".into(), "/v1/querybatch".into()),
            ("GET".into(), "/v1/vulns/GHSA-test-vulnerable-time".into())
        ],
        "one batch for the installed versions, then the one advisory it named"
    );

    // Without a grant for the API the tool gets nothing, and says so.
    let no_net = Offer { hosts: Vec::new(), ..offer };
    let grants = resolve("patch-deps", &tool.info().capabilities, &no_net).expect("grants resolve");
    let outcome = fetch(&tool, &grants, json!({ "osv_api": server.url("") })).await;
    assert_denied(&outcome, "destination not granted");
    assert_eq!(server.requests().len(), 2, "the refused request never reached the server");
}

/// Headers a tool builds are bounded per `fields` resource (32 KiB in
/// memory): with the handle cap, what headers make the host hold is
/// bounded per call. A 64 KiB header is refused; the server sees nothing.
#[tokio::test]
async fn a_header_past_the_fields_budget_is_refused_and_nothing_is_sent() {
    let server = HttpServer::start();
    let tool = http_fetch().await;
    let grants = net(&tool, &[(&server.url(""), &[])], Limits::default());
    let big = "v".repeat(64 << 10);
    let input = json!({ "url": server.url("/ok"), "headers": [["x-big", big]] }).to_string();
    let err = tool.call(&grants, &input).await.expect_err("a 64 KiB header ends the call");
    assert!(matches!(err, airlock_host::CallError::Limit(airlock_host::LimitExceeded::Fields(_))), "{err}");
    assert!(err.to_string().starts_with("host resources limit: HTTP headers over 32 KiB"), "{err}");
    assert!(server.requests().is_empty(), "the server saw a request");
    let small =
        fetch(&tool, &grants, json!({ "url": server.url("/ok"), "headers": [["x-small", "v"]] })).await;
    assert_eq!(output(&small)["status"], 200);
}
