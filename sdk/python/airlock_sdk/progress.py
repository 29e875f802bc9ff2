"""How far a long call has come, for a caller that asked (an MCP request
with a `progressToken`). `done` must grow; the host passes on at most one
report every 25 ms (always the one where `done` reaches `total`)."""

from wit_world.imports import progress as _wit


def report(done: int, total: int | None = None, message: str | None = None) -> None:
    """Reports `done` of `total` units of work."""
    _wit.report(done, total, message)
