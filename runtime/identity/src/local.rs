//! A local issuer: an Ed25519 key pair that mints short-lived tokens, so a
//! developer, the demo and the tests need no identity service.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use airlock_policy::{Principal, PrincipalError};

use crate::replay::now;

/// Why a key could not be created, read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system gave no randomness.
    #[error("no randomness available: {0}")]
    Random(String),
    /// The key file is not a PKCS#8 Ed25519 private key in PEM.
    #[error("not an Ed25519 private key (PKCS#8 PEM): {0}")]
    Format(String),
    /// Minting failed.
    #[error("cannot mint token: {0}")]
    Mint(String),
    /// The claims would be refused by the verifier (an empty or
    /// unprintable `sub` or `iss`, a malformed `act` chain, ...).
    #[error("cannot mint token: {0}")]
    Claims(#[from] PrincipalError),
}

/// An Ed25519 signing key with its key id (the first 16 hex digits of the
/// SHA-256 of the public key).
pub struct LocalKey {
    signing: SigningKey,
    kid: String,
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// What to put in a minted token.
#[derive(Clone, Debug)]
pub struct MintRequest {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// `sub`.
    pub subject: String,
    /// `exp - iat`.
    pub ttl: Duration,
    /// Further claims. Registered claims set above win over these.
    pub claims: Map<String, Value>,
}

impl LocalKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = Self::from_signing(SigningKey::from_bytes(&seed));
        seed.fill(0);
        Ok(key)
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem).map(Self::from_signing).map_err(|e| KeyError::Format(e.to_string()))
    }

    fn from_signing(signing: SigningKey) -> Self {
        let digest = Sha256::digest(signing.verifying_key().as_bytes());
        let kid = hex::encode(&digest[..8]);
        Self { signing, kid }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM. Store it readable by its owner only.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.signing
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::Format(e.to_string()))
    }

    /// The public key as a JWKS document, for the runtime's trust config.
    pub fn jwks(&self) -> Value {
        use base64::Engine;
        let x =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes());
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]})
    }

    /// Mints a token: EdDSA, this key's `kid`, `iat` and `nbf` now, `exp`
    /// now + ttl, a random 128-bit `jti`. Claims the verifier would refuse
    /// (see [`Principal::from_claims`]) are refused here, with its reason.
    pub fn mint(&self, request: &MintRequest) -> Result<String, KeyError> {
        Principal::from_claims(&request.subject, &request.issuer, &request.claims)?;
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| KeyError::Random(e.to_string()))?;
        let now = now();
        let mut claims = request.claims.clone();
        for (name, value) in [
            ("iss", json!(request.issuer)),
            ("aud", json!(request.audience)),
            ("sub", json!(request.subject)),
            ("iat", json!(now)),
            ("nbf", json!(now)),
            ("exp", json!(now + request.ttl.as_secs())),
            ("jti", json!(hex::encode(jti))),
        ] {
            claims.insert(name.to_owned(), value);
        }
        self.sign(&Value::Object(claims))
    }

    /// Signs arbitrary claims as they are (for tests of the verifier's
    /// refusals: expired, over-lifetime, missing claims).
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let der = self.signing.to_pkcs8_der().map_err(|e| KeyError::Format(e.to_string()))?;
        let key = EncodingKey::from_ed_der(der.as_bytes());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| KeyError::Mint(e.to_string()))
    }
}
