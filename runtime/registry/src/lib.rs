//! Tools from OCI registries.
//!
//! A tool is named by an [`OciReference`] (`oci://REGISTRY/REPO:TAG` or
//! `oci://REGISTRY/REPO@sha256:DIGEST`). [`Registry::pull`] fetches its
//! manifest and its one component layer (the CNCF Wasm OCI artifact layout,
//! or a plain image whose single layer is `application/wasm`), checks the
//! manifest against a pinned digest and the layer against the digest the
//! manifest names, and keeps both in a [`ComponentStore`]: a private,
//! content-addressed directory whose every read is hashed again. What runs
//! is read from the store by digest, never fetched again by tag.
//! [`Registry::push`] publishes a component in the same layout.

#![forbid(unsafe_code)]

mod auth;
mod client;
mod keyless;
mod layout;
mod lock;
mod reference;
mod signature;
mod store;

pub use auth::{Credentials, docker_config_path};
pub use client::{Pulled, Registry, component_of};
pub use keyless::{KeylessRoot, log_id};
pub use layout::{MAX_COMPONENT_BYTES, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};
pub use lock::{LOCKFILE_NAME, LockError, LockedTool, Lockfile, Recorded};
pub use reference::{OciReference, ReferenceError, SCHEME};
pub use signature::{SignatureError, TrustedSigner, generate_key, sign, verify};
pub use store::{ComponentStore, StoreError};

/// A `sha256:<hex>` digest whose hex part is 64 lowercase hex digits.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Why a pull or push failed. Every variant names the reference or digest
/// concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry could not be reached, refused the credentials, or
    /// answered with an error.
    #[error("registry `{registry}`: {message}")]
    Registry {
        /// The registry host.
        registry: String,
        /// What went wrong, as the client reported it.
        message: String,
    },
    /// The manifest's bytes do not hash to the digest the reference pins.
    #[error(
        "`{reference}`: the registry sent a manifest whose digest is {found}, not the pinned {expected}: refused"
    )]
    ManifestDigestMismatch {
        /// The reference as given.
        reference: String,
        /// The pinned digest.
        expected: String,
        /// The digest of what was received.
        found: String,
    },
    /// The component layer's bytes do not hash to the digest its manifest names.
    #[error(
        "`{reference}`: the component layer's digest is {found}, not {expected} as its manifest says: refused (tampered or corrupted)"
    )]
    LayerDigestMismatch {
        /// The reference as given.
        reference: String,
        /// The digest the manifest names.
        expected: String,
        /// The digest of what was received.
        found: String,
    },
    /// The manifest is not one component: an image index, no or several
    /// layers, a layer that is not Wasm, a component larger than the limit.
    #[error("`{reference}` is not a Wasm component artifact: {reason}")]
    NotAComponent {
        /// The reference as given.
        reference: String,
        /// Why.
        reason: String,
    },
    /// The local store refused to read or write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A docker-style credentials file could not be read.
    #[error("credentials `{path}`: {message}")]
    Credentials {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}
