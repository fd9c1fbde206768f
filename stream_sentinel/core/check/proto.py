"""Protobuf messages on the hot path: the codec, Confluent's message indexes, and the explanation.

Hot path (``ProtoCodec.check``): one ``ParseFromString`` into a fresh message of the version's
class (upb, C), then only what the version's descriptors can be broken by:

- proto2 ``required`` fields: ``IsInitialized`` (only when the message tree has any);
- unknown values of open (proto3) enums, which the parser keeps as numbers: a precomputed
  walk over just the fields that lead to enum fields (none for trees without open enums);
- unknown fields (and closed-enum values out of range, which the parser files there):
  ``DiscardUnknownFields`` and then ``ByteSize() == len(data)``. The canonical encoding of
  the known fields is never longer than the input, so a shorter size means unknown fields or a
  non-canonical writer; the slow path then walks ``UnknownFieldSet`` to say which. Types with
  unpacked repeated scalars (which a writer may send packed, and which re-encode longer) skip
  the shortcut and always walk.

Slow path (``explain``): re-parse, walk every message of the tree by field name, and report
``undocumented_field`` (info: Protobuf readers skip unknown fields), ``missing_required``,
``constraint`` (an enum number the enum does not declare) and ``type_mismatch`` (a known field
number with another wire type), with JSON-pointer paths over the ``.proto`` field names and the
nearest ``x-requirement``/``x-owner`` comment of field, message, version, event type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.codecs import CONFLUENT_HEADER, DecodeFailure
from stream_sentinel.core.check.proto_annotate import ProtoIndex
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.protobuf import ProtoSet

_WIRE_NAMES: Final = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "group start", 4: "group end", 5: "32-bit"}
#: Marks an array index or map key in a walk path (``*`` in the rule path); never in a field name.
_ITEM: Final = "\x00"
#: At most this many message indexes in a Confluent frame (nesting deeper than any real schema).
MAX_INDEXES: Final = 64


@dataclass(frozen=True, slots=True)
class _EnumStep:
    """Check one open enum field (or recurse into one message field) of a message."""

    name: str
    repeated: bool
    numbers: frozenset[int] | None  # the enum's numbers; None: a message field to recurse into
    inner: tuple[_EnumStep, ...] = ()
    is_map: bool = False


def _is_map(fld: FieldDescriptor) -> bool:
    msg = fld.message_type
    return bool(fld.is_repeated and msg is not None and msg.GetOptions().map_entry)


def _enum_plan(desc: Descriptor, seen: frozenset[str] = frozenset()) -> tuple[_EnumStep, ...]:
    """The fields to visit to find every open-enum value in a message tree (recursion cut at cycles)."""
    steps: list[_EnumStep] = []
    for fld in desc.fields:
        if fld.enum_type is not None and not fld.enum_type.is_closed:
            numbers = frozenset(v.number for v in fld.enum_type.values)
            steps.append(_EnumStep(fld.name, fld.is_repeated, numbers))
            continue
        inner = fld.message_type
        if _is_map(fld):
            value = inner.fields_by_name["value"]
            if value.enum_type is not None and not value.enum_type.is_closed:
                numbers = frozenset(v.number for v in value.enum_type.values)
                steps.append(_EnumStep(fld.name, True, numbers, is_map=True))
                continue
            inner = value.message_type
            if inner is not None and inner.full_name not in seen:
                sub = _enum_plan(inner, seen | {desc.full_name})
                if sub:
                    steps.append(_EnumStep(fld.name, True, None, sub, is_map=True))
            continue
        if inner is not None and inner.full_name not in seen:
            sub = _enum_plan(inner, seen | {desc.full_name})
            if sub:
                steps.append(_EnumStep(fld.name, fld.is_repeated, None, sub))
    return tuple(steps)


def _enums_ok(msg: Any, steps: tuple[_EnumStep, ...]) -> bool:
    for step in steps:
        value = getattr(msg, step.name)
        values = value.values() if step.is_map else value if step.repeated else (value,)
        if step.numbers is not None:
            if any(v not in step.numbers for v in values):
                return False
        elif step.repeated or step.is_map:
            if any(not _enums_ok(v, step.inner) for v in values):
                return False
        elif msg.HasField(step.name) and not _enums_ok(value, step.inner):
            return False
    return True


def _enum_check(plan: tuple[_EnumStep, ...]) -> Callable[[Any], bool] | None:
    """The cheapest enum check for a plan: one ``attrgetter`` when only top-level singular enums count."""
    if not plan:
        return None
    if all(step.numbers is not None and not step.repeated for step in plan):
        get = attrgetter(*(step.name for step in plan))
        sets = tuple(step.numbers or frozenset() for step in plan)
        if len(plan) == 1:
            one, only = attrgetter(plan[0].name), sets[0]
            return lambda msg: one(msg) in only
        return lambda msg: all(v in n for v, n in zip(get(msg), sets, strict=True))
    return lambda msg: _enums_ok(msg, plan)


def _fast_check(cls: Any, required: bool, enums: Callable[[Any], bool] | None, exact: bool) -> Callable[[bytes], bool]:
    """The hot-path check, specialized: no step a message type cannot fail is run."""

    def check(data: bytes) -> bool:
        msg = cls()
        try:
            msg.ParseFromString(data)
        except DecodeError:
            return False
        if required and not msg.IsInitialized():
            return False
        if enums is not None and not enums(msg):
            return False
        if exact:
            return not _has_unknown(msg)
        msg.DiscardUnknownFields()
        return bool(msg.ByteSize() == len(data))

    return check


def _tree(desc: Descriptor) -> list[Descriptor]:
    """Every message type reachable from ``desc`` (itself first)."""
    seen: dict[str, Descriptor] = {}
    stack = [desc]
    while stack:
        current = stack.pop()
        if current.full_name in seen:
            continue
        seen[current.full_name] = current
        stack.extend(f.message_type for f in current.fields if f.message_type is not None)
    return list(seen.values())


def _unpacked_scalars(types: list[Descriptor]) -> bool:
    return any(
        f.is_repeated
        and f.message_type is None
        and f.type != FieldDescriptor.TYPE_STRING
        and f.type != FieldDescriptor.TYPE_BYTES
        and not f.is_packed
        for t in types
        for f in t.fields
    )


class ProtoCodec:
    """One Protobuf message type compiled for the hot path (see the module docstring)."""

    __slots__ = ("check", "desc", "enum_plan", "exact", "index", "indexes", "message_class", "required")

    def __init__(self, protos: ProtoSet, message: str) -> None:
        self.desc = protos.message(message)
        self.message_class: Any = message_factory.GetMessageClass(self.desc)
        self.indexes = protos.indexes(self.desc)
        self.index = ProtoIndex(protos, self.desc)
        types = _tree(self.desc)
        self.required = any(f.is_required for t in types for f in t.fields)
        self.enum_plan = _enum_plan(self.desc)
        self.exact = _unpacked_scalars(types)
        #: True when the message is valid (the fast answer; False sends it to ``explain``).
        self.check: Callable[[bytes], bool] = _fast_check(
            self.message_class, self.required, _enum_check(self.enum_plan), self.exact
        )

    def parse(self, data: bytes) -> Message | DecodeFailure:
        """The decoded message, or why the bytes are not this message."""
        msg = self.message_class()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            return DecodeFailure(d.UNDECODABLE, f"not a {self.desc.full_name}: {_clip(str(exc))}")
        except Exception as exc:  # noqa: BLE001 - the parser's other refusals (recursion limit) are data too
            return DecodeFailure(d.UNDECODABLE, f"not a {self.desc.full_name}: {type(exc).__name__}")
        return msg

    def payload(self, msg: Message) -> Any:
        """The message as a dict keyed by ``.proto`` field names (what samples and rules read)."""
        return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def _plain(path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.removeprefix(_ITEM) for p in path)


def _clip(text: str) -> str:
    text = text.strip().splitlines()[0] if text.strip() else "failed"
    return text[:160]


def _has_unknown(msg: Any) -> bool:
    if len(UnknownFieldSet(msg)):
        return True
    for fld, value in msg.ListFields():
        if fld.message_type is None:
            continue
        if _is_map(fld):
            if fld.message_type.fields_by_name["value"].message_type is not None and any(
                _has_unknown(v) for v in value.values()
            ):
                return True
        elif fld.is_repeated:
            if any(_has_unknown(v) for v in value):
                return True
        elif _has_unknown(value):
            return True
    return False


def message_indexes(data: bytes) -> tuple[tuple[int, ...], int] | DecodeFailure:
    """Confluent's message-index array after the 5-byte header: (indexes, where the message starts).

    A count of zigzag varints, then that many zigzag varints; a count of 0 means ``[0]`` (the
    first message of the schema), the common case written as one 0 byte.
    """
    pos = CONFLUENT_HEADER
    count, pos = _zigzag(data, pos)
    if count is None:
        return DecodeFailure(d.UNDECODABLE, "the Confluent Protobuf frame ends inside its message-index array")
    if count == 0:
        return (0,), pos
    if count < 0 or count > MAX_INDEXES:
        return DecodeFailure(d.UNDECODABLE, f"message-index count {count} is not in 0..{MAX_INDEXES}")
    out: list[int] = []
    for _ in range(count):
        index, pos = _zigzag(data, pos)
        if index is None or index < 0:
            return DecodeFailure(d.UNDECODABLE, "the Confluent Protobuf frame's message-index array is cut short")
        out.append(index)
    return tuple(out), pos


def _zigzag(data: bytes, pos: int) -> tuple[int | None, int]:
    result = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
    return None, pos


def encode_indexes(indexes: tuple[int, ...]) -> bytes:
    """The message-index array as Confluent writes it (``[0]`` as the single byte 0)."""
    if indexes == (0,):
        return b"\x00"
    return b"".join(_varint((n << 1) ^ (n >> 63)) for n in (len(indexes), *indexes))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@dataclass(slots=True)
class _Walk:
    """The slow-path walk's state: the violations found so far and the attribution defaults."""

    index: ProtoIndex
    requirement: str | None
    owner: str | None
    cap: int
    found: list[d.Violation]


def explain(
    codec: ProtoCodec, msg: Message, requirement: str | None, owner: str | None, cap: int
) -> tuple[d.Violation, ...]:
    """Every violation of a parsed message (at most ``cap``), paths over the field names."""
    walk = _Walk(codec.index, requirement, owner, cap, [])
    _visit(walk, msg, codec.desc, (), requirement, owner)
    return tuple(walk.found[:cap])


def _notes(walk: _Walk, name: str, requirement: str | None, owner: str | None) -> tuple[str | None, str | None]:
    notes = walk.index.notes(name)
    return notes.requirement or requirement, notes.owner or owner


def _add(
    walk: _Walk,
    kind: str,
    severity: str,
    path: tuple[str, ...],
    expected: str,
    actual_type: str,
    actual: str | None,
    req: str | None,
    owner: str | None,
    detail: str = "",
) -> None:
    if len(walk.found) < walk.cap:
        pointer = jp.to_pointer(tuple(p.removeprefix(_ITEM) for p in path))
        rule = jp.to_pointer(tuple("*" if p.startswith(_ITEM) else p for p in path))
        walk.found.append(
            d.Violation(
                kind, severity, pointer, rule, expected, actual_type, actual, actual is None, req, owner, detail=detail
            )
        )


def _visit(walk: _Walk, msg: Any, desc: Descriptor, path: tuple[str, ...], req: str | None, owner: str | None) -> None:
    req, owner = _notes(walk, desc.full_name, req, owner)
    _unknowns(walk, msg, desc, path, req, owner)
    for fld in desc.fields:
        freq, fowner = _notes(walk, fld.full_name, req, owner)
        where = (*path, fld.name)
        if fld.is_required and not msg.HasField(fld.name):
            _add(
                walk, d.MISSING_REQUIRED, d.BREAKING, where, "present (proto2 required)", "missing", None, freq, fowner
            )
            continue
        if fld.enum_type is not None and not fld.enum_type.is_closed:
            _open_enum(walk, msg, fld, where, freq, fowner)
        elif fld.message_type is not None:
            _children(walk, msg, fld, where, freq, fowner)


def _open_enum(
    walk: _Walk, msg: Any, fld: FieldDescriptor, where: tuple[str, ...], req: str | None, owner: str | None
) -> None:
    enum = fld.enum_type
    values = getattr(msg, fld.name)
    items = list(enumerate(values)) if fld.is_repeated else [(None, values)]
    for i, number in items:
        if enum.values_by_number.get(number) is None:
            names = ", ".join(v.name for v in enum.values[:10])
            pii = walk.index.privacy(_plain(where))[1]
            _add(
                walk,
                d.CONSTRAINT,
                d.BREAKING,
                where if i is None else (*where, _ITEM + str(i)),
                f"one of {enum.full_name} ({names})",
                "integer",
                None if pii else str(number),
                req,
                owner,
                detail="an enum number the contract does not declare (open enum: the reader keeps the number)",
            )


def _children(
    walk: _Walk, msg: Any, fld: FieldDescriptor, where: tuple[str, ...], req: str | None, owner: str | None
) -> None:
    inner = fld.message_type
    if _is_map(fld):
        value = inner.fields_by_name["value"]
        if value.message_type is not None:
            for key, item in getattr(msg, fld.name).items():
                _visit(walk, item, value.message_type, (*where, _ITEM + str(key)), req, owner)
        return
    if fld.is_repeated:
        for i, item in enumerate(getattr(msg, fld.name)):
            _visit(walk, item, inner, (*where, _ITEM + str(i)), req, owner)
    elif msg.HasField(fld.name):
        _visit(walk, getattr(msg, fld.name), inner, where, req, owner)


def _unknowns(
    walk: _Walk, msg: Any, desc: Descriptor, path: tuple[str, ...], req: str | None, owner: str | None
) -> None:
    for unknown in UnknownFieldSet(msg):
        number, wire = unknown.field_number, unknown.wire_type
        known = desc.fields_by_number.get(number)
        wire_name = _WIRE_NAMES.get(wire, str(wire))
        if known is None:
            _add(
                walk,
                d.UNDOCUMENTED_FIELD,
                d.INFO,
                (*path, str(number)),
                "no field with this number",
                wire_name,
                None,
                req,
                owner,
                detail=f"field number {number} ({wire_name}) is not in {desc.full_name}",
            )
            continue
        freq, fowner = _notes(walk, known.full_name, req, owner)
        where = (*path, known.name)
        if known.enum_type is not None and wire == 0:
            names = ", ".join(v.name for v in known.enum_type.values[:10])
            pii = walk.index.privacy(_plain(where))[1]
            _add(
                walk,
                d.CONSTRAINT,
                d.BREAKING,
                where,
                f"one of {known.enum_type.full_name} ({names})",
                "integer",
                None if pii else str(unknown.data),
                freq,
                fowner,
                detail="an enum number the contract does not declare (closed enum: the reader drops it)",
            )
        else:
            _add(
                walk,
                d.TYPE_MISMATCH,
                d.BREAKING,
                where,
                _type_name(known),
                wire_name,
                None,
                freq,
                fowner,
                detail=f"field number {number} arrived with wire type {wire_name}",
            )


def _type_name(fld: FieldDescriptor) -> str:
    if fld.message_type is not None:
        return str(fld.message_type.full_name)
    if fld.enum_type is not None:
        return str(fld.enum_type.full_name)
    names = {v: k.removeprefix("TYPE_").lower() for k, v in vars(FieldDescriptor).items() if k.startswith("TYPE_")}
    return str(names.get(fld.type, "scalar"))
