// Text, images, audio and resources returned besides the JSON output (MCP
// content blocks). Images: PNG, JPEG, GIF, WebP; audio: WAV, MPEG, Ogg,
// WebM, FLAC. Every byte counts against the call's output limit; a block
// that would pass it ends the call. Secrets are masked in every block.

import { add as wit } from 'airlock:tool/content@0.1.0';
import { ToolError } from './errors.js';

function add(block) {
  try {
    wit(block);
  } catch (error) {
    throw new ToolError(String(error?.payload ?? error));
  }
}

/** Adds a text block. */
export const text = (text) => add({ tag: 'text', val: String(text) });
/** Adds an image (`image/png`, ...). */
export const image = (mimeType, data) => add({ tag: 'image', val: { mimeType, data } });
/** Adds an audio clip (`audio/wav`, ...). */
export const audio = (mimeType, data) => add({ tag: 'audio', val: { mimeType, data } });
/** Adds a link to a resource the caller may fetch itself. */
export const resourceLink = (uri, name, { mimeType, description } = {}) =>
  add({ tag: 'resource-link', val: { uri, name, mimeType, description } });
/** Embeds a text resource whole. */
export const embeddedText = (uri, text, mimeType) =>
  add({ tag: 'embedded', val: { uri, mimeType, body: { tag: 'text', val: String(text) } } });
/** Embeds a binary resource whole. */
export const embeddedBlob = (uri, data, mimeType) =>
  add({ tag: 'embedded', val: { uri, mimeType, body: { tag: 'blob', val: data } } });
