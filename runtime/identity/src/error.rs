//! Why a token or the identity configuration was refused.

use airlock_policy::PrincipalError;

/// Why a token was refused. Each variant is a distinct, documented failure;
/// none of them carries the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a JWT, undecodable, a required claim missing or of the wrong type.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm airlock does not accept (`none`, HMAC,
    /// PS*, ...), or one that does not match the selected key.
    #[error("token algorithm refused: {0}")]
    Algorithm(String),
    /// `iss` is not in the trust store.
    #[error("token issuer `{0}` is not trusted")]
    UnknownIssuer(String),
    /// No key of the issuer matches the token's `kid`.
    #[error("token key {kid} is not among issuer `{issuer}`'s keys")]
    UnknownKey {
        /// The issuer.
        issuer: String,
        /// The `kid`, quoted, or `(none)`.
        kid: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` is in the past (beyond the allowed clock skew).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the allowed clock skew).
    #[error("token not yet valid: {0}")]
    NotYetValid(&'static str),
    /// `aud` is not exactly this runtime's audience.
    #[error("token audience is not this runtime (expected `{expected}`)")]
    WrongAudience {
        /// This runtime's audience.
        expected: String,
    },
    /// `exp - iat` exceeds the maximum token lifetime.
    #[error(
        "token lifetime {lifetime_secs}s exceeds the maximum of {max_secs}s: long-lived tokens are refused"
    )]
    TooLongLived {
        /// The token's `exp - iat`.
        lifetime_secs: u64,
        /// The configured maximum.
        max_secs: u64,
    },
    /// The issuer is trusted but its keys cannot be used now: fetched keys
    /// went too long without a successful refresh (fail closed).
    #[error("issuer `{issuer}`'s keys are unavailable: {reason}")]
    KeysUnavailable {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
    /// The key that verified an earlier use of this token is no longer
    /// among the issuer's keys (withdrawn by the issuer).
    #[error("token key of issuer `{0}` has been withdrawn")]
    KeyWithdrawn(String),
    /// The `(iss, jti)` pair was already used.
    #[error("token already used (jti `{0}`): tokens are single-use")]
    Replayed(String),
    /// The replay cache could not be read or written, so single use cannot
    /// be guaranteed: the token is refused.
    #[error("token replay cache unavailable: {0}")]
    ReplayCache(String),
}

impl TokenError {
    /// A fixed name for the kind of refusal (`malformed`, `expired`, ...):
    /// what refusals are grouped and counted by, never anything the token
    /// chose.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Algorithm(_) => "algorithm",
            Self::UnknownIssuer(_) => "unknown_issuer",
            Self::UnknownKey { .. } => "unknown_key",
            Self::KeysUnavailable { .. } => "keys_unavailable",
            Self::KeyWithdrawn(_) => "key_withdrawn",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid(_) => "not_yet_valid",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::TooLongLived { .. } => "too_long_lived",
            Self::Replayed(_) => "replayed",
            Self::ReplayCache(_) => "replay_cache",
        }
    }
}

impl From<PrincipalError> for TokenError {
    fn from(e: PrincipalError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// Why a trusted issuer's keys cannot be used now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeysUnavailable(pub String);

/// A problem with the trust configuration (issuers, keys, replay cache).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// An issuer's JWKS is unusable.
    #[error("JWKS for issuer `{issuer}`: {reason}")]
    Jwks {
        /// The issuer.
        issuer: String,
        /// What is wrong.
        reason: String,
    },
    /// Some other configuration problem.
    #[error("{0}")]
    Config(String),
    /// The replay cache file cannot be used.
    #[error("replay cache {path}: {reason}")]
    ReplayCache {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}
