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

/// The media type of a Sigstore bundle (v0.3), as cosign 3 stores it.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A Sigstore bundle (v0.3), as `cosign sign` writes it with the new
/// bundle format (cosign 3's default): a DSSE envelope around an in-toto
/// statement naming the manifest `digest`, signed by `identity` from
/// `issuer` with a fresh key certified by `fulcio`, and the log entry of
/// `rekor` at `time` with its signed entry timestamp and a Merkle inclusion
/// proof under a signed checkpoint (a tree of one entry).
pub fn bundle_v03(
    digest: &str,
    identity: &str,
    issuer: &str,
    fulcio: &Fulcio,
    rekor: &Rekor,
    time: i64,
) -> String {
    use sha2::Digest;
    let engine = base64::engine::general_purpose::STANDARD;
    let hex_digest = digest.strip_prefix("sha256:").expect("sha256 digest");
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "tool", "digest": {"sha256": hex_digest}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1",
        "predicate": {},
    })
    .to_string();
    let payload_type = "application/vnd.in-toto+json";
    // DSSE's pre-authentication encoding: what is signed.
    let pae = format!("DSSEv1 {} {payload_type} {} {statement}", payload_type.len(), statement.len());
    let key = KeyPair::generate().expect("ephemeral key");
    let certificate = fulcio.certificate(&key, identity, issuer);
    let signature = ecdsa_sign(&key, pae.as_bytes());
    let envelope = format!(
        r#"{{"payload":"{}","payloadType":"{payload_type}","signatures":[{{"sig":"{signature}"}}]}}"#,
        engine.encode(&statement)
    );
    let body = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": sha256_hex(envelope.as_bytes())},
            "payloadHash": {"algorithm": "sha256", "value": sha256_hex(statement.as_bytes())},
            "signatures": [{"signature": signature, "verifier": b64(certificate.as_bytes())}],
        },
    })
    .to_string();
    let body_b64 = b64(body.as_bytes());
    let id = rekor.id();
    let set_payload =
        format!(r#"{{"body":"{body_b64}","integratedTime":{time},"logID":"{id}","logIndex":7}}"#);
    let set = ecdsa_sign(&rekor.key, set_payload.as_bytes());
    // RFC 6962: a tree of one leaf has the leaf's hash as its root.
    let root: [u8; 32] = sha2::Sha256::digest([&[0u8][..], body.as_bytes()].concat()).into();
    let note = format!("rekor.test\n1\n{}\n", b64(&root));
    let checkpoint_signature = engine.decode(ecdsa_sign(&rekor.key, note.as_bytes())).expect("b64");
    let fingerprint = &hex::decode(&id).expect("hex")[..4];
    let checkpoint =
        format!("{note}\n\u{2014} rekor.test {}\n", b64(&[fingerprint, &checkpoint_signature[..]].concat()));
    let certificate_der = engine
        .decode(certificate.lines().filter(|l| !l.starts_with("-----")).collect::<String>())
        .expect("PEM body");
    serde_json::json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(&certificate_der)},
            "tlogEntries": [{
                "logIndex": "7",
                "logId": {"keyId": b64(&hex::decode(&id).expect("hex"))},
                "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                "integratedTime": time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": set},
                "inclusionProof": {
                    "logIndex": "0",
                    "rootHash": b64(&root),
                    "treeSize": "1",
                    "hashes": [],
                    "checkpoint": {"envelope": checkpoint},
                },
                "canonicalizedBody": body_b64,
            }],
        },
        "dsseEnvelope": {
            "payload": engine.encode(&statement),
            "payloadType": payload_type,
            "signatures": [{"sig": signature}],
        },
    })
    .to_string()
}

/// Stores `bundles` as OCI referrers of the manifest `digest` in
/// `registry`/`repository`, as cosign 3 does: one
/// manifest per bundle whose `subject` is the signed manifest, listed in
/// the referrers tag schema's index (`sha256-<hex>`), which is what a
/// registry without the referrers API (this one) serves.
pub async fn store_bundles(registry: &str, repository: &str, digest: &str, bundles: &[String]) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let oci = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let reference = |tag: &str| {
        oci_client::Reference::with_tag(registry.to_owned(), repository.to_owned(), tag.to_owned())
    };
    let index_tag = reference(&digest.replace(':', "-"));
    let auth = oci_client::secrets::RegistryAuth::Anonymous;
    oci.auth(&index_tag, &auth, oci_client::RegistryOperation::Push).await.expect("auth");
    let subject =
        oci_client::Reference::with_digest(registry.to_owned(), repository.to_owned(), digest.to_owned());
    let (signed, _) = oci
        .pull_manifest_raw(&subject, &auth, &[oci_client::manifest::OCI_IMAGE_MEDIA_TYPE])
        .await
        .expect("the signed manifest");
    let size = signed.len();
    let empty = b"{}".to_vec();
    let empty_digest = format!("sha256:{}", sha256_hex(&empty));
    oci.push_blob(&index_tag, empty.clone(), &empty_digest).await.expect("push config");
    let mut entries = Vec::new();
    for (i, bundle) in bundles.iter().enumerate() {
        let layer_digest = format!("sha256:{}", sha256_hex(bundle.as_bytes()));
        oci.push_blob(&index_tag, bundle.as_bytes().to_vec(), &layer_digest).await.expect("push bundle");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
            "artifactType": BUNDLE_V03,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
            "layers": [{"mediaType": BUNDLE_V03, "digest": layer_digest, "size": bundle.len()}],
            "subject": {"mediaType": oci_client::manifest::OCI_IMAGE_MEDIA_TYPE, "digest": digest, "size": size},
        });
        let bytes = serde_json::to_vec(&manifest).expect("manifest JSON");
        let manifest_digest = format!("sha256:{}", sha256_hex(&bytes));
        oci.push_manifest_raw(
            &reference(&format!("bundle-{i}-{}", &manifest_digest[7..19])),
            bytes.clone(),
            http::HeaderValue::from_static(oci_client::manifest::OCI_IMAGE_MEDIA_TYPE),
        )
        .await
        .expect("store the bundle manifest");
        entries.push(serde_json::json!({
            "mediaType": oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
            "digest": manifest_digest,
            "size": bytes.len(),
            "artifactType": BUNDLE_V03,
        }));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
        "manifests": entries,
    });
    oci.push_manifest_raw(
        &index_tag,
        serde_json::to_vec(&index).expect("index JSON"),
        http::HeaderValue::from_static(oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE),
    )
    .await
    .expect("store the referrers index");
}
