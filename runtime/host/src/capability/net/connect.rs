//! airlock's own connector for `wasi:http`: resolve once, vet every
//! address, connect only to a vetted one, TLS with the webpki roots, HTTP/1.
//!
//! wasmtime's `default_send_request` connects to the authority string, so
//! the name is looked up again after any check; a rebinding DNS server can
//! then point a granted name at 127.0.0.1 or a metadata address. Here the
//! address that was checked is the address dialled.

use std::future::{Future, poll_fn};
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, LazyLock};
use std::task::{Poll, ready};
use std::time::Duration;

use airlock_policy::{EgressRefusal, NetGrant, Outbound, check_address};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

/// The TLS client configuration every call shares: the webpki roots, ring,
/// TLS 1.2 and 1.3. Certificate and name checks cannot be turned off: there
/// is no setting for it, for the guest or the operator.
static TLS: LazyLock<Result<Arc<rustls::ClientConfig>, String>> = LazyLock::new(|| {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
        .map_err(|e| e.to_string())
});

/// Why a request did not get a response.
pub(crate) enum Failure {
    /// Policy refused it: the guest sees `http-request-denied` or
    /// `destination-ip-prohibited`, and the refusal is recorded.
    Refused(EgressRefusal),
    /// A secret attached to it is not bound to its destination: the guest
    /// sees `http-request-denied`, and the reason is recorded.
    Denied(String),
    /// The network failed; the guest sees the matching error code.
    Network(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Network(e)
    }
}

/// Timeouts for one request, already clamped to the call's budgets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) first_byte: Duration,
}

/// A connected HTTP/1 client and the connection task that drives it.
pub(crate) type Handshake = (
    hyper::client::conn::http1::SendRequest<WasiBody>,
    hyper::client::conn::http1::Connection<TokioIo<Box<dyn Stream>>, WasiBody>,
);

pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// Resolves `request.host`, keeps the addresses [`check_address`] allows,
/// connects to the first of them that answers, and completes the TLS and
/// HTTP/1 handshakes, all within one `timeouts.connect`.
pub(crate) async fn connect(
    grants: &[NetGrant],
    request: &Outbound<'_>,
    timeouts: Timeouts,
) -> Result<Handshake, Failure> {
    tokio::time::timeout(timeouts.connect, connect_inner(grants, request))
        .await
        .map_err(|_| Failure::Network(Error::ConnectionTimeout))?
}

async fn connect_inner(grants: &[NetGrant], request: &Outbound<'_>) -> Result<Handshake, Failure> {
    let addresses = resolve(request).await?;
    let mut vetted = Vec::with_capacity(addresses.len());
    let mut refusal = None;
    for address in addresses {
        match check_address(grants, request, address.ip()) {
            Ok(()) => vetted.push(address),
            Err(refused) => refusal = refusal.or(Some(refused)),
        }
    }
    if vetted.is_empty() {
        return Err(match refusal {
            Some(refused) => Failure::Refused(refused),
            None => Failure::Network(Error::DestinationNotFound),
        });
    }
    let tcp = dial(&vetted).await.map_err(Error::Connect)?;
    let stream: Box<dyn Stream> = match request.scheme {
        airlock_policy::Scheme::Https => {
            let tls = TLS.as_ref().map_err(|e| Error::InternalError(Some(format!("TLS setup: {e}"))))?;
            let name = server_name(request.host)?;
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            let stream = connector.connect(name, tcp).await.map_err(tls_error)?;
            Box::new(stream)
        }
        _ => Box::new(tcp),
    };
    let client = hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)).await;
    Ok(client.map_err(Error::from)?)
}

/// The addresses to try: the literal itself, or one DNS lookup.
async fn resolve(request: &Outbound<'_>) -> Result<Vec<SocketAddr>, Failure> {
    let literal = request.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, request.port)]);
    }
    match tokio::net::lookup_host((request.host, request.port)).await {
        Err(e) => Err(Error::DnsError { rcode: Some(e.to_string()), info_code: None }.into()),
        Ok(found) => Ok(found.collect()),
    }
}

/// Connects to the first vetted address that accepts.
async fn dial(addresses: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no address to connect to")))
}

fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_owned()).map_err(Error::from)
}

/// A certificate problem is reported as such; anything else as a TLS error.
fn tls_error(e: std::io::Error) -> Error {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    if certificate { Error::TlsCertificateError } else { Error::Tls(e) }
}

/// A request body that failed (its byte budget, say) is reported as that
/// failure, not as the protocol error hyper wraps it in.
fn body_error(e: hyper::Error) -> Error {
    use std::error::Error as _;
    match e.source().and_then(|s| s.downcast_ref::<Error>()) {
        Some(Error::HttpRequestBodySize(limit)) => Error::HttpRequestBodySize(*limit),
        _ => Error::from(e),
    }
}

/// Sends `request` on a fresh connection and waits for the response head,
/// driving the connection meanwhile. Returns the response and the rest of
/// the connection's work (reading the body), to be polled by the caller.
pub(crate) async fn send(
    (mut sender, connection): Handshake,
    request: http::Request<WasiBody>,
    first_byte: Duration,
) -> Result<
    (http::Response<hyper::body::Incoming>, impl Future<Output = Result<(), Error>> + Send + use<>),
    Error,
> {
    let send = async move {
        tokio::time::timeout(first_byte, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(body_error)
    };
    let mut send = pin!(send);
    let mut connection = Some(connection);
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(conn) = connection.as_mut() else { return Poll::Pending };
            let finished = ready!(Pin::new(conn).poll(cx));
            connection = None;
            match finished {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }
    })
    .await?;
    Ok((response, async move {
        match connection {
            Some(conn) => conn.await.map_err(Error::from),
            None => Ok(()),
        }
    }))
}
