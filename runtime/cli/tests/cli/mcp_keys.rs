//! `airlock serve --http` trusting an issuer configured by its `iss` alone
//! (OIDC discovery over HTTPS, from a local issuer with its own CA): the
//! issuer rotates its keys mid-test and the server follows without a
//! restart; a bearer token remembered from before is refused once its key
//! is withdrawn, and so is any new token signed with that key. A reload
//! fetches the keys anew.

use std::time::{Duration, Instant};

use airlock_identity::{LocalKey, MintRequest};
use airlock_test_issuer::{TestIssuer, merged};
use serde_json::{Map, Value};

use crate::mcp::{AUDIENCE, HttpServer, Setup};

fn token(key: &LocalKey, issuer: &TestIssuer) -> String {
    let request = MintRequest {
        issuer: issuer.url().to_owned(),
        audience: AUDIENCE.to_owned(),
        subject: "human:alice".to_owned(),
        ttl: Duration::from_secs(600),
        claims: Map::new(),
    };
    key.mint(&request).expect("mint")
}

/// `tools/list` with `token`: the status and the body.
async fn list(server: &HttpServer, http: &reqwest::Client, token: &str) -> (u16, Value) {
    let response = server.post_list(http, Some(token)).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_follows_an_issuers_key_rotation_without_a_restart() {
    let (old, new) = (LocalKey::generate().expect("key"), LocalKey::generate().expect("key"));
    let issuer = TestIssuer::start(&old.jwks());
    issuer.cache_control("max-age=0");
    let extra = format!(
        "\n[[issuer]]\niss = \"{}\"\nca = \"issuer-ca.pem\"\nrefresh_min = \"1s\"\nrefetch_interval = \"1s\"\n",
        issuer.url()
    );
    let setup = Setup::with(crate::mcp::POLICY, &extra);
    std::fs::write(setup.path("issuer-ca.pem"), issuer.ca_pem()).expect("write CA");
    let server = setup.http(&[]);
    let http = crate::http();
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 1, "discovered at start");

    let before = token(&old, &issuer);
    assert_eq!(list(&server, &http, &before).await.0, 200, "the old key verifies");

    // A new key appears beside the old: its tokens verify at once.
    issuer.publish(&merged(&[&old.jwks(), &new.jwks()]).to_string());
    let rotated = token(&new, &issuer);
    assert_eq!(list(&server, &http, &rotated).await.0, 200, "the new key verifies without a restart");

    // The old key is withdrawn: the remembered token goes with it.
    issuer.publish(&new.jwks().to_string());
    let start = Instant::now();
    let refused = loop {
        let (status, body) = list(&server, &http, &before).await;
        if status == 401 || start.elapsed() > Duration::from_secs(15) {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused.0, 401, "a token of a withdrawn key is refused: {}", refused.1);
    let why = refused.1["error_description"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains("has been withdrawn"), "{why}");

    let (status, body) = list(&server, &http, &token(&old, &issuer)).await;
    assert_eq!(status, 401, "a fresh token of the withdrawn key is refused");
    let why = body["error_description"].as_str().unwrap_or_default();
    assert!(why.contains(old.kid()) && why.contains("is not among"), "{why}");
    assert_eq!(list(&server, &http, &rotated).await.0, 200, "the new key's token still verifies");

    // A reload starts the issuer's fetcher anew (discovery and a first
    // fetch, off the async workers); the remembered token stays valid.
    let status = std::process::Command::new("kill").args(["-HUP", &server.pid().to_string()]).status();
    assert!(status.expect("kill").success());
    assert!(
        server.wait_for_log("configuration reloaded", Duration::from_secs(30)),
        "{:?}",
        server.log_lines()
    );
    assert_eq!(issuer.hits("/.well-known/openid-configuration"), 2, "discovered again by the reload");
    assert_eq!(list(&server, &http, &rotated).await.0, 200, "a remembered token survives the reload");
}
