//! What a component looks like in a registry: the CNCF Wasm OCI artifact
//! layout (config `application/vnd.wasm.config.v0+json`, one layer
//! `application/wasm`), a plain image whose single layer is Wasm, or an OCI
//! 1.1 artifact (empty config, as `oras push` writes) whose single layer is
//! Wasm.

use oci_client::manifest::{
    IMAGE_CONFIG_MEDIA_TYPE, IMAGE_DOCKER_CONFIG_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
    OciDescriptor, OciImageManifest,
};

/// The config media type of a Wasm OCI artifact.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// OCI 1.1's empty config, which artifacts without a config carry.
const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The media type of a Wasm component layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The layer media type older tools (wasm-to-oci) used; accepted on pull.
const LEGACY_WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The largest component pulled (256 MiB): a registry cannot make airlock
/// download or keep more for one tool.
pub const MAX_COMPONENT_BYTES: i64 = 256 << 20;
/// The largest manifest accepted.
pub(crate) const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Manifest media types a pull asks for: an OCI image manifest, or
/// Docker's v2 manifest. An image index is not asked for.
pub(crate) const MANIFEST_TYPES: [&str; 2] = [OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE];

/// The component layer of `manifest`, or why it has none.
pub(crate) fn component_layer(manifest: &OciImageManifest) -> Result<&OciDescriptor, String> {
    if let Some(media_type) = manifest.media_type.as_deref()
        && !MANIFEST_TYPES.contains(&media_type)
    {
        return Err(format!(
            "manifest media type `{media_type}` (an image index? name the component's own manifest by its digest)"
        ));
    }
    let config = manifest.config.media_type.as_str();
    if ![
        WASM_CONFIG_MEDIA_TYPE,
        IMAGE_CONFIG_MEDIA_TYPE,
        IMAGE_DOCKER_CONFIG_MEDIA_TYPE,
        EMPTY_CONFIG_MEDIA_TYPE,
    ]
    .contains(&config)
    {
        return Err(format!("config media type `{config}` is neither a Wasm, an image nor the empty config"));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(format!(
            "{} layers; a component is exactly one `{WASM_LAYER_MEDIA_TYPE}` layer",
            manifest.layers.len()
        ));
    };
    if layer.media_type != WASM_LAYER_MEDIA_TYPE && layer.media_type != LEGACY_WASM_LAYER {
        return Err(format!("the layer is `{}`, not `{WASM_LAYER_MEDIA_TYPE}`", layer.media_type));
    }
    if !(0..=MAX_COMPONENT_BYTES).contains(&layer.size) {
        return Err(format!("the layer is {} bytes; the limit is {MAX_COMPONENT_BYTES}", layer.size));
    }
    Ok(layer)
}

/// The config of a pushed component: the Wasm OCI artifact fields, with a
/// fixed creation time so that pushing the same component twice gives the
/// same manifest digest.
pub(crate) fn config_json(layer_digest: &str) -> Vec<u8> {
    serde_json::json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
    })
    .to_string()
    .into_bytes()
}

/// The manifest of a pushed component, as bytes airlock chose (so its
/// digest is known before the push and stable across pushes).
pub(crate) fn manifest_json(
    config_digest: &str,
    config_size: usize,
    layer_digest: &str,
    layer_size: usize,
) -> Vec<u8> {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "config": { "mediaType": WASM_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": WASM_LAYER_MEDIA_TYPE, "digest": layer_digest, "size": layer_size }],
    })
    .to_string()
    .into_bytes()
}
