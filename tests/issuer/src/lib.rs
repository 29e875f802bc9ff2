//! A token issuer on loopback HTTPS, for tests of keys fetched from an
//! issuer: a fresh CA and a server certificate for `127.0.0.1`, OIDC
//! discovery at `/.well-known/openid-configuration`, the JWKS at `/jwks`
//! (which the test replaces at will: rotation, withdrawal, garbage), a
//! redirect at `/moved`, and a count of the requests to each path.
//!
//! Each connection answers one request and closes. The server stops when
//! the [`TestIssuer`] is dropped.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the issuer answers, as the test last set it.
struct Answers {
    /// The `/jwks` body.
    jwks: String,
    /// The `/jwks` status.
    jwks_status: u16,
    /// The `/jwks` `Cache-Control`, if any.
    cache_control: Option<String>,
    /// The `issuer` the discovery document names (default: this issuer).
    discovered_issuer: Option<String>,
    /// Requests per path.
    hits: HashMap<String, usize>,
}

/// An HTTPS issuer on `127.0.0.1`, trusted through [`TestIssuer::ca_pem`].
pub struct TestIssuer {
    url: String,
    ca_pem: String,
    answers: Arc<Mutex<Answers>>,
    /// Dropped with the issuer: the server stops.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestIssuer {
    /// Starts serving `jwks` (no `Cache-Control`).
    pub fn start(jwks: &Value) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let ca_issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().expect("server key");
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &ca_issuer)
            .expect("server certificate");
        let chain = vec![CertificateDer::from(server.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let url = format!("https://127.0.0.1:{port}");
        let answers = Arc::new(Mutex::new(Answers {
            jwks: jwks.to_string(),
            jwks_status: 200,
            cache_control: None,
            discovered_issuer: None,
            hits: HashMap::new(),
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (served, base) = (answers.clone(), url.clone());
        // Its own thread and runtime, so a test may start it from sync or
        // async code alike.
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    () = serve(listener, acceptor, served, base) => {}
                    _ = stopped => {}
                }
            });
        });
        Self { url, ca_pem: ca.pem(), answers, _stop: stop }
    }

    /// `https://127.0.0.1:PORT`: the `iss` for discovery.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The JWKS URL.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.url)
    }

    /// The CA that signed the server's certificate, as PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Serves `body` (any text: a JWKS, or garbage) at `/jwks` from now on.
    pub fn publish(&self, body: &str) {
        self.answers().jwks = body.to_owned();
    }

    /// Answers `/jwks` with `status` (200: the published body).
    pub fn jwks_status(&self, status: u16) {
        self.answers().jwks_status = status;
    }

    /// Sends `Cache-Control: VALUE` with the JWKS.
    pub fn cache_control(&self, value: &str) {
        self.answers().cache_control = Some(value.to_owned());
    }

    /// Makes the discovery document name `issuer` instead of this one.
    pub fn discovered_issuer(&self, issuer: &str) {
        self.answers().discovered_issuer = Some(issuer.to_owned());
    }

    /// How many requests `path` has had.
    pub fn hits(&self, path: &str) -> usize {
        self.answers().hits.get(path).copied().unwrap_or(0)
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A JWKS of the keys in `sets` (each `{"keys": [...]}`), merged.
pub fn merged(sets: &[&Value]) -> Value {
    let keys: Vec<Value> =
        sets.iter().flat_map(|set| set["keys"].as_array().cloned().unwrap_or_default()).collect();
    json!({ "keys": keys })
}

async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    answers: Arc<Mutex<Answers>>,
    base: String,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, answers, base) = (acceptor.clone(), answers.clone(), base.clone());
        tokio::spawn(async move {
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let path = read_path(&mut tls).await;
                let response = answer(&answers, &base, &path);
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
    }
}

/// The path of the request on `tls` (its head read up to the blank line).
async fn read_path<S: tokio::io::AsyncRead + Unpin>(tls: &mut S) -> String {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match tls.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace().nth(1).unwrap_or("/").to_owned()
}

fn answer(answers: &Mutex<Answers>, base: &str, path: &str) -> String {
    let mut answers = answers.lock().unwrap_or_else(PoisonError::into_inner);
    *answers.hits.entry(path.to_owned()).or_default() += 1;
    let (status, headers, body) = match path {
        "/.well-known/openid-configuration" => {
            let issuer = answers.discovered_issuer.clone().unwrap_or_else(|| base.to_owned());
            let document = json!({ "issuer": issuer, "jwks_uri": format!("{base}/jwks") });
            (200, String::new(), document.to_string())
        }
        "/jwks" => {
            let cache = answers.cache_control.as_ref().map(|c| format!("cache-control: {c}\r\n"));
            (answers.jwks_status, cache.unwrap_or_default(), answers.jwks.clone())
        }
        "/moved" => (302, format!("location: {base}/jwks\r\n"), String::new()),
        _ => (404, String::new(), "not found".to_owned()),
    };
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}
