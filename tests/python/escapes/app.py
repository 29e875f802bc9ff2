"""A Python tool that tries, on request, what a sandboxed tool must not be
able to do, for runtime/cli/tests/cli/python_sdk.rs (and sends a secret by
handle, as it may): read the host's environment, follow a symlink out of
its mount, reach an ungranted host or a granted name that resolves to
loopback, open a raw socket, read a secret's value, spin forever, allocate
without bound. Each attempt reports what it saw or lets the refusal fail
the call; the test checks it was denied or stopped and that the canary
appears nowhere."""

import os
import socket
from dataclasses import dataclass
from typing import Any, Literal

from airlock_sdk import Capabilities, WitWorld, http, secrets, tool  # noqa: F401 (WitWorld: the exports)


@dataclass
class Input:
    attempt: Literal["env", "symlink", "host", "private", "socket", "reveal", "bearer", "loop", "memory"]
    target: str = ""


@dataclass
class Output:
    attempt: str
    saw: Any = None


@tool(
    name="py-escapes",
    version="0.0.0",
    description="airlock test program: tries to leave the sandbox",
    capabilities=Capabilities()
    .mount("/workspace", "read-write", "where the escapes start")
    .host("http://*:1-65535", "where the requests go")
    .secret("TOKEN", "the secret whose value it tries to read", reveal=True),
)
def run(input: Input) -> Output:
    attempt = input.attempt
    if attempt == "env":
        return Output(attempt, saw=dict(os.environ))
    if attempt == "symlink":
        try:
            os.symlink("/etc", "/workspace/out")
        except OSError as e:
            return Output(attempt, saw=f"symlink refused: {e}")
        with open("/workspace/out/passwd") as f:
            return Output(attempt, saw=f.read())
    if attempt in ("host", "private"):
        return Output(attempt, saw=http.get(input.target).status)
    if attempt == "socket":
        host, port = input.target.rsplit(":", 1)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as raw:
                # Bytes: no name lookup (and no `idna` codec, not bundled).
                raw.connect((host.encode(), int(port)))
                return Output(attempt, saw="connected")
        except OSError as e:
            return Output(attempt, saw=f"refused: {type(e).__name__}: {e}")
    if attempt == "reveal":
        return Output(attempt, saw=secrets.get("TOKEN").reveal())
    if attempt == "bearer":
        # Not an escape: the host attaches the value; the answer echoes it.
        return Output(attempt, saw=http.get(input.target, bearer=secrets.get("TOKEN")).text())
    if attempt == "loop":
        while True:
            pass
    hoard = []
    while True:
        hoard.append(bytearray(16 << 20))
