"""Protobuf contract diff: wire-level breaking changes versus compatible additions.

Compares two ``snapshot``s (core/contracts/protobuf.py): every message and enum the version's
message reaches, fields keyed by *number* (the wire identity). Confluent's Protobuf
compatibility checker and buf's ``WIRE``/``WIRE_JSON`` categories agree on most of it; where
they disagree this module says what it chose (README: Protobuf, diff):

- a field removed: Confluent calls it compatible (readers skip it); buf's
  ``FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED`` breaks unless the number is reserved. Chosen: buf's
  rule. Removed *with* its number reserved is compatible, removed without is breaking (a later
  field may reuse the number with another meaning);
- a field renamed (same number and type): wire-compatible for both; buf's ``WIRE_JSON`` breaks
  it (the JSON name changes). Chosen: compatible, reported as its own kind so a JSON consumer
  can see it;
- wire-compatible type changes (int32/uint32/int64/uint64/bool, sint32/sint64, fixed32/sfixed32,
  fixed64/sfixed64, string/bytes): compatible for both (Confluent lists them; buf ``WIRE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from stream_sentinel.core.compat.model import Change, ChangeSink, SchemaSource

# FieldDescriptor.TYPE_* numbers grouped by wire compatibility (protobuf language guide).
_VARINT: Final = frozenset({3, 4, 5, 8, 13})  # int64, uint64, int32, bool, uint32
_ZIGZAG: Final = frozenset({17, 18})  # sint32, sint64
_FIXED32: Final = frozenset({7, 15})  # fixed32, sfixed32
_FIXED64: Final = frozenset({6, 16})  # fixed64, sfixed64
_BYTES: Final = frozenset({9, 12})  # string, bytes
_GROUPS: Final = (_VARINT, _ZIGZAG, _FIXED32, _FIXED64, _BYTES)
_TYPE_NAMES: Final = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32", 8: "bool",
    9: "string", 10: "group", 11: "message", 12: "bytes", 13: "uint32", 14: "enum", 15: "sfixed32",
    16: "sfixed64", 17: "sint32", 18: "sint64",
}  # fmt: skip


def diff_protobuf(old: SchemaSource, new: SchemaSource) -> list[Change]:
    """Every change from ``old`` to ``new`` (both ``protobuf`` sources holding snapshots)."""
    sink = ChangeSink()
    before: Mapping[str, Any] = old.document
    after: Mapping[str, Any] = new.document
    for name, message in before["messages"].items():
        where = (new.file, tuple(name.split(".")))
        other = after["messages"].get(name)
        if other is None:
            sink.emit("proto_message_deleted", (old.file, where[1]), f"message {name} removed", side="old")
        else:
            _fields(sink, where, name, message, other)
    for name in after["messages"].keys() - before["messages"].keys():
        sink.emit("proto_message_added", (new.file, tuple(name.split("."))), f"message {name} added")
    for name, enum in before["enums"].items():
        where = (new.file, tuple(name.split(".")))
        other = after["enums"].get(name)
        if other is None:
            sink.emit("proto_enum_deleted", (old.file, where[1]), f"enum {name} removed", side="old")
            continue
        for number, value in enum["values"].items():
            if number not in other["values"]:
                sink.emit("proto_enum_value_deleted", where, f"enum {name}: value {value} = {number} removed")
        for number in other["values"].keys() - enum["values"].keys():
            sink.emit("proto_enum_value_added", where, f"enum {name}: value {other['values'][number]} = {number} added")
    return sink.changes


def _reserved(message: Mapping[str, Any], number: int, name: str) -> bool:
    return any(start <= number < end for start, end in message["reserved"]) or name in message["reserved_names"]


def _fields(sink: ChangeSink, where: tuple[str, tuple[str, ...]], name: str, old: Any, new: Any) -> None:
    file, tokens = where
    by_name_new = {f["name"]: n for n, f in new["fields"].items()}
    for number, fld in old["fields"].items():
        at = (file, (*tokens, fld["name"]))
        now = new["fields"].get(number)
        if now is None:
            moved = by_name_new.get(fld["name"])
            if moved is not None:
                sink.emit("proto_field_number_changed", at, f"{name}.{fld['name']}: number {number} -> {moved}")
            elif _reserved(new, number, fld["name"]):
                sink.emit(
                    "proto_field_deleted_reserved", at, f"{name}.{fld['name']} = {number} removed, number reserved"
                )
            else:
                sink.emit(
                    "proto_field_deleted", at, f"{name}.{fld['name']} = {number} removed without reserving {number}"
                )
            continue
        _field(sink, at, f"{name}.{fld['name']}", fld, now)
    for number in new["fields"].keys() - old["fields"].keys():
        fld = new["fields"][number]
        if fld["name"] in {f["name"] for f in old["fields"].values()}:
            continue  # reported as a number change above
        if any(start <= number < end for start, end in old["reserved"]) or fld["name"] in old["reserved_names"]:
            sink.emit(
                "proto_reserved_reused",
                (file, (*tokens, fld["name"])),
                f"{name}.{fld['name']} = {number} reuses a reserved number or name",
            )
        elif fld["label"] == "required":
            sink.emit(
                "proto_required_field_added",
                (file, (*tokens, fld["name"])),
                f"{name}.{fld['name']} = {number} added as required",
            )
        else:
            sink.emit("proto_field_added", (file, (*tokens, fld["name"])), f"{name}.{fld['name']} = {number} added")


def _field(sink: ChangeSink, at: tuple[str, tuple[str, ...]], label: str, old: Any, new: Any) -> None:
    if old["name"] != new["name"]:
        sink.emit("proto_field_renamed", at, f"{label} renamed to {new['name']} (same number)")
    if old["type"] != new["type"] or old["type_name"] != new["type_name"]:
        compatible = old["type_name"] is None and any(old["type"] in g and new["type"] in g for g in _GROUPS)
        kind = "proto_field_type_widened" if compatible else "proto_field_type_changed"
        was = old["type_name"] or _TYPE_NAMES.get(old["type"], str(old["type"]))
        now = new["type_name"] or _TYPE_NAMES.get(new["type"], str(new["type"]))
        sink.emit(kind, at, f"{label}: type {was} -> {now}")
    if old["label"] != new["label"]:
        sink.emit("proto_field_label_changed", at, f"{label}: {old['label']} -> {new['label']}")
    if old["oneof"] != new["oneof"]:
        sink.emit("proto_field_oneof_changed", at, f"{label}: oneof {old['oneof']} -> {new['oneof']}")
