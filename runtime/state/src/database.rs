//! The connection pool and the bridge from airlock's synchronous callers
//! (token verification) to the asynchronous PostgreSQL client.
//!
//! The pool lives on a small runtime of its own, so an operation can be
//! started from any thread: a server's async worker (which announces the
//! wait with `block_in_place`), a blocking thread, or a one-shot command.

use std::future::Future;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StateError;

/// Where the shared state is and how long an operation may take.
#[derive(Clone)]
pub struct DatabaseSettings {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?...]`. Never
    /// logged or shown: errors name the host, port and database only.
    pub url: String,
    /// The schema airlock's tables live in (created if missing). Default
    /// `airlock`. A plain lowercase identifier.
    pub schema: String,
    /// Longest an operation may take, connecting included; past it the
    /// operation fails (and a token is refused). Default 5 s.
    pub timeout: Duration,
    /// Most connections this process opens. Default 16.
    pub max_connections: usize,
    /// The only CA certificates (PEM) trusted for the database's TLS, if
    /// set; otherwise the webpki (Mozilla) roots. TLS is used when the URL
    /// says `sslmode=require`, and then the server's certificate is always
    /// verified, its name included.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("schema", &self.schema)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DatabaseSettings {
    /// Defaults for `url`.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            schema: "airlock".to_owned(),
            timeout: Duration::from_secs(5),
            max_connections: 16,
            ca_pem: None,
        }
    }
}

/// A pool of connections to the state database.
pub struct Database {
    pool: Pool,
    runtime: Option<tokio::runtime::Runtime>,
    target: String,
    schema: String,
    timeout: Duration,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Database {
    /// Checks the settings and makes the pool. Nothing connects yet: the
    /// first operation does (see [`crate::migrate`]).
    pub fn open(settings: &DatabaseSettings) -> Result<Self, StateError> {
        let schema = &settings.schema;
        let plain = !schema.is_empty()
            && schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(StateError::Config(format!(
                "schema `{schema}` is not a plain lowercase identifier (a-z, 0-9, _; at most 63)"
            )));
        }
        let mut config = tokio_postgres::Config::from_str(&settings.url)
            .map_err(|e| StateError::Config(format!("the database URL does not parse: {e}")))?;
        if config.get_dbname().is_none() {
            return Err(StateError::Config("the database URL names no database".to_owned()));
        }
        config.options(format!("-c search_path={schema}"));
        config.connect_timeout(settings.timeout);
        let target = format!("{} (schema {schema})", describe(&config));
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = if config.get_ssl_mode() == SslMode::Require {
            let tls = MakeRustlsConnect::new(client_tls(settings.ca_pem.as_deref())?);
            Manager::from_config(config, tls, manager_config)
        } else if on_this_machine(&config) {
            config.ssl_mode(SslMode::Disable);
            Manager::from_config(config, NoTls, manager_config)
        } else {
            return Err(StateError::Config(format!(
                "the state database {target} is not on this machine: its traffic (token ids, approvals, audit records) needs TLS; add `sslmode=require` to the URL"
            )));
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("airlock-state")
            .enable_all()
            .build()
            .map_err(|e| StateError::Config(format!("cannot start the database runtime: {e}")))?;
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .build()
            .map_err(|e| StateError::Config(format!("cannot make the connection pool: {e}")))?;
        Ok(Self { pool, runtime: Some(runtime), target, schema: schema.clone(), timeout: settings.timeout })
    }

    /// `host:port/database (schema S)`: what errors and logs name.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The schema airlock's tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Whether the database answers now (a `SELECT 1` within the
    /// configured time): what readiness checks ask.
    pub fn ping(&self) -> Result<(), StateError> {
        self.run(|client| async move { client.simple_query("SELECT 1").await.map(drop) })
    }

    /// Runs `operation` with a pooled connection on the database's runtime
    /// and waits for it, at most the configured time.
    pub fn run<T, F, Fut>(&self, operation: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, tokio_postgres::Error>> + Send,
    {
        let runtime = self.runtime.as_ref().ok_or_else(|| self.failed("the database runtime stopped"))?;
        let (pool, limit, target) = (self.pool.clone(), self.timeout, self.target.clone());
        let (done, answer) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let work = async {
                let client = pool.get().await.map_err(|e| failed(&target, &e.to_string()))?;
                operation(client).await.map_err(|e| failed(&target, &describe_error(&e)))
            };
            let result = tokio::time::timeout(limit, work)
                .await
                .unwrap_or_else(|_| Err(StateError::Timeout { target, seconds: limit.as_secs() }));
            let _ = done.send(result);
        });
        let wait = || {
            answer.recv_timeout(limit + Duration::from_secs(1)).unwrap_or_else(|_| {
                Err(StateError::Timeout { target: self.target.clone(), seconds: limit.as_secs() })
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    fn failed(&self, reason: &str) -> StateError {
        failed(&self.target, reason)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Dropping a runtime may block; this may run on an async worker.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// TLS that trusts only `ca_pem` if given, else the webpki roots.
fn client_tls(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, StateError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let certificates = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StateError::Config(format!("`ca` is not PEM certificates: {e}")))?;
            if certificates.is_empty() {
                return Err(StateError::Config("`ca` holds no `CERTIFICATE` block".to_owned()));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|e| StateError::Config(format!("`ca`: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StateError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Whether every host the URL names is this machine (loopback or a Unix
/// socket): plaintext never leaves it.
fn on_this_machine(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => {
            name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    })
}

fn failed(target: &str, reason: &str) -> StateError {
    StateError::Database { target: target.to_owned(), reason: reason.to_owned() }
}

/// The database error's own message, with its detail when it has one.
fn describe_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// `host:port/database`, without user or password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or_default())
}
