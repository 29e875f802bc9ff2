"""Declaring a tool, and the component's exports (`describe`, `invoke`)."""

import json
import typing

import wit_world
from componentize_py_types import Err
from wit_world.imports import airlock_tool_types as wit

from ._schema import from_json, schema_of, to_json


class ToolError(Exception):
    """A call that did not produce a result (`failed`)."""


class InvalidInput(ToolError):
    """The input is not valid for this tool (`invalid-input`)."""


class Denied(ToolError):
    """The tool tried to use something it was not granted (`denied`)."""


_ACCESS = {"read-only": wit.Access.READ_ONLY, "read-write": wit.Access.READ_WRITE}


class Capabilities:
    """Everything a tool asks for; nothing outside it can be granted, and
    policy decides per call and caller what of it is."""

    def __init__(self):
        self._mounts, self._hosts, self._secrets, self._env = [], [], [], []

    def mount(self, guest_path: str, access: str, reason: str) -> "Capabilities":
        """A directory at `guest_path`, `read-only` or `read-write`."""
        if access not in _ACCESS:
            raise ValueError(f"access must be read-only or read-write, not {access!r}")
        self._mounts.append(wit.MountRequest(guest_path=guest_path, access=_ACCESS[access], reason=reason))
        return self

    def host(self, destination: str, reason: str, methods: typing.Sequence[str] = ()) -> "Capabilities":
        """HTTP requests to `destination` (`https://api.example.com`), with `methods` (empty: the usual)."""
        self._hosts.append(wit.HostRequest(destination=destination, methods=list(methods), reason=reason))
        return self

    def secret(self, name: str, reason: str, reveal: bool = False) -> "Capabilities":
        """A secret the host attaches to requests for the tool (`reveal`: the value itself, rarely right)."""
        self._secrets.append(wit.SecretRequest(name=name, reason=reason, reveal=reveal))
        return self

    def env(self, name: str, reason: str) -> "Capabilities":
        """An environment variable."""
        self._env.append(wit.EnvRequest(name=name, reason=reason))
        return self

    def _request(self) -> wit.CapabilityRequest:
        return wit.CapabilityRequest(mounts=self._mounts, hosts=self._hosts, secrets=self._secrets, env=self._env)


class _Tool:
    def __init__(self, run, name, version, description, capabilities):
        hints = typing.get_type_hints(run)
        parameters = [h for k, h in hints.items() if k != "return"]
        if len(parameters) != 1 or "return" not in hints:
            raise TypeError("a tool is a function of one typed input returning a typed output")
        self.run, self.input, self.output = run, parameters[0], hints["return"]
        self.info = wit.ToolInfo(
            name=name,
            version=version,
            description=description,
            input_schema=json.dumps(schema_of(self.input)),
            output_schema=json.dumps(schema_of(self.output)),
            capabilities=(capabilities or Capabilities())._request(),
        )


_tool = None


def tool(*, name: str, version: str, description: str, capabilities: Capabilities | None = None):
    """Declares the component's tool: `name` (1-64 of `[a-z0-9_-]`), its
    `version`, a `description` for humans and agents, and the
    `capabilities` it asks for (default: none)."""

    def register(run):
        global _tool
        _tool = _Tool(run, name, version, description, capabilities)
        return run

    return register


def _declared() -> _Tool:
    if _tool is None:
        raise Err(wit.ToolError_Failed("no tool declared: decorate a function with @airlock_sdk.tool"))
    return _tool


class WitWorld(wit_world.WitWorld):
    """The component's exports: import it into the module componentize-py
    builds (`from airlock_sdk import WitWorld`)."""

    def describe(self) -> wit.ToolInfo:
        return _declared().info

    def invoke(self, input: str) -> str:
        declared = _declared()
        try:
            value = from_json(declared.input, json.loads(input))
        except (ValueError, TypeError) as e:
            raise Err(wit.ToolError_InvalidInput(f"input does not fit the tool's input type: {e}"))
        try:
            return json.dumps(to_json(declared.run(value)))
        except InvalidInput as e:
            raise Err(wit.ToolError_InvalidInput(str(e)))
        except (Denied, PermissionError) as e:
            raise Err(wit.ToolError_Denied(str(e)))
        except ToolError as e:
            raise Err(wit.ToolError_Failed(str(e)))
        except Exception as e:  # noqa: BLE001 - any other failure is the tool's own
            raise Err(wit.ToolError_Failed(f"{type(e).__name__}: {e}"))
