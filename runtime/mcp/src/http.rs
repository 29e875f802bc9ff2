//! Streamable HTTP: the MCP endpoint at `/mcp` behind bearer-token
//! authentication, and the RFC 9728 protected-resource metadata.
//!
//! Every request to `/mcp` must carry `Authorization: Bearer <JWT>`; the
//! token is verified (see [`BearerTokens`]) before the MCP layer sees the
//! request, and the verified caller travels with the request. A missing or
//! refused token gets `401` with `WWW-Authenticate: Bearer
//! resource_metadata="…"`. Requests are served statelessly: no session
//! outlives a request, so no identity can leak from one to the next, and a
//! client that disconnects cancels its call.

use std::sync::Arc;

use airlock_audit::RefusalLog;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;

use crate::error::ServeError;
use crate::handler::AirlockServer;
use crate::identity::BearerTokens;

/// Where the MCP endpoint is mounted.
pub const MCP_PATH: &str = "/mcp";
/// Where the protected-resource metadata is served (RFC 9728 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
/// Liveness for load balancers: `200` while the process serves HTTP.
pub const HEALTH_PATH: &str = "/healthz";
/// Readiness for load balancers: `200` when tools are loaded and the state
/// backend (if any) answers, else `503` saying which is not.
pub const READY_PATH: &str = "/readyz";

/// Serves `server` on `listener` until `shutdown` completes, over TLS when
/// `tls` is given ([`crate::tls::TlsCertificate::config`]). Without TLS,
/// refuses a listener that is not on a loopback address: tokens would
/// travel in clear text. `origin` is where clients reach it
/// (`https://mcp.example.com`), named in the 401 challenge; default the
/// bound address.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    origin: Option<String>,
    server: AirlockServer,
    tokens: Arc<BearerTokens>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let origin = origin.unwrap_or_else(|| format!("{scheme}://{address}"));
    match tls {
        Some(config) => {
            let routes = router(server, tokens, &origin);
            let listener = crate::tls::TlsListener::new(listener, config)?;
            axum::serve(listener, routes).with_graceful_shutdown(shutdown).await?;
        }
        None if !address.ip().is_loopback() => return Err(ServeError::NotLoopback(address)),
        None => {
            let routes = router(server, tokens, &origin);
            axum::serve(listener, routes).with_graceful_shutdown(shutdown).await?;
        }
    }
    Ok(())
}

/// The routes: `/mcp` (authenticated) and the metadata documents, served
/// at `origin` (`http://ADDR` or `https://ADDR`).
pub fn router(server: AirlockServer, tokens: Arc<BearerTokens>, origin: &str) -> Router {
    let auth = Arc::new(Auth {
        tokens: tokens.clone(),
        refusals: server.refusals(),
        metadata_url: format!("{origin}{METADATA_PATH}"),
    });
    let config =
        StreamableHttpServerConfig::default().with_legacy_session_mode(false).with_json_response(true);
    let probed = server.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    // Read per request: a reload may change the audience or the issuers.
    let metadata_route = get(move || {
        let document = metadata_document(&tokens);
        async move { axum::Json(document) }
    });
    Router::new()
        .nest_service(MCP_PATH, mcp)
        .route_layer(middleware::from_fn_with_state(auth, authenticate))
        .route(METADATA_PATH, metadata_route.clone())
        .route(&format!("{METADATA_PATH}{MCP_PATH}"), metadata_route)
        .route(HEALTH_PATH, get(|| async { "ok\n" }))
        .route(READY_PATH, get(move || ready(probed.clone())))
}

/// `/readyz`: the tools and the state backend.
async fn ready(server: AirlockServer) -> Response {
    match server.ready() {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

/// RFC 9728 metadata: this resource (the runtime audience tokens must
/// carry), the issuers it trusts, and that tokens go in the header only.
fn metadata_document(tokens: &BearerTokens) -> serde_json::Value {
    let verifier = tokens.verifier();
    json!({
        "resource": verifier.settings().audience,
        "authorization_servers": verifier.trust().issuers(),
        "bearer_methods_supported": ["header"],
        "resource_name": "airlock MCP server",
    })
}

struct Auth {
    tokens: Arc<BearerTokens>,
    /// Every refused request is counted in the audit log (rate-limited).
    refusals: Arc<RefusalLog>,
    metadata_url: String,
}

/// Verifies the bearer token and attaches the caller to the request.
async fn authenticate(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    let token = match bearer_token(request.headers()) {
        Ok(token) => token,
        Err(problem) => {
            auth.record_refusal("no_bearer_token", problem);
            return unauthorized(&auth.metadata_url, None, problem);
        }
    };
    match auth.tokens.caller(token) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => {
            // The message may quote the token's claims (an issuer): the
            // server's log writer escapes and cuts it; the record is cut.
            let message = error.to_string();
            tracing::info!(error = %message, "HTTP request refused: bad bearer token");
            auth.record_refusal(error.kind(), &message);
            unauthorized(&auth.metadata_url, Some("invalid_token"), &message)
        }
    }
}

impl Auth {
    /// Notes a refused request in the audit log (one record per kind per
    /// window, counting the rest). Failing to is logged, not fatal: the
    /// request is refused either way.
    fn record_refusal(&self, kind: &'static str, reason: &str) {
        // A refused token is counted by the verifier; a missing one here.
        if kind == "no_bearer_token"
            && let Some(metrics) = self.tokens.metrics()
        {
            metrics.token_refused(kind);
        }
        if let Err(error) = self.refusals.refused("mcp-http", kind, reason) {
            tracing::error!(%error, "cannot record the refused request in the audit log");
        }
    }
}

/// The token in the one `Authorization: Bearer` header.
fn bearer_token(headers: &http::HeaderMap) -> Result<&str, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or("missing bearer token")?;
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value.to_str().map_err(|_| "the Authorization header is not text")?;
    let (scheme, token) = value.split_once(' ').ok_or("the Authorization header is not `Bearer <token>`")?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err("the Authorization header is not `Bearer <token>`");
    }
    Ok(token.trim())
}

/// `401` with the RFC 6750 / RFC 9728 challenge and a JSON body saying why.
fn unauthorized(metadata_url: &str, error: Option<&str>, description: &str) -> Response {
    let description: String = description
        .chars()
        .map(|c| if c == '"' || c == '\\' || !c.is_ascii() || c.is_ascii_control() { '\'' } else { c })
        .collect();
    let mut challenge = format!("Bearer resource_metadata=\"{metadata_url}\"");
    if let Some(error) = error {
        challenge.push_str(&format!(", error=\"{error}\", error_description=\"{description}\""));
    }
    let body = json!({ "error": error.unwrap_or("unauthorized"), "error_description": description });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for value in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn only_one_well_formed_bearer_header_is_accepted() {
        assert_eq!(bearer_token(&headers(&["Bearer abc.def.ghi"])), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(&headers(&["bearer  abc "])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&[])), Err("missing bearer token"));
        assert_eq!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err("more than one Authorization header")
        );
        for bad in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "abc"] {
            assert!(bearer_token(&headers(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_challenge_names_the_metadata_and_stays_a_valid_header() {
        let response =
            unauthorized("http://127.0.0.1:1/m", Some("invalid_token"), "bad \"quote\" \\ é\nnewline");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().expect("ascii");
        assert_eq!(
            challenge,
            "Bearer resource_metadata=\"http://127.0.0.1:1/m\", error=\"invalid_token\", error_description=\"bad 'quote' ' ''newline\""
        );
    }
}
