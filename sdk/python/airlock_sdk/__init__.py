"""Write airlock tools in Python.

A tool is one function with a dataclass input and output, declared with
:func:`tool`::

    from dataclasses import dataclass
    from airlock_sdk import Capabilities, tool

    @dataclass
    class Input:
        path: str

    @dataclass
    class Output:
        lines: int

    @tool(name="line-count", version="0.1.0", description="Counts the lines of a file",
          capabilities=Capabilities().mount("/workspace", "read-only", "the files to count"))
    def run(input: Input) -> Output:
        with open(input.path) as f:
            return Output(lines=sum(1 for _ in f))

    from airlock_sdk import WitWorld  # the component's exports

The input and output JSON Schemas come from the dataclasses' type hints.
The host validates every input against the input schema before the tool
runs; the SDK builds the dataclass from it. Raise :class:`InvalidInput`,
:class:`Denied` or :class:`ToolError` to fail a call; a ``PermissionError``
(the sandbox said no) becomes ``denied``. HTTP goes through :mod:`http`
(the host's egress checks; secrets from :mod:`secrets` attached by
handle). Build the component with componentize-py (see
``sdk/python/README.md``).
"""

from ._tool import (
    Capabilities,
    Denied,
    InvalidInput,
    ToolError,
    WitWorld,
    tool,
)
from . import content, http, log, progress, secrets

__all__ = [
    "Capabilities",
    "Denied",
    "InvalidInput",
    "ToolError",
    "WitWorld",
    "content",
    "http",
    "log",
    "progress",
    "secrets",
    "tool",
]
