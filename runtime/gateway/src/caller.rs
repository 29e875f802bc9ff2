//! Who is calling: a verified principal, until its token expires, with the
//! policy decisions already taken for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use airlock_identity::Verified;
use airlock_policy::Principal;

use crate::pipeline::Authorized;

/// A verified caller. Policy is decided once per caller and tool (the
/// principal, the tool and the policies are all fixed for the caller's
/// lifetime) and reused by every later request with the same token.
pub struct Caller {
    principal: Principal,
    expires_at: u64,
    decisions: Mutex<HashMap<String, Arc<Authorized>>>,
}

impl Caller {
    /// A caller from a verified token.
    pub fn new(verified: Verified) -> Self {
        Self { principal: verified.principal, expires_at: verified.expires_at, decisions: Mutex::default() }
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

    pub(crate) fn decision(&self, tool: &str) -> Option<Arc<Authorized>> {
        self.decisions.lock().unwrap_or_else(PoisonError::into_inner).get(tool).cloned()
    }

    pub(crate) fn remember(&self, tool: &str, authorized: Arc<Authorized>) {
        self.decisions.lock().unwrap_or_else(PoisonError::into_inner).insert(tool.to_owned(), authorized);
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
