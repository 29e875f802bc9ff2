//! Keyless (Fulcio) signatures, verified offline: the signer is an
//! identity (an e-mail address or a URI, such as a CI workflow's) that an
//! OIDC issuer vouched for, in a short-lived certificate from a Fulcio
//! certificate authority; a transparency log (Rekor) recorded the signature
//! while the certificate was valid. The operator configures the roots
//! ([`KeylessRoot`]: the Fulcio certificates and the Rekor public keys), so
//! nothing is fetched: no TUF root, no call to the log.
//!
//! sigstore-rs checks the certificate chain and the log's signed entry
//! timestamp. It does not check that the certificate's key made the
//! signature, nor that the log entry is about this signature, so a valid
//! certificate and log entry copied from any other signature of the same
//! identity would pass its identity check alone. [`Keyless::signed`] checks
//! both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use sigstore::cosign::SignatureLayer;
use sigstore::cosign::bundle_content::BundleContent;
use sigstore::cosign::signature_layers::CertificateSubject;
use sigstore::crypto::Signature;
use sigstore::trust::ManualTrustRoot;

use crate::SignatureError;

/// The offline roots of keyless signatures: which Fulcio certificate
/// authorities issue signing certificates, and which transparency logs'
/// entries are believed.
#[derive(Clone, Debug)]
pub struct KeylessRoot {
    fulcio: Vec<CertificateDer<'static>>,
    /// Rekor public keys (DER), by log id (the SHA-256 of the key, hex).
    rekor: BTreeMap<String, Vec<u8>>,
}

impl KeylessRoot {
    /// Reads the Fulcio certificates (PEM, one or more: roots and
    /// intermediates) and the Rekor public keys (PEM, one per file).
    pub fn from_files(fulcio: &Path, rekor: &[PathBuf]) -> Result<Self, SignatureError> {
        let bad = |path: &Path, reason: String| SignatureError::Key { path: path.to_owned(), reason };
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fulcio)
            .map_err(|e| bad(fulcio, format!("cannot read PEM certificates: {e}")))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(fulcio, format!("not PEM certificates: {e}")))?;
        if certificates.is_empty() {
            return Err(bad(fulcio, "no certificate in it".into()));
        }
        if rekor.is_empty() {
            return Err(SignatureError::Key {
                path: fulcio.to_owned(),
                reason: "keyless signatures need at least one transparency log key (rekor_keys)".into(),
            });
        }
        let mut keys = BTreeMap::new();
        for path in rekor {
            let key = SubjectPublicKeyInfoDer::from_pem_file(path)
                .map_err(|e| bad(path, format!("not a PEM public key: {e}")))?;
            sigstore::crypto::CosignVerificationKey::try_from_der(key.as_ref())
                .map_err(|e| bad(path, format!("not an ECDSA or Ed25519 public key: {e}")))?;
            keys.insert(log_id(key.as_ref()), key.as_ref().to_vec());
        }
        Ok(Self { fulcio: certificates, rekor: keys })
    }

    /// The roots as sigstore-rs takes them.
    pub(crate) fn trust_root(&self) -> ManualTrustRoot<'static> {
        ManualTrustRoot {
            fulcio_certs: self.fulcio.clone(),
            rekor_keys: self.rekor.clone(),
            ctfe_keys: BTreeMap::new(),
        }
    }
}

/// A transparency log's id: the SHA-256 of its public key (DER), hex, as
/// Rekor names itself in its entries.
pub fn log_id(public_key_der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(public_key_der))
}

/// A keyless signer: an identity an OIDC issuer vouched for.
#[derive(Clone, Debug)]
pub(crate) struct Keyless {
    /// The OIDC issuer the certificate names (exactly).
    pub(crate) issuer: String,
    /// The certificate's subject: an e-mail address or a URI (exactly).
    pub(crate) identity: String,
    pub(crate) root: std::sync::Arc<KeylessRoot>,
}

impl Keyless {
    /// Whether `layer` is this identity's signature: a certificate that
    /// chains to the configured Fulcio roots and was valid when the
    /// configured log recorded the entry (sigstore-rs checked these, or
    /// left no certificate), naming this issuer and identity; whose key
    /// verifies the signature over the layer's payload; and a log entry
    /// about exactly this signature and payload.
    pub(crate) fn signed(&self, layer: &SignatureLayer) -> bool {
        let (Some(certificate), Some(signature)) = (&layer.certificate_signature, &layer.signature) else {
            return false;
        };
        let subject = match &certificate.subject {
            CertificateSubject::Email(subject) | CertificateSubject::Uri(subject) => subject,
        };
        if certificate.issuer.as_deref() != Some(self.issuer.as_str()) || subject != &self.identity {
            return false;
        }
        if certificate
            .verification_key
            .verify_signature(Signature::Base64Encoded(signature.as_bytes()), &layer.raw_data)
            .is_err()
        {
            return false;
        }
        match &layer.bundle {
            Some(BundleContent::RekorBundle(bundle)) => {
                logged_entry_is_about(&bundle.payload.body, signature, &layer.raw_data)
            }
            // sigstore-rs checked this entry's body against the bundle's
            // signature, certificate and payload, and its inclusion proof.
            Some(BundleContent::SigstoreBundle(_)) => true,
            None => false,
        }
    }
}

/// Whether a Rekor entry body (base64 JSON, `hashedrekord`) records this
/// signature over a payload with this payload's SHA-256.
fn logged_entry_is_about(body: &str, signature: &str, payload: &[u8]) -> bool {
    use sha2::Digest;
    let engine = base64::engine::general_purpose::STANDARD;
    let Some(entry) =
        engine.decode(body).ok().and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
    else {
        return false;
    };
    if entry["kind"] != "hashedrekord" {
        return false;
    }
    let spec = &entry["spec"];
    let logged_signature = spec["signature"]["content"].as_str().and_then(|s| engine.decode(s).ok());
    let signature = engine.decode(signature).ok();
    let hash = &spec["data"]["hash"];
    logged_signature.is_some()
        && logged_signature == signature
        && hash["algorithm"] == "sha256"
        && hash["value"].as_str() == Some(hex::encode(sha2::Sha256::digest(payload)).as_str())
}
