//! Who is calling: a verified principal, until its token expires, with the
//! policy decisions already taken for it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use airlock_identity::{KeyId, TokenError, Verified, Verifier};
use airlock_policy::Principal;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::pipeline::Authorized;

/// A verified caller. Policy is decided once per caller and tool (the
/// principal, the tool and the policies are all fixed for the caller's
/// lifetime) and reused by every later request with the same token.
pub struct Caller {
    principal: Principal,
    expires_at: u64,
    key: KeyId,
    /// By tool name: the decision and the gateway (its policy set) that took it.
    decisions: Mutex<HashMap<String, (u64, Arc<Authorized>)>>,
    log_level: AtomicU8,
}

impl Caller {
    /// A caller from a verified token.
    pub fn new(verified: Verified) -> Self {
        Self {
            principal: verified.principal,
            expires_at: verified.expires_at,
            key: verified.key,
            decisions: Mutex::default(),
            log_level: AtomicU8::new(0),
        }
    }

    /// The log level this caller's client asked tool log lines to be sent
    /// at (a door's own numbering, such as MCP's `logging/setLevel`; 0:
    /// never asked, nothing is sent). Kept with the verified token, so it
    /// lasts as long as the token and is never another caller's.
    pub fn log_level(&self) -> &AtomicU8 {
        &self.log_level
    }

    /// Who it is.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// When its token expires (seconds since the epoch).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether the token has expired, allowing `skew_secs` of clock skew
    /// (the verifier's setting).
    pub fn expired(&self, skew_secs: u64) -> bool {
        unix_now() >= self.expires_at.saturating_add(skew_secs)
    }

    /// The decision gateway `policy_set` took for `tool`, if remembered: a
    /// decision of another gateway (before a reload) is never reused.
    pub(crate) fn decision(&self, policy_set: u64, tool: &str) -> Option<Arc<Authorized>> {
        let decisions = self.decisions.lock().unwrap_or_else(PoisonError::into_inner);
        decisions.get(tool).filter(|(taken_by, _)| *taken_by == policy_set).map(|(_, known)| known.clone())
    }

    pub(crate) fn remember(&self, policy_set: u64, tool: &str, authorized: Arc<Authorized>) {
        let mut decisions = self.decisions.lock().unwrap_or_else(PoisonError::into_inner);
        decisions.insert(tool.to_owned(), (policy_set, authorized));
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("sub", &self.principal.sub())
            .field("iss", &self.principal.iss())
            .finish()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Most distinct live tokens remembered at once. Past it, expired entries
/// are dropped first, then the ones closest to expiry.
const MAX_REMEMBERED_TOKENS: usize = 65_536;

/// Verifies tokens into [`Caller`]s: the one place a token is verified.
///
/// A token is verified in full the first time it is presented (signature,
/// issuer, audience, lifetime; its `jti` is recorded as used), and the
/// result is remembered under the token's SHA-256 until the token expires:
/// within its lifetime a token is a bearer credential for this server, as
/// OAuth access tokens are. A different token reusing a recorded `jti` is
/// refused as a replay. A remembered token is refused as soon as the key
/// that verified it is withdrawn by its issuer. Tokens are never stored,
/// only their hashes.
pub struct Callers {
    verifier: RwLock<Arc<Verifier>>,
    known: Mutex<HashMap<[u8; 32], Arc<Caller>>>,
    metrics: Option<Arc<Metrics>>,
    /// Tokens are bearer credentials presented on every request (HTTP),
    /// not used once (a stdio launch, a run).
    bearer: bool,
}

impl Callers {
    /// Verification with `verifier`.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier: RwLock::new(verifier), known: Mutex::default(), metrics: None, bearer: false }
    }

    /// The same, for bearer tokens presented on every request: with a
    /// replay record shared by a fleet, a token verified by one replica is
    /// accepted by the others for its lifetime (another token reusing its
    /// `jti` is still a replay everywhere).
    pub fn bearer(mut self) -> Self {
        self.bearer = true;
        self
    }

    /// The same, counting refused tokens by reason in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The metrics refusals are counted in, if any.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// The verifier in force (for the audience and the trusted issuers).
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Verifies with `verifier` from now on (a reloaded trust
    /// configuration). Remembered tokens stay valid only while their
    /// issuer is trusted and the key that verified them is among its keys;
    /// if the audience changed, none stays.
    pub fn replace_verifier(&self, verifier: Arc<Verifier>) {
        let mut current = self.verifier.write().unwrap_or_else(PoisonError::into_inner);
        if current.settings().audience != verifier.settings().audience {
            self.known.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        *current = verifier;
    }

    /// Whether `caller`, verified earlier, may still be served: its token
    /// has not expired, and its issuer is still trusted with the key that
    /// verified it (an issuer withdraws a key after a compromise; the
    /// token goes with it).
    pub fn still_valid(&self, caller: &Caller) -> Result<(), TokenError> {
        valid_under(&self.verifier(), caller)
    }

    /// The caller `token` identifies, or why it is refused.
    pub fn caller(&self, token: &str) -> Result<Arc<Caller>, TokenError> {
        let found = self.find(token);
        if let (Err(refused), Some(metrics)) = (&found, &self.metrics) {
            metrics.token_refused(refused.kind());
        }
        found
    }

    fn find(&self, token: &str) -> Result<Arc<Caller>, TokenError> {
        let key = token_hash(token);
        let verifier = self.verifier();
        let skew = verifier.settings().clock_skew.as_secs();
        {
            let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(caller) = known.get(&key) {
                if let Err(refused) = valid_under(&verifier, caller) {
                    known.remove(&key);
                    return Err(refused);
                }
                return Ok(caller.clone());
            }
        }
        let verified = if self.bearer { verifier.verify_bearer(token)? } else { verifier.verify(token)? };
        let caller = Arc::new(Caller::new(verified));
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= MAX_REMEMBERED_TOKENS {
            make_room(&mut known, skew);
        }
        known.insert(key, caller.clone());
        Ok(caller)
    }
}

/// [`Callers::still_valid`] under `verifier`.
fn valid_under(verifier: &Verifier, caller: &Caller) -> Result<(), TokenError> {
    if caller.expired(verifier.settings().clock_skew.as_secs()) {
        return Err(TokenError::Expired);
    }
    let iss = caller.principal.iss();
    if verifier.trust().source(iss).is_none() {
        return Err(TokenError::UnknownIssuer(iss.to_owned()));
    }
    if !verifier.key_in_force(iss, caller.key) {
        return Err(TokenError::KeyWithdrawn(iss.to_owned()));
    }
    Ok(())
}

/// Drops expired entries; if that frees nothing, the tenth closest to expiry.
fn make_room(known: &mut HashMap<[u8; 32], Arc<Caller>>, skew: u64) {
    known.retain(|_, caller| !caller.expired(skew));
    if known.len() < MAX_REMEMBERED_TOKENS {
        return;
    }
    let mut expiries: Vec<u64> = known.values().map(|c| c.expires_at()).collect();
    let cut = expiries.len() / 10;
    let (_, threshold, _) = expiries.select_nth_unstable(cut);
    let threshold = *threshold;
    known.retain(|_, caller| caller.expires_at() > threshold);
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
