"""Contracts for the record key and headers: ``key:`` and ``headers:`` in catalog.yaml.

A topic (or one of its event types) may say what its records' key and headers must look like::

    key: {equals: /order_id}                     # the key is the value's order_id, as text
    key: {format: uuid, required: true}          # a UUID key; a null key is missing_required
    headers:
      schema-version: {required: true, pattern: '^[0-9]+$'}
      trace-id: {format: uuid}
      customer-email: {x-pii: true}              # checked, never echoed

Each entry is a *field contract*: ``required`` (default false: an absent key or header is only
checked when present), ``encoding`` (``string``, the default: the bytes are UTF-8 text;
``json``: the bytes are a JSON document), ``equals`` (a JSON pointer into the decoded value: the
key or header text must equal that field, rendered as text), the JSON Schema shorthands ``type``,
``format``, ``pattern``, ``enum``, ``const``, ``minLength``, ``maxLength``, ``minimum``,
``maximum``, or a whole JSON Schema under ``schema`` (the shorthands are merged into it), and
``x-pii``, ``requirement``, ``owner``, ``description``.

An event type's ``key`` replaces its topic's; its ``headers`` are merged with the topic's by
name (the event type's entry wins). This module only reads and checks the setting (errors exit 2
at ``catalog.yaml#/topics/<topic>/...``); ``core/check/keyhead.py`` compiles and applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

import jsonschema

from stream_sentinel.core.contracts import pointer as ptr
from stream_sentinel.core.errors import SpecError

CATALOG_FILE: Final = "catalog.yaml"  # as catalog.CATALOG_FILE (the catalog imports this module)
#: Where a key violation points (a drift event's ``path``). Not a JSON pointer on purpose: a
#: payload pointer is empty or starts with ``/``, so ``key`` never collides with a value field.
KEY_PATH: Final = "key"
#: Prefix of a header violation's path: ``headers/<name>`` (the name escaped as a pointer token).
HEADERS_PATH: Final = "headers"
#: JSON Schema keywords accepted as shorthands next to ``schema``.
SHORTHANDS: Final = ("type", "format", "pattern", "enum", "const", "minLength", "maxLength", "minimum", "maximum")

_FIELD_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "boolean"},
        "encoding": {"enum": ["string", "json"]},
        "equals": {"type": "string", "pattern": "^/"},
        "type": {"enum": ["string", "integer", "number", "boolean", "object", "array", "null"]},
        "format": {"type": "string", "minLength": 1},
        "pattern": {"type": "string"},
        "enum": {"type": "array", "minItems": 1},
        "const": {},
        "minLength": {"type": "integer", "minimum": 0},
        "maxLength": {"type": "integer", "minimum": 0},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "schema": {"type": ["object", "boolean"]},
        "x-pii": {"type": "boolean"},
        "requirement": {"type": "string", "minLength": 1},
        "owner": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
    },
}

#: The ``key`` and ``headers`` settings' shapes, checked with the rest of the catalog.
KEY_SCHEMA: Final[dict[str, Any]] = _FIELD_SCHEMA
HEADERS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "maxProperties": 100,
    "propertyNames": {"minLength": 1, "maxLength": 249},
    "additionalProperties": _FIELD_SCHEMA,
}


@dataclass(frozen=True, slots=True)
class FieldContract:
    """What the key, or one header, must be. ``path`` is where its violations point."""

    path: str
    header: str | None
    catalog_pointer: str
    required: bool = False
    encoding: Literal["string", "json"] = "string"
    equals: tuple[str, ...] | None = None
    equals_pointer: str = ""
    schema: Any = None
    pii: bool = False
    requirement: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class KeyHeadContract:
    """The key contract (if any) and the header contracts of a topic or event type."""

    key: FieldContract | None = None
    headers: Mapping[str, FieldContract] = field(default_factory=lambda: MappingProxyType({}))

    def merged(self, nearer: KeyHeadContract | None) -> KeyHeadContract:
        """This (topic) contract with an event type's: its key replaces, its headers win by name."""
        if nearer is None:
            return self
        return KeyHeadContract(
            nearer.key if nearer.key is not None else self.key,
            MappingProxyType({**self.headers, **nearer.headers}),
        )


def header_path(name: str) -> str:
    """``headers/<name>``, the name escaped as a JSON pointer token (``~0``, ``~1``)."""
    return f"{HEADERS_PATH}/{name.replace('~', '~0').replace('/', '~1')}"


def parse_keyhead(spec: Mapping[str, Any], where: tuple[str, ...]) -> KeyHeadContract | None:
    """The ``key``/``headers`` of a topic or event entry (already of the schemas' shape), or None.

    ``where``: the entry's pointer tokens in catalog.yaml (errors name ``catalog.yaml#/...``).
    """
    if "key" not in spec and "headers" not in spec:
        return None
    key = _field(spec["key"], KEY_PATH, None, (*where, "key")) if "key" in spec else None
    headers = {
        name: _field(entry, header_path(name), name, (*where, "headers", name))
        for name, entry in (spec.get("headers") or {}).items()
    }
    return KeyHeadContract(key, MappingProxyType(headers))


def _field(spec: Mapping[str, Any], path: str, header: str | None, where: tuple[str, ...]) -> FieldContract:
    pointer = ptr.to_pointer(where)
    encoding = spec.get("encoding", "string")
    schema = _schema(spec, encoding, where)
    equals = spec.get("equals")
    tokens = None
    if equals is not None:
        tokens = ptr.parse(equals)
    return FieldContract(
        path=path,
        header=header,
        catalog_pointer=pointer,
        required=bool(spec.get("required", False)),
        encoding=encoding,
        equals=tokens,
        equals_pointer=equals or "",
        schema=schema,
        pii=bool(spec.get("x-pii", False)),
        requirement=spec.get("requirement"),
        owner=spec.get("owner"),
    )


def _schema(spec: Mapping[str, Any], encoding: str, where: tuple[str, ...]) -> Any:
    """The JSON Schema the decoded key/header must pass: ``schema`` with the shorthands merged in."""
    shorthands = {k: spec[k] for k in SHORTHANDS if k in spec}
    schema = spec.get("schema")
    if schema is None and not shorthands:
        return None
    if schema is False or schema is True:
        if shorthands:
            raise SpecError(
                CATALOG_FILE, ptr.to_pointer((*where, "schema")), "a boolean schema cannot be combined with shorthands"
            )
        return schema
    merged = {**(schema or {}), **shorthands}
    if encoding == "string" and "type" not in merged and schema is None:
        merged["type"] = "string"
    if "pattern" in merged:
        try:
            re.compile(merged["pattern"])
        except re.error as exc:
            raise SpecError(
                CATALOG_FILE, ptr.to_pointer((*where, "pattern")), f"not a regular expression: {exc}"
            ) from exc
    try:
        jsonschema.Draft202012Validator.check_schema(merged)
    except jsonschema.SchemaError as exc:
        inner = ("schema", *(str(t) for t in exc.path)) if schema is not None else ()
        raise SpecError(
            CATALOG_FILE, ptr.to_pointer((*where, *inner)), f"not a JSON Schema: {exc.message[:200]}"
        ) from exc
    return merged


__all__ = [
    "HEADERS_PATH",
    "HEADERS_SCHEMA",
    "KEY_PATH",
    "KEY_SCHEMA",
    "FieldContract",
    "KeyHeadContract",
    "header_path",
    "parse_keyhead",
]
