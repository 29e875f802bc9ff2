"""json-query: the value at a path in a JSON file of the mounted checkout
(`/workspace`), read-only. `query` is dot-separated keys and list indices:
`dependencies.serde.version`, `items.0.name`; empty for the whole file."""

import json
from dataclasses import dataclass

from airlock_sdk import Capabilities, InvalidInput, WitWorld, log, tool  # noqa: F401 (WitWorld: the exports)

MAX_BYTES = 8 << 20


@dataclass
class Input:
    path: str
    query: str = ""


@dataclass
class Output:
    path: str
    query: str
    found: bool
    value: object = None


@tool(
    name="json-query",
    version="0.1.0",
    description="Returns the value at a dot-separated path (keys and list indices) in a JSON file under /workspace.",
    capabilities=Capabilities().mount("/workspace", "read-only", "the JSON files to query"),
)
def run(input: Input) -> Output:
    path = input.path if input.path.startswith("/") else f"/workspace/{input.path}"
    with open(path, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{input.path} is larger than {MAX_BYTES} bytes")
    try:
        value = json.loads(data)
    except ValueError as e:
        raise InvalidInput(f"{input.path} is not JSON: {e}") from None
    for step in [s for s in input.query.split(".") if s]:
        log.debug("step", key=step)
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return Output(path=input.path, query=input.query, found=False)
    return Output(path=input.path, query=input.query, found=True, value=value)
