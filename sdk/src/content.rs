//! Text, images, audio and resources a tool shows its caller besides its
//! JSON output; an MCP client receives them as content blocks, in the
//! order added, after the JSON output's own text.
//!
//! Images must be PNG, JPEG, GIF or WebP, audio WAV, MPEG, Ogg, WebM or
//! FLAC (the host refuses other types, SVG included). Every byte counts
//! against the call's output limit (1 MiB by default) together with the
//! JSON output: a block that would pass it is refused, and the call then
//! ends with the output limit exceeded. Secrets are masked in everything,
//! bytes included.

use crate::bindings::airlock::tool::content::{
    self, Block, EmbeddedResource, Media, ResourceBody, ResourceLink,
};
use crate::error::ToolError;

fn add(block: Block) -> Result<(), ToolError> {
    content::add(&block).map_err(ToolError::Failed)
}

/// Adds a text block.
pub fn text(text: &str) -> Result<(), ToolError> {
    add(Block::Text(text.to_owned()))
}

/// Adds an image (`mime_type` such as `image/png`).
pub fn image(mime_type: &str, data: &[u8]) -> Result<(), ToolError> {
    add(Block::Image(Media { mime_type: mime_type.to_owned(), data: data.to_vec() }))
}

/// Adds an audio clip (`mime_type` such as `audio/wav`).
pub fn audio(mime_type: &str, data: &[u8]) -> Result<(), ToolError> {
    add(Block::Audio(Media { mime_type: mime_type.to_owned(), data: data.to_vec() }))
}

/// Adds a link to a resource the caller may fetch itself.
pub fn resource_link(
    uri: &str,
    name: &str,
    mime_type: Option<&str>,
    description: Option<&str>,
) -> Result<(), ToolError> {
    add(Block::ResourceLink(ResourceLink {
        uri: uri.to_owned(),
        name: name.to_owned(),
        mime_type: mime_type.map(str::to_owned),
        description: description.map(str::to_owned),
    }))
}

/// Embeds a text resource whole.
pub fn embedded_text(uri: &str, mime_type: Option<&str>, text: &str) -> Result<(), ToolError> {
    add(Block::Embedded(EmbeddedResource {
        uri: uri.to_owned(),
        mime_type: mime_type.map(str::to_owned),
        body: ResourceBody::Text(text.to_owned()),
    }))
}

/// Embeds a binary resource whole.
pub fn embedded_blob(uri: &str, mime_type: Option<&str>, data: &[u8]) -> Result<(), ToolError> {
    add(Block::Embedded(EmbeddedResource {
        uri: uri.to_owned(),
        mime_type: mime_type.map(str::to_owned),
        body: ResourceBody::Blob(data.to_vec()),
    }))
}
