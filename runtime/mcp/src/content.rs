//! A tool's content blocks (`airlock:tool/content`) as MCP content: bytes
//! base64-encoded, everything else as it is (already checked, redacted and
//! counted against the output limit by the sandbox).

use airlock_host::{ContentBlock, ResourceBody};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rmcp::model::{ContentBlock as Mcp, Resource, ResourceContents};

/// The MCP form of `block`.
pub(crate) fn to_mcp(block: ContentBlock) -> Mcp {
    match block {
        ContentBlock::Text(text) => Mcp::text(text),
        ContentBlock::Image { mime_type, data } => Mcp::image(STANDARD.encode(data), mime_type),
        ContentBlock::Audio { mime_type, data } => Mcp::audio(STANDARD.encode(data), mime_type),
        ContentBlock::ResourceLink { uri, name, mime_type, description } => {
            let mut link = Resource::new(uri, name);
            if let Some(mime_type) = mime_type {
                link = link.with_mime_type(mime_type);
            }
            if let Some(description) = description {
                link = link.with_description(description);
            }
            Mcp::resource_link(link)
        }
        ContentBlock::Resource { uri, mime_type, body } => Mcp::resource(match body {
            ResourceBody::Text(text) => {
                ResourceContents::TextResourceContents { uri, mime_type, text, meta: None }
            }
            ResourceBody::Blob(data) => ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob: STANDARD.encode(data),
                meta: None,
            },
        }),
    }
}
