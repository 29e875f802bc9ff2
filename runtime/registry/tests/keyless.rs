//! Keyless (Fulcio) signatures, verified offline against configured roots,
//! against a real registry. The test plays Fulcio (a certificate authority
//! issuing short-lived code-signing certificates naming an OIDC issuer and
//! an identity) and Rekor (a log whose signed entry timestamp dates the
//! signature), and stores signatures as `cosign sign` does in keyless mode.
//! Every forgery the class allows is tried: another identity or issuer, a
//! certificate authority or log nobody trusts, a signature made after the
//! certificate expired, and a valid certificate and log entry copied onto
//! a payload they never signed.

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_registry::{
    Credentials, KeylessRoot, OciReference, Registry, SignatureError, TrustedSigner, log_id, verify,
};
use airlock_test_registry::TestRegistry;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::SigStoreKeyPair;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IDENTITY: &str = "https://github.com/acme/tools/.github/workflows/release.yml@refs/tags/v1";
/// Sigstore's OID for the OIDC issuer (the raw string, as Fulcio writes it).
const ISSUER_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
/// 2026-01-01T12:00:00Z: inside the certificates' validity (that day).
const LOGGED_AT: i64 = 1_767_268_800;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Signs `message` with an ECDSA P-256 key (ASN.1 DER signature).
fn ecdsa_sign(key: &KeyPair, message: &[u8]) -> Vec<u8> {
    SigStoreKeyPair::from_pem(key.serialize_pem().as_bytes())
        .and_then(|pair| pair.to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1))
        .and_then(|signer| signer.sign(message))
        .expect("sign")
}

/// A certificate authority playing Fulcio.
struct Fulcio {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Fulcio {
    fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Self { issuer: Issuer::new(params, key), pem }
    }

    /// A code-signing certificate for `key`, naming `identity` (a URI, or
    /// an e-mail address when it has an `@` and no scheme) and `issuer`,
    /// valid on 2026-01-01 only.
    fn certificate(&self, key: &KeyPair, identity: &str, issuer: &str) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![if identity.contains("://") {
            SanType::URI(identity.try_into().expect("uri"))
        } else {
            SanType::Rfc822Name(identity.try_into().expect("email"))
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.custom_extensions =
            vec![CustomExtension::from_oid_content(ISSUER_OID, issuer.as_bytes().to_vec())];
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 1, 2);
        params.signed_by(key, &self.issuer).expect("leaf certificate").pem()
    }
}

/// A transparency log playing Rekor.
struct Rekor {
    key: KeyPair,
}

impl Rekor {
    fn new() -> Self {
        Self { key: KeyPair::generate().expect("log key") }
    }

    fn id(&self) -> String {
        log_id(&rcgen::PublicKeyData::subject_public_key_info(&self.key))
    }

    /// The bundle cosign stores: the entry for `signature` over `payload`
    /// by `certificate`, logged at `time`, with the log's signed timestamp.
    fn bundle(&self, payload: &[u8], signature: &str, certificate: &str, time: i64) -> String {
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": sha256_hex(payload)}},
                "signature": {"content": signature, "publicKey": {"content": b64(certificate.as_bytes())}},
            },
        });
        let body = b64(body.to_string().as_bytes());
        let id = self.id();
        // RFC 8785 canonical JSON of the entry: keys sorted, no spaces.
        let canonical = format!(r#"{{"body":"{body}","integratedTime":{time},"logID":"{id}","logIndex":7}}"#);
        let set = b64(&ecdsa_sign(&self.key, canonical.as_bytes()));
        serde_json::json!({
            "SignedEntryTimestamp": set,
            "Payload": {"body": body, "integratedTime": time, "logIndex": 7, "logID": id},
        })
        .to_string()
    }
}

/// One keyless signature as `cosign sign` stores it: the layer's payload
/// and its annotations.
struct Signature {
    payload: Vec<u8>,
    annotations: BTreeMap<String, String>,
}

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
        std::fs::write(&rekor, self.rekor.key.public_key_pem()).expect("write");
        Arc::new(KeylessRoot::from_files(&fulcio, &[rekor]).expect("roots"))
    }

    fn signer(&self, identity: &str, issuer: &str) -> TrustedSigner {
        TrustedSigner::keyless("acme-ci", issuer, identity, self.root())
    }

    /// The simple-signing payload cosign signs for `reference`'s digest.
    fn payload(reference: &OciReference) -> Vec<u8> {
        let digest = reference.digest().expect("pinned");
        let image = sigstore::registry::OciReference::with_digest(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            digest.to_owned(),
        );
        sigstore::cosign::SignatureLayer::new_unsigned(&image, digest).expect("payload").raw_data
    }

    /// A keyless signature over `reference` by `identity` from `issuer`,
    /// certified by `fulcio` and logged by `rekor` at `time`.
    fn sign_with(
        &self,
        reference: &OciReference,
        identity: &str,
        issuer: &str,
        fulcio: &Fulcio,
        rekor: &Rekor,
        time: i64,
    ) -> Signature {
        let payload = Self::payload(reference);
        let key = KeyPair::generate().expect("ephemeral key");
        let certificate = fulcio.certificate(&key, identity, issuer);
        let signature = b64(&ecdsa_sign(&key, &payload));
        let bundle = rekor.bundle(&payload, &signature, &certificate, time);
        let annotations = BTreeMap::from([
            ("dev.cosignproject.cosign/signature".to_owned(), signature),
            ("dev.sigstore.cosign/certificate".to_owned(), certificate),
            ("dev.sigstore.cosign/chain".to_owned(), fulcio.pem.clone()),
            ("dev.sigstore.cosign/bundle".to_owned(), bundle),
        ]);
        Signature { payload, annotations }
    }

    fn sign(&self, reference: &OciReference) -> Signature {
        self.sign_with(reference, IDENTITY, ISSUER, &self.fulcio, &self.rekor, LOGGED_AT)
    }

    /// Stores `signatures` as `reference`'s cosign signatures (the
    /// `sha256-<hex>.sig` tag), replacing any.
    async fn store(&self, reference: &OciReference, signatures: &[Signature]) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let oci = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        let digest = reference.digest().expect("pinned");
        let tag = oci_client::Reference::with_tag(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            format!("{}.sig", digest.replace(':', "-")),
        );
        let layers: Vec<oci_client::client::ImageLayer> = signatures
            .iter()
            .map(|s| {
                oci_client::client::ImageLayer::new(
                    s.payload.clone(),
                    "application/vnd.dev.cosign.simplesigning.v1+json".to_owned(),
                    Some(s.annotations.clone()),
                )
            })
            .collect();
        let config = oci_client::client::Config::new(
            b"{}".to_vec(),
            oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE.to_owned(),
            None,
        );
        // Written as go-containerregistry (cosign) writes it: oci-client's
        // canonical JSON would leave the PEM's newlines raw in strings,
        // which the registry refuses.
        let auth = oci_client::secrets::RegistryAuth::Anonymous;
        oci.auth(&tag, &auth, oci_client::RegistryOperation::Push).await.expect("auth");
        for (data, digest) in layers
            .iter()
            .map(|l| (l.data.clone(), l.sha256_digest()))
            .chain([(config.data.clone(), config.sha256_digest())])
        {
            oci.push_blob(&tag, data, &digest).await.expect("push blob");
        }
        let manifest = oci_client::manifest::OciImageManifest::build(&layers, &config, None);
        oci.push_manifest_raw(
            &tag,
            serde_json::to_vec(&manifest).expect("manifest JSON"),
            http::HeaderValue::from_static(oci_client::manifest::OCI_IMAGE_MEDIA_TYPE),
        )
        .await
        .expect("store the signature");
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
    let payload = Setup::payload(&evil);
    let mut annotations = real.annotations.clone();
    annotations.insert("dev.cosignproject.cosign/signature".into(), b64(&ecdsa_sign(&attacker, &payload)));
    s.store(&evil, &[Signature { payload, annotations }]).await;
    let err = s.verify(&evil, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("key did not sign it");
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");

    // A genuine signature and certificate, with the log entry of another
    // genuine signature (logged at another time).
    let mut signature = s.sign(&evil);
    let other_entry = s.sign(&genuine).annotations["dev.sigstore.cosign/bundle"].clone();
    signature.annotations.insert("dev.sigstore.cosign/bundle".into(), other_entry);
    s.store(&evil, &[signature]).await;
    let err =
        s.verify(&evil, &[s.signer(IDENTITY, ISSUER)]).await.expect_err("entry about another signature");
    assert!(matches!(err, SignatureError::Untrusted { .. }), "{err}");

    // Without a log entry, a certificate proves no time: refused.
    let mut signature = s.sign(&evil);
    signature.annotations.remove("dev.sigstore.cosign/bundle");
    s.store(&evil, &[signature]).await;
    assert!(s.verify(&evil, &[s.signer(IDENTITY, ISSUER)]).await.is_err());
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
    std::fs::write(&rekor, Rekor::new().key.public_key_pem()).expect("write");

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
