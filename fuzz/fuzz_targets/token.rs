//! Token parsing and verification: any bytes presented as a token must be
//! refused with an error (never a panic), and nothing but a token signed by
//! the trusted key can verify.
#![no_main]

use std::sync::LazyLock;

use airlock_identity::{JwksKeys, LocalKey, ReplayCache, TrustStore, Verifier, VerifierSettings};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://fuzz.invalid";

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let key = LocalKey::generate().expect("key");
    let mut trust = TrustStore::new();
    let keys = JwksKeys::from_json(ISSUER, &key.jwks().to_string()).expect("jwks");
    trust.add(ISSUER, Box::new(keys)).expect("issuer");
    Verifier::new(trust, VerifierSettings::new("https://airlock.invalid"), ReplayCache::in_memory())
        .expect("verifier")
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The fuzzer does not hold the signing key: nothing it writes verifies.
    assert!(VERIFIER.inspect(&text).is_err());
    assert!(VERIFIER.verify(&text).is_err());
});
