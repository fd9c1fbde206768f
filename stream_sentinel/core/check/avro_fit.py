"""Does a decoded Avro record fit a catalog Avro schema? Field by field, as a reader would see it.

Used for records decoded with a *registered* writer schema (``core/check/writers.py``): the
bytes were written with another schema than the catalog's, so the catalog's byte-level check
cannot say what differs; comparing the decoded record with the catalog's schema can. What a
reader of the catalog's schema would do decides the verdict (Avro schema resolution):

- a field of the catalog's record the writer's record lacks: ``missing_required`` (breaking),
  unless the catalog gives it a default (then the reader fills it in: nothing to report);
- a field the catalog's record does not list: ``undocumented_field`` (info: a reader skips it);
- a value of another type, or an enum symbol the catalog's enum lacks: ``type_mismatch`` /
  ``constraint`` (breaking).

No value is ever echoed (deny by default: the record came from a schema the catalog does not
annotate); the drift event's sample is redacted by the catalog version's own walker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastavro.validation import validate

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.annotate import json_type
from stream_sentinel.core.check.compile import CompiledVersion
from stream_sentinel.core.contracts import pointer as jp

_MAX_DEPTH: Final = 64
_Notes = tuple[str | None, str | None]  # nearest x-requirement, x-owner (field over record over version)
_Found = tuple[str, str, str, str, _Notes]  # kind, path, expected, actual type, notes
_NAMED: Final = ("record", "enum", "fixed", "error")


def fit(record: Any, compiled: CompiledVersion) -> tuple[d.Violation, ...]:
    """Violations of a decoded record against a compiled Avro version (empty: it fits)."""
    named: Mapping[str, Any] = {}
    if compiled.codec is not None:
        named = getattr(compiled.codec, "_named", {}) or {}
    found: list[_Found] = []
    notes = (compiled.version.requirement or compiled.event.requirement, compiled.version.owner or compiled.event.owner)
    _walk(record, compiled.parsed, named, (), found, 0, notes)
    violations = []
    for kind, path, expected, actual, (requirement, owner) in found:
        severity = d.INFO if kind == d.UNDOCUMENTED_FIELD else d.BREAKING
        violations.append(
            d.Violation(
                kind, severity, path, path, expected, actual, None, kind != d.MISSING_REQUIRED, requirement, owner
            )
        )
    violations.sort(key=lambda v: (v.path, v.kind))
    return tuple(violations)


def _resolve(schema: Any, named: Mapping[str, Any]) -> Any:
    if isinstance(schema, str) and schema in named:
        return named[schema]
    return schema


def _type_name(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    if isinstance(schema, list):
        return " | ".join(_type_name(s) for s in schema)
    return str(schema)


def _walk(
    value: Any,
    schema: Any,
    named: Mapping[str, Any],
    path: tuple[str, ...],
    found: list[_Found],
    depth: int,
    notes: _Notes,
) -> None:
    schema = _resolve(schema, named)
    if depth > _MAX_DEPTH:
        return
    if isinstance(schema, list):  # a union: the branch that fits best
        _union(value, schema, named, path, found, depth, notes)
        return
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind in ("record", "error") and isinstance(value, dict):
        _record(value, schema, named, path, found, depth, notes)
    elif kind == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, schema["items"], named, (*path, str(index)), found, depth + 1, notes)
    elif kind == "map" and isinstance(value, dict):
        for item in value.values():  # a map key is payload: the path says "*", never the key
            _walk(item, schema["values"], named, (*path, "*"), found, depth + 1, notes)
    elif kind == "enum" and isinstance(value, str):
        if value not in schema.get("symbols", ()):
            found.append((d.CONSTRAINT, jp.to_pointer(path), "one of " + ", ".join(schema["symbols"]), "string", notes))
    elif not _fits(value, schema):
        found.append((d.TYPE_MISMATCH, jp.to_pointer(path), _type_name(schema), json_type(value), notes))


def _nearer(node: Mapping[str, Any], notes: _Notes) -> _Notes:
    """A record's or field's own ``x-requirement``/``x-owner`` over the enclosing ones."""
    return node.get("x-requirement") or notes[0], node.get("x-owner") or notes[1]


def _fits(value: Any, schema: Any) -> bool:
    try:
        return bool(validate(value, schema, raise_errors=False))
    except Exception:  # noqa: BLE001 - a value fastavro cannot even compare does not fit
        return False


def _record(
    value: dict[str, Any],
    schema: Mapping[str, Any],
    named: Mapping[str, Any],
    path: tuple[str, ...],
    found: list[_Found],
    depth: int,
    notes: _Notes,
) -> None:
    notes = _nearer(schema, notes)
    listed = set()
    for field in schema.get("fields", ()):
        name = field["name"]
        at = _nearer(field, notes)
        listed.add(name)
        listed.update(field.get("aliases", ()))
        if name not in value:
            if "default" not in field:
                found.append(
                    (d.MISSING_REQUIRED, jp.to_pointer((*path, name)), _type_name(field["type"]), "missing", at)
                )
            continue
        _walk(value[name], field["type"], named, (*path, name), found, depth + 1, at)
    found.extend(
        (d.UNDOCUMENTED_FIELD, jp.to_pointer((*path, name)), "no such field", json_type(value[name]), notes)
        for name in value
        if name not in listed
    )


def _union(
    value: Any,
    branches: list[Any],
    named: Mapping[str, Any],
    path: tuple[str, ...],
    found: list[_Found],
    depth: int,
    notes: _Notes,
) -> None:
    best: list[_Found] | None = None
    for branch in branches:
        resolved = _resolve(branch, named)
        kind = resolved.get("type") if isinstance(resolved, dict) else resolved
        if kind in ("record", "error", "array", "map", "enum") and not _shaped(value, kind):
            continue
        if kind not in ("record", "error", "array", "map", "enum") and not _fits(value, resolved):
            continue
        attempt: list[_Found] = []
        _walk(value, resolved, named, path, attempt, depth + 1, notes)
        breaking = sum(1 for f in attempt if f[0] != d.UNDOCUMENTED_FIELD)
        if best is None or breaking < sum(1 for f in best if f[0] != d.UNDOCUMENTED_FIELD):
            best = attempt
    if best is None:
        found.append((d.TYPE_MISMATCH, jp.to_pointer(path), _type_name(branches), json_type(value), notes))
    else:
        found.extend(best)


def _shaped(value: Any, kind: str) -> bool:
    if kind in ("record", "error", "map"):
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, str)
