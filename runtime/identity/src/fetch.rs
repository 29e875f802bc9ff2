//! One HTTPS GET of an issuer's document (its OIDC discovery document or
//! its JWKS): rustls with webpki roots or the operator's CA, HTTP/1.1 by
//! hyper, a time limit on the whole exchange and a size limit on the body.
//! No redirects are followed and no proxy is used: the URL configured (or
//! discovered) is the one place keys come from.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

/// Largest document accepted. Real JWKS documents are a few KiB.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// What a GET returned: the body and how long it may be cached.
pub(crate) struct Fetched {
    pub(crate) body: Bytes,
    /// `Cache-Control: max-age`, if the response had one (and no
    /// `no-store`/`no-cache`, which count as zero).
    pub(crate) max_age: Option<Duration>,
}

/// Fetches documents over HTTPS only.
pub(crate) struct Fetcher {
    tls: TlsConnector,
    timeout: Duration,
}

impl Fetcher {
    /// Trusts `roots` if given (only those), else the webpki (Mozilla)
    /// roots; gives each exchange `timeout` in all.
    pub(crate) fn new(roots: Option<&[CertificateDer<'static>]>, timeout: Duration) -> Result<Self, String> {
        let mut store = rustls::RootCertStore::empty();
        match roots {
            Some(certificates) => {
                for certificate in certificates {
                    store.add(certificate.clone()).map_err(|e| format!("CA certificate: {e}"))?;
                }
            }
            None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Self { tls: TlsConnector::from(Arc::new(config)), timeout })
    }

    /// GETs `url`, which must be `https://`; a status other than 200 is
    /// an error naming it.
    pub(crate) async fn get(&self, url: &str) -> Result<Fetched, String> {
        match tokio::time::timeout(self.timeout, self.exchange(url)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no complete answer within {} s", self.timeout.as_secs_f32())),
        }
    }

    async fn exchange(&self, url: &str) -> Result<Fetched, String> {
        let target = HttpsUrl::parse(url)?;
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("connect to {}:{}: {e}", target.host, target.port))?;
        let name = ServerName::try_from(target.host.clone()).map_err(|e| format!("server name: {e}"))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let driver = tokio::spawn(connection);
        let request = Request::get(target.path_and_query.as_str())
            .header(header::HOST, target.authority.as_str())
            .header(header::ACCEPT, "application/json, application/jwk-set+json")
            .header(header::USER_AGENT, concat!("airlock/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("request: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("HTTP: {e}"))?;
        let status = response.status();
        if status.is_redirection() {
            driver.abort();
            return Err(format!("answered {status}: redirects are not followed; configure the final URL"));
        }
        if status != StatusCode::OK {
            driver.abort();
            return Err(format!("answered {status}"));
        }
        let max_age = cache_lifetime(response.headers());
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| format!("body: {e} (limit {MAX_DOCUMENT_BYTES} bytes)"))?
            .to_bytes();
        driver.abort();
        Ok(Fetched { body, max_age })
    }
}

/// The parts of an `https://` URL a request needs.
pub(crate) struct HttpsUrl {
    host: String,
    port: u16,
    authority: String,
    path_and_query: String,
}

impl HttpsUrl {
    /// Accepts `https://host[:port]/path[?query]` only: no other scheme,
    /// no user information, no fragment.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let https = url.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
        if !https {
            return Err(format!("`{url}` is not an https:// URL: keys are fetched over TLS only"));
        }
        let uri: Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if uri.scheme_str() != Some("https") {
            return Err(format!("`{url}` is not an https:// URL: keys are fetched over TLS only"));
        }
        let authority = uri.authority().ok_or_else(|| format!("`{url}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("`{url}` carries user information; credentials do not belong in a URL"));
        }
        if url.contains('#') {
            return Err(format!("`{url}` has a fragment"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        Ok(Self {
            host,
            port: authority.port_u16().unwrap_or(443),
            authority: authority.as_str().to_owned(),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }
}

/// `max-age` from `Cache-Control`; `no-store` and `no-cache` mean zero.
fn cache_lifetime(headers: &http::HeaderMap) -> Option<Duration> {
    let mut lifetime = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=")
                && let Ok(seconds) = seconds.trim_matches('"').parse::<u64>()
            {
                lifetime = Some(Duration::from_secs(seconds));
            }
        }
    }
    lifetime
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetime(values: &[&str]) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(header::CACHE_CONTROL, value.parse().expect("header"));
        }
        cache_lifetime(&headers)
    }

    #[test]
    fn cache_control_gives_the_lifetime() {
        assert_eq!(lifetime(&["public, max-age=3600"]), Some(Duration::from_secs(3600)));
        assert_eq!(lifetime(&["Max-Age=\"60\""]), Some(Duration::from_secs(60)));
        assert_eq!(lifetime(&["max-age=60, no-cache"]), Some(Duration::ZERO));
        assert_eq!(lifetime(&["no-store"]), Some(Duration::ZERO));
        assert_eq!(lifetime(&["max-age=soon"]), None);
        assert_eq!(lifetime(&[]), None);
    }

    #[test]
    fn only_plain_https_urls_are_fetched() {
        let url = HttpsUrl::parse("https://issuer.example:8443/keys?v=2").expect("https");
        assert_eq!((url.host.as_str(), url.port), ("issuer.example", 8443));
        assert_eq!(url.path_and_query, "/keys?v=2");
        assert_eq!(HttpsUrl::parse("https://[::1]/k").expect("v6").host, "::1");
        for (bad, says) in [
            ("http://issuer.example/keys", "not an https:// URL"),
            ("file:///etc/jwks.json", "not an https:// URL"),
            ("https://user:pw@issuer.example/keys", "user information"),
            ("https://issuer.example/keys#frag", "fragment"),
            ("issuer.example/keys", "not an https:// URL"),
        ] {
            let error = HttpsUrl::parse(bad).err().unwrap_or_default();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
