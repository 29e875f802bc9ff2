"""JSON Schemas from type hints, and values from validated JSON.

Supported: ``str``, ``int``, ``float``, ``bool``, ``list[T]``,
``dict[str, T]``, ``T | None`` (optional: may be absent or null),
``Literal[...]``, ``Any`` (any JSON value) and dataclasses (objects with
exactly their fields).
"""

import dataclasses
import types
import typing


def schema_of(hint) -> dict:
    """The JSON Schema (draft 2020-12) of values of type ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is typing.Any or hint is object:
        return {}
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0])}
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"dict keys must be str, not {args[0]!r}")
        return {"type": "object", "additionalProperties": schema_of(args[1])}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(args) != 2:
            raise TypeError(f"only `T | None` unions are supported, not {hint!r}")
        return {"anyOf": [schema_of(rest[0]), {"type": "null"}]}
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        properties, required = {}, []
        for field in dataclasses.fields(hint):
            properties[field.name] = schema_of(hints[field.name])
            optional = _is_optional(hints[field.name])
            has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            if not (optional or has_default):
                required.append(field.name)
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema
    raise TypeError(f"no JSON Schema for {hint!r}")


def _is_optional(hint) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def from_json(hint, value):
    """``value`` (JSON the host validated against ``schema_of(hint)``) as ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if value is None:
        return None
    if origin is list:
        return [from_json(args[0], v) for v in value]
    if origin is dict:
        return {k: from_json(args[1], v) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return from_json(rest[0], value)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = {f.name for f in dataclasses.fields(hint)}
        return hint(**{k: from_json(hints[k], v) for k, v in value.items() if k in fields})
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def to_json(value):
    """``value`` as plain JSON data (dataclasses become objects)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_json(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
