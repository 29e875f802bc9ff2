"""Structured log lines: kept with the call's outcome and sent live to an
MCP client that asked (`logging/setLevel`), redacted by the host."""

from wit_world.imports import log as _wit


def _emit(level, message: str, fields: dict[str, str] | None) -> None:
    _wit.log(level, message, [(str(k), str(v)) for k, v in (fields or {}).items()])


def debug(message: str, **fields: str) -> None:
    """Logs at debug level."""
    _emit(_wit.Level.DEBUG, message, fields)


def info(message: str, **fields: str) -> None:
    """Logs at info level."""
    _emit(_wit.Level.INFO, message, fields)


def warn(message: str, **fields: str) -> None:
    """Logs at warn level."""
    _emit(_wit.Level.WARN, message, fields)


def error(message: str, **fields: str) -> None:
    """Logs at error level."""
    _emit(_wit.Level.ERROR, message, fields)
