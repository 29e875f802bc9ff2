//! Keyless (Fulcio) signatures, verified offline against configured roots,
//! against a real registry. The test plays Fulcio (a certificate authority
//! issuing short-lived code-signing certificates naming an OIDC issuer and
//! an identity) and Rekor (a log whose signed entry timestamp dates the
//! signature), and stores signatures as `cosign sign` does in keyless mode.
//! Every forgery the class allows is tried: another identity or issuer, a
//! certificate authority or log nobody trusts, a signature made after the
//! certificate expired, and a valid certificate and log entry copied onto
//! a payload they never signed.

use std::sync::Arc;

use airlock_registry::{
    Credentials, KeylessRoot, OciReference, Registry, SignatureError, TrustedSigner, verify,
};
use airlock_test_registry::TestRegistry;
use airlock_test_registry::sigstore::{
    BUNDLE, Fulcio, LOGGED_AT, Rekor, SIGNATURE, Signature, bundle_v03, ecdsa_sign, keyless, payload,
    store_bundles, store_signatures,
};
use rcgen::KeyPair;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IDENTITY: &str = "https://github.com/acme/tools/.github/workflows/release.yml@refs/tags/v1";

struct Setup {
    registry: TestRegistry,
    client: Registry,
    fulcio: Fulcio,
    rekor: Rekor,
    dir: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    Some(Setup {
        registry: TestRegistry::start()?,
        client: Registry::new(Credentials::anonymous()),
        fulcio: Fulcio::new(),
        rekor: Rekor::new(),
        dir: tempfile::tempdir().expect("tempdir"),
    })
}

fn payload_of(reference: &OciReference) -> Vec<u8> {
    payload(reference.registry(), reference.repository(), reference.digest().expect("pinned"))
}

impl Setup {
    async fn push(&self, marker: &str, tag: &str) -> OciReference {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        bytes.extend_from_slice(marker.as_bytes());
        let reference: OciReference =
            self.registry.reference("tools/keyless", tag).parse().expect("reference");
        self.client.push(&bytes, &reference).await.expect("push")
    }

    /// The configured roots: this Fulcio and this Rekor.
    fn root(&self) -> Arc<KeylessRoot> {
        let fulcio = self.dir.path().join("fulcio.pem");
        let rekor = self.dir.path().join("rekor.pub");
        std::fs::write(&fulcio, &self.fulcio.pem).expect("write");
        std::fs::write(&rekor, self.rekor.public_key_pem()).expect("write");
        Arc::new(KeylessRoot::from_files(&fulcio, &[rekor]).expect("roots"))
    }

    fn signer(&self, identity: &str, issuer: &str) -> TrustedSigner {
        TrustedSigner::keyless("acme-ci", issuer, identity, self.root())
    }

    fn sign_with(
        &self,
        reference: &OciReference,
        identity: &str,
        issuer: &str,
        fulcio: &Fulcio,
        rekor: &Rekor,
        time: i64,
    ) -> Signature {
        keyless(payload_of(reference), identity, issuer, fulcio, rekor, time)
    }

    fn sign(&self, reference: &OciReference) -> Signature {
        self.sign_with(reference, IDENTITY, ISSUER, &self.fulcio, &self.rekor, LOGGED_AT)
    }

    async fn store(&self, reference: &OciReference, signatures: &[Signature]) {
        let digest = reference.digest().expect("pinned");
        store_signatures(reference.registry(), reference.repository(), digest, signatures).await;
    }

    async fn verify(
        &self,
        reference: &OciReference,
        signers: &[TrustedSigner],
    ) -> Result<String, SignatureError> {
        verify(reference, reference.digest().expect("pinned"), signers, &Credentials::anonymous()).await
    }
}

#[tokio::test]
async fn a_keyless_signature_by_the_configured_identity_verifies_offline() {
    let Some(s) = setup() else { return };
    let tool = s.push("released by CI", "1").await;
    s.store(&tool, &[s.sign(&tool)]).await;
    assert_eq!(s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect("verifies"), "acme-ci");

    // An e-mail identity works the same way.
    let other = s.push("released by a person", "2").await;
    s.store(&other, &[s.sign_with(&other, "release@acme.example", ISSUER, &s.fulcio, &s.rekor, LOGGED_AT)])
        .await;
    let person = TrustedSigner::keyless("release-manager", ISSUER, "release@acme.example", s.root());
    assert_eq!(
        s.verify(&other, &[s.signer(IDENTITY, ISSUER), person]).await.expect("verifies"),
        "release-manager"
    );
}

#[tokio::test]
async fn another_identity_issuer_authority_or_log_is_refused() {
    let Some(s) = setup() else { return };
    let tool = s.push("keyless", "1").await;
    s.store(&tool, &[s.sign(&tool)]).await;
    // The signature is right; the configured identity or issuer is not.
    for signer in [
        s.signer("https://github.com/acme/tools/.github/workflows/other.yml@refs/tags/v1", ISSUER),
        s.signer(IDENTITY, "https://accounts.google.com"),
        // A prefix of the identity is not the identity.
        s.signer("https://github.com/acme/tools/", ISSUER),
    ] {
        let err = s.verify(&tool, &[signer]).await.expect_err("another identity");
        assert!(matches!(err, SignatureError::Untrusted { count: 1, .. }), "{err}");
    }

    // A certificate from an authority the roots do not name.
    let rogue = Fulcio::new();
    s.store(&tool, &[s.sign_with(&tool, IDENTITY, ISSUER, &rogue, &s.rekor, LOGGED_AT)]).await;
    let err = s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("rogue authority");
    assert!(err.to_string().contains("none made by a trusted signer"), "{err}");

    // A log entry signed by a log the roots do not name.
    let rogue_log = Rekor::new();
    s.store(&tool, &[s.sign_with(&tool, IDENTITY, ISSUER, &s.fulcio, &rogue_log, LOGGED_AT)]).await;
    let err = s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("rogue log");
    assert!(matches!(err, SignatureError::Unverifiable { count: 1, .. }), "{err}");
    assert!(err.to_string().contains("could not be checked against the configured roots"), "{err}");

    // Logged after the certificate expired (a leaked ephemeral key).
    s.store(&tool, &[s.sign_with(&tool, IDENTITY, ISSUER, &s.fulcio, &s.rekor, LOGGED_AT + 2 * 86_400)])
        .await;
    let err = s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("expired");
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");
}

/// A valid certificate and log entry are public (the log publishes them).
/// Copied onto a payload for another component, with a signature the
/// certificate's key never made, or beside a log entry about another
/// signature, they prove nothing.
#[tokio::test]
async fn a_certificate_and_log_entry_copied_from_another_signature_are_refused() {
    let Some(s) = setup() else { return };
    let genuine = s.push("genuine", "1").await;
    let evil = s.push("evil", "2").await;
    let real = s.sign(&genuine);

    // The evil payload, the genuine certificate and bundle, and a
    // signature by the attacker's own key.
    let attacker = KeyPair::generate().expect("attacker key");
    let payload = payload_of(&evil);
    let mut annotations = real.annotations.clone();
    annotations.insert(SIGNATURE.into(), ecdsa_sign(&attacker, &payload));
    s.store(&evil, &[Signature { payload, annotations }]).await;
    let err = s.verify(&evil, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("key did not sign it");
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");

    // A genuine signature and certificate, with the log entry of another
    // genuine signature (logged at another time).
    let mut signature = s.sign(&evil);
    let other_entry = s.sign(&genuine).annotations[BUNDLE].clone();
    signature.annotations.insert(BUNDLE.into(), other_entry);
    s.store(&evil, &[signature]).await;
    let err =
        s.verify(&evil, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("entry about another signature");
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");

    // Without a log entry, a certificate proves no time: refused.
    let mut signature = s.sign(&evil);
    signature.annotations.remove(BUNDLE);
    s.store(&evil, &[signature]).await;
    assert!(s.verify(&evil, &[s.signer(IDENTITY, ISSUER)]).await.is_err());
}

/// cosign 3's default: a Sigstore bundle (v0.3) stored as an OCI referrer,
/// carrying the log's inclusion proof under a signed checkpoint. It is
/// verified offline too; the same forgeries are refused.
#[tokio::test]
async fn a_sigstore_bundle_stored_as_a_referrer_verifies_offline() {
    let Some(s) = setup() else { return };
    let tool = s.push("bundled", "1").await;
    let (registry, repository) = (tool.registry().to_owned(), tool.repository().to_owned());
    let digest = tool.digest().expect("pinned").to_owned();
    let store = |bundles: Vec<String>| {
        let (registry, repository, digest) = (registry.clone(), repository.clone(), digest.clone());
        async move { store_bundles(&registry, &repository, &digest, &bundles).await }
    };
    store(vec![bundle_v03(&digest, IDENTITY, ISSUER, &s.fulcio, &s.rekor, LOGGED_AT)]).await;
    assert_eq!(s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect("verifies"), "acme-ci");

    let err =
        s.verify(&tool, &[s.signer(IDENTITY, "https://accounts.google.com")]).await.expect_err("issuer");
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");
    store(vec![bundle_v03(&digest, IDENTITY, ISSUER, &Fulcio::new(), &s.rekor, LOGGED_AT)]).await;
    let err = s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("rogue authority");
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");
    store(vec![bundle_v03(&digest, IDENTITY, ISSUER, &s.fulcio, &Rekor::new(), LOGGED_AT)]).await;
    let err = s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("rogue log");
    assert!(matches!(err, SignatureError::Unverifiable { count: 1, .. }), "{err}");

    // A genuine bundle for another component, listed as this one's.
    let other = s.push("another", "2").await;
    let other_digest = other.digest().expect("pinned").to_owned();
    store(vec![bundle_v03(&other_digest, IDENTITY, ISSUER, &s.fulcio, &s.rekor, LOGGED_AT)]).await;
    let err = s.verify(&tool, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("another subject");
    assert!(
        !matches!(err, SignatureError::Untrusted { .. }) || err.to_string().contains("none made"),
        "{err}"
    );
}

#[test]
fn bad_roots_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not PEM").expect("write");
    let fulcio = Fulcio::new();
    let good = dir.path().join("fulcio.pem");
    std::fs::write(&good, &fulcio.pem).expect("write");
    let rekor = dir.path().join("rekor.pub");
    std::fs::write(&rekor, Rekor::new().public_key_pem()).expect("write");

    let err = KeylessRoot::from_files(&junk, std::slice::from_ref(&rekor)).expect_err("no certificate");
    assert!(err.to_string().contains("junk.pem") && err.to_string().contains("no certificate"), "{err}");
    let err = KeylessRoot::from_files(&good, std::slice::from_ref(&junk)).expect_err("not a key");
    assert!(
        err.to_string().contains("junk.pem") && err.to_string().contains("not a PEM public key"),
        "{err}"
    );
    let err = KeylessRoot::from_files(&good, &[]).expect_err("no log");
    assert!(err.to_string().contains("rekor_keys"), "{err}");
    assert!(KeylessRoot::from_files(&good, &[rekor]).is_ok());
}
