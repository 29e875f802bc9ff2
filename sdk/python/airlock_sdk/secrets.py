"""Secrets as handles: the host attaches a secret's value to a request
(``http.request(..., bearer=secret)``) where policy lets it go; the tool
never holds the value unless it asked for ``reveal`` and was granted it."""

from componentize_py_types import Err
from wit_world.imports import secrets as _wit

from ._tool import Denied, InvalidInput


def _error(e: Err) -> Exception:
    """The secret's error variant as an exception."""
    if isinstance(e.value, _wit.SecretError_Denied):
        return Denied(e.value.value)
    if isinstance(e.value, _wit.SecretError_Invalid):
        return InvalidInput(e.value.value)
    return e


class Secret:
    """A granted secret: a handle, no value."""

    def __init__(self, handle: _wit.Secret):
        self._handle = handle

    @property
    def name(self) -> str:
        """The secret's name."""
        return self._handle.name()

    def reveal(self) -> str:
        """The value itself: needs ``reveal`` requested and ``secret.reveal`` granted."""
        try:
            return _wit.reveal(self._handle)
        except Err as e:
            raise _error(e) from None

    def __repr__(self) -> str:
        return f"Secret({self.name!r})"


def get(name: str) -> Secret:
    """A handle to the secret ``name``; ``Denied`` when it was not granted."""
    try:
        return Secret(_wit.get(name))
    except Err as e:
        raise _error(e) from None
