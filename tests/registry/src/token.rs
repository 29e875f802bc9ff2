//! A token server for the registry's bearer-token flow (Docker's token
//! authentication, which Docker Hub, GHCR and Harbor speak): the registry
//! answers `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`;
//! the client asks the realm for a token, with HTTP basic credentials or
//! none; the registry accepts only a JWT it can verify against its
//! `rootcertbundle` that grants the scope. The server is real (axum on
//! loopback), and so are its tokens: ES256, the signing certificate in
//! `x5c`.
//!
//! [`USER`](crate::USER) with [`PASSWORD`](crate::PASSWORD) gets every
//! action it asks for; an anonymous request gets a token granting nothing;
//! wrong credentials get `401`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The `service` the registry names and the tokens' audience.
pub(crate) const SERVICE: &str = "airlock-test-registry";
/// The tokens' issuer, as the registry expects it.
pub(crate) const ISSUER: &str = "airlock-test-token-server";

/// What the server has answered.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Tokens granting access, issued to the right credentials.
    pub(crate) granted: AtomicUsize,
    /// Tokens granting nothing, issued to anonymous requests.
    pub(crate) anonymous: AtomicUsize,
    /// Requests refused for wrong credentials.
    pub(crate) refused: AtomicUsize,
}

struct Signer {
    key: EncodingKey,
    certificate: String,
    counts: Arc<Counts>,
}

/// A running token server; stopped when dropped.
pub(crate) struct TokenServer {
    /// `http://127.0.0.1:PORT/token`.
    pub(crate) realm: String,
    /// The signing certificate, PEM: the registry's `rootcertbundle`.
    pub(crate) certificate_pem: String,
    pub(crate) counts: Arc<Counts>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TokenServer {
    pub(crate) fn start() -> Self {
        let key = rcgen::KeyPair::generate().expect("token signing key");
        let certificate = rcgen::CertificateParams::new(vec![ISSUER.to_owned()])
            .expect("certificate params")
            .self_signed(&key)
            .expect("token signing certificate");
        let counts = Arc::new(Counts::default());
        let signer = Arc::new(Signer {
            key: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("ES256 key"),
            certificate: base64::engine::general_purpose::STANDARD.encode(certificate.der()),
            counts: counts.clone(),
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let realm = format!("http://{}/token", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Its own thread and runtime, so a test may start it from sync or
        // async code alike.
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().route("/token", axum::routing::get(token)).with_state(signer);
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        Self { realm, certificate_pem: certificate.pem(), counts, _stop: stop }
    }
}

async fn token(State(signer): State<Arc<Signer>>, headers: HeaderMap, uri: Uri) -> Response {
    let user = match headers.get(header::AUTHORIZATION).map(basic_credentials) {
        None => None,
        Some(Some((user, password))) if user == crate::USER && password == crate::PASSWORD => Some(user),
        Some(_) => {
            signer.counts.refused.fetch_add(1, Ordering::SeqCst);
            return (StatusCode::UNAUTHORIZED, "wrong credentials").into_response();
        }
    };
    let access: Vec<Value> = match &user {
        Some(_) => query_values(&uri, "scope").iter().filter_map(|scope| access(scope)).collect(),
        None => Vec::new(),
    };
    let counter = if user.is_some() { &signer.counts.granted } else { &signer.counts.anonymous };
    let serial = counter.fetch_add(1, Ordering::SeqCst);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let claims = json!({
        "iss": ISSUER,
        "sub": user.unwrap_or_default(),
        "aud": SERVICE,
        "iat": now,
        "nbf": now - 10,
        "exp": now + 300,
        "jti": format!("token-{serial}"),
        "access": access,
    });
    let mut head = Header::new(Algorithm::ES256);
    head.x5c = Some(vec![signer.certificate.clone()]);
    let token = jsonwebtoken::encode(&head, &claims, &signer.key).expect("sign token");
    axum::Json(json!({ "token": token, "access_token": token, "expires_in": 300 })).into_response()
}

/// `repository:NAME:pull,push` as a token's access entry.
fn access(scope: &str) -> Option<Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions: Vec<&str> = actions.split(',').collect();
    Some(json!({ "type": kind, "name": name, "actions": actions }))
}

fn basic_credentials(value: &axum::http::HeaderValue) -> Option<(String, String)> {
    let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Every value of `name` in the query, percent-decoded.
fn query_values(uri: &Uri, name: &str) -> Vec<String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode(value))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
