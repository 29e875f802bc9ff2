//! TLS for the HTTP server (rustls): the certificate chain and key from PEM
//! files, checked at start and on every reload, and a listener that
//! completes handshakes off the accept loop.
//!
//! Security: a certificate outside its validity period, a key that does not
//! match it, or a file without the PEM item needed stops the server at
//! start with a message naming the file; nothing is served in clear text
//! instead. Only TLS 1.2 and 1.3 with rustls' safe defaults; HTTP/1.1 is
//! the one protocol offered (ALPN).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::TlsError;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait to start
/// theirs, so a flood of slow clients cannot take unbounded memory.
const MAX_HANDSHAKES: usize = 256;

/// The server's certificate and key files, and what was last loaded from
/// them: [`TlsCertificate::reload`] swaps in a new pair for the handshakes
/// that follow; connections already open keep theirs.
pub struct TlsCertificate {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<Current>,
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for TlsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCertificate").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

impl TlsCertificate {
    /// Loads `cert` (PEM: the certificate, then any intermediates) and `key`
    /// (PEM: PKCS#8, PKCS#1 or SEC1), checked against the clock now.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let current = Arc::new(Current(RwLock::new(certified_key(cert, key)?)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { cert: cert.to_owned(), key: key.to_owned(), current, config: Arc::new(config) })
    }

    /// The rustls configuration to serve with.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// Reads the files again; the new pair serves the next handshakes. On
    /// any error the pair in use stays, and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = certified_key(&self.cert, &self.key)?;
        *self.current.0.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// The pair handshakes use now.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

/// The checked pair from `cert` and `key`.
fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let file_error =
        |file: &Path, reason: String| TlsError::File { file: file.display().to_string(), reason };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, format!("cannot read certificates ({e})")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, format!("not a PEM certificate ({e})")))?;
    let Some(leaf) = chain.first() else {
        return Err(file_error(
            cert,
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    };
    check_validity(cert, leaf, SystemTime::now())?;
    let key_file = key;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| file_error(key_file, format!("holds no usable private key ({e})")))?;
    let provider = rustls::crypto::ring::default_provider();
    let pair = CertifiedKey::from_der(chain, key, &provider).map_err(|e| TlsError::File {
        file: key_file.display().to_string(),
        reason: format!("cannot serve with the certificate in {} ({e})", cert.display()),
    })?;
    Ok(Arc::new(pair))
}

/// Refuses a leaf certificate that is expired or not valid yet at `now`.
fn check_validity(file: &Path, leaf: &CertificateDer<'_>, now: SystemTime) -> Result<(), TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| TlsError::File {
        file: file.display().to_string(),
        reason: format!("the certificate does not parse ({e})"),
    })?;
    let validity = parsed.validity();
    let seconds = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let now = i64::try_from(seconds).unwrap_or(i64::MAX);
    let when = if now > validity.not_after.timestamp() {
        "expired"
    } else if now < validity.not_before.timestamp() {
        "not valid yet"
    } else {
        return Ok(());
    };
    Err(TlsError::NotValidNow {
        file: file.display().to_string(),
        when,
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
    })
}

/// A listener whose connections have completed their TLS handshake. A
/// background task accepts TCP connections and runs each handshake on its
/// own task (at most [`MAX_HANDSHAKES`] at once, each within
/// [`HANDSHAKE_TIMEOUT`]); a failed one is dropped and logged at debug.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener` with `config`.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(MAX_HANDSHAKES);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local, accepting })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended (the runtime is shutting down).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
