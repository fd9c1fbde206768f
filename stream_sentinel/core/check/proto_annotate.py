"""Annotations and redaction for Protobuf contracts: the comment convention's walker.

A Protobuf message decodes to a dict keyed by the ``.proto`` field names (``json_format`` with
``preserving_proto_field_name``), so drift paths and samples read like the contract. The walker
follows the descriptors along those names; a field, or a message, with an ``x-pii`` comment
line is PII. Deny by default: a value is echoed only where the descriptors prove its location
and no version of the event type marks it, or anything below it, ``x-pii``. Values of free-form
well-known types (``Any``, ``Struct``, ``Value``, ``ListValue``) prove nothing and are withheld.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from stream_sentinel.core.check.annotate import MAX_DEPTH, MAX_ITEMS, MAX_STRING, REDACTED, Annotations, json_type
from stream_sentinel.core.contracts.protobuf import ProtoNotes, ProtoSet

_FREE_FORM: Final = frozenset(
    {"google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)
_NO_NOTES: Final = ProtoNotes()


def _is_map(fld: FieldDescriptor) -> bool:
    msg = fld.message_type
    return bool(fld.is_repeated and msg is not None and msg.GetOptions().map_entry)


class ProtoIndex:
    """Annotations and redaction for one Protobuf schema version (``// x-pii`` etc. comments)."""

    def __init__(self, protos: ProtoSet, desc: Descriptor) -> None:
        self._notes = protos.notes
        self._desc = desc
        self._peers: list[ProtoIndex] = []
        self._sensitive: dict[str, bool] = {}

    def link_versions(self, peers: Iterable[ProtoIndex]) -> None:
        """Count the ``x-pii`` marks of the event type's other versions (once, at engine build)."""
        self._peers = [p for p in peers if p is not self]

    def notes(self, name: str) -> ProtoNotes:
        """The annotations of a message or field full name (none: empty notes)."""
        return self._notes.get(name, _NO_NOTES)

    def root(self) -> Annotations:
        """Annotations of the top-level message (decode failures have no finer location)."""
        notes = self.notes(self._desc.full_name)
        return Annotations(notes.requirement, notes.owner, notes.pii)

    def privacy(self, tokens: tuple[str | int, ...]) -> tuple[bool, bool]:
        """(pii, sensitive) of a location, as :meth:`JsonSchemaIndex.privacy` says it, over every version."""
        results = [index._privacy(tokens) for index in (self, *self._peers)]
        return any(p for p, _ in results), any(s for _, s in results)

    def _privacy(self, tokens: tuple[str | int, ...]) -> tuple[bool, bool]:
        desc: Descriptor | None = self._desc
        fld: FieldDescriptor | None = None
        pending_item = False  # after a repeated or map field, the next token is an index or key
        for token in tokens:
            if pending_item:
                pending_item = False
                desc = _value_message(fld) if fld is not None else None
                continue
            if desc is None or self.notes(desc.full_name).pii or desc.full_name in _FREE_FORM:
                return bool(desc is not None and self.notes(desc.full_name).pii), True
            fld = desc.fields_by_name.get(str(token))
            if fld is None:
                return False, True
            if self.notes(fld.full_name).pii:
                return True, True
            pending_item = fld.is_repeated
            desc = None if pending_item else fld.message_type
        if pending_item and fld is not None:
            return False, self._field_sensitive(fld)
        if desc is None:
            return False, fld is not None and self._field_sensitive(fld)
        return self.notes(desc.full_name).pii, self._has_pii(desc)

    def _field_sensitive(self, fld: FieldDescriptor) -> bool:
        if self.notes(fld.full_name).pii:
            return True
        inner = _value_message(fld)
        return inner is not None and self._has_pii(inner)

    def _has_pii(self, desc: Descriptor) -> bool:
        """Whether ``x-pii`` (or a free-form type) appears anywhere below a message; cached, cycle-safe."""
        key = desc.full_name
        if key not in self._sensitive:
            self._sensitive[key] = False  # provisional: recursive types terminate
            found = self.notes(key).pii or key in _FREE_FORM
            for fld in desc.fields:
                if found:
                    break
                found = self._field_sensitive(fld)
            self._sensitive[key] = found
        return self._sensitive[key]

    def redact(self, payload: Any) -> Any:
        """Copy of a decoded message (dict by field name) with ``x-pii`` values masked and values capped."""
        return self._message(payload, self._desc, (), 0)

    def _pii(self, path: tuple[str, ...]) -> bool:
        return self.privacy(path)[0]

    def _message(self, value: Any, desc: Descriptor, path: tuple[str, ...], depth: int) -> Any:
        if self._pii(path) or desc.full_name in _FREE_FORM:
            return REDACTED
        if not isinstance(value, dict):
            # A well-known type's JSON form (Timestamp, Duration, wrappers, FieldMask): shown
            # only when nothing in any version marks this location or below it.
            return REDACTED if self.privacy(path)[1] else _capped(value)
        if depth >= MAX_DEPTH:
            return f"[{json_type(value)} nested too deeply]"
        out: dict[str, Any] = {}
        for key, item in value.items():
            fld = desc.fields_by_name.get(key)
            if fld is None:
                out[key] = f"[UNDOCUMENTED {json_type(item)}]"
            else:
                out[key] = self._field(item, fld, (*path, key), depth + 1)
        return out

    def _field(self, value: Any, fld: FieldDescriptor, path: tuple[str, ...], depth: int) -> Any:
        if self._pii(path):
            return REDACTED
        inner = _value_message(fld)
        if _is_map(fld) and isinstance(value, dict):
            return {k: self._one(v, inner, (*path, str(k)), depth) for k, v in list(value.items())[:MAX_ITEMS]}
        if fld.is_repeated and isinstance(value, list):
            items = [self._one(v, inner, (*path, str(i)), depth) for i, v in enumerate(value[:MAX_ITEMS])]
            if len(value) > MAX_ITEMS:
                items.append(f"… {len(value) - MAX_ITEMS} more items")
            return items
        return self._one(value, inner, path, depth)

    def _one(self, value: Any, inner: Descriptor | None, path: tuple[str, ...], depth: int) -> Any:
        if inner is not None:
            return self._message(value, inner, path, depth)
        return REDACTED if self.privacy(path)[1] else _capped(value)


def _value_message(fld: FieldDescriptor) -> Descriptor | None:
    """The message type of a field's values (a map's value type for maps), or None for scalars."""
    msg = fld.message_type
    if msg is not None and msg.GetOptions().map_entry:
        return msg.fields_by_name["value"].message_type
    return msg


def _capped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + f"…(+{len(value) - MAX_STRING})"
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return f"[{json_type(value)}]"
