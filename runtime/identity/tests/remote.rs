//! Keys fetched from an issuer over HTTPS (a local issuer with its own CA):
//! rotation without a restart, withdrawal, unknown-kid floods rate-limited,
//! the last good set kept through failed refreshes until it is too stale,
//! every JWKS check applied to fetched sets, and clear errors at start.

use std::time::{Duration, Instant};

use airlock_identity::{
    KeyLocation, LocalKey, MintRequest, RemoteKeys, RemoteSettings, ReplayCache, TokenError, TrustError,
    TrustStore, Verifier, VerifierSettings,
};
use airlock_test_issuer::{TestIssuer, merged};
use serde_json::{Map, json};

const AUDIENCE: &str = "https://airlock.test";

/// Settings for tests: this issuer's CA, quick refreshes unless changed.
fn settings(issuer: &TestIssuer) -> RemoteSettings {
    let mut settings = RemoteSettings {
        refresh_min: Duration::from_secs(1),
        refresh_max: Duration::from_secs(60),
        refetch_interval: Duration::from_millis(300),
        max_stale: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
        ca: None,
    };
    settings.trust_only_pem(issuer.ca_pem().as_bytes()).expect("CA");
    settings
}

fn verifier(issuer: &TestIssuer, location: KeyLocation, settings: RemoteSettings) -> Verifier {
    let mut trust = TrustStore::new();
    let keys = RemoteKeys::start(issuer.url(), location, settings).expect("first fetch");
    trust.add(issuer.url(), Box::new(keys)).expect("trust");
    Verifier::new(trust, VerifierSettings::new(AUDIENCE), ReplayCache::in_memory()).expect("verifier")
}

fn token(key: &LocalKey, issuer: &TestIssuer) -> String {
    key.mint(&MintRequest {
        issuer: issuer.url().to_owned(),
        audience: AUDIENCE.to_owned(),
        subject: "agent:triage".to_owned(),
        ttl: Duration::from_secs(300),
        claims: Map::new(),
    })
    .expect("mint")
}

fn start_error(issuer: &TestIssuer, location: KeyLocation, settings: RemoteSettings) -> String {
    match RemoteKeys::start(issuer.url(), location, settings) {
        Ok(_) => panic!("start should fail"),
        Err(TrustError::Jwks { reason, .. }) => reason,
        Err(other) => other.to_string(),
    }
}

/// Waits (at most `limit`) until `done` holds.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn a_rotated_key_is_accepted_without_a_restart_and_a_withdrawn_one_refused() {
    let (old, new) = (LocalKey::generate().expect("key"), LocalKey::generate().expect("key"));
    let issuer = TestIssuer::start(&old.jwks());
    let verifier = verifier(&issuer, KeyLocation::Discovery, settings(&issuer));
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 1, "discovered once at start");
    let before = verifier.verify(&token(&old, &issuer)).expect("the old key verifies");

    // The issuer publishes a new key beside the old one: a token signed
    // with it names an unknown kid, which triggers one refetch (the
    // scheduled refresh is a minute away). From now on the JWKS says
    // max-age=0, so refreshes come every `refresh_min` (1 s).
    issuer.cache_control("max-age=0");
    issuer.publish(&merged(&[&old.jwks(), &new.jwks()]).to_string());
    let fetches = issuer.hits("/jwks");
    verifier.verify(&token(&new, &issuer)).expect("the rotated-in key verifies without a restart");
    assert_eq!(issuer.hits("/jwks"), fetches + 1, "one refetch for the unknown kid");
    assert!(verifier.key_in_force(issuer.url(), before.key), "the old key is still published");

    // The issuer withdraws the old key; the next scheduled refresh drops it.
    issuer.publish(&new.jwks().to_string());
    assert!(
        eventually(Duration::from_secs(10), || !verifier.key_in_force(issuer.url(), before.key)),
        "the withdrawn key leaves the set at the next refresh"
    );
    match verifier.verify(&token(&old, &issuer)) {
        Err(TokenError::UnknownKey { kid, .. }) => assert!(kid.contains(old.kid()), "{kid}"),
        other => panic!("a token of the withdrawn key must be refused: {other:?}"),
    }
    verifier.verify(&token(&new, &issuer)).expect("the new key still verifies");
}

#[test]
fn a_flood_of_unknown_kids_causes_at_most_one_fetch_per_interval() {
    let (known, stranger) = (LocalKey::generate().expect("key"), LocalKey::generate().expect("key"));
    let issuer = TestIssuer::start(&known.jwks());
    let mut settings = settings(&issuer);
    settings.refetch_interval = Duration::from_secs(2);
    settings.refresh_min = Duration::from_secs(3600);
    settings.refresh_max = Duration::from_secs(3600);
    settings.max_stale = Duration::from_secs(7200);
    let verifier = verifier(&issuer, KeyLocation::JwksUri(issuer.jwks_uri()), settings);
    assert_eq!(issuer.hits("/jwks"), 1);

    let verifier = std::sync::Arc::new(verifier);
    let started = Instant::now();
    let floods: Vec<_> = (0..4)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token(&stranger, &issuer));
            std::thread::spawn(move || {
                for _ in 0..250 {
                    assert!(matches!(verifier.inspect(&token), Err(TokenError::UnknownKey { .. })));
                }
            })
        })
        .collect();
    for flood in floods {
        flood.join().expect("flood thread");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "the flood fits in one interval");
    assert_eq!(issuer.hits("/jwks"), 2, "1,000 unknown-kid tokens: the start fetch and one refetch");
    assert_eq!(
        issuer.hits("/.well-known/openid-configuration"),
        0,
        "a configured jwks_uri needs no discovery"
    );
    verifier.verify(&token(&known, &issuer)).expect("the known key is unaffected");
}

#[test]
fn failed_refreshes_keep_the_last_good_set_until_it_is_too_stale() {
    let key = LocalKey::generate().expect("key");
    let issuer = TestIssuer::start(&key.jwks());
    issuer.cache_control("max-age=1");
    let mut settings = settings(&issuer);
    settings.refresh_max = Duration::from_secs(1);
    settings.max_stale = Duration::from_secs(3);
    let verifier = verifier(&issuer, KeyLocation::JwksUri(issuer.jwks_uri()), settings);

    // Refreshes now fail three ways; none of them may replace the keys.
    issuer.jwks_status(503);
    assert!(eventually(Duration::from_secs(5), || issuer.hits("/jwks") >= 2), "a refresh was tried");
    verifier.verify(&token(&key, &issuer)).expect("a failed refresh keeps the last good set");
    issuer.jwks_status(200);
    issuer.publish(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}"#);
    let tried = issuer.hits("/jwks");
    assert!(eventually(Duration::from_secs(5), || issuer.hits("/jwks") > tried), "a refresh was tried");
    verifier.verify(&token(&key, &issuer)).expect("a refused set keeps the last good one");

    // Past `max_stale` without a good refresh, the issuer's tokens fail closed.
    let stale = eventually(Duration::from_secs(8), || {
        matches!(verifier.inspect(&token(&key, &issuer)), Err(TokenError::KeysUnavailable { .. }))
    });
    assert!(stale, "tokens are refused once the keys are too stale");
    let error = verifier.inspect(&token(&key, &issuer)).expect_err("stale");
    let message = error.to_string();
    assert!(message.contains("last fetched") && message.contains("symmetric"), "{message}");

    // A good answer again restores verification.
    issuer.publish(&key.jwks().to_string());
    assert!(
        eventually(Duration::from_secs(5), || verifier.inspect(&token(&key, &issuer)).is_ok()),
        "a good refresh restores the issuer"
    );
}

#[test]
fn a_fetched_set_gets_every_check_a_jwks_file_gets() {
    let key = LocalKey::generate().expect("key");
    let issuer = TestIssuer::start(&key.jwks());
    let mut private = key.jwks();
    private["keys"][0]["d"] = json!("AAAA");
    for (body, says) in [
        (private.to_string(), "private key material"),
        (r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.to_owned(), "symmetric"),
        (r#"{"keys": []}"#.to_owned(), "no keys"),
        ("<html>maintenance</html>".to_owned(), "not JSON"),
        (merged(&[&key.jwks(), &key.jwks()]).to_string(), "duplicate kid"),
    ] {
        issuer.publish(&body);
        let error = start_error(&issuer, KeyLocation::Discovery, settings(&issuer));
        assert!(error.contains(says), "{body}: {error}");
        assert!(error.contains("/jwks"), "the error names the URL: {error}");
    }
}

#[test]
fn start_fails_naming_the_problem() {
    let key = LocalKey::generate().expect("key");
    let issuer = TestIssuer::start(&key.jwks());

    let mut untrusted = settings(&issuer);
    untrusted.ca = None; // the webpki roots do not know the local CA
    let error = start_error(&issuer, KeyLocation::Discovery, untrusted);
    assert!(error.contains("TLS") && error.contains("certificate"), "{error}");

    let error =
        start_error(&issuer, KeyLocation::JwksUri(format!("{}/moved", issuer.url())), settings(&issuer));
    assert!(error.contains("302") && error.contains("redirects are not followed"), "{error}");

    let error =
        start_error(&issuer, KeyLocation::JwksUri(format!("{}/gone", issuer.url())), settings(&issuer));
    assert!(error.contains("404"), "{error}");

    let plain = issuer.jwks_uri().replacen("https", "http", 1);
    let error = start_error(&issuer, KeyLocation::JwksUri(plain), settings(&issuer));
    assert!(error.contains("not an https:// URL"), "{error}");

    issuer.discovered_issuer("https://evil.test");
    let error = start_error(&issuer, KeyLocation::Discovery, settings(&issuer));
    assert!(error.contains("is for issuer `https://evil.test`"), "{error}");

    // A document past the 1 MiB limit is refused, not read to the end.
    issuer.publish(&format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(2 << 20)));
    let error = start_error(&issuer, KeyLocation::JwksUri(issuer.jwks_uri()), settings(&issuer));
    assert!(error.contains("limit 1048576 bytes"), "{error}");
    issuer.publish(&key.jwks().to_string());

    let mut contradictory = settings(&issuer);
    contradictory.refresh_min = Duration::from_secs(120);
    let error = start_error(&issuer, KeyLocation::Discovery, contradictory);
    assert!(error.contains("`refresh_min` is longer than `refresh_max`"), "{error}");
}

#[test]
fn discovery_needs_an_https_issuer() {
    let error = match RemoteKeys::start("agent-issuer", KeyLocation::Discovery, RemoteSettings::default()) {
        Ok(_) => panic!("an iss that is not a URL cannot be discovered"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("OIDC discovery needs an https:// `iss`"), "{error}");
}

#[test]
fn cache_control_schedules_refreshes_within_the_bounds() {
    let key = LocalKey::generate().expect("key");
    let issuer = TestIssuer::start(&key.jwks());
    issuer.cache_control("max-age=0");
    let mut settings = settings(&issuer);
    settings.refresh_min = Duration::from_secs(2);
    let _verifier = verifier(&issuer, KeyLocation::JwksUri(issuer.jwks_uri()), settings);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(issuer.hits("/jwks"), 1, "max-age=0 is raised to refresh_min (2 s)");
    assert!(eventually(Duration::from_secs(5), || issuer.hits("/jwks") >= 2), "refreshed after refresh_min");
}
