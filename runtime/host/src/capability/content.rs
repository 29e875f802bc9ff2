//! The `airlock:tool/content` import: text, images, audio and resources a
//! call shows its caller besides its JSON output (MCP content blocks).
//!
//! Images and audio must have an allowed MIME type ([`IMAGE_TYPES`],
//! [`AUDIO_TYPES`]; no SVG, which can carry script). Every byte counts
//! against the call's output limit together with the JSON output: a block
//! that would pass it is refused and the call ends with the output limit
//! exceeded, however the tool handles the refusal. Text and bytes are
//! redacted for the call's secrets when the call ends, as its output is.

use crate::bindings::airlock::tool::content::{self as wit, Host};
use crate::state::HostState;

/// Image MIME types a block may carry.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];
/// Audio MIME types a block may carry.
pub const AUDIO_TYPES: &[&str] = &["audio/wav", "audio/mpeg", "audio/ogg", "audio/webm", "audio/flac"];
/// Longest MIME type, URI or name, in bytes.
const MAX_LABEL: usize = 2 << 10;

/// One piece of a call's result besides its JSON output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentBlock {
    /// Text.
    Text(String),
    /// An image: MIME type and bytes.
    Image {
        /// One of [`IMAGE_TYPES`].
        mime_type: String,
        /// The image.
        data: Vec<u8>,
    },
    /// An audio clip: MIME type and bytes.
    Audio {
        /// One of [`AUDIO_TYPES`].
        mime_type: String,
        /// The clip.
        data: Vec<u8>,
    },
    /// A pointer to a resource the caller may fetch itself.
    ResourceLink {
        /// Where it is.
        uri: String,
        /// What it is called.
        name: String,
        /// Its MIME type, if known.
        mime_type: Option<String>,
        /// What it is.
        description: Option<String>,
    },
    /// A resource embedded whole, as text or bytes.
    Resource {
        /// Where it is from.
        uri: String,
        /// Its MIME type, if known.
        mime_type: Option<String>,
        /// Its contents.
        body: ResourceBody,
    },
}

/// An embedded resource's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceBody {
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl ContentBlock {
    /// Bytes it counts against the output limit: its text and data, and
    /// its labels.
    pub fn size(&self) -> u64 {
        let len = |s: &str| s.len();
        let opt = |s: &Option<String>| s.as_deref().map_or(0, str::len);
        let size = match self {
            Self::Text(text) => text.len(),
            Self::Image { mime_type, data } | Self::Audio { mime_type, data } => mime_type.len() + data.len(),
            Self::ResourceLink { uri, name, mime_type, description } => {
                len(uri) + len(name) + opt(mime_type) + opt(description)
            }
            Self::Resource { uri, mime_type, body } => {
                len(uri)
                    + opt(mime_type)
                    + match body {
                        ResourceBody::Text(text) => text.len(),
                        ResourceBody::Blob(data) => data.len(),
                    }
            }
        };
        size as u64
    }
}

/// The blocks a call added, and what they cost.
#[derive(Debug, Default)]
pub(crate) struct ContentSink {
    pub(crate) blocks: Vec<ContentBlock>,
    pub(crate) bytes: u64,
    /// The output limit; the JSON output counts against it too.
    limit: u64,
    /// Set when a block would have passed the limit: the size it asked for.
    pub(crate) exceeded: Option<u64>,
}

impl ContentSink {
    pub(crate) fn new(limit: u64) -> Self {
        Self { limit, ..Self::default() }
    }
}

impl Host for HostState {
    fn add(&mut self, block: wit::Block) -> Result<(), String> {
        let block = checked(block)?;
        let sink = &mut self.content;
        let size = sink.bytes.saturating_add(block.size());
        if size > sink.limit {
            sink.exceeded = Some(size);
            return Err(format!("output limit exceeded: {size} bytes of content (limit {})", sink.limit));
        }
        sink.bytes = size;
        sink.blocks.push(block);
        Ok(())
    }
}

/// The block, or why it is refused.
fn checked(block: wit::Block) -> Result<ContentBlock, String> {
    let label = |what: &str, text: &str| {
        if text.len() > MAX_LABEL {
            Err(format!("content refused: {what} longer than {MAX_LABEL} bytes"))
        } else {
            Ok(())
        }
    };
    let media = |media: &wit::Media, allowed: &[&str], kind: &str| {
        if allowed.contains(&media.mime_type.as_str()) {
            Ok(())
        } else {
            let shown = airlock_policy::text::excerpt(&media.mime_type, 64);
            Err(format!("content refused: {kind} type `{shown}` is not one of {}", allowed.join(", ")))
        }
    };
    Ok(match block {
        wit::Block::Text(text) => ContentBlock::Text(text),
        wit::Block::Image(image) => {
            media(&image, IMAGE_TYPES, "image")?;
            ContentBlock::Image { mime_type: image.mime_type, data: image.data }
        }
        wit::Block::Audio(audio) => {
            media(&audio, AUDIO_TYPES, "audio")?;
            ContentBlock::Audio { mime_type: audio.mime_type, data: audio.data }
        }
        wit::Block::ResourceLink(link) => {
            label("a URI", &link.uri)?;
            label("a name", &link.name)?;
            label("a MIME type", link.mime_type.as_deref().unwrap_or(""))?;
            ContentBlock::ResourceLink {
                uri: link.uri,
                name: link.name,
                mime_type: link.mime_type,
                description: link.description,
            }
        }
        wit::Block::Embedded(resource) => {
            label("a URI", &resource.uri)?;
            label("a MIME type", resource.mime_type.as_deref().unwrap_or(""))?;
            ContentBlock::Resource {
                uri: resource.uri,
                mime_type: resource.mime_type,
                body: match resource.body {
                    wit::ResourceBody::Text(text) => ResourceBody::Text(text),
                    wit::ResourceBody::Blob(data) => ResourceBody::Blob(data),
                },
            }
        }
    })
}
