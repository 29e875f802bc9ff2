//! Outgoing HTTP from a tool, through `wasi:http`.
//!
//! The host checks every request against the destinations granted to the
//! call; a refused request fails with [`HttpError::Denied`] carrying the
//! host's reason (`destination not granted: http://10.0.0.5:80`). Redirects
//! are returned, never followed: to follow one, send a new request (which is
//! checked again). `authorization` and `cookie` headers cannot be set by a
//! tool.
//!
//! ```no_run
//! use airlock_sdk::http::Request;
//! let response = Request::get("https://api.osv.dev/v1/vulns/GHSA-xxxx").send(1 << 20)?;
//! assert_eq!(response.status, 200);
//! # Ok::<(), airlock_sdk::http::HttpError>(())
//! ```

use std::fmt;

use crate::ToolError;
use crate::bindings::airlock::tool::network;
use crate::bindings::airlock::tool::secrets::{self, SecretError};
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::secrets::Secret;

/// An outgoing request.
#[derive(Debug)]
pub struct Request<'s> {
    /// Method, uppercase.
    pub method: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Body (empty for none).
    pub body: Vec<u8>,
    /// Secrets the host attaches: (secret, header, template).
    secrets: Vec<(&'s Secret, String, String)>,
}

/// A response, its body read up to a bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The first bytes of the body, up to the bound given to `send`.
    pub body: Vec<u8>,
    /// True when the body was longer than the bound (the rest is unread).
    pub truncated: bool,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused the request; the message says why.
    Denied(String),
    /// The URL or a header is not valid.
    Invalid(String),
    /// The network or the server failed (timeouts, TLS, DNS, budgets).
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(m) => write!(f, "request denied: {m}"),
            Self::Invalid(m) => write!(f, "invalid request: {m}"),
            Self::Failed(m) => write!(f, "request failed: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for ToolError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Denied(_) => ToolError::Denied(e.to_string()),
            HttpError::Invalid(_) | HttpError::Failed(_) => ToolError::Failed(e.to_string()),
        }
    }
}

/// Largest chunk `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;

impl<'s> Request<'s> {
    /// A `GET` for `url`.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: &str, body: Vec<u8>) -> Self {
        Self { body, ..Self::new("POST", url) }
    }

    /// Any method.
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Has the host send `authorization: Bearer <secret>`. The host checks
    /// that the secret is bound to this request's destination when it is
    /// sent; the tool never sees the value.
    pub fn bearer(mut self, secret: &'s Secret) -> Self {
        self.secrets.push((secret, "authorization".to_owned(), "Bearer {secret}".to_owned()));
        self
    }

    /// Has the host send header `name` with `template`, `{secret}` standing
    /// for the value (such as `("x-api-key", "{secret}")`).
    pub fn secret_header(mut self, secret: &'s Secret, name: &str, template: &str) -> Self {
        self.secrets.push((secret, name.to_owned(), template.to_owned()));
        self
    }

    /// Sends the request and reads at most `max_body` bytes of the response
    /// body.
    pub fn send(&self, max_body: usize) -> Result<Response, HttpError> {
        let (scheme, authority, path) = split_url(&self.url)?;
        let mut entries: Vec<(String, Vec<u8>)> =
            self.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
        if !self.body.is_empty() && !entries.iter().any(|(k, _)| k == "content-length") {
            entries.push(("content-length".to_owned(), self.body.len().to_string().into_bytes()));
        }
        let fields = Fields::from_list(&entries).map_err(|e| {
            HttpError::Invalid(format!("headers: {e:?} (authorization and cookie are host-only)"))
        })?;
        let request = OutgoingRequest::new(fields);
        let invalid = |what: &str| HttpError::Invalid(format!("{what} of {}", self.url));
        request.set_method(&method(&self.method)).map_err(|()| invalid("method"))?;
        request.set_scheme(Some(&scheme)).map_err(|()| invalid("scheme"))?;
        request.set_authority(Some(authority)).map_err(|()| invalid("authority"))?;
        request.set_path_with_query(Some(&path)).map_err(|()| invalid("path"))?;
        for (secret, header, template) in &self.secrets {
            let attached = if header == "authorization" && template == "Bearer {secret}" {
                secrets::attach_bearer(&request, &secret.handle)
            } else {
                secrets::attach_header(&request, &secret.handle, header, template)
            };
            attached.map_err(|e| match e {
                SecretError::Denied(m) => HttpError::Denied(m),
                SecretError::Invalid(m) => HttpError::Invalid(m),
            })?;
        }
        let body = if self.body.is_empty() {
            None
        } else {
            Some(request.body().map_err(|()| HttpError::Failed("cannot open the request body".into()))?)
        };
        let pending = outgoing_handler::handle(request, None).map_err(error)?;
        // If the host refuses the request, writing the body fails too; the
        // response then carries the reason, so it is read before reporting
        // a write failure.
        let written = match body {
            Some(body) => {
                write_body(&body, &self.body).and_then(|()| OutgoingBody::finish(body, None).map_err(error))
            }
            None => Ok(()),
        };
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(error(code)),
            Some(Err(())) | None => return Err(HttpError::Failed("response already taken".into())),
        };
        written?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| HttpError::Failed("cannot read the body".into()))?;
        let (body, truncated) = read_body(&incoming, max_body)?;
        drop(response);
        Ok(Response { status, headers, body, truncated })
    }
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
    let stream = body.write().map_err(|()| HttpError::Failed("cannot write the request body".into()))?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk).map_err(stream_error)?;
    }
    Ok(())
}

fn read_body(incoming: &IncomingBody, max: usize) -> Result<(Vec<u8>, bool), HttpError> {
    let stream = incoming.stream().map_err(|()| HttpError::Failed("cannot read the body".into()))?;
    let mut body = Vec::new();
    loop {
        let room = (max - body.len()).min(64 << 10) as u64;
        if room == 0 {
            return Ok((body, true));
        }
        match stream.blocking_read(room) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok((body, false)),
            Err(e) => return Err(stream_error(e)),
        }
    }
}

fn stream_error(e: StreamError) -> HttpError {
    match e {
        StreamError::Closed => HttpError::Failed("stream closed".into()),
        StreamError::LastOperationFailed(e) => {
            match crate::bindings::wasi::http::types::http_error_code(&e) {
                Some(code) => error(code),
                None => HttpError::Failed(e.to_debug_string()),
            }
        }
    }
}

/// A denial carries the host's reason; anything else its error code.
fn error(code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            HttpError::Denied(network::last_refusal().unwrap_or_else(|| format!("{code:?}")))
        }
        other => HttpError::Failed(format!("{other:?}")),
    }
}

fn method(text: &str) -> Method {
    match text {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "PATCH" => Method::Patch,
        "TRACE" => Method::Trace,
        "CONNECT" => Method::Connect,
        other => Method::Other(other.to_owned()),
    }
}

/// `scheme://authority/path?query` (fragment dropped).
fn split_url(url: &str) -> Result<(Scheme, &str, String), HttpError> {
    let invalid = || HttpError::Invalid(format!("`{url}` is not an http:// or https:// URL"));
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(invalid()),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        return Err(invalid());
    }
    Ok((scheme, authority, if path.starts_with('/') { path.to_owned() } else { format!("/{path}") }))
}
