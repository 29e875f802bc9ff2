//! Every way a token is refused, each with its own error, and the claims a
//! valid one yields.

use std::time::Duration;

use airlock_identity::{
    JwksKeys, LocalKey, MintRequest, ReplayCache, TokenError, TrustError, TrustStore, Verifier,
    VerifierSettings,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://id.test";
const CI_ISSUER: &str = "https://ci.test";
const AUDIENCE: &str = "https://airlock.test";

struct Fixture {
    key: LocalKey,
    verifier: Verifier,
}

fn ci_jwks() -> &'static str {
    include_str!("keys/ci-issuer.jwks.json")
}

fn fixture() -> Fixture {
    let key = LocalKey::generate().expect("key");
    let mut trust = TrustStore::new();
    let jwks = JwksKeys::from_json(ISSUER, &key.jwks().to_string()).expect("jwks");
    trust.add(ISSUER, Box::new(jwks)).expect("add");
    trust.add(CI_ISSUER, Box::new(JwksKeys::from_json(CI_ISSUER, ci_jwks()).expect("ci jwks"))).expect("add");
    let verifier =
        Verifier::new(trust, VerifierSettings::new(AUDIENCE), ReplayCache::in_memory()).expect("verifier");
    Fixture { key, verifier }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Valid claims for [`ISSUER`], with `changes` applied (`null` removes).
fn claims(changes: Value) -> Value {
    let now = now();
    let mut base = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "agent:triage", "iat": now, "nbf": now,
        "exp": now + 300, "jti": format!("jti-{}", rand_suffix()), "agent_class": "triage-bot",
    });
    if let (Value::Object(base), Value::Object(changes)) = (&mut base, changes) {
        for (k, v) in changes {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    base
}

fn rand_suffix() -> String {
    let key = LocalKey::generate().expect("key");
    key.kid().to_owned()
}

fn sign_with_pem(alg: Algorithm, kid: &str, pem: &[u8], claims: &Value) -> String {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(pem),
        _ => panic!("unsupported in test"),
    }
    .expect("pem");
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).expect("encode")
}

/// A token with a hand-written header and the given signature bytes.
fn forged(header: Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[test]
fn valid_token_yields_the_principal() {
    let f = fixture();
    let token =
        f.key.sign(&claims(json!({"repository": "acme/app", "act": {"sub": "orchestrator"}}))).expect("sign");
    let verified = f.verifier.verify(&token).expect("valid");
    assert_eq!(verified.principal.sub(), "agent:triage");
    assert_eq!(verified.principal.iss(), ISSUER);
    assert_eq!(verified.principal.claim("repository"), Some("acme/app"));
    assert_eq!(verified.principal.claim("agent_class"), Some("triage-bot"));
    assert_eq!(verified.principal.act(), ["orchestrator".to_owned()]);
}

#[test]
fn es256_and_rs256_tokens_verify() {
    let f = fixture();
    let es = sign_with_pem(
        Algorithm::ES256,
        "es-1",
        include_bytes!("keys/es256.pem"),
        &claims(json!({"iss": CI_ISSUER})),
    );
    assert_eq!(f.verifier.verify(&es).expect("es256").principal.iss(), CI_ISSUER);
    let rs = sign_with_pem(
        Algorithm::RS256,
        "rs-1",
        include_bytes!("keys/rs256.pem"),
        &claims(json!({"iss": CI_ISSUER})),
    );
    assert_eq!(f.verifier.verify(&rs).expect("rs256").principal.iss(), CI_ISSUER);
}

#[test]
fn minted_tokens_verify_once() {
    let f = fixture();
    let mut extra = Map::new();
    extra.insert("owner".into(), json!("human:alice"));
    let token = f
        .key
        .mint(&MintRequest {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            subject: "human:alice".into(),
            ttl: Duration::from_secs(600),
            claims: extra,
        })
        .expect("mint");
    let verified = f.verifier.verify(&token).expect("valid");
    assert_eq!(verified.principal.claim("owner"), Some("human:alice"));
    assert!(matches!(f.verifier.verify(&token), Err(TokenError::Replayed(_))));
}

#[test]
fn replayed_jti_is_refused_even_in_a_different_token() {
    let f = fixture();
    let first = f.key.sign(&claims(json!({"jti": "same"}))).expect("sign");
    let second = f.key.sign(&claims(json!({"jti": "same", "sub": "agent:other"}))).expect("sign");
    f.verifier.verify(&first).expect("first use");
    assert_eq!(f.verifier.verify(&first), Err(TokenError::Replayed("same".into())));
    assert_eq!(f.verifier.verify(&second), Err(TokenError::Replayed("same".into())));
}

#[test]
fn inspect_does_not_consume() {
    let f = fixture();
    let token = f.key.sign(&claims(json!({}))).expect("sign");
    f.verifier.inspect(&token).expect("inspect");
    f.verifier.inspect(&token).expect("inspect again");
    f.verifier.verify(&token).expect("still usable once");
}

#[test]
fn malformed_tokens() {
    let f = fixture();
    for (token, needle) in [
        ("", "three dot-separated parts"),
        ("abc", "three dot-separated parts"),
        ("a.b", "three dot-separated parts"),
        ("!!!.e30.e30", "base64url"),
        (&format!("{}.e30.sig", URL_SAFE_NO_PAD.encode("not json")), "not valid JSON"),
        (&format!("{}.e30.sig", URL_SAFE_NO_PAD.encode("{}")), "no `alg`"),
    ] {
        match f.verifier.verify(token) {
            Err(TokenError::Malformed(m)) => assert!(m.contains(needle), "{token:?}: {m}"),
            other => panic!("{token:?}: expected malformed, got {other:?}"),
        }
    }
    let huge = "a".repeat(20_000);
    assert!(matches!(f.verifier.verify(&huge), Err(TokenError::Malformed(m)) if m.contains("longer than")));
}

#[test]
fn missing_required_claims_are_malformed() {
    let f = fixture();
    for claim in ["sub", "exp", "iat", "jti", "aud", "iss"] {
        let token = f.key.sign(&claims(json!({ claim: null }))).expect("sign");
        match f.verifier.verify(&token) {
            Err(TokenError::Malformed(m)) => assert!(m.contains(claim), "{claim}: {m}"),
            other => panic!("{claim}: expected malformed, got {other:?}"),
        }
    }
    let token = f.key.sign(&claims(json!({"repository": {"not": "a string"}}))).expect("sign");
    assert!(matches!(f.verifier.verify(&token), Err(TokenError::Malformed(m)) if m.contains("repository")));
    let token = f.key.sign(&claims(json!({"sub": 42}))).expect("sign");
    assert!(matches!(f.verifier.verify(&token), Err(TokenError::Malformed(_))));
}

#[test]
fn none_and_hmac_are_refused() {
    let f = fixture();
    let c = claims(json!({}));
    let none = forged(json!({"alg": "none", "typ": "JWT"}), &c, b"");
    assert!(matches!(f.verifier.verify(&none), Err(TokenError::Algorithm(m)) if m.contains("none")));
    // HS256 keyed with the issuer's public key: the classic confusion attack.
    let public = f.key.jwks()["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(f.key.kid().to_owned());
    let hs = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(public.as_bytes()).expect("secret"))
        .expect("hs256");
    assert!(matches!(f.verifier.verify(&hs), Err(TokenError::Algorithm(m)) if m.contains("HS256")));
    let ps = forged(json!({"alg": "PS256", "kid": "rs-1"}), &claims(json!({"iss": CI_ISSUER})), b"sig");
    assert!(matches!(f.verifier.verify(&ps), Err(TokenError::Algorithm(m)) if m.contains("PS256")));
}

#[test]
fn critical_header_extensions_are_refused() {
    let f = fixture();
    let token = forged(
        json!({"alg": "EdDSA", "kid": f.key.kid(), "crit": ["exp"], "exp": 1}),
        &claims(json!({})),
        b"sig",
    );
    assert!(matches!(f.verifier.verify(&token), Err(TokenError::Malformed(m)) if m.contains("crit")));
}

#[test]
fn header_algorithm_must_match_the_key() {
    let f = fixture();
    // An ES256 signature presented under the RSA key's kid.
    let token = sign_with_pem(
        Algorithm::ES256,
        "rs-1",
        include_bytes!("keys/es256.pem"),
        &claims(json!({"iss": CI_ISSUER})),
    );
    assert!(matches!(f.verifier.verify(&token), Err(TokenError::Algorithm(m)) if m.contains("rs-1")));
}

#[test]
fn unknown_issuer_and_unknown_kid() {
    let f = fixture();
    let token = f.key.sign(&claims(json!({"iss": "https://evil.test"}))).expect("sign");
    assert_eq!(f.verifier.verify(&token), Err(TokenError::UnknownIssuer("https://evil.test".into())));
    let other = LocalKey::generate().expect("key");
    let token = other.sign(&claims(json!({}))).expect("sign");
    match f.verifier.verify(&token) {
        Err(TokenError::UnknownKey { issuer, kid }) => {
            assert_eq!(issuer, ISSUER);
            assert!(kid.contains(other.kid()), "{kid}");
        }
        other => panic!("expected unknown key, got {other:?}"),
    }
    // No kid while the issuer has two keys: ambiguous, refused.
    let es = {
        let key = EncodingKey::from_ec_pem(include_bytes!("keys/es256.pem")).expect("pem");
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims(json!({"iss": CI_ISSUER})), &key)
            .expect("enc")
    };
    assert!(matches!(f.verifier.verify(&es), Err(TokenError::UnknownKey { kid, .. }) if kid == "(none)"));
}

#[test]
fn names_a_human_reads_refuse_control_characters_and_errors_quote_them_cut() {
    let f = fixture();
    for (changes, claim) in [
        (json!({"sub": "bot\n     9  2026-01-01  ok  human:admin"}), "sub"),
        (json!({"sub": "agent\u{9b}2J"}), "sub"),
        (json!({"act": {"sub": "human:bob\u{202e}nimda"}}), "act"),
        (json!({"iss": "https://id.test\u{1b}[2K"}), "iss"),
    ] {
        let token = f.key.sign(&claims(changes)).expect("sign");
        let refused = f.verifier.verify(&token).expect_err("refused");
        assert!(
            refused.to_string().contains(&format!("claim `{claim}` holds a control character")),
            "{refused}"
        );
    }
    let jti = f.key.sign(&claims(json!({"jti": "x\u{7}"}))).expect("sign");
    assert!(matches!(f.verifier.verify(&jti), Err(TokenError::Malformed(m)) if m.contains("`jti`")));
    // An untrusted issuer's name is shown cut short (tokens may be 16 KiB).
    let long = f.key.sign(&claims(json!({"iss": "i".repeat(8000)}))).expect("sign");
    match f.verifier.verify(&long) {
        Err(TokenError::UnknownIssuer(shown)) => assert!(shown.chars().count() <= 129, "{}", shown.len()),
        other => panic!("expected unknown issuer, got {other:?}"),
    }
    // A minted token never holds what the verifier would refuse.
    let request = |subject: &str| MintRequest {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        subject: subject.into(),
        ttl: Duration::from_secs(60),
        claims: Map::new(),
    };
    assert!(f.key.mint(&request("bot\r\nforged")).is_err_and(|e| e.to_string().contains("claim `sub`")));
    assert!(f.key.mint(&request("agent:ok")).is_ok());
}

#[test]
fn wrong_signature() {
    let f = fixture();
    // Signed by another key that claims this key's kid.
    let impostor = LocalKey::generate().expect("key");
    let c = claims(json!({}));
    let token = impostor.sign(&c).expect("sign");
    let (_, rest) = token.split_once('.').expect("parts");
    let header = json!({"alg": "EdDSA", "kid": f.key.kid(), "typ": "JWT"});
    let relabelled = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
    assert_eq!(f.verifier.verify(&relabelled), Err(TokenError::BadSignature));
    // A genuine token whose payload was edited after signing.
    let genuine = f.key.sign(&c).expect("sign");
    let parts: Vec<&str> = genuine.split('.').collect();
    let edited = claims(json!({"sub": "agent:admin", "jti": c["jti"].clone()}));
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(edited.to_string()), parts[2]);
    assert_eq!(f.verifier.verify(&tampered), Err(TokenError::BadSignature));
}

#[test]
fn time_checks() {
    let f = fixture();
    let now = now();
    let expired =
        f.key.sign(&claims(json!({"iat": now - 400, "nbf": now - 400, "exp": now - 100}))).expect("sign");
    assert_eq!(f.verifier.verify(&expired), Err(TokenError::Expired));
    let within_skew = f.key.sign(&claims(json!({"iat": now - 300, "exp": now - 30}))).expect("sign");
    assert!(f.verifier.verify(&within_skew).is_ok(), "expired by less than the skew");
    let future = f.key.sign(&claims(json!({"nbf": now + 600, "exp": now + 900}))).expect("sign");
    assert!(matches!(f.verifier.verify(&future), Err(TokenError::NotYetValid(m)) if m.contains("nbf")));
    let issued_later =
        f.key.sign(&claims(json!({"iat": now + 600, "nbf": null, "exp": now + 900}))).expect("sign");
    assert!(matches!(f.verifier.verify(&issued_later), Err(TokenError::NotYetValid(m)) if m.contains("iat")));
    let long = f.key.sign(&claims(json!({"exp": now + 24 * 3600}))).expect("sign");
    assert!(matches!(f.verifier.verify(&long), Err(TokenError::TooLongLived { max_secs: 900, .. })));
}

#[test]
fn audience_must_be_exactly_ours() {
    let f = fixture();
    for aud in
        [json!("https://other.test"), json!([AUDIENCE, "https://other.test"]), json!(["https://other.test"])]
    {
        let token = f.key.sign(&claims(json!({ "aud": aud }))).expect("sign");
        assert_eq!(
            f.verifier.verify(&token),
            Err(TokenError::WrongAudience { expected: AUDIENCE.into() }),
            "aud {aud}"
        );
    }
    let token = f.key.sign(&claims(json!({ "aud": [AUDIENCE] }))).expect("sign");
    assert!(f.verifier.verify(&token).is_ok(), "a one-element array is the same audience");
}

#[test]
fn every_rejection_has_a_distinct_message() {
    let messages = [
        TokenError::Malformed("x".into()),
        TokenError::Algorithm("x".into()),
        TokenError::UnknownIssuer("x".into()),
        TokenError::UnknownKey { issuer: "x".into(), kid: "k".into() },
        TokenError::BadSignature,
        TokenError::Expired,
        TokenError::NotYetValid("x"),
        TokenError::WrongAudience { expected: "x".into() },
        TokenError::TooLongLived { lifetime_secs: 2, max_secs: 1 },
        TokenError::Replayed("x".into()),
    ]
    .map(|e| e.to_string().split(':').next().unwrap_or_default().to_owned());
    let mut unique = messages.to_vec();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), messages.len(), "{messages:?}");
}

#[test]
fn bad_jwks_are_refused_at_start() {
    let cases = [
        ("not json", "not JSON"),
        (r#"{"keys": []}"#, "no keys"),
        (r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#, "symmetric"),
        (r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "AAAA"}]}"#, "private key"),
        (r#"{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "PS256"}]}"#, "not accepted"),
        (r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "alg": "ES256"}]}"#, "does not match"),
        (r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "use": "enc"}]}"#, "encryption"),
    ];
    for (text, needle) in cases {
        match JwksKeys::from_json("https://i", text) {
            Err(e @ TrustError::Jwks { .. }) => assert!(e.to_string().contains(needle), "{text}: {e}"),
            other => panic!("{text}: expected a JWKS error, got {other:?}"),
        }
    }
    let two_without_kid = json!({"keys": [LocalKey::generate().expect("k").jwks()["keys"][0].clone(),
                                          {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
    let err = JwksKeys::from_json("https://i", &two_without_kid.to_string()).expect_err("kid required");
    assert!(err.to_string().contains("kid"), "{err}");
}

#[test]
fn settings_are_bounded() {
    let mut settings = VerifierSettings::new(AUDIENCE);
    settings.clock_skew = Duration::from_secs(600);
    let err = Verifier::new(TrustStore::new(), settings, ReplayCache::in_memory()).expect_err("skew");
    assert!(err.to_string().contains("clock skew"), "{err}");
    let err = Verifier::new(TrustStore::new(), VerifierSettings::new(""), ReplayCache::in_memory())
        .expect_err("aud");
    assert!(err.to_string().contains("audience"), "{err}");
}
