"""Text, images, audio and resources returned besides the JSON output (MCP
content blocks). Images: PNG, JPEG, GIF, WebP; audio: WAV, MPEG, Ogg,
WebM, FLAC. Every byte counts against the call's output limit; a block
that would pass it ends the call. Secrets are masked in every block."""

from componentize_py_types import Err
from wit_world.imports import content as _wit

from ._tool import ToolError


def _add(block) -> None:
    try:
        _wit.add(block)
    except Err as e:
        raise ToolError(str(e.value)) from None


def text(text: str) -> None:
    """Adds a text block."""
    _add(_wit.Block_Text(text))


def image(mime_type: str, data: bytes) -> None:
    """Adds an image (`image/png`, ...)."""
    _add(_wit.Block_Image(_wit.Media(mime_type=mime_type, data=bytes(data))))


def audio(mime_type: str, data: bytes) -> None:
    """Adds an audio clip (`audio/wav`, ...)."""
    _add(_wit.Block_Audio(_wit.Media(mime_type=mime_type, data=bytes(data))))


def resource_link(uri: str, name: str, mime_type: str | None = None, description: str | None = None) -> None:
    """Adds a link to a resource the caller may fetch itself."""
    _add(_wit.Block_ResourceLink(_wit.ResourceLink(uri=uri, name=name, mime_type=mime_type, description=description)))


def embedded_text(uri: str, text: str, mime_type: str | None = None) -> None:
    """Embeds a text resource whole."""
    body = _wit.ResourceBody_Text(text)
    _add(_wit.Block_Embedded(_wit.EmbeddedResource(uri=uri, mime_type=mime_type, body=body)))
