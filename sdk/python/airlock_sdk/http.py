"""HTTP requests over ``wasi:http``: every request goes through the host's
egress checks (destination, method, resolved address), and a refusal raises
:class:`Denied` with the host's reason. Secrets are attached by the host
(``bearer``, ``secret_headers``), never seen by the tool::

    from airlock_sdk import http, secrets
    answer = http.get("https://api.github.com/user", bearer=secrets.get("GITHUB_TOKEN"))
    login = answer.json()["login"]
"""

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import network as _network
from wit_world.imports import outgoing_handler as _handler
from wit_world.imports import secrets as _secrets
from wit_world.imports import streams as _streams
from wit_world.imports import wasi_http_types as _http

from ._tool import Denied, InvalidInput, ToolError
from .secrets import Secret, _error

#: The most a response body may hold by default: 16 MiB.
DEFAULT_MAX_BYTES = 16 << 20
# ``blocking-write-and-flush`` takes at most 4 KiB at once.
_WRITE_PIECE = 4096
_METHODS = {
    "GET": _http.Method_Get,
    "HEAD": _http.Method_Head,
    "POST": _http.Method_Post,
    "PUT": _http.Method_Put,
    "DELETE": _http.Method_Delete,
    "CONNECT": _http.Method_Connect,
    "OPTIONS": _http.Method_Options,
    "TRACE": _http.Method_Trace,
    "PATCH": _http.Method_Patch,
}


class HttpError(ToolError):
    """A request that got no answer; ``code`` is the ``wasi:http`` error code
    (``ConnectionRefused``, ``DnsError``, ...)."""

    def __init__(self, code: str, url: str):
        super().__init__(f"{url}: {code}")
        self.code = code


@dataclass
class Response:
    """An answer. ``headers`` maps lowercase names to their (last) value."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body as text (UTF-8; invalid sequences replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    bearer: Secret | None = None,
    secret_headers: list[tuple[str, Secret, str]] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Response:
    """Sends one request and waits for the whole answer. ``bearer``: the host
    sets ``authorization: Bearer ...`` if policy lets that secret go there;
    ``secret_headers``: ``(name, secret, template)`` with ``{secret}`` in
    the template. A body over ``max_bytes`` raises :class:`HttpError`."""
    target = urlsplit(url)
    if target.scheme not in ("http", "https") or not target.netloc:
        raise InvalidInput(f"not an http(s) URL: {url}")
    outgoing = _http.OutgoingRequest(_fields(headers or {}))
    verb = method.upper()
    _set(outgoing.set_method, _METHODS[verb]() if verb in _METHODS else _http.Method_Other(verb), "method", verb)
    _set(outgoing.set_scheme, _http.Scheme_Https() if target.scheme == "https" else _http.Scheme_Http(), "scheme", url)
    _set(outgoing.set_authority, target.netloc, "authority", target.netloc)
    path = (target.path or "/") + (f"?{target.query}" if target.query else "")
    _set(outgoing.set_path_with_query, path, "path", path)
    try:
        if bearer is not None:
            _secrets.attach_bearer(outgoing, bearer._handle)
        for name, secret, template in secret_headers:
            _secrets.attach_header(outgoing, secret._handle, name, template)
    except Err as e:
        raise _error(e) from None
    _write_body(outgoing.body(), body)

    pending = _handler_call(outgoing, url)
    with pending:
        pending.subscribe().block()
        answer = pending.get()
    # option<result<result<incoming-response, error-code>>>: here always some.
    if not isinstance(answer, Ok):
        raise HttpError("no answer", url)
    if isinstance(answer.value, Err):
        raise _refused(answer.value.value, url)
    incoming = answer.value.value
    with incoming:
        found = {name.lower(): value.decode("utf-8", "replace") for name, value in incoming.headers().entries()}
        return Response(incoming.status(), found, _read_body(incoming, max_bytes, url))


def get(url: str, **options) -> Response:
    """``request("GET", url, ...)``."""
    return request("GET", url, **options)


def head(url: str, **options) -> Response:
    """``request("HEAD", url, ...)``."""
    return request("HEAD", url, **options)


def post(url: str, **options) -> Response:
    """``request("POST", url, ...)``."""
    return request("POST", url, **options)


def _set(setter, value, what: str, shown: str) -> None:
    try:
        setter(value)
    except Err:
        raise InvalidInput(f"invalid {what}: {shown}") from None


def _fields(headers: dict[str, str]) -> _http.Fields:
    fields = _http.Fields()
    for name, value in headers.items():
        try:
            fields.append(name, str(value).encode())
        except Err as e:
            raise InvalidInput(f"header {name}: {type(e.value).__name__}") from None
    return fields


def _handler_call(outgoing: _http.OutgoingRequest, url: str):
    try:
        return _handler.handle(outgoing, None)
    except Err as e:
        raise _refused(e.value, url) from None


def _write_body(body: _http.OutgoingBody, data: bytes | str | None) -> None:
    if data:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        with body.write() as stream:
            for at in range(0, len(raw), _WRITE_PIECE):
                stream.blocking_write_and_flush(raw[at : at + _WRITE_PIECE])
    _http.OutgoingBody.finish(body, None)


def _read_body(incoming: _http.IncomingResponse, max_bytes: int, url: str) -> bytes:
    body = incoming.consume()
    pieces, total = [], 0
    with body.stream() as stream:
        while True:
            try:
                piece = stream.blocking_read(65536)
            except Err as e:
                if isinstance(e.value, _streams.StreamError_Closed):
                    break
                raise HttpError(f"body: {type(e.value).__name__}", url) from None
            total += len(piece)
            if total > max_bytes:
                raise HttpError(f"body over {max_bytes} bytes", url)
            pieces.append(piece)
    return b"".join(pieces)


def _refused(code, url: str) -> Exception:
    """``Denied`` with the host's reason when its egress rules refused the
    request (a destination not granted, or a name that resolved to an
    address no grant names); :class:`HttpError` otherwise."""
    if isinstance(code, (_http.ErrorCode_HttpRequestDenied, _http.ErrorCode_DestinationIpProhibited)):
        return Denied(f"network request refused: {_network.last_refusal() or 'denied by the host'}")
    return HttpError(type(code).__name__.removeprefix("ErrorCode_"), url)
