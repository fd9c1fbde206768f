"""Avro shape checks: what fastavro's parser lets through but no Avro reader can use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.annotations import _check_annotation_values
from stream_sentinel.core.errors import SpecError

_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_AVRO_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_AVRO_NAMED = frozenset({"record", "error", "enum", "fixed"})
_INT_RANGE = {"int": 2**31, "long": 2**63}


def _check_avro_document(ref: str, doc: Any) -> None:
    """What fastavro's parser lets through but no Avro reader can use, at its pointer.

    A record without ``fields``, duplicate field names or enum symbols, two union branches of
    one type, a union directly in a union, a negative fixed size, names that are not Avro
    names, a default that does not match its field's type, a decimal without a usable
    precision, and non-boolean ``x-pii`` (or non-string ``x-requirement``/``x-owner``).
    """
    try:
        _AvroShape(ref).node(doc, ())
    except RecursionError:
        raise SpecError(ref, "", "schema nested too deeply to check") from None


class _AvroShape:
    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.named: dict[str, Any] = {}

    def fail(self, path: tuple[str, ...], cause: str) -> SpecError:
        return SpecError(self.ref, jp.to_pointer(path), cause)

    def node(self, node: Any, path: tuple[str, ...]) -> None:  # noqa: C901 (a check per Avro type)
        if isinstance(node, str):
            return  # a primitive or a named type; fastavro resolves names, with its own message
        if isinstance(node, list):
            self.union(node, path)
            return
        if not isinstance(node, dict):
            raise self.fail(path, "an Avro schema is a type name, a union (list) or an object")
        _check_annotation_values(self.ref, node, path)
        kind = node.get("type")
        if isinstance(kind, dict | list):
            self.node(kind, (*path, "type"))
            return
        if not isinstance(kind, str):
            raise self.fail((*path, "type"), "type must be a string, a list or an object")
        if kind in _AVRO_NAMED:
            self.name(node, path)
        if kind in ("record", "error"):
            self.record(node, path)
        elif kind == "enum":
            self.enum(node, path)
        elif kind == "fixed":
            size = node.get("size")
            if type(size) is not int or size < 0:
                raise self.fail((*path, "size"), "a fixed size must be a non-negative integer")
        elif kind == "array":
            if "items" not in node:
                raise self.fail(path, "an array needs items")
            self.node(node["items"], (*path, "items"))
        elif kind == "map":
            if "values" not in node:
                raise self.fail(path, "a map needs values")
            self.node(node["values"], (*path, "values"))
        if node.get("logicalType") == "decimal" and kind in ("bytes", "fixed"):
            self.decimal(node, path)

    def name(self, node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        name = node.get("name")
        if not isinstance(name, str) or not all(_AVRO_NAME.fullmatch(part) for part in name.split(".")):
            raise self.fail((*path, "name"), f"{name!r} is not an Avro name ([A-Za-z_][A-Za-z0-9_]*, dotted)")
        namespace = node.get("namespace")
        if namespace is not None and not (
            isinstance(namespace, str)
            and (namespace == "" or all(_AVRO_NAME.fullmatch(part) for part in namespace.split(".")))
        ):
            raise self.fail((*path, "namespace"), f"{namespace!r} is not an Avro namespace")
        self.named[name] = node
        self.named.setdefault(name.rsplit(".", 1)[-1], node)

    def record(self, node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        fields = node.get("fields")
        if not isinstance(fields, list):
            raise self.fail(path, "a record needs a fields list")
        seen: set[str] = set()
        for index, spec in enumerate(fields):
            where = (*path, "fields", str(index))
            if not isinstance(spec, dict) or "type" not in spec:
                raise self.fail(where, "a field is an object with a name and a type")
            name = spec.get("name")
            if not isinstance(name, str) or not _AVRO_NAME.fullmatch(name):
                raise self.fail((*where, "name"), f"{name!r} is not an Avro field name ([A-Za-z_][A-Za-z0-9_]*)")
            if name in seen:
                raise self.fail((*where, "name"), f"duplicate field name {name!r}")
            seen.add(name)
            _check_annotation_values(self.ref, spec, where)
            self.node(spec["type"], (*where, "type"))
            if "default" in spec and not self.fits(spec["default"], spec["type"]):
                raise self.fail((*where, "default"), f"default does not match the type of field {name!r}")

    def enum(self, node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        symbols = node.get("symbols")
        if not isinstance(symbols, list):
            raise self.fail(path, "an enum needs a symbols list")
        seen: set[str] = set()
        for index, symbol in enumerate(symbols):
            if not isinstance(symbol, str) or not _AVRO_NAME.fullmatch(symbol):
                raise self.fail((*path, "symbols", str(index)), f"{symbol!r} is not an Avro enum symbol")
            if symbol in seen:
                raise self.fail((*path, "symbols", str(index)), f"duplicate enum symbol {symbol!r}")
            seen.add(symbol)
        if "default" in node and node["default"] not in seen:
            raise self.fail((*path, "default"), "an enum default must be one of its symbols")

    def union(self, branches: list[Any], path: tuple[str, ...]) -> None:
        seen: set[str] = set()
        for index, branch in enumerate(branches):
            where = (*path, str(index))
            if isinstance(branch, list):
                raise self.fail(where, "a union may not directly contain a union")
            self.node(branch, where)
            key = self.branch_key(branch)
            if key in seen:
                raise self.fail(where, f"the union has two {key} branches")
            seen.add(key)

    @staticmethod
    def branch_key(branch: Any) -> str:
        if isinstance(branch, str):
            return branch
        kind = branch.get("type")
        if isinstance(kind, dict):
            return _AvroShape.branch_key(kind)
        if kind in _AVRO_NAMED:
            return str(branch.get("name"))
        return str(kind)

    def decimal(self, node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        precision, scale = node.get("precision"), node.get("scale", 0)
        if type(precision) is not int or precision < 1:
            raise self.fail((*path, "precision"), "a decimal needs a positive integer precision")
        if type(scale) is not int or not 0 <= scale <= precision:
            raise self.fail((*path, "scale"), "a decimal scale is an integer from 0 to its precision")
        if node.get("type") == "fixed" and isinstance(node.get("size"), int):
            digits = len(str(2 ** (8 * node["size"] - 1) - 1)) - 1 if node["size"] else 0
            if precision > digits:
                raise self.fail((*path, "precision"), f"a fixed of {node['size']} bytes holds at most {digits} digits")

    def fits(self, value: Any, schema: Any) -> bool:
        """Whether a JSON default value is a datum of ``schema`` (unknown named types: yes)."""
        if isinstance(schema, list):
            return any(self.fits(value, branch) for branch in schema)
        if isinstance(schema, str):
            if schema not in _AVRO_PRIMITIVES:
                named = self.named.get(schema) or self.named.get(schema.rsplit(".", 1)[-1])
                return named is None or self.fits(value, named)
            return self.primitive(value, schema)
        if not isinstance(schema, dict):
            return False
        kind = schema.get("type")
        if isinstance(kind, dict | list):
            return self.fits(value, kind)
        if kind in ("record", "error"):
            fields = schema.get("fields", [])
            return isinstance(value, dict) and all(
                self.fits(value[f["name"]], f["type"]) if f["name"] in value else "default" in f for f in fields
            )
        if kind == "enum":
            return value in schema.get("symbols", [])
        if kind == "fixed":
            return isinstance(value, str) and len(value) == schema.get("size") and all(ord(c) < 256 for c in value)
        if kind == "array":
            return isinstance(value, list) and all(self.fits(item, schema["items"]) for item in value)
        if kind == "map":
            return isinstance(value, dict) and all(self.fits(item, schema["values"]) for item in value.values())
        return self.fits(value, kind)

    @staticmethod
    def primitive(value: Any, kind: str) -> bool:
        if kind == "null":
            return value is None
        if kind == "boolean":
            return isinstance(value, bool)
        if kind in _INT_RANGE:
            bound = _INT_RANGE[kind]
            return type(value) is int and -bound <= value < bound
        if kind in ("float", "double"):
            return type(value) in (int, float)
        if kind == "bytes":
            return isinstance(value, str) and all(ord(c) < 256 for c in value)
        return isinstance(value, str)
