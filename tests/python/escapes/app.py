"""A Python tool that tries, on request, what a sandboxed tool must not be
able to do, for runtime/cli/tests/cli/python_sdk.rs: read the host's
environment, follow a symlink out of its mount, spin forever, allocate
without bound. Each attempt reports what it saw; the test checks it was
denied or stopped and that the canary appears nowhere."""

import os
from dataclasses import dataclass
from typing import Any, Literal

from airlock_sdk import Capabilities, WitWorld, tool  # noqa: F401 (WitWorld: the exports)


@dataclass
class Input:
    attempt: Literal["env", "symlink", "loop", "memory"]


@dataclass
class Output:
    attempt: str
    saw: Any = None


@tool(
    name="py-escapes",
    version="0.0.0",
    description="airlock test program: tries to leave the sandbox",
    capabilities=Capabilities().mount("/workspace", "read-write", "where the escapes start"),
)
def run(input: Input) -> Output:
    if input.attempt == "env":
        return Output(attempt="env", saw=dict(os.environ))
    if input.attempt == "symlink":
        try:
            os.symlink("/etc", "/workspace/out")
        except OSError as e:
            return Output(attempt="symlink", saw=f"symlink refused: {e}")
        with open("/workspace/out/passwd") as f:
            return Output(attempt="symlink", saw=f.read())
    if input.attempt == "loop":
        while True:
            pass
    hoard = []
    while True:
        hoard.append(bytearray(16 << 20))
