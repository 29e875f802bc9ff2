//! Network grants: outgoing HTTP to granted destinations only.
//!
//! Tools reach the network through `wasi:http/outgoing-handler`; raw
//! `wasi:sockets` stay denied unless a `tcp://` or `udp://` grant names an
//! address range (see `socket`), and name lookup is never available. Every
//! HTTP request passes [`Egress::send_request`], which
//!
//! 1. charges the call's request budget (refused requests count too),
//! 2. checks method, scheme, host and port against the grants, before DNS,
//! 3. resolves the name once and checks each address (internal addresses
//!    need a grant written as that address or network),
//! 4. connects to a checked address with airlock's own connector (rustls,
//!    webpki roots, no way to skip certificate checks),
//! 5. clamps the guest's timeouts to the call's budgets and meters request
//!    and response bodies against the byte budgets.
//!
//! Redirects are never followed by the host: a 3xx goes back to the guest,
//! and a guest that follows it sends a new request, checked again. A refusal
//! fails the request with `http-request-denied` (or
//! `destination-ip-prohibited`), is readable through
//! `airlock:tool/network.last-refusal`, and is recorded in the call's
//! [`NetworkReport`]. Guests may not set `authorization`, `cookie` or the
//! hop-by-hop headers wasmtime already forbids.

mod body;
mod connect;
pub(crate) mod headers;
pub(crate) mod socket;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use airlock_policy::{EgressRefusal, NetGrant, NetLimits, Outbound, Scheme, check_request};
use http::HeaderValue;
use http::header::{AUTHORIZATION, COOKIE, HeaderName};
use http_body_util::BodyExt;
use serde::Serialize;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error, ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks,
};

use self::body::{ByteBudget, Direction, Filtered, Metered, OnRefusal};
use self::connect::{Failure, Timeouts};
use super::secret::{TAG_HEADER, Vault};
use crate::redact::Redactor;

/// What a call did on the network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkReport {
    /// Requests the guest sent through `wasi:http`, refused ones included.
    pub requests: u32,
    /// Refusals, in order (the first 100): `destination not granted: ...`,
    /// `request budget exhausted ...`, refused socket uses, and so on.
    pub refusals: Vec<String>,
    /// Refusals past the first 100, counted only.
    pub refusals_dropped: u64,
    /// Request-body bytes sent.
    pub bytes_sent: u64,
    /// Response-body bytes received.
    pub bytes_received: u64,
    /// Destinations a request was sent to, or a socket connected or sent
    /// to (`https://host:443`, `tcp://10.0.0.5:5432`).
    pub contacted: BTreeSet<String>,
}

/// The `wasi:http` hooks of one call: its grants, budgets and report.
pub(crate) struct Egress {
    grants: Arc<[NetGrant]>,
    vault: Vault,
    /// Every granted secret: responses are redacted with it before the
    /// guest reads them (a destination echoing a token back gives the tool
    /// `[REDACTED:NAME]`, not the value).
    responses: Option<Arc<Redactor>>,
    limits: NetLimits,
    sent: ByteBudgets,
    state: Arc<Mutex<State>>,
}

struct ByteBudgets {
    request: Arc<ByteBudget>,
    response: Arc<ByteBudget>,
}

/// Most refusals kept in a call's report; later ones are counted.
const MAX_REFUSALS: usize = 100;

#[derive(Default)]
struct State {
    requests: u32,
    refusals: Vec<String>,
    refusals_dropped: u64,
    last_refusal: Option<String>,
    contacted: BTreeSet<String>,
}

impl State {
    /// Notes a destination the call reached.
    fn contacted(state: &Mutex<State>, destination: String) {
        state.lock().unwrap_or_else(PoisonError::into_inner).contacted.insert(destination);
    }

    /// Notes a refusal for the call's report. Nothing is logged here: the
    /// reason may hold a secret the tool put in a URL, and the report is
    /// redacted before anyone sees it (`serve` logs it from there).
    fn refuse(state: &Mutex<State>, reason: String) {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_refusal = Some(reason.clone());
        if state.refusals.len() < MAX_REFUSALS {
            state.refusals.push(reason);
        } else {
            state.refusals_dropped += 1;
        }
    }
}

/// Builds the `wasi:http` hooks for a call from its grants and budgets, and
/// enables the sockets its socket grants name (none by default).
pub(crate) fn prepare(
    wasi: &mut WasiCtxBuilder,
    grants: &[NetGrant],
    limits: NetLimits,
    vault: Vault,
    redactor: Option<Arc<Redactor>>,
) -> Egress {
    let http: Arc<[NetGrant]> =
        grants.iter().filter(|g| !g.destination.scheme.is_socket()).cloned().collect();
    let state = Arc::default();
    socket::prepare(wasi, grants, &state);
    Egress {
        grants: http,
        responses: redactor,
        vault,
        limits,
        sent: ByteBudgets {
            request: ByteBudget::new(limits.request_bytes),
            response: ByteBudget::new(limits.response_bytes),
        },
        state,
    }
}

impl Egress {
    /// The call's network activity so far.
    pub(crate) fn report(&self) -> NetworkReport {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        NetworkReport {
            requests: state.requests,
            refusals: state.refusals.clone(),
            refusals_dropped: state.refusals_dropped,
            bytes_sent: self.sent.request.used(),
            bytes_received: self.sent.response.used(),
            contacted: state.contacted.clone(),
        }
    }

    /// The most recent refusal, for `airlock:tool/network.last-refusal`.
    pub(crate) fn last_refusal(&self) -> Option<String> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).last_refusal.clone()
    }

    /// Charges one request to the budget; `Err` with the refusal when spent.
    fn count_request(&self) -> Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.requests >= self.limits.requests {
            return Err(format!("request budget exhausted: {} requests per call", self.limits.requests));
        }
        state.requests += 1;
        Ok(())
    }

    fn timeouts(&self, asked: Option<RequestOptions>) -> (Timeouts, Duration) {
        let asked = asked.unwrap_or_default();
        let clamp = |asked: Option<Duration>, limit: Duration| asked.map_or(limit, |d| d.min(limit));
        let timeouts = Timeouts {
            connect: clamp(asked.connect_timeout, self.limits.connect_timeout),
            first_byte: clamp(asked.first_byte_timeout, self.limits.response_timeout),
        };
        (timeouts, clamp(asked.between_bytes_timeout, self.limits.response_timeout))
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Egress {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(|name: &HeaderName| {
            *name == AUTHORIZATION
                || *name == COOKIE
                || *name == TAG_HEADER
                || DEFAULT_FORBIDDEN_HEADERS.contains(name)
        })
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        if let Err(reason) = self.count_request() {
            State::refuse(&self.state, reason);
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if let Some(length) = declared.filter(|n| *n > self.sent.request.remaining()) {
            let limit = self.sent.request.limit();
            State::refuse(
                &self.state,
                format!("request body of {length} bytes exceeds the budget of {limit} bytes"),
            );
            return Box::new(async move { Err(Error::HttpRequestBodySize(Some(limit))) });
        }
        let grants = self.grants.clone();
        let vault = self.vault.clone();
        let state = self.state.clone();
        let (timeouts, idle) = self.timeouts(options);
        let request_budget = self.sent.request.clone();
        let response_budget = self.sent.response.clone();
        let responses = self.responses.clone();
        Box::new(async move {
            let result = send(&grants, &vault, &state, request, timeouts, request_budget).await;
            let (response, connection) = match result {
                Ok(sent) => sent,
                Err(Failure::Denied(reason)) => {
                    State::refuse(&state, reason);
                    return Err(Error::HttpRequestDenied);
                }
                Err(Failure::Refused(refusal)) => {
                    let code = match refusal {
                        EgressRefusal::InternalAddress { .. } => Error::DestinationIpProhibited,
                        _ => Error::HttpRequestDenied,
                    };
                    State::refuse(&state, refusal.to_string());
                    return Err(code);
                }
                Err(Failure::Network(e)) => return Err(e),
            };
            let response = response
                .map(|incoming| Metered::new(incoming, response_budget, Direction::Response, Some(idle)));
            let response = match responses {
                Some(redactor) => redact_response(response, redactor).map(BodyExt::boxed_unsync),
                None => response.map(BodyExt::boxed_unsync),
            };
            Ok((response, Box::new(connection) as Box<dyn Future<Output = Result<(), Error>> + Send>))
        })
    }
}

/// A response whose header values and body are redacted for the call's
/// secrets; its `content-length` goes (redaction changes the length).
fn redact_response<B>(response: http::Response<B>, redactor: Arc<Redactor>) -> http::Response<Filtered<B>> {
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(http::header::CONTENT_LENGTH);
    for value in parts.headers.values_mut() {
        if redactor.find(value.as_bytes()).is_some() {
            let out = redactor.bytes(value.as_bytes());
            *value = HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("[REDACTED]"));
        }
    }
    http::Response::from_parts(parts, Filtered::redacting(body, redactor))
}

/// Refuses a request whose URL or guest-set headers carry the value of a
/// granted secret that is not bound to its destination (checked before the
/// host adds its own attachments); `None` when it carries none.
fn carried_secret(request: &http::Request<WasiBody>, foreign: &Redactor) -> Option<String> {
    let uri = request.uri().to_string();
    if let Some(name) = foreign.find(uri.as_bytes()) {
        return Some(format!("the URL carries the value of secret {name}, which is not bound to it"));
    }
    request.headers().iter().find_map(|(header, value)| {
        foreign.find(value.as_bytes()).map(|name| {
            format!("header {header} carries the value of secret {name}, which is not bound to it")
        })
    })
}

/// Checks, connects and sends one request.
async fn send(
    grants: &[NetGrant],
    vault: &Vault,
    state: &Arc<Mutex<State>>,
    mut request: http::Request<WasiBody>,
    timeouts: Timeouts,
    request_budget: Arc<ByteBudget>,
) -> Result<
    (http::Response<hyper::body::Incoming>, impl Future<Output = Result<(), Error>> + Send + use<>),
    Failure,
> {
    let uri = request.uri().clone();
    let (scheme, default_port) = match uri.scheme_str() {
        Some("http") => (Scheme::Http, 80),
        Some("https") => (Scheme::Https, 443),
        _ => return Err(Error::HttpProtocolError.into()),
    };
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    if authority.as_str().contains('@') {
        return Err(Error::HttpRequestUriInvalid.into());
    }
    let method = request.method().clone();
    let outbound = Outbound {
        method: method.as_str(),
        scheme,
        host: authority.host(),
        port: authority.port_u16().unwrap_or(default_port),
    };
    check_request(grants, &outbound).map_err(Failure::Refused)?;
    let foreign = vault.foreign_to(&outbound).map(Arc::new);
    if let Some(reason) = foreign.as_deref().and_then(|f| carried_secret(&request, f)) {
        return Err(Failure::Denied(format!("request to {outbound} refused: {reason}")));
    }
    vault.inject(request.headers_mut(), &outbound).map_err(Failure::Denied)?;
    let client = connect::connect(grants, &outbound, timeouts).await?;
    State::contacted(state, outbound.to_string());
    // The request line carries only the path; the host is in `Host`.
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
    let request =
        request.map(|body| Metered::new(body, request_budget, Direction::Request, None).boxed_unsync());
    let request = match foreign {
        Some(foreign) => {
            let (state, destination) = (state.clone(), outbound.to_string());
            let on_refusal: OnRefusal = Arc::new(move |name: &str| {
                State::refuse(
                    &state,
                    format!(
                        "request to {destination} refused: its body carries the value of secret {name}, which is not bound to it"
                    ),
                );
            });
            request.map(|body| Filtered::refusing(body, foreign, on_refusal).boxed_unsync())
        }
        None => request,
    };
    Ok(connect::send(client, request, timeouts.first_byte).await?)
}
