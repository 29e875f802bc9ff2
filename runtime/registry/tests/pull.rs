//! Pull and push against a real registry on loopback (Debian's
//! docker-registry): by tag and by digest, a tag moved after pinning, and
//! every refusal, each checked to leave nothing in the store.

use airlock_registry::{ComponentStore, Credentials, OciReference, Registry, RegistryError, StoreError};
use airlock_test_registry::TestRegistry;

fn component(marker: &str) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.extend_from_slice(marker.as_bytes());
    bytes
}

fn reference(text: &str) -> OciReference {
    text.parse().expect("reference")
}

struct Setup {
    registry: TestRegistry,
    client: Registry,
    store: ComponentStore,
    _dir: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    let registry = TestRegistry::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ComponentStore::open(&dir.path().join("store")).expect("store");
    Some(Setup { registry, client: Registry::new(Credentials::anonymous()), store, _dir: dir })
}

#[tokio::test]
async fn pushed_component_pulls_by_tag_and_by_digest_into_the_store() {
    let Some(s) = setup() else { return };
    let bytes = component("grep 1.0");
    let tagged = reference(&s.registry.reference("tools/grep", "1.0"));
    let pinned = s.client.push(&bytes, &tagged).await.expect("push");
    assert_eq!(pinned.tag(), Some("1.0"));
    let digest = pinned.digest().expect("pinned").to_owned();
    // The same bytes give the same manifest: a push is reproducible.
    assert_eq!(s.client.push(&bytes, &tagged).await.expect("again").digest(), Some(digest.as_str()));

    let by_tag = s.client.pull(&tagged, &s.store).await.expect("pull by tag");
    assert!(by_tag.resolved_tag);
    assert_eq!(by_tag.manifest_digest, digest);
    assert_eq!(by_tag.pinned, pinned);
    assert_eq!(s.store.component(&by_tag.component_digest).expect("stored"), bytes);
    assert_eq!(std::fs::read(&by_tag.path).expect("file"), bytes);

    let by_digest = s
        .client
        .pull(&reference(&format!("oci://{}/tools/grep@{digest}", s.registry.address())), &s.store)
        .await
        .expect("pull by digest");
    assert!(!by_digest.resolved_tag);
    assert_eq!(by_digest.component_digest, by_tag.component_digest);
    assert!(s.store.manifest(&digest).is_ok(), "the verified manifest is kept");
}

#[tokio::test]
async fn a_tag_moved_after_pinning_does_not_change_what_the_pin_pulls() {
    let Some(s) = setup() else { return };
    let tagged = reference(&s.registry.reference("tools/fetch", "stable"));
    let first = s.client.push(&component("release 1"), &tagged).await.expect("push 1");
    let second = s.client.push(&component("hijacked"), &tagged).await.expect("push 2 moves the tag");
    assert_ne!(first.digest(), second.digest());

    let pinned = s.client.pull(&first, &s.store).await.expect("pinned pull");
    assert_eq!(s.store.component(&pinned.component_digest).expect("stored"), component("release 1"));
    let moved = s.client.pull(&tagged, &s.store).await.expect("tag pull");
    assert_eq!(moved.manifest_digest, second.digest().expect("digest"));
    assert_eq!(s.store.component(&moved.component_digest).expect("stored"), component("hijacked"));
}

#[tokio::test]
async fn a_tampered_layer_is_refused_and_nothing_is_stored() {
    let Some(s) = setup() else { return };
    let bytes = component("honest");
    let tagged = reference(&s.registry.reference("tools/read", "1"));
    let pinned = s.client.push(&bytes, &tagged).await.expect("push");
    let layer = format!("sha256:{}", sha256_hex(&bytes));
    std::fs::write(s.registry.blob_path(&layer), component("evil!!"))
        .expect("tamper with the registry's blob");

    let err = s.client.pull(&pinned, &s.store).await.expect_err("refused");
    assert!(matches!(err, RegistryError::LayerDigestMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&format!("not {layer} as its manifest says")), "{message}");
    assert!(message.contains("tampered or corrupted"), "{message}");
    assert!(matches!(s.store.component(&layer), Err(StoreError::Missing { .. })), "nothing stored");
}

#[tokio::test]
async fn a_manifest_that_is_not_the_pinned_one_is_refused() {
    let Some(s) = setup() else { return };
    let tagged = reference(&s.registry.reference("tools/grep", "1"));
    let pinned = s.client.push(&component("x"), &tagged).await.expect("push");
    let digest = pinned.digest().expect("digest").to_owned();
    // A registry that serves other bytes under the pinned digest.
    let path = s.registry.blob_path(&digest);
    let mut manifest = std::fs::read(&path).expect("manifest blob");
    manifest.extend_from_slice(b"\n");
    std::fs::write(&path, manifest).expect("tamper");

    let err = s.client.pull(&pinned, &s.store).await.expect_err("refused");
    assert!(matches!(err, RegistryError::ManifestDigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&format!("not the pinned {digest}")), "{err}");
}

#[tokio::test]
async fn an_image_that_is_not_one_wasm_layer_is_refused() {
    let Some(s) = setup() else { return };
    let tagged = reference(&s.registry.reference("images/app", "1"));
    // A container image pushed with the OCI client directly: a tar layer.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let layers = vec![oci_client::client::ImageLayer::oci_v1(b"not wasm".to_vec(), None)];
    let config = oci_client::client::Config::oci_v1(b"{}".to_vec(), None);
    let oci =
        oci_client::Reference::with_tag(s.registry.address().to_owned(), "images/app".into(), "1".into());
    client
        .push(&oci, &layers, config, &oci_client::secrets::RegistryAuth::Anonymous, None)
        .await
        .expect("push an image");
    let err = s.client.pull(&tagged, &s.store).await.expect_err("refused");
    assert!(matches!(err, RegistryError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("not `application/wasm`"), "{err}");
}

/// What other tools push: a plain image and an OCI 1.1 artifact with the
/// empty config (as `oras push` writes), each with one `application/wasm`
/// layer, are components; a config of another type is not.
#[tokio::test]
async fn one_wasm_layer_under_an_image_or_empty_config_is_a_component() {
    let Some(s) = setup() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    for (tag, config_type, accepted) in [
        ("image", oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE, true),
        ("artifact", "application/vnd.oci.empty.v1+json", true),
        ("unknown", "application/vnd.unknown.config.v1+json", false),
    ] {
        let layers =
            vec![oci_client::client::ImageLayer::new(component(tag), "application/wasm".to_owned(), None)];
        let config = oci_client::client::Config::new(b"{}".to_vec(), config_type.to_owned(), None);
        let oci = oci_client::Reference::with_tag(
            s.registry.address().to_owned(),
            "other/tools".into(),
            tag.into(),
        );
        client
            .push(&oci, &layers, config, &oci_client::secrets::RegistryAuth::Anonymous, None)
            .await
            .expect("push");
        let pulled = s.client.pull(&reference(&s.registry.reference("other/tools", tag)), &s.store).await;
        match (pulled, accepted) {
            (Ok(pulled), true) => {
                assert_eq!(s.store.component(&pulled.component_digest).expect("stored"), component(tag));
            }
            (Err(err), false) => {
                assert!(err.to_string().contains("config media type `application/vnd.unknown"), "{err}");
            }
            (outcome, _) => panic!("{tag}: {:?}", outcome.map(|p| p.pinned.to_string())),
        }
    }
}

#[tokio::test]
async fn an_unreachable_registry_and_a_missing_tag_name_the_registry() {
    let Some(s) = setup() else { return };
    let missing = reference(&s.registry.reference("tools/none", "1"));
    let err = s.client.pull(&missing, &s.store).await.expect_err("no such tag");
    assert!(err.to_string().contains(&format!("registry `{}`", s.registry.address())), "{err}");
    let closed = reference("oci://127.0.0.1:1/tools/grep:1");
    let err = s.client.pull(&closed, &s.store).await.expect_err("closed port");
    assert!(err.to_string().starts_with("registry `127.0.0.1:1`"), "{err}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes `dir/config.json` as `docker login` does: the test user with
/// `password` (`auth`, base64 of `user:password`) for `registry`.
fn docker_config(dir: &std::path::Path, registry: &TestRegistry, password: &str) -> std::path::PathBuf {
    use base64::Engine as _;

    let config = dir.join("config.json");
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{password}", airlock_test_registry::USER));
    std::fs::write(&config, format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, registry.address()))
        .expect("docker config");
    config
}

#[tokio::test]
async fn a_registry_that_wants_a_password_gets_it_from_a_docker_style_config() {
    let Some(registry) = TestRegistry::start_with_password() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ComponentStore::open(&dir.path().join("store")).expect("store");
    let tagged = reference(&registry.reference("tools/private", "1"));

    let anonymous = Registry::new(Credentials::anonymous());
    let err = anonymous.push(&component("private"), &tagged).await.expect_err("no credentials");
    assert!(err.to_string().starts_with(&format!("registry `{}`", registry.address())), "{err}");

    let config = docker_config(dir.path(), &registry, airlock_test_registry::PASSWORD);
    let client = Registry::new(Credentials::from_file(&config));
    let pinned = client.push(&component("private"), &tagged).await.expect("push with credentials");
    let pulled = client.pull(&pinned, &store).await.expect("pull with credentials");
    assert_eq!(store.component(&pulled.component_digest).expect("stored"), component("private"));
    assert!(anonymous.pull(&pinned, &store).await.is_err(), "anonymous pulls are refused too");

    // The `username`/`password` form of an entry, with a wrong password.
    std::fs::write(
        &config,
        format!(r#"{{"auths": {{"{}": {{"username": "ci", "password": "wrong"}}}}}}"#, registry.address()),
    )
    .expect("docker config");
    let err = Registry::new(Credentials::from_file(&config))
        .pull(&pinned, &store)
        .await
        .expect_err("wrong password");
    assert!(err.to_string().contains(registry.address()), "{err}");
}

/// Docker's bearer-token flow, as Docker Hub, GHCR and Harbor speak it: the
/// registry sends the client to a token server; the credentials from the
/// docker-style config get a token for what is asked (pull, push, and the
/// cosign signature's tag); anonymous clients and wrong passwords get no
/// access.
#[tokio::test]
async fn a_registry_that_asks_for_a_bearer_token_gets_one_for_the_configured_credentials() {
    let Some(registry) = TestRegistry::start_with_token_server() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ComponentStore::open(&dir.path().join("store")).expect("store");
    let tagged = reference(&registry.reference("tools/behind-tokens", "1"));

    let anonymous = Registry::new(Credentials::anonymous());
    let err =
        anonymous.push(&component("tokens"), &tagged).await.expect_err("an anonymous token grants nothing");
    assert!(err.to_string().starts_with(&format!("registry `{}`", registry.address())), "{err}");
    let (granted, anonymous_tokens, _) = registry.tokens_issued();
    assert_eq!(granted, 0);
    assert!(anonymous_tokens >= 1, "the client asked the token server anonymously");

    let config = docker_config(dir.path(), &registry, airlock_test_registry::PASSWORD);
    let credentials = Credentials::from_file(&config);
    let client = Registry::new(credentials.clone());
    let pinned = client.push(&component("tokens"), &tagged).await.expect("push with a token");
    let pulled = client.pull(&tagged, &store).await.expect("pull by tag with a token");
    assert_eq!(pulled.pinned, pinned);
    assert_eq!(store.component(&pulled.component_digest).expect("stored"), component("tokens"));
    assert!(registry.tokens_issued().0 >= 2, "tokens were issued for the push and the pull");
    let err = anonymous.pull(&pinned, &store).await.expect_err("anonymous pulls are refused too");
    assert!(err.to_string().contains(registry.address()), "{err}");

    // Signing and verifying speak the same flow.
    let key = dir.path().join("release.key");
    let public = airlock_registry::generate_key(&key).expect("key pair");
    let digest = pinned.digest().expect("pinned");
    airlock_registry::sign(&pinned, digest, &key, &credentials).await.expect("sign with a token");
    let signer = airlock_registry::TrustedSigner::from_file("acme-release", &public).expect("signer");
    let verified = airlock_registry::verify(&pinned, digest, &[signer], &credentials).await;
    assert_eq!(verified.expect("verify with a token"), "acme-release");

    docker_config(dir.path(), &registry, "wrong");
    let refused_before = registry.tokens_issued().2;
    let err = Registry::new(Credentials::from_file(&config))
        .pull(&pinned, &store)
        .await
        .expect_err("wrong password");
    assert!(err.to_string().contains(registry.address()), "{err}");
    assert!(registry.tokens_issued().2 > refused_before, "the token server refused the wrong password");
}
