//! JWKS documents: what an issuer's key set lets verify.
//!
//! Generated sets of real public keys, each possibly made wrong (private
//! material, a symmetric or encryption key, another curve, a mismatched
//! `alg`, a missing or repeated `kid`), are accepted exactly when a model
//! written here says, and an accepted set holds exactly those keys with
//! the algorithm of their type. Any other text is refused, never a panic.
#![no_main]

use airlock_identity::JwksKeys;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const EC_X: &str = "PLD63x5s7LUT58aRwJiXIL4Sg5gIcUIgEsE-utPw714";
const EC_Y: &str = "ZmSxNduv3lOwTJCfljdXt6LTKmY1fkpsZH1s6U5xdxk";
const RSA_N: &str = "zoxGg07J9v-1ffgfICv_lvg0HjLN3N9tIELAyU2dyUXrw_YiYQd0FZxTu9jJv37LdrA9tYUBctdjnK3EM-tApton3Dokgj_MBQmVFHiyQrJQRI3i0ByieLAfH-QgJga3GweE1n1H551viFviAe1GbQUK5pOTsBMGKgixStWz3I61DXbHmmM0K6GFBmcRo8ZR6G-dSuIIhkYsMAyQY2rgIDTGqj9sA4idnVPl_WLr94vBGP2p8jUU5uEoMHk3YZnKQTB7HmEddsFqQujbBP43o29s42l5CEijTSfnLNOsZy5HpDMjCaWDg-Uqs83qHf12nZkorNDd6GQMewP987wCEQ";
const ED_X: &str = "tHCGvCBESVAWw6hKAKM375_jp8d6fBvjA75PSDesXkg";

#[derive(Arbitrary, Debug)]
struct Input {
    keys: Vec<Key>,
    text: String,
}

#[derive(Arbitrary, Debug)]
struct Key {
    kind: Kind,
    kid: Option<u8>,
    /// `use`: `Some(true)` encryption, `Some(false)` signatures.
    encryption: Option<bool>,
    alg: Alg,
    /// Carries a private member (`d`).
    private: bool,
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ed25519,
    P256,
    Rsa,
    Oct,
    X25519,
    P384,
}

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq)]
enum Alg {
    Absent,
    EdDsa,
    Es256,
    Rs256,
    Hs256,
    Ps256,
}

impl Kind {
    /// The algorithm a key of this type verifies with, when accepted.
    fn algorithm(self) -> Option<Alg> {
        match self {
            Self::Ed25519 => Some(Alg::EdDsa),
            Self::P256 => Some(Alg::Es256),
            Self::Rsa => Some(Alg::Rs256),
            Self::Oct | Self::X25519 | Self::P384 => None,
        }
    }
}

impl Key {
    fn json(&self) -> Value {
        let mut key = match self.kind {
            Kind::Ed25519 => json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X}),
            Kind::X25519 => json!({"kty": "OKP", "crv": "X25519", "x": ED_X}),
            Kind::P256 => json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y}),
            Kind::P384 => json!({"kty": "EC", "crv": "P-384", "x": EC_X, "y": EC_Y}),
            Kind::Rsa => json!({"kty": "RSA", "n": RSA_N, "e": "AQAB"}),
            Kind::Oct => json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}),
        };
        if let Some(kid) = self.kid {
            key["kid"] = json!(format!("k{kid}"));
        }
        if let Some(encryption) = self.encryption {
            key["use"] = json!(if encryption { "enc" } else { "sig" });
        }
        let alg = match self.alg {
            Alg::Absent => None,
            Alg::EdDsa => Some("EdDSA"),
            Alg::Es256 => Some("ES256"),
            Alg::Rs256 => Some("RS256"),
            Alg::Hs256 => Some("HS256"),
            Alg::Ps256 => Some("PS256"),
        };
        if let Some(alg) = alg {
            key["alg"] = json!(alg);
        }
        if self.private {
            key["d"] = json!("AAAA");
        }
        key
    }

    /// Whether the key by itself may be trusted.
    fn acceptable(&self) -> bool {
        let Some(algorithm) = self.kind.algorithm() else { return false };
        !self.private && self.encryption != Some(true) && (self.alg == Alg::Absent || self.alg == algorithm)
    }
}

/// The model: whether the set as a whole may be trusted.
fn acceptable(keys: &[Key]) -> bool {
    let kids: Vec<u8> = keys.iter().filter_map(|k| k.kid).collect();
    let unique = kids.iter().enumerate().all(|(i, kid)| !kids[..i].contains(kid));
    !keys.is_empty()
        && keys.iter().all(Key::acceptable)
        && (keys.len() == 1 || kids.len() == keys.len())
        && unique
}

fuzz_target!(|input: Input| {
    let document = json!({"keys": input.keys.iter().map(Key::json).collect::<Vec<_>>()}).to_string();
    let parsed = JwksKeys::from_json("https://fuzz.invalid", &document);
    assert_eq!(parsed.is_ok(), acceptable(&input.keys), "{document}: {parsed:?}");
    if let Ok(set) = parsed {
        let keys = set.all();
        assert_eq!(keys.len(), input.keys.len());
        for (key, spec) in keys.iter().zip(&input.keys) {
            assert_eq!(key.kid, spec.kid.map(|kid| format!("k{kid}")));
            let expected = match spec.kind.algorithm() {
                Some(Alg::EdDsa) => jsonwebtoken::Algorithm::EdDSA,
                Some(Alg::Es256) => jsonwebtoken::Algorithm::ES256,
                _ => jsonwebtoken::Algorithm::RS256,
            };
            assert_eq!(key.algorithm, expected);
        }
    }
    // Any text at all: read or refused, never a panic.
    let _ = JwksKeys::from_json("https://fuzz.invalid", &input.text);
});
