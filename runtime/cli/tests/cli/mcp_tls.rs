//! `airlock serve --http ADDR --tls-cert FILE --tls-key FILE`: a TLS client
//! that trusts the certificate gets the MCP endpoint and the metadata (which
//! names the `https` origin); plain HTTP to the TLS port gets no HTTP answer;
//! a non-loopback address is served only with TLS; an expired or
//! mismatched certificate stops the server at start, naming the problem;
//! SIGHUP swaps in a new certificate, and a bad one leaves the old in force.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair, date_time_ymd};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::mcp::Setup;

/// A self-signed certificate for 127.0.0.1 and `localhost`, valid from
/// `from` to `until` (years), written as PEM to `NAME.crt` and `NAME.key`
/// in the setup; its DER for the client's trust store.
fn certificate(setup: &Setup, name: &str, from: i32, until: i32) -> (PathBuf, PathBuf, Vec<u8>) {
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("params");
    params.not_before = date_time_ymd(from, 1, 1);
    params.not_after = date_time_ymd(until, 1, 1);
    let key = KeyPair::generate().expect("key pair");
    let cert = params.self_signed(&key).expect("certificate");
    let (cert_path, key_path) = (setup.path(&format!("{name}.crt")), setup.path(&format!("{name}.key")));
    std::fs::write(&cert_path, cert.pem()).expect("write certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path, cert.der().to_vec())
}

/// One HTTP/1.1 request over TLS to `port`, trusting only `trusted`; the
/// whole response as text.
async fn https(port: u16, trusted: &[u8], request: &str) -> String {
    try_https(port, trusted, request).await.unwrap_or_else(|e| panic!("{e}"))
}

/// [`https`], or why the connection failed (the handshake, say).
async fn try_https(port: u16, trusted: &[u8], request: &str) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(trusted.to_vec())).expect("trust the certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = connector.connect(name, tcp).await.map_err(|e| format!("TLS handshake: {e}"))?;
    tls.write_all(request.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

const GET_METADATA: &str =
    "GET /.well-known/oauth-protected-resource HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";

fn hangup(pid: u32) {
    let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -HUP {pid}");
}

/// SIGHUP re-reads the certificate and key: the next handshakes present
/// the new pair; a file that cannot serve leaves the pair in use, and the
/// log says why.
#[tokio::test]
async fn sighup_reloads_the_certificate_and_a_bad_one_leaves_the_old_in_force() {
    let setup = Setup::new();
    let (cert, key, first) = certificate(&setup, "server", 2020, 2099);
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let server = setup.http(&["--tls-cert", &cert_arg, "--tls-key", &key_arg]);
    let port = port_of(server.url());
    assert!(https(port, &first, GET_METADATA).await.starts_with("HTTP/1.1 200"));

    let (_, _, second) = certificate(&setup, "server", 2020, 2099);
    hangup(server.pid());
    assert!(server.wait_for_log("TLS certificate reloaded", Duration::from_secs(20)), "reloaded");
    assert!(https(port, &second, GET_METADATA).await.starts_with("HTTP/1.1 200"), "the new pair serves");
    let old = try_https(port, &first, GET_METADATA).await;
    assert!(old.as_ref().is_err_and(|e| e.starts_with("TLS handshake")), "the old pair is gone: {old:?}");

    std::fs::write(&cert, "not a certificate").expect("break the file");
    hangup(server.pid());
    assert!(
        server.wait_for_log("TLS certificate not reloaded; the one in use stays", Duration::from_secs(20)),
        "the refusal is logged"
    );
    assert!(server.wait_for_log("server.crt", Duration::from_secs(1)), "naming the file");
    assert!(https(port, &second, GET_METADATA).await.starts_with("HTTP/1.1 200"), "the pair in use stays");
}

fn port_of(url: &str) -> u16 {
    let rest = url.strip_prefix("https://").unwrap_or_else(|| panic!("served over https: {url}"));
    let authority = rest.split('/').next().expect("authority");
    authority.rsplit(':').next().expect("port").parse().expect("a port")
}

#[tokio::test]
async fn tls_serves_mcp_on_any_address_and_nothing_in_clear_text() {
    let setup = Setup::new();
    let (cert, key, der) = certificate(&setup, "server", 2020, 2099);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let public = "https://mcp.example.test:8414";
    let server =
        setup.http_on("0.0.0.0:0", &["--tls-cert", &cert, "--tls-key", &key, "--public-url", public]);
    let port = port_of(server.url());

    let metadata = https(port, &der, GET_METADATA).await;
    assert!(metadata.starts_with("HTTP/1.1 200"), "{metadata}");
    assert!(metadata.contains("\"resource\""), "{metadata}");

    let unauthenticated = https(
        port,
        &der,
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    assert!(unauthenticated.starts_with("HTTP/1.1 401"), "{unauthenticated}");
    assert!(
        unauthenticated
            .contains(&format!("resource_metadata=\"{public}/.well-known/oauth-protected-resource\"")),
        "the challenge names the public https origin: {unauthenticated}"
    );

    let token = setup.token("human:alice");
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
    let listed = https(
        port,
        &der,
        &format!(
            "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{list}",
            list.len()
        ),
    )
    .await;
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    assert!(listed.contains("\"tools\""), "{listed}");

    // Plain HTTP to the TLS port: the handshake fails, no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    plain.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("timeout");
    plain
        .write_all(b"GET /.well-known/oauth-protected-resource HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"), "served in clear text");
    assert!(!String::from_utf8_lossy(&answer).contains("resource"), "served in clear text");
}

#[test]
fn a_certificate_that_cannot_serve_stops_the_server_at_start_naming_it() {
    let setup = Setup::new();
    let (expired, expired_key, _) = certificate(&setup, "expired", 2020, 2021);
    let (future, future_key, _) = certificate(&setup, "future", 2090, 2099);
    let (valid, _, _) = certificate(&setup, "valid", 2020, 2099);
    let start = |cert: &PathBuf, key: &PathBuf| {
        let out = setup.serve_output(&[
            "--http",
            "127.0.0.1:0",
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ]);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = start(&expired, &expired_key);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("expired.crt: the certificate is expired (valid from"), "{stderr}");
    let (code, stderr) = start(&future, &future_key);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("future.crt: the certificate is not valid yet"), "{stderr}");
    let (code, stderr) = start(&valid, &expired_key);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("expired.key: cannot serve with the certificate in") && stderr.contains("valid.crt"),
        "a key that is not the certificate's: {stderr}"
    );
    let (valid_cert, valid_key) =
        (valid.display().to_string(), setup.path("valid.key").display().to_string());
    for (url, why) in [
        ("http://mcp.example.test", "the server speaks TLS: use https://"),
        ("https://mcp.example.test/mcp?x=1", "with no path, query or credentials"),
        ("https://user@mcp.example.test", "with no path, query or credentials"),
        ("mcp.example.test", "expected scheme://host[:port]"),
    ] {
        let out = setup.serve_output(&[
            "--http",
            "0.0.0.0:0",
            "--tls-cert",
            &valid_cert,
            "--tls-key",
            &valid_key,
            "--public-url",
            url,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(why), "{url}: {stderr}");
    }
    let (code, stderr) = start(&valid, &setup.path("valid.crt"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("valid.crt: holds no usable private key"), "{stderr}");
    assert!(!stderr.contains("serving MCP"), "nothing was served: {stderr}");
}
