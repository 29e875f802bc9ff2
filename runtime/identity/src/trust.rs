//! Trusted issuers and their verification keys.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest, Sha256};

use crate::{KeysUnavailable, TrustError};

/// The only signature algorithms airlock accepts: asymmetric, widely
/// deployed, and free of the `none`/HMAC confusion classes.
pub const ACCEPTED_ALGORITHMS: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];

/// One public key an issuer signs with.
#[derive(Clone)]
pub struct VerificationKey {
    /// The JWK `kid`, if the key has one.
    pub kid: Option<String>,
    /// The one algorithm this key verifies. A token whose header names any
    /// other algorithm is refused before its signature is checked.
    pub algorithm: Algorithm,
    pub(crate) key: DecodingKey,
    /// SHA-256 of the JWK as published: tells a key apart from a different
    /// key published later under the same `kid`.
    pub(crate) thumbprint: [u8; 32],
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey").field("kid", &self.kid).field("algorithm", &self.algorithm).finish()
    }
}

/// Where an issuer's keys come from: a JWKS file read at start
/// ([`JwksKeys`]) or a JWKS fetched and refreshed over HTTPS
/// ([`RemoteKeys`](crate::RemoteKeys)).
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// Every key in force, for selection by `kid`, or why none may be used
    /// (a fetched set too long without a refresh): then every token of the
    /// issuer is refused.
    fn keys(&self) -> Result<Arc<[VerificationKey]>, KeysUnavailable>;

    /// A token names a `kid` that [`KeySource::keys`] lacks: a source that
    /// can fetch may fetch again now (rate-limited) and return the new set.
    /// Default: nothing new.
    fn refetch(&self) -> Option<Arc<[VerificationKey]>> {
        None
    }
}

/// A fixed set of keys parsed from a JWKS document.
#[derive(Debug)]
pub struct JwksKeys {
    keys: Arc<[VerificationKey]>,
}

impl JwksKeys {
    /// Parses a JWKS (`{"keys": [...]}`). Every key must be an Ed25519 (OKP),
    /// P-256 (EC) or RSA public key with a `kid` when there is more than one;
    /// symmetric (`oct`) keys, other curves, keys marked for encryption and
    /// private keys are refused, so a misconfigured JWKS fails at start
    /// rather than widening what verifies.
    pub fn from_json(issuer: &str, text: &str) -> Result<Self, TrustError> {
        let bad = |reason: String| TrustError::Jwks { issuer: issuer.to_owned(), reason };
        let raw: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        if let Some(keys) = raw.get("keys").and_then(|k| k.as_array())
            && let Some(i) = keys.iter().position(|k| k.get("d").is_some())
        {
            return Err(bad(format!(
                "key {i} contains private key material (`d`); publish only public keys"
            )));
        }
        let set: JwkSet = serde_json::from_value(raw).map_err(|e| bad(format!("not a JWKS: {e}")))?;
        if set.keys.is_empty() {
            return Err(bad("no keys".to_owned()));
        }
        let keys = set
            .keys
            .iter()
            .enumerate()
            .map(|(i, jwk)| key_from_jwk(jwk).map_err(|reason| bad(format!("key {i}: {reason}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
            return Err(bad("every key needs a `kid` when the set has more than one".to_owned()));
        }
        for (i, key) in keys.iter().enumerate() {
            if key.kid.is_some() && keys[..i].iter().any(|k| k.kid == key.kid) {
                return Err(bad(format!("duplicate kid {:?}", key.kid.as_deref().unwrap_or_default())));
            }
        }
        Ok(Self { keys: keys.into() })
    }

    /// The keys.
    pub fn all(&self) -> Arc<[VerificationKey]> {
        self.keys.clone()
    }
}

impl KeySource for JwksKeys {
    fn keys(&self) -> Result<Arc<[VerificationKey]>, KeysUnavailable> {
        Ok(self.keys.clone())
    }
}

fn key_from_jwk(jwk: &Jwk) -> Result<VerificationKey, String> {
    if jwk.common.public_key_use == Some(jsonwebtoken::jwk::PublicKeyUse::Encryption) {
        return Err("marked for encryption (`use: enc`), not signatures".to_owned());
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::OctetKey(_) => {
            return Err(
                "symmetric (`oct`) keys are refused: only EdDSA, ES256 and RS256 are accepted".to_owned()
            );
        }
        _ => return Err("unsupported key type or curve: only Ed25519, P-256 and RSA are accepted".to_owned()),
    };
    let declared = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(other) => return Err(format!("algorithm {other:?} is not accepted (EdDSA, ES256, RS256 only)")),
    };
    if declared.is_some_and(|d| d != algorithm) {
        return Err(format!("`alg` {declared:?} does not match the key type ({algorithm:?})"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("invalid key: {e}"))?;
    let published = serde_json::to_vec(jwk).map_err(|e| format!("invalid key: {e}"))?;
    let thumbprint = Sha256::digest(&published).into();
    Ok(VerificationKey { kid: jwk.common.key_id.clone(), algorithm, key, thumbprint })
}

/// The issuers this runtime trusts, by exact `iss` value.
#[derive(Debug, Default)]
pub struct TrustStore {
    issuers: HashMap<String, Box<dyn KeySource>>,
}

impl TrustStore {
    /// An empty store: every token is refused as from an unknown issuer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `issuer` (compared exactly with a token's `iss`) with `keys`.
    pub fn add(&mut self, issuer: &str, keys: Box<dyn KeySource>) -> Result<(), TrustError> {
        if issuer.is_empty() {
            return Err(TrustError::Config("an issuer's `iss` is empty".to_owned()));
        }
        if self.issuers.insert(issuer.to_owned(), keys).is_some() {
            return Err(TrustError::Config(format!("issuer `{issuer}` is listed twice")));
        }
        Ok(())
    }

    /// Where `issuer`'s keys come from, if it is trusted.
    pub fn source(&self, issuer: &str) -> Option<&dyn KeySource> {
        self.issuers.get(issuer).map(|source| source.as_ref())
    }

    /// The trusted issuers, sorted.
    pub fn issuers(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.issuers.keys().map(String::as_str).collect();
        all.sort_unstable();
        all
    }
}
