//! Cosign signatures on components: verified against the operator's
//! trusted signers (`[[tool_signers]]`: ECDSA P-256 or Ed25519 public keys,
//! or keyless identities checked offline, see [`crate::keyless`]), made
//! with a local key (`airlock sign`). Signatures are stored in the
//! registry as cosign stores them (the `sha256-<hex>.sig` tag, simple
//! signing payloads); sigstore-rs reads and checks them.

use std::path::{Path, PathBuf};

use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{ClientBuilder, Constraint, CosignCapabilities, SignatureLayer};
use sigstore::crypto::SigningScheme;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::registry::{Auth, ClientConfig, ClientProtocol};

use std::sync::Arc;

use crate::keyless::Keyless;
use crate::{Credentials, KeylessRoot, OciReference};

/// A signer the operator trusts, by name.
pub struct TrustedSigner {
    name: String,
    kind: SignerKind,
}

/// How a trusted signer's signatures are recognised.
enum SignerKind {
    /// Made by this public key.
    Key(PublicKeyVerifier),
    /// Made by this identity, in a Fulcio certificate.
    Keyless(Keyless),
}

impl std::fmt::Debug for TrustedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedSigner").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Why a signature check or a signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A key file cannot be read or is not a supported key.
    #[error("signing key `{path}`: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No signature is stored for the component's manifest.
    #[error("`{reference}` is not signed: no cosign signature for {digest}")]
    Unsigned {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: String,
    },
    /// Signatures exist, but each is over another digest.
    #[error("`{reference}`: the stored signatures are over another digest ({other}), not {digest}: refused")]
    OtherDigest {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: String,
        /// A digest a signature names.
        other: String,
    },
    /// Signatures over this digest exist, but none verifies with a trusted
    /// signer's key.
    #[error(
        "`{reference}`: {count} signature(s) over {digest}, none made by a trusted signer's key ({signers}): made by another key, or not valid"
    )]
    Untrusted {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: String,
        /// How many signatures were checked.
        count: usize,
        /// The trusted signers' names.
        signers: String,
    },
    /// Signatures over this digest are stored, but none could be read as
    /// a valid signature: a transparency-log entry signed by a log the
    /// roots do not name, or a malformed layer.
    #[error(
        "`{reference}`: {count} signature(s) over {digest} could not be checked against the configured roots (a transparency-log entry from an untrusted log, or a malformed signature): refused"
    )]
    Unverifiable {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: String,
        /// How many such signatures are stored.
        count: usize,
    },
    /// The registry could not be read or written.
    #[error("registry `{registry}`: {message}")]
    Registry {
        /// The registry.
        registry: String,
        /// What went wrong.
        message: String,
    },
}

impl TrustedSigner {
    /// A signer named `name` whose public key (PEM: ECDSA P-256 or
    /// Ed25519, as cosign writes `cosign.pub`) is in the file `path`.
    pub fn from_file(name: &str, path: &Path) -> Result<Self, SignatureError> {
        let pem = std::fs::read(path).map_err(|e| key_error(path, e.to_string()))?;
        let verifier = PublicKeyVerifier::try_from(&pem)
            .map_err(|e| key_error(path, format!("not an ECDSA P-256 or Ed25519 public key in PEM: {e}")))?;
        Ok(Self { name: name.to_owned(), kind: SignerKind::Key(verifier) })
    }

    /// A keyless signer named `name`: signatures whose Fulcio certificate
    /// (chaining to `root`) names exactly this OIDC `issuer` and this
    /// `identity` (the certificate's e-mail address or URI), recorded by a
    /// transparency log `root` trusts while the certificate was valid.
    pub fn keyless(name: &str, issuer: &str, identity: &str, root: Arc<KeylessRoot>) -> Self {
        Self {
            name: name.to_owned(),
            kind: SignerKind::Keyless(Keyless {
                issuer: issuer.to_owned(),
                identity: identity.to_owned(),
                root,
            }),
        }
    }

    /// Whether `layer` is this signer's signature.
    fn signed(&self, layer: &SignatureLayer) -> bool {
        match &self.kind {
            SignerKind::Key(verifier) => verifier.verify(layer).unwrap_or(false),
            SignerKind::Keyless(keyless) => keyless.signed(layer),
        }
    }

    /// The signer's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn key_error(path: &Path, reason: String) -> SignatureError {
    SignatureError::Key { path: path.to_owned(), reason }
}

/// A cosign client for `reference`'s registry; with `root`, it checks
/// keyless certificates and log entries against it (offline).
fn client(
    reference: &OciReference,
    root: Option<&KeylessRoot>,
) -> Result<sigstore::cosign::Client, SignatureError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if reference.is_loopback() {
        ClientProtocol::HttpsExcept(vec![reference.registry().to_owned()])
    } else {
        ClientProtocol::Https
    };
    let error = |e: sigstore::errors::SigstoreError| SignatureError::Registry {
        registry: reference.registry().to_owned(),
        message: e.to_string(),
    };
    let builder =
        ClientBuilder::default().with_oci_client_config(ClientConfig { protocol, ..ClientConfig::default() });
    match root.map(KeylessRoot::trust_root) {
        Some(trust) => builder.with_trust_repository(&trust).map_err(error)?.build().map_err(error),
        None => builder.build().map_err(error),
    }
}

/// The registry credentials for `reference`, as sigstore takes them.
fn auth(reference: &OciReference, credentials: &Credentials) -> Result<Auth, SignatureError> {
    credentials.for_registry(reference.registry()).map(|auth| Auth::from(&auth)).map_err(|e| {
        SignatureError::Registry { registry: reference.registry().to_owned(), message: e.to_string() }
    })
}

fn sigstore_reference(reference: &OciReference, digest: &str) -> sigstore::registry::OciReference {
    sigstore::registry::OciReference::with_digest(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        digest.to_owned(),
    )
}

/// Which trusted signer signed the manifest `digest` of `reference`: the
/// first whose key verifies a signature whose payload names exactly this
/// digest. Every other outcome is an error naming what was found.
pub async fn verify(
    reference: &OciReference,
    digest: &str,
    signers: &[TrustedSigner],
    credentials: &Credentials,
) -> Result<String, SignatureError> {
    let auth = auth(reference, credentials)?;
    let root = signers.iter().find_map(|signer| match &signer.kind {
        SignerKind::Keyless(keyless) => Some(keyless.root.clone()),
        SignerKind::Key(_) => None,
    });
    let mut client = client(reference, root.as_deref())?;
    let image = sigstore_reference(reference, digest);
    let layers = client.trusted_signature_layers(&auth, &image).await.map_err(|e| {
        SignatureError::Registry { registry: reference.registry().to_owned(), message: e.to_string() }
    })?;
    // sigstore keeps only layers whose payload names the digest asked
    // for; checked again here, as the whole point is the exact digest.
    let over_this: Vec<&SignatureLayer> =
        layers.iter().filter(|l| l.simple_signing.critical.image.docker_manifest_digest == digest).collect();
    for signer in signers {
        for layer in &over_this {
            if signer.signed(layer) {
                return Ok(signer.name.clone());
            }
        }
    }
    if !over_this.is_empty() {
        let names: Vec<&str> = signers.iter().map(|s| s.name.as_str()).collect();
        return Err(SignatureError::Untrusted {
            reference: reference.to_string(),
            digest: digest.to_owned(),
            count: over_this.len(),
            signers: if names.is_empty() { "none configured".into() } else { names.join(", ") },
        });
    }
    let stored = crate::client::stored_signatures(reference, digest, credentials).await;
    let (reference, digest) = (reference.to_string(), digest.to_owned());
    Err(match stored {
        stored if stored.over_this > 0 => {
            SignatureError::Unverifiable { reference, digest, count: stored.over_this }
        }
        crate::client::StoredSignatures { other: Some(other), .. } => {
            SignatureError::OtherDigest { reference, digest, other }
        }
        _ => SignatureError::Unsigned { reference, digest },
    })
}

/// Signs the manifest `digest` of `reference` with the private key in
/// `key` (PEM, as [`generate_key`] or cosign writes it unencrypted) and
/// stores the signature in the registry, as cosign does.
pub async fn sign(
    reference: &OciReference,
    digest: &str,
    key: &Path,
    credentials: &Credentials,
) -> Result<(), SignatureError> {
    let pem = std::fs::read(key).map_err(|e| key_error(key, e.to_string()))?;
    let pair = SigStoreKeyPair::from_pem(&pem)
        .map_err(|e| key_error(key, format!("not a PKCS#8 PEM private key: {e}")))?;
    let scheme = match pair {
        SigStoreKeyPair::ECDSA(_) => SigningScheme::ECDSA_P256_SHA256_ASN1,
        SigStoreKeyPair::ED25519(_) => SigningScheme::ED25519,
        SigStoreKeyPair::RSA(_) => {
            return Err(key_error(key, "RSA keys are not accepted: use ECDSA P-256 or Ed25519".into()));
        }
    };
    let signer = pair.to_sigstore_signer(&scheme).map_err(|e| key_error(key, e.to_string()))?;
    let registry_error = |e: sigstore::errors::SigstoreError| SignatureError::Registry {
        registry: reference.registry().to_owned(),
        message: e.to_string(),
    };
    let auth = auth(reference, credentials)?;
    let mut client = client(reference, None)?;
    let image = sigstore_reference(reference, digest);
    let (signature_image, source_digest) = client.triangulate(&image, &auth).await.map_err(registry_error)?;
    if source_digest != digest {
        return Err(SignatureError::Registry {
            registry: reference.registry().to_owned(),
            message: format!("the registry names {source_digest} for {digest}"),
        });
    }
    let mut layer = SignatureLayer::new_unsigned(&image, digest).map_err(registry_error)?;
    PrivateKeySigner::new_with_signer(signer).add_constraint(&mut layer).map_err(registry_error)?;
    // Keep the signatures already stored (other signers) beside this one.
    let mut layers: Vec<SignatureLayer> = client
        .trusted_signature_layers(&auth, &image)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.signature.is_some())
        .collect();
    layers.push(layer);
    client.push_signature(None, &auth, &signature_image, layers).await.map_err(registry_error)?;
    Ok(())
}

/// Writes a new ECDSA P-256 key pair: the private key to `path` (PKCS#8
/// PEM, 0600, never overwriting) and the public key to `path.pub`, the
/// form `[[tool_signers]]` and cosign's `--key` take.
pub fn generate_key(path: &Path) -> Result<PathBuf, SignatureError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let signer =
        SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer().map_err(|e| key_error(path, e.to_string()))?;
    let pair = signer.to_sigstore_keypair().map_err(|e| key_error(path, e.to_string()))?;
    let private = pair.private_key_to_pem().map_err(|e| key_error(path, e.to_string()))?;
    let public = pair.public_key_to_pem().map_err(|e| key_error(path, e.to_string()))?;
    let public_path = PathBuf::from(format!("{}.pub", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| key_error(path, format!("{e} (an existing key is never overwritten)")))?;
    file.write_all(private.as_bytes()).map_err(|e| key_error(path, e.to_string()))?;
    std::fs::write(&public_path, public).map_err(|e| key_error(&public_path, e.to_string()))?;
    Ok(public_path)
}
