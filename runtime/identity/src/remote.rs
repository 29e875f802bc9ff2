//! An issuer's keys fetched over HTTPS and kept fresh: from an explicit
//! `jwks_uri` or by OIDC discovery from the `iss` itself.
//!
//! One background thread per issuer does every fetch, so verification
//! never starts a network exchange itself: it reads the last good key set,
//! and when a token names a `kid` the set lacks it may ask the thread for
//! one early refetch (at most one per [`RemoteSettings::refetch_interval`])
//! and wait for it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use crate::fetch::{Fetcher, HttpsUrl};
use crate::trust::{JwksKeys, KeySource, VerificationKey};
use crate::{KeysUnavailable, TrustError};

/// Where an issuer's keys are fetched from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLocation {
    /// A JWKS URL (`https://` only).
    JwksUri(String),
    /// OIDC discovery: `{iss}/.well-known/openid-configuration` names the
    /// `jwks_uri`. The document's `issuer` must equal `iss` exactly.
    Discovery,
}

/// How fetched keys are cached, refreshed and trusted.
#[derive(Clone, Debug)]
pub struct RemoteSettings {
    /// Shortest time a fetched set is used before the next scheduled
    /// refresh, whatever `Cache-Control` says (and the wait before retrying
    /// a failed fetch). Default 5 minutes.
    pub refresh_min: Duration,
    /// Longest time between scheduled refreshes, whatever `Cache-Control`
    /// says; also the refresh interval when it says nothing. Default 1 hour.
    pub refresh_max: Duration,
    /// At most one early refetch per this interval when tokens name a `kid`
    /// the set lacks, so unknown kids cannot make airlock hammer the issuer.
    /// Default 1 minute.
    pub refetch_interval: Duration,
    /// How long the last good set is used while every refresh fails. Past
    /// it, tokens of this issuer are refused (fail closed). Default 24 hours.
    pub max_stale: Duration,
    /// Time for one whole exchange (connect, TLS, answer). Default 10 s.
    pub timeout: Duration,
    /// The only CA certificates trusted for this issuer's TLS, if set;
    /// otherwise the webpki (Mozilla) roots.
    pub ca: Option<Vec<CertificateDer<'static>>>,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        Self {
            refresh_min: Duration::from_secs(5 * 60),
            refresh_max: Duration::from_secs(60 * 60),
            refetch_interval: Duration::from_secs(60),
            max_stale: Duration::from_secs(24 * 60 * 60),
            timeout: Duration::from_secs(10),
            ca: None,
        }
    }
}

impl RemoteSettings {
    /// Trusts only the CA certificates in `pem` (one or more `CERTIFICATE`
    /// blocks) for this issuer's TLS.
    pub fn trust_only_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        use rustls::pki_types::pem::PemObject;
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not PEM certificates: {e}"))?;
        if certificates.is_empty() {
            return Err("holds no `CERTIFICATE` block".to_owned());
        }
        self.ca = Some(certificates);
        Ok(())
    }

    /// Fails on settings that contradict each other or are zero.
    pub fn validate(&self) -> Result<(), String> {
        let named = [
            ("refresh_min", self.refresh_min),
            ("refresh_max", self.refresh_max),
            ("refetch_interval", self.refetch_interval),
            ("max_stale", self.max_stale),
            ("timeout", self.timeout),
        ];
        if let Some((name, _)) = named.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("`{name}` is zero"));
        }
        if self.refresh_min > self.refresh_max {
            return Err("`refresh_min` is longer than `refresh_max`".to_owned());
        }
        if self.max_stale < self.refresh_max {
            return Err(
                "`max_stale` is shorter than `refresh_max`: keys would go stale between refreshes".to_owned()
            );
        }
        Ok(())
    }
}

/// An issuer's keys from the network. The first fetch happens in
/// [`RemoteKeys::start`], so a wrong URL, CA or document fails at start;
/// later failures keep the last good set (for at most
/// [`RemoteSettings::max_stale`]) and are logged.
pub struct RemoteKeys {
    issuer: String,
    shared: Arc<Shared>,
    settings: RemoteSettings,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a fetch ends, a refetch is asked for, or on shutdown.
    changed: Condvar,
}

struct State {
    keys: Arc<[VerificationKey]>,
    /// When the set in `keys` was fetched; `None` before the first success.
    fetched_at: Option<Instant>,
    next_refresh: Instant,
    /// When a token's unknown `kid` last caused a fetch.
    last_refetch: Option<Instant>,
    fetching: bool,
    refetch_wanted: bool,
    /// Counts ended fetches, so waiters can tell theirs has ended.
    attempts: u64,
    last_error: Option<String>,
    shutdown: bool,
}

impl RemoteKeys {
    /// Starts the fetching thread for `issuer` and waits for the first
    /// fetch; its failure is the error.
    pub fn start(issuer: &str, location: KeyLocation, settings: RemoteSettings) -> Result<Self, TrustError> {
        let bad = |reason: String| TrustError::Jwks { issuer: issuer.to_owned(), reason };
        settings.validate().map_err(bad)?;
        let origin = match &location {
            KeyLocation::JwksUri(url) => url.clone(),
            KeyLocation::Discovery => discovery_url(issuer),
        };
        HttpsUrl::parse(&origin).map_err(|reason| match location {
            KeyLocation::Discovery => bad(format!("OIDC discovery needs an https:// `iss`: {reason}")),
            KeyLocation::JwksUri(_) => bad(reason),
        })?;
        let fetcher = Fetcher::new(settings.ca.as_deref(), settings.timeout).map_err(bad)?;
        let now = Instant::now();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                keys: Arc::from(Vec::new()),
                fetched_at: None,
                next_refresh: now,
                last_refetch: None,
                fetching: false,
                refetch_wanted: false,
                attempts: 0,
                last_error: None,
                shutdown: false,
            }),
            changed: Condvar::new(),
        });
        let worker = Worker {
            issuer: issuer.to_owned(),
            location,
            jwks_uri: None,
            fetcher,
            settings: settings.clone(),
            shared: shared.clone(),
        };
        std::thread::Builder::new()
            .name("airlock-issuer-keys".to_owned())
            .spawn(move || worker.run())
            .map_err(|e| bad(format!("cannot start the key fetcher: {e}")))?;
        let keys = Self { issuer: issuer.to_owned(), shared, settings };
        let state = keys.wait_for_attempt(0);
        if state.fetched_at.is_none() {
            let reason = state.last_error.clone().unwrap_or_else(|| "no answer".to_owned());
            return Err(bad(format!("cannot fetch keys: {reason}")));
        }
        drop(state);
        Ok(keys)
    }

    /// Waits until more than `seen` fetches have ended (bounded by the
    /// fetch timeout and a margin). In a multi-threaded tokio runtime the
    /// wait is announced, so the worker's other tasks move elsewhere.
    fn wait_for_attempt(&self, seen: u64) -> MutexGuard<'_, State> {
        let limit = self.settings.timeout + Duration::from_secs(1);
        let wait = || {
            let state = self.lock();
            self.shared
                .changed
                .wait_timeout_while(state, limit, |s| s.attempts <= seen && !s.shutdown)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn usable(&self, state: &State) -> Result<Arc<[VerificationKey]>, KeysUnavailable> {
        match state.fetched_at {
            Some(at) if at.elapsed() <= self.settings.max_stale => Ok(state.keys.clone()),
            Some(at) => Err(KeysUnavailable(format!(
                "the keys were last fetched {} s ago, longer than the {} s allowed ({})",
                at.elapsed().as_secs(),
                self.settings.max_stale.as_secs(),
                state.last_error.as_deref().unwrap_or("no refresh since")
            ))),
            None => Err(KeysUnavailable("no keys fetched yet".to_owned())),
        }
    }
}

impl KeySource for RemoteKeys {
    fn keys(&self) -> Result<Arc<[VerificationKey]>, KeysUnavailable> {
        self.usable(&self.lock())
    }

    fn refetch(&self) -> Option<Arc<[VerificationKey]>> {
        let mut state = self.lock();
        let seen = state.attempts;
        if !state.fetching && !state.refetch_wanted {
            let recent = state.last_refetch.is_some_and(|t| t.elapsed() < self.settings.refetch_interval);
            if recent {
                return None;
            }
            state.refetch_wanted = true;
            state.last_refetch = Some(Instant::now());
            self.shared.changed.notify_all();
        }
        drop(state);
        let state = self.wait_for_attempt(seen);
        self.usable(&state).ok()
    }
}

impl Drop for RemoteKeys {
    fn drop(&mut self) {
        self.lock().shutdown = true;
        self.shared.changed.notify_all();
    }
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// The fetching thread: sleeps until the next refresh is due or a refetch
/// is asked for, fetches, and publishes the result.
struct Worker {
    issuer: String,
    location: KeyLocation,
    /// The discovered (or configured) JWKS URL; rediscovered after a failure.
    jwks_uri: Option<String>,
    fetcher: Fetcher,
    settings: RemoteSettings,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(mut self) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                self.publish(Err(format!("cannot start the fetcher's runtime: {e}")));
                return;
            }
        };
        loop {
            let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if state.shutdown {
                    return;
                }
                let now = Instant::now();
                if state.refetch_wanted || state.next_refresh <= now {
                    break;
                }
                let sleep = state.next_refresh - now;
                state =
                    self.shared.changed.wait_timeout(state, sleep).unwrap_or_else(PoisonError::into_inner).0;
            }
            state.fetching = true;
            state.refetch_wanted = false;
            drop(state);
            let result = runtime.block_on(self.fetch());
            self.publish(result);
        }
    }

    fn publish(&self, result: Result<(JwksKeys, Option<Duration>), String>) {
        let now = Instant::now();
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok((keys, max_age)) => {
                let keys = keys.all();
                if kids(&keys) != kids(&state.keys) {
                    tracing::info!(issuer = %self.issuer, kids = ?kids(&keys), "issuer keys fetched");
                }
                let lifetime = max_age
                    .unwrap_or(self.settings.refresh_max)
                    .clamp(self.settings.refresh_min, self.settings.refresh_max);
                state.keys = keys;
                state.fetched_at = Some(now);
                state.next_refresh = now + lifetime;
                state.last_error = None;
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.issuer, error = %reason, "cannot refresh the issuer's keys; the last good set stays in use");
                state.next_refresh = now + self.settings.refresh_min;
                state.last_error = Some(reason);
            }
        }
        state.fetching = false;
        state.attempts += 1;
        self.shared.changed.notify_all();
    }

    /// Discovers the JWKS URL if needed, then fetches and checks the set
    /// with every check a JWKS file gets.
    async fn fetch(&mut self) -> Result<(JwksKeys, Option<Duration>), String> {
        let uri = match (&self.location, &self.jwks_uri) {
            (KeyLocation::JwksUri(uri), _) => uri.clone(),
            (KeyLocation::Discovery, Some(uri)) => uri.clone(),
            (KeyLocation::Discovery, None) => self.discover().await?,
        };
        let result = self.fetch_jwks(&uri).await;
        if result.is_err() {
            self.jwks_uri = None;
        }
        result
    }

    async fn fetch_jwks(&self, uri: &str) -> Result<(JwksKeys, Option<Duration>), String> {
        let fetched = self.fetcher.get(uri).await.map_err(|e| format!("{uri}: {e}"))?;
        let text = std::str::from_utf8(&fetched.body).map_err(|_| format!("{uri}: the JWKS is not UTF-8"))?;
        let keys = JwksKeys::from_json(&self.issuer, text).map_err(|e| format!("{uri}: {e}"))?;
        Ok((keys, fetched.max_age))
    }

    async fn discover(&mut self) -> Result<String, String> {
        let url = discovery_url(&self.issuer);
        let fetched = self.fetcher.get(&url).await.map_err(|e| format!("OIDC discovery {url}: {e}"))?;
        let document: Discovery = serde_json::from_slice(&fetched.body)
            .map_err(|e| format!("OIDC discovery {url}: not a discovery document: {e}"))?;
        if document.issuer != self.issuer {
            return Err(format!(
                "OIDC discovery {url}: the document is for issuer `{}`, not `{}`",
                airlock_policy::text::excerpt(&document.issuer, 128),
                self.issuer
            ));
        }
        HttpsUrl::parse(&document.jwks_uri).map_err(|e| format!("OIDC discovery {url}: `jwks_uri` {e}"))?;
        self.jwks_uri = Some(document.jwks_uri.clone());
        Ok(document.jwks_uri)
    }
}

/// The part of an OIDC discovery document airlock reads.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// `{iss}/.well-known/openid-configuration` (OIDC Discovery 1.0, §4).
fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

fn kids(keys: &[VerificationKey]) -> Vec<Option<&str>> {
    keys.iter().map(|k| k.kid.as_deref()).collect()
}
