"""{{name}}: counts the lines, words and bytes of a file under /workspace."""

from dataclasses import dataclass

from airlock_sdk import Capabilities, WitWorld, log, tool  # noqa: F401 (WitWorld: the component's exports)


@dataclass
class Input:
    path: str


@dataclass
class Output:
    path: str
    lines: int
    words: int
    bytes: int


@tool(
    name="{{name}}",
    version="0.1.0",
    description="Counts the lines, words and bytes of a file under /workspace.",
    # Only what it needs: one directory, read-only. Add a host with
    # `.host("https://api.example.com", "why")`.
    capabilities=Capabilities().mount("/workspace", "read-only", "the file to count"),
)
def run(input: Input) -> Output:
    path = f"/workspace/{input.path}"
    with open(path, "rb") as f:
        data = f.read()
    log.info("counted", path=path)
    text = data.decode("utf-8", "replace")
    return Output(path=input.path, lines=len(text.splitlines()), words=len(text.split()), bytes=len(data))
