//! A stand-in for Sigstore's public services, for keyless-signature
//! tests: [`Fulcio`] (a certificate authority issuing short-lived
//! code-signing certificates that name an OIDC issuer and an identity) and
//! [`Rekor`] (a transparency log whose signed entry timestamp dates a
//! signature), and [`store_signatures`], which stores signatures in a
//! registry as `cosign sign` does in keyless mode.

use std::collections::BTreeMap;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::SigStoreKeyPair;

/// Sigstore's OID for the OIDC issuer (the raw string, as Fulcio writes it).
const ISSUER_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
/// 2026-01-01T12:00:00Z: inside the validity of every certificate
/// [`Fulcio::certificate`] issues (that day).
pub const LOGGED_AT: i64 = 1_767_268_800;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Signs `message` with an ECDSA P-256 key (ASN.1 DER signature, base64).
pub fn ecdsa_sign(key: &KeyPair, message: &[u8]) -> String {
    let signature = SigStoreKeyPair::from_pem(key.serialize_pem().as_bytes())
        .and_then(|pair| pair.to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1))
        .and_then(|signer| signer.sign(message))
        .expect("sign");
    b64(&signature)
}

/// A certificate authority playing Fulcio.
pub struct Fulcio {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate (PEM): what `[sigstore] fulcio_roots` names.
    pub pem: String,
}

impl Default for Fulcio {
    fn default() -> Self {
        Self::new()
    }
}

impl Fulcio {
    /// A new authority with a fresh key.
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Self { issuer: Issuer::new(params, key), pem }
    }

    /// A code-signing certificate (PEM) for `key`, naming `identity` (a
    /// URI, or an e-mail address when it has no scheme) and the OIDC
    /// `issuer`, valid on 2026-01-01 only.
    pub fn certificate(&self, key: &KeyPair, identity: &str, issuer: &str) -> String {
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
pub struct Rekor {
    key: KeyPair,
}

impl Default for Rekor {
    fn default() -> Self {
        Self::new()
    }
}

impl Rekor {
    /// A new log with a fresh key.
    pub fn new() -> Self {
        Self { key: KeyPair::generate().expect("log key") }
    }

    /// Its public key (PEM): what `[sigstore] rekor_keys` names.
    pub fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// Its log id: the SHA-256 of its public key (DER), hex.
    pub fn id(&self) -> String {
        sha256_hex(&self.key.subject_public_key_info())
    }

    /// The bundle cosign stores: the entry for `signature` (base64) over
    /// `payload` by `certificate`, logged at `time`, with the log's signed
    /// entry timestamp.
    pub fn bundle(&self, payload: &[u8], signature: &str, certificate: &str, time: i64) -> String {
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
        let set = ecdsa_sign(&self.key, canonical.as_bytes());
        serde_json::json!({
            "SignedEntryTimestamp": set,
            "Payload": {"body": body, "integratedTime": time, "logIndex": 7, "logID": id},
        })
        .to_string()
    }
}

/// One signature as cosign stores it: the layer's payload and annotations.
#[derive(Clone, Debug)]
pub struct Signature {
    /// The simple-signing payload.
    pub payload: Vec<u8>,
    /// `dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`,
    /// `…/chain`, `…/bundle`.
    pub annotations: BTreeMap<String, String>,
}

/// The annotation holding the signature.
pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The annotation holding the Rekor bundle.
pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// The simple-signing payload cosign signs for the manifest `digest` of
/// `registry`/`repository`.
pub fn payload(registry: &str, repository: &str, digest: &str) -> Vec<u8> {
    let image = sigstore::registry::OciReference::with_digest(
        registry.to_owned(),
        repository.to_owned(),
        digest.to_owned(),
    );
    sigstore::cosign::SignatureLayer::new_unsigned(&image, digest).expect("payload").raw_data
}

/// A keyless signature over `payload` by `identity` from `issuer`, with a
/// fresh key certified by `fulcio`, logged by `rekor` at `time`.
pub fn keyless(
    payload: Vec<u8>,
    identity: &str,
    issuer: &str,
    fulcio: &Fulcio,
    rekor: &Rekor,
    time: i64,
) -> Signature {
    let key = KeyPair::generate().expect("ephemeral key");
    let certificate = fulcio.certificate(&key, identity, issuer);
    let signature = ecdsa_sign(&key, &payload);
    let bundle = rekor.bundle(&payload, &signature, &certificate, time);
    let annotations = BTreeMap::from([
        (SIGNATURE.to_owned(), signature),
        ("dev.sigstore.cosign/certificate".to_owned(), certificate),
        ("dev.sigstore.cosign/chain".to_owned(), fulcio.pem.clone()),
        (BUNDLE.to_owned(), bundle),
    ]);
    Signature { payload, annotations }
}

/// Stores `signatures` as the cosign signatures of the manifest `digest`
/// in `registry` (a loopback address)/`repository`: the `sha256-<hex>.sig`
/// tag, replacing what was there.
pub async fn store_signatures(registry: &str, repository: &str, digest: &str, signatures: &[Signature]) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let oci = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let tag = oci_client::Reference::with_tag(
        registry.to_owned(),
        repository.to_owned(),
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
    // canonical JSON would leave the PEM's newlines raw in strings, which
    // the registry refuses.
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
