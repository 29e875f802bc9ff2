"""echo in Python: returns its input. The trivial tool the per-call numbers
of the Python SDK are measured with (docs/performance.md), as the Rust
`echo` test program is for Rust tools."""

from dataclasses import dataclass
from typing import Any

from airlock_sdk import WitWorld, tool  # noqa: F401 (WitWorld: the exports)


@dataclass
class Message:
    message: Any = None


@tool(name="py-echo", version="0.0.0", description="Returns its input.")
def run(input: Message) -> Message:
    return input
