//! Pulling and pushing components (oci-client).

use std::path::PathBuf;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::{Client, Reference};

use crate::layout::{self, MANIFEST_TYPES, MAX_MANIFEST_BYTES};
use crate::{ComponentStore, Credentials, OciReference, RegistryError, sha256};

/// A component pulled into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    /// The reference pinned to the manifest that was verified.
    pub pinned: OciReference,
    /// The manifest's digest (`sha256:<hex>`): what a pin names.
    pub manifest_digest: String,
    /// The component's digest: what the artifact cache, the audit log and
    /// policy (`Tool.digest`) know it by.
    pub component_digest: String,
    /// The component's size in bytes.
    pub size: usize,
    /// Where it is in the store.
    pub path: PathBuf,
    /// True when the reference had no digest and the tag was resolved: the
    /// caller should print (and record) the digest it resolved to.
    pub resolved_tag: bool,
}

/// A client for OCI registries with one set of credentials.
pub struct Registry {
    credentials: Credentials,
}

impl Registry {
    /// A client using `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }

    fn client(reference: &OciReference) -> Client {
        // reqwest's rustls takes the process's provider: ring, as the rest
        // of airlock uses. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let protocol = if reference.is_loopback() {
            ClientProtocol::HttpsExcept(vec![reference.registry().to_owned()])
        } else {
            ClientProtocol::Https
        };
        Client::new(ClientConfig {
            protocol,
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..ClientConfig::default()
        })
    }

    fn failed(
        reference: &OciReference,
    ) -> impl Fn(oci_client::errors::OciDistributionError) -> RegistryError + '_ {
        move |e| RegistryError::Registry { registry: reference.registry().to_owned(), message: e.to_string() }
    }

    /// Pulls `reference` into `store`: the manifest (which must hash to the
    /// pinned digest, when there is one), then its one component layer
    /// (which must hash to the digest the manifest names). Nothing is
    /// stored unless both check.
    pub async fn pull(
        &self,
        reference: &OciReference,
        store: &ComponentStore,
    ) -> Result<Pulled, RegistryError> {
        let client = Self::client(reference);
        let auth = self.credentials.for_registry(reference.registry())?;
        let oci = reference.oci();
        let (manifest_bytes, _) =
            client.pull_manifest_raw(&oci, &auth, &MANIFEST_TYPES).await.map_err(|e| {
                // The client checks a pinned manifest's digest itself; its
                // refusal is the same refusal as ours below.
                match e {
                    OciDistributionError::DigestError(DigestError::VerificationError {
                        expected,
                        actual,
                    }) => RegistryError::ManifestDigestMismatch {
                        reference: reference.to_string(),
                        expected,
                        found: actual,
                    },
                    other => Self::failed(reference)(other),
                }
            })?;
        if manifest_bytes.len() > MAX_MANIFEST_BYTES {
            return Err(not_component(reference, format!("a manifest of {} bytes", manifest_bytes.len())));
        }
        let manifest_digest = sha256(&manifest_bytes);
        if let Some(pinned) = reference.digest()
            && pinned != manifest_digest
        {
            return Err(RegistryError::ManifestDigestMismatch {
                reference: reference.to_string(),
                expected: pinned.to_owned(),
                found: manifest_digest,
            });
        }
        let manifest: OciImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| not_component(reference, format!("the manifest does not parse: {e}")))?;
        let layer = layout::component_layer(&manifest).map_err(|reason| not_component(reference, reason))?;
        // By digest from here on: the tag is never asked again.
        let by_digest = Reference::with_digest(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            manifest_digest.clone(),
        );
        let mut bytes = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0));
        let fetched = client.pull_blob(&by_digest, layer, &mut bytes).await;
        let found = sha256(&bytes);
        if found != layer.digest {
            return Err(RegistryError::LayerDigestMismatch {
                reference: reference.to_string(),
                expected: layer.digest.clone(),
                found,
            });
        }
        fetched.map_err(Self::failed(reference))?;
        store.put_manifest(&manifest_bytes)?;
        let component_digest = store.put_component(&bytes)?;
        Ok(Pulled {
            pinned: reference.pinned(&manifest_digest),
            manifest_digest,
            path: store.component_path(&component_digest)?,
            component_digest,
            size: bytes.len(),
            resolved_tag: reference.digest().is_none(),
        })
    }

    /// Pushes `component` to `reference` (a tag) in the Wasm OCI artifact
    /// layout; returns the reference pinned to the manifest pushed. The
    /// manifest bytes are airlock's own, so the same component always gives
    /// the same manifest digest.
    pub async fn push(
        &self,
        component: &[u8],
        reference: &OciReference,
    ) -> Result<OciReference, RegistryError> {
        if reference.digest().is_some() {
            return Err(not_component(reference, "push to a tag, not a digest".into()));
        }
        let client = Self::client(reference);
        let auth = self.credentials.for_registry(reference.registry())?;
        let oci = reference.oci();
        client.store_auth_if_needed(oci.resolve_registry(), &auth).await;
        let layer_digest = sha256(component);
        let config = layout::config_json(&layer_digest);
        let config_digest = sha256(&config);
        let manifest = layout::manifest_json(&config_digest, config.len(), &layer_digest, component.len());
        let failed = Self::failed(reference);
        client.push_blob(&oci, component.to_vec(), &layer_digest).await.map_err(&failed)?;
        client.push_blob(&oci, config, &config_digest).await.map_err(&failed)?;
        let content_type = http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE);
        client.push_manifest_raw(&oci, manifest.clone(), content_type).await.map_err(&failed)?;
        Ok(reference.pinned(&sha256(&manifest)))
    }
}

/// The artifact type of a Sigstore bundle stored as a referrer (any version).
const SIGSTORE_BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle";

/// What the cosign signatures stored for a digest name, read for a
/// diagnosis only (never to trust them).
#[derive(Debug, Default)]
pub(crate) struct StoredSignatures {
    /// How many name the digest itself.
    pub(crate) over_this: usize,
    /// A digest another one names (a signature copied from another
    /// component).
    pub(crate) other: Option<String>,
}

/// What the cosign signatures stored for `digest` name; nothing when there
/// are none, or nothing to read.
pub(crate) async fn stored_signatures(
    reference: &OciReference,
    digest: &str,
    credentials: &Credentials,
) -> StoredSignatures {
    let mut stored = StoredSignatures::default();
    let client = Registry::client(reference);
    let Ok(auth) = credentials.for_registry(reference.registry()) else { return stored };
    // Sigstore bundles stored as OCI referrers (cosign 3's default).
    let subject = Reference::with_digest(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        digest.to_owned(),
    );
    if client.auth(&subject, &auth, oci_client::RegistryOperation::Pull).await.is_ok()
        && let Ok(referrers) = client.pull_referrers(&subject, None).await
    {
        stored.over_this += referrers
            .manifests
            .iter()
            .filter(|entry| {
                entry.artifact_type.as_deref().is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_TYPE))
            })
            .count();
    }
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let signatures =
        Reference::with_tag(reference.registry().to_owned(), reference.repository().to_owned(), tag);
    let Ok((manifest, _)) = client.pull_manifest_raw(&signatures, &auth, &MANIFEST_TYPES).await else {
        return stored;
    };
    let Ok(manifest) = serde_json::from_slice::<OciImageManifest>(&manifest) else { return stored };
    for layer in manifest.layers.iter().take(16) {
        if layer.size > 64 << 10 {
            continue;
        }
        let mut payload = Vec::new();
        if client.pull_blob(&signatures, layer, &mut payload).await.is_err() {
            continue;
        }
        let named = serde_json::from_slice::<serde_json::Value>(&payload)
            .ok()
            .and_then(|v| v["critical"]["image"]["docker-manifest-digest"].as_str().map(str::to_owned));
        match named {
            Some(named) if named == digest => stored.over_this += 1,
            Some(named) => stored.other = Some(named),
            None => {}
        }
    }
    stored
}

/// The component digest a stored, verified manifest names (checked as a
/// pull checks it).
pub fn component_of(reference: &OciReference, manifest: &[u8]) -> Result<String, RegistryError> {
    let manifest: OciImageManifest = serde_json::from_slice(manifest)
        .map_err(|e| not_component(reference, format!("the manifest does not parse: {e}")))?;
    let layer = layout::component_layer(&manifest).map_err(|reason| not_component(reference, reason))?;
    Ok(layer.digest.clone())
}

fn not_component(reference: &OciReference, reason: String) -> RegistryError {
    RegistryError::NotAComponent { reference: reference.to_string(), reason }
}
