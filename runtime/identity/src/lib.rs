//! Verified agent identity for airlock.
//!
//! Agents present short-lived JWTs. [`Verifier::verify`] accepts a token only
//! if all of these hold, and otherwise returns a distinct [`TokenError`]:
//!
//! - it is a compact JWS signed with EdDSA, ES256 or RS256 (never `none`,
//!   HMAC or an algorithm other than the selected key's own);
//! - `iss` is a trusted issuer and the signature verifies with the issuer's
//!   key selected by `kid` (keys from a JWKS file, or fetched over HTTPS
//!   and refreshed by [`RemoteKeys`]);
//! - `aud` is exactly this runtime's audience;
//! - `exp`, `iat`, `sub` and `jti` are present, `exp` and `nbf` hold within
//!   the clock skew (at most 60 s), `iat` is not in the future, and
//!   `exp - iat` is at most the maximum lifetime (default 15 minutes);
//! - the `(iss, jti)` pair has not been used before ([`ReplayCache`]).
//!
//! The result is a [`Principal`](airlock_policy::Principal) built from the
//! verified claims; the token itself is not kept and never reaches a tool.
//! [`LocalKey`] mints tokens for local use and tests.
#![forbid(unsafe_code)]

mod error;
mod fetch;
mod local;
mod remote;
mod replay;
mod trust;
mod verify;

pub use error::{KeysUnavailable, TokenError, TrustError};
pub use local::{KeyError, LocalKey, MintRequest};
pub use remote::{KeyLocation, RemoteKeys, RemoteSettings};
pub use replay::{ReplayCache, Reuse, SharedReplay};
pub use trust::{ACCEPTED_ALGORITHMS, JwksKeys, KeySource, TrustStore, VerificationKey};
pub use verify::{
    DEFAULT_MAX_LIFETIME, KeyId, MAX_CLOCK_SKEW, MAX_TOKEN_BYTES, Verified, Verifier, VerifierSettings,
};
