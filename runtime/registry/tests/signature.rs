//! Cosign signatures against a real registry: signed by a trusted key,
//! by another key, unsigned, and a signature copied from another component.

use airlock_registry::{
    Credentials, OciReference, Registry, SignatureError, TrustedSigner, generate_key, sign, verify,
};
use airlock_test_registry::TestRegistry;

struct Setup {
    registry: TestRegistry,
    client: Registry,
    dir: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    Some(Setup {
        registry: TestRegistry::start()?,
        client: Registry::new(Credentials::anonymous()),
        dir: tempfile::tempdir().expect("tempdir"),
    })
}

impl Setup {
    async fn push(&self, marker: &str, repository: &str, tag: &str) -> OciReference {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        bytes.extend_from_slice(marker.as_bytes());
        let reference: OciReference = self.registry.reference(repository, tag).parse().expect("reference");
        self.client.push(&bytes, &reference).await.expect("push")
    }

    /// A new key pair named `name`: the private key file and the signer
    /// trusting its public key.
    fn key(&self, name: &str) -> (std::path::PathBuf, TrustedSigner) {
        let private = self.dir.path().join(name);
        let public = generate_key(&private).expect("key pair");
        (private, signer(name, &public))
    }
}

fn signer(name: &str, public: &std::path::Path) -> TrustedSigner {
    TrustedSigner::from_file(name, public).expect("public key")
}

fn public(private: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.pub", private.display()))
}

fn digest(reference: &OciReference) -> &str {
    reference.digest().expect("pinned")
}

#[tokio::test]
async fn a_signature_by_a_trusted_key_names_its_signer_and_others_are_refused_saying_why() {
    let Some(s) = setup() else { return };
    let creds = Credentials::anonymous();
    let (release_key, release) = s.key("acme-release");
    let (_, other) = s.key("someone-else");

    let tool = s.push("signed tool", "tools/grep", "1").await;
    sign(&tool, digest(&tool), &release_key, &creds).await.expect("sign");
    assert_eq!(
        verify(&tool, digest(&tool), &[other, release], &creds).await.expect("verifies"),
        "acme-release"
    );

    // Made by another key than any trusted one.
    let (_, stranger) = s.key("stranger");
    let err = verify(&tool, digest(&tool), &[stranger], &creds).await.expect_err("untrusted");
    assert!(matches!(err, SignatureError::Untrusted { count: 1, .. }), "{err}");
    assert!(err.to_string().contains("none made by a trusted signer's key (stranger)"), "{err}");

    // Not signed at all.
    let unsigned = s.push("unsigned tool", "tools/grep", "2").await;
    let release = signer("acme-release", &public(&release_key));
    let err = verify(&unsigned, digest(&unsigned), std::slice::from_ref(&release), &creds)
        .await
        .expect_err("unsigned");
    assert!(matches!(err, SignatureError::Unsigned { .. }), "{err}");
    assert!(err.to_string().contains(&format!("no cosign signature for {}", digest(&unsigned))), "{err}");
}

#[tokio::test]
async fn a_signature_over_another_digest_is_refused_naming_it() {
    let Some(s) = setup() else { return };
    let creds = Credentials::anonymous();
    let (key, release) = s.key("acme-release");
    let signed = s.push("the signed one", "tools/fetch", "1").await;
    sign(&signed, digest(&signed), &key, &creds).await.expect("sign");
    let evil = s.push("a different component", "tools/fetch", "2").await;

    // Copy the signature manifest to where the other component's would be.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let oci = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let tag = |d: &str| {
        oci_client::Reference::with_tag(
            s.registry.address().into(),
            "tools/fetch".into(),
            format!("{}.sig", d.replace(':', "-")),
        )
    };
    let auth = oci_client::secrets::RegistryAuth::Anonymous;
    let (manifest, _) = oci
        .pull_manifest_raw(&tag(digest(&signed)), &auth, &[oci_client::manifest::OCI_IMAGE_MEDIA_TYPE])
        .await
        .expect("signature manifest");
    oci.push_manifest_raw(
        &tag(digest(&evil)),
        manifest,
        http::HeaderValue::from_static(oci_client::manifest::OCI_IMAGE_MEDIA_TYPE),
    )
    .await
    .expect("copy the signature");

    let err = verify(&evil, digest(&evil), &[release], &creds).await.expect_err("refused");
    assert!(matches!(err, SignatureError::OtherDigest { .. }), "{err}");
    assert!(err.to_string().contains(&format!("over another digest ({})", digest(&signed))), "{err}");
}

#[tokio::test]
async fn ed25519_keys_sign_and_verify_and_bad_key_files_are_named() {
    let Some(s) = setup() else { return };
    let creds = Credentials::anonymous();
    let pair = sigstore::crypto::SigningScheme::ED25519
        .create_signer()
        .and_then(|signer| signer.to_sigstore_keypair())
        .expect("ed25519");
    let private = s.dir.path().join("ed.key");
    let public = s.dir.path().join("ed.pub");
    std::fs::write(&private, pair.private_key_to_pem().expect("pem").as_bytes()).expect("write");
    std::fs::write(&public, pair.public_key_to_pem().expect("pem")).expect("write");
    let tool = s.push("ed25519 signed", "tools/ed", "1").await;
    sign(&tool, digest(&tool), &private, &creds).await.expect("sign");
    let signer = TrustedSigner::from_file("ed-team", &public).expect("ed25519 public key");
    assert_eq!(verify(&tool, digest(&tool), &[signer], &creds).await.expect("verifies"), "ed-team");

    let junk = s.dir.path().join("junk.pub");
    std::fs::write(&junk, "not a key").expect("write");
    let err = TrustedSigner::from_file("x", &junk).expect_err("junk");
    assert!(err.to_string().contains("not an ECDSA P-256 or Ed25519 public key"), "{err}");
    let err = generate_key(&private).expect_err("never overwrites");
    assert!(err.to_string().contains("never overwritten"), "{err}");
}
