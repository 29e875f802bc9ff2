//! Token verification: from a compact JWT to a [`Principal`].

use std::time::Duration;

use airlock_policy::text::{excerpt, has_unprintable};
use airlock_policy::{Principal, PrincipalError};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use sha2::{Digest, Sha256};

use crate::replay::{Reuse, now};
use crate::trust::{ACCEPTED_ALGORITHMS, VerificationKey};
use crate::{ReplayCache, TokenError, TrustError, TrustStore};

/// Longest token accepted, in bytes. Real agent and CI tokens are 1–2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Default and largest clock skew tolerated on `exp`, `nbf` and `iat`.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Default maximum token lifetime (`exp - iat`).
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How much of a name taken from an unverified token an error shows.
const SHOWN_CHARS: usize = 128;

/// What a token must satisfy besides a valid signature from a trusted issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierSettings {
    /// This runtime's audience. A token's `aud` must be exactly this value
    /// (a single string, or an array holding only it).
    pub audience: String,
    /// Longest `exp - iat` accepted. Default 15 minutes: longer-lived tokens
    /// are long-lived secrets and are refused.
    pub max_lifetime: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default and maximum 60 s.
    pub clock_skew: Duration,
}

impl VerifierSettings {
    /// Defaults for `audience`.
    pub fn new(audience: &str) -> Self {
        Self { audience: audience.to_owned(), max_lifetime: DEFAULT_MAX_LIFETIME, clock_skew: MAX_CLOCK_SKEW }
    }

    /// Fails if the audience is empty, the skew exceeds [`MAX_CLOCK_SKEW`]
    /// or the lifetime is zero.
    pub fn validate(&self) -> Result<(), TrustError> {
        if self.audience.is_empty() {
            return Err(TrustError::Config("the runtime audience is empty".to_owned()));
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(TrustError::Config(format!(
                "clock skew {}s exceeds the maximum of {}s",
                self.clock_skew.as_secs(),
                MAX_CLOCK_SKEW.as_secs()
            )));
        }
        if self.max_lifetime.is_zero() {
            return Err(TrustError::Config("the maximum token lifetime is zero".to_owned()));
        }
        Ok(())
    }
}

/// A verified token: the principal and what single use is tracked by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Who is calling.
    pub principal: Principal,
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp` (seconds since the epoch).
    pub expires_at: u64,
    /// Which of the issuer's keys verified it (see [`Verifier::key_in_force`]).
    pub key: KeyId,
}

/// Names the issuer key that verified a token, without holding the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyId([u8; 32]);

/// Verifies agent tokens against a [`TrustStore`] and records their single
/// use in a [`ReplayCache`].
#[derive(Debug)]
pub struct Verifier {
    trust: TrustStore,
    settings: VerifierSettings,
    replay: ReplayCache,
}

#[derive(Deserialize)]
struct Unverified {
    iss: Option<Value>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: Value,
    exp: u64,
    iat: Option<u64>,
    jti: Option<String>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl Verifier {
    /// A verifier. Fails if the audience is empty or the skew exceeds
    /// [`MAX_CLOCK_SKEW`].
    pub fn new(
        trust: TrustStore,
        settings: VerifierSettings,
        replay: ReplayCache,
    ) -> Result<Self, TrustError> {
        settings.validate()?;
        Ok(Self { trust, settings, replay })
    }

    /// The settings in force.
    pub fn settings(&self) -> &VerifierSettings {
        &self.settings
    }

    /// The trust store.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// Verifies `token` and consumes its `jti`: a second call with the same
    /// token (or another token with the same issuer and `jti`) fails with
    /// [`TokenError::Replayed`].
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        self.verify_as(token, false)
    }

    /// [`Verifier::verify`] for a bearer token, presented again and again
    /// for its lifetime: with a shared replay record, the very same token
    /// verifies on every process using it (replicas behind a load
    /// balancer), while another token reusing its `jti` is a replay.
    pub fn verify_bearer(&self, token: &str) -> Result<Verified, TokenError> {
        self.verify_as(token, true)
    }

    fn verify_as(&self, token: &str, bearer: bool) -> Result<Verified, TokenError> {
        let verified = self.inspect(token)?;
        let forget_after = verified.expires_at.saturating_add(self.settings.clock_skew.as_secs());
        let reuse = if bearer {
            Reuse::SameToken(Sha256::digest(token.trim().as_bytes()).into())
        } else {
            Reuse::Never
        };
        self.replay.consume_as(verified.principal.iss(), &verified.jti, reuse, forget_after)?;
        Ok(verified)
    }

    /// Every check of [`Verifier::verify`] except single use: the `jti` is
    /// neither checked nor consumed. For explaining decisions, never for
    /// authorising a call.
    pub fn inspect(&self, token: &str) -> Result<Verified, TokenError> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!("longer than {MAX_TOKEN_BYTES} bytes")));
        }
        if token.split('.').count() != 3 {
            return Err(TokenError::Malformed("not a compact JWS (three dot-separated parts)".to_owned()));
        }
        let alg = header_algorithm(token)?;
        if !alg.parse::<Algorithm>().is_ok_and(|a| ACCEPTED_ALGORITHMS.contains(&a)) {
            return Err(TokenError::Algorithm(format!("`{alg}` (accepted: EdDSA, ES256, RS256)")));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| malformed("header", &e))?;
        // The issuer selects the keys; it is checked again, signed, below.
        let unverified: Unverified =
            jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|e| malformed("claims", &e))?;
        let issuer = match unverified.iss {
            Some(Value::String(iss)) if has_unprintable(&iss) => {
                return Err(PrincipalError::Unprintable("iss").into());
            }
            Some(Value::String(iss)) => iss,
            Some(_) => return Err(TokenError::Malformed("claim `iss` must be a string".to_owned())),
            None => return Err(TokenError::Malformed("missing required claim `iss`".to_owned())),
        };
        // Both names come from an unverified token: shown cut and escaped.
        let source = self
            .trust
            .source(&issuer)
            .ok_or_else(|| TokenError::UnknownIssuer(excerpt(&issuer, SHOWN_CHARS).into_owned()))?;
        let keys =
            source.keys().map_err(|e| TokenError::KeysUnavailable { issuer: issuer.clone(), reason: e.0 })?;
        // A kid the set lacks may be a key the issuer has just rotated in.
        let keys = match select_key(&keys, header.kid.as_deref()) {
            Some(_) => keys,
            None => source.refetch().unwrap_or(keys),
        };
        let key = select_key(&keys, header.kid.as_deref()).ok_or_else(|| TokenError::UnknownKey {
            issuer: issuer.clone(),
            kid: header
                .kid
                .as_deref()
                .map_or("(none)".to_owned(), |k| format!("`{}`", excerpt(k, SHOWN_CHARS))),
        })?;
        if key.algorithm != header.alg {
            return Err(TokenError::Algorithm(format!(
                "header says {:?} but key {} is {:?}",
                header.alg,
                key.kid.as_deref().unwrap_or("(no kid)"),
                key.algorithm
            )));
        }
        let claims = self.decode(token, key, &issuer)?;
        self.check(claims, KeyId(key.thumbprint))
    }

    /// Whether the key that verified a token is still among its issuer's
    /// keys in force: false once the issuer has withdrawn it, or when the
    /// issuer's keys are unavailable.
    pub fn key_in_force(&self, issuer: &str, key: KeyId) -> bool {
        self.trust
            .source(issuer)
            .and_then(|source| source.keys().ok())
            .is_some_and(|keys| keys.iter().any(|k| k.thumbprint == key.0))
    }

    fn decode(&self, token: &str, key: &VerificationKey, issuer: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = self.settings.clock_skew.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.set_audience(&[&self.settings.audience]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid("`nbf` is in the future"),
                ErrorKind::InvalidAudience => {
                    TokenError::WrongAudience { expected: self.settings.audience.clone() }
                }
                ErrorKind::InvalidIssuer => TokenError::UnknownIssuer(issuer.to_owned()),
                ErrorKind::InvalidAlgorithm
                | ErrorKind::MissingAlgorithm
                | ErrorKind::UnsupportedAlgorithm => TokenError::Algorithm(e.to_string()),
                ErrorKind::MissingRequiredClaim(claim) => {
                    TokenError::Malformed(format!("missing required claim `{claim}`"))
                }
                ErrorKind::InvalidClaimFormat(claim) => {
                    TokenError::Malformed(format!("claim `{claim}` has the wrong type"))
                }
                _ => malformed("token", &e),
            }),
        }
    }

    /// The checks jsonwebtoken does not make.
    fn check(&self, claims: Claims, key: KeyId) -> Result<Verified, TokenError> {
        let skew = self.settings.clock_skew.as_secs();
        let audience_ok = match &claims.aud {
            Value::String(aud) => aud == &self.settings.audience,
            Value::Array(all) => all.len() == 1 && all[0].as_str() == Some(self.settings.audience.as_str()),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience { expected: self.settings.audience.clone() });
        }
        let iat =
            claims.iat.ok_or_else(|| TokenError::Malformed("missing required claim `iat`".to_owned()))?;
        if iat > now().saturating_add(skew) {
            return Err(TokenError::NotYetValid("`iat` is in the future"));
        }
        let lifetime = claims.exp.saturating_sub(iat);
        let max = self.settings.max_lifetime.as_secs();
        if lifetime > max {
            return Err(TokenError::TooLongLived { lifetime_secs: lifetime, max_secs: max });
        }
        let jti = match claims.jti {
            Some(jti) if !jti.is_empty() && jti.len() <= 256 && !has_unprintable(&jti) => jti,
            Some(_) => {
                return Err(TokenError::Malformed(
                    "claim `jti` must be 1 to 256 bytes without control characters".to_owned(),
                ));
            }
            None => return Err(TokenError::Malformed("missing required claim `jti`".to_owned())),
        };
        let principal =
            Principal::from_claims(&claims.sub, &claims.iss, &claims.rest)?.with_token_lifetime(lifetime);
        Ok(Verified { principal, jti, expires_at: claims.exp, key })
    }
}

fn select_key<'a>(keys: &'a [VerificationKey], kid: Option<&str>) -> Option<&'a VerificationKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}

fn malformed(part: &str, e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::InvalidAlgorithmName => TokenError::Algorithm("unknown algorithm name".to_owned()),
        ErrorKind::Json(e) => TokenError::Malformed(format!("{part} is not valid JSON: {e}")),
        ErrorKind::Base64(_) => TokenError::Malformed(format!("{part} is not valid base64url")),
        ErrorKind::Utf8(_) => TokenError::Malformed(format!("{part} is not UTF-8")),
        _ => TokenError::Malformed(format!("{part}: {e}")),
    }
}

/// The header's `alg` as written, so `none`, `HS256` and unknown names are
/// reported as refused algorithms rather than as undecodable headers. A
/// header with `crit` is refused: an extension the issuer marked critical
/// must be understood, and airlock understands none.
fn header_algorithm(token: &str) -> Result<String, TokenError> {
    use base64::Engine;
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed("header is not valid base64url".to_owned()))?;
    let header: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::Malformed(format!("header is not valid JSON: {e}")))?;
    if header.get("crit").is_some() {
        return Err(TokenError::Malformed(
            "header lists critical extensions (`crit`), which airlock does not implement".to_owned(),
        ));
    }
    match header.get("alg") {
        Some(Value::String(alg)) => Ok(alg.clone()),
        Some(_) => Err(TokenError::Malformed("header `alg` must be a string".to_owned())),
        None => Err(TokenError::Malformed("header has no `alg`".to_owned())),
    }
}
