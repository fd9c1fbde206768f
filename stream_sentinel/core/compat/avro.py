"""Avro compatibility by the specification's schema-resolution rules.

Avro data is always read with the writer's schema and *resolved* against the reader's: fields
are matched by name (or by the reader's aliases), a reader field missing from the writer needs a
default, writer fields the reader lacks are skipped, ``int``/``long``/``float`` promote to wider
numbers, ``string`` and ``bytes`` read each other, an enum symbol the reader lacks needs the
reader's enum default, a writer union branch must be readable by some reader branch, named
types match by unqualified name or the reader's aliases, and ``fixed`` sizes must be equal.
BACKWARD asks whether the new schema reads old data (new = reader); FORWARD the reverse.

Two pieces:

- ``reader_problems`` is a reader/writer resolution checker, the approach of Apache Avro's
  ``SchemaCompatibility`` (Java): recursive, memoised per pair of named types so recursive
  schemas terminate (a pair met again while in progress is assumed compatible).
- ``diff_avro`` walks both schemas together to *name* each change (field added with a default,
  symbol removed, ...) with a JSON pointer into the file that defines it, and asks the checker
  for both directions wherever the outcome depends on more than the change itself (a union
  branch removed that a promotion still reads, a type swapped for another).

Why not a library: fastavro (the parser the catalog loader already uses) has no compatibility
checker. The ``avro`` package has ``avro.compatibility``, a port of the Java checker, but it only
answers "can this reader read that writer" with its first-found incompatibilities; it names no
compatible or cosmetic changes, gives no pointers into referenced files, would add a second Avro
parser next to fastavro with its own parsing of named references, and its port differs from the
Java checker in places (for a reader field missing from the writer it consults the *enum*
default of the field's type instead of requiring a field default). The rules are short and
fixed by the spec, so owning them costs less than adapting a checker that answers another
question.

Beyond the resolution rules, which ignore logical types, a changed ``logicalType`` or decimal
scale is reported as breaking: the same bytes would be read as another value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream_sentinel.core.compat.model import Change, ChangeSink, SchemaSource, lifecycle
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.errors import SpecError

Tokens = tuple[str | int, ...]
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
_COMPLEX = frozenset({*_NAMED, "array", "map"})
# (writer, reader) pairs the spec lets a reader promote.
_PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)
_STRUCTURE = {
    "record": frozenset({"type", "name", "namespace", "fields", "aliases"}),
    "enum": frozenset({"type", "name", "namespace", "symbols", "aliases", "default"}),
    "fixed": frozenset({"type", "name", "namespace", "size", "aliases", "logicalType", "precision", "scale"}),
    "array": frozenset({"type", "items"}),
    "map": frozenset({"type", "values"}),
}
_PRIMITIVE_STRUCTURE = frozenset({"type", "logicalType", "precision", "scale"})
_FIELD_STRUCTURE = frozenset({"name", "type", "default", "aliases"})
_REFERENCE_LIMIT = 64
# Kinds judged stricter than the resolution rules, which ignore logical types: resolution would
# read the bytes, but as another value.
STRICTER_THAN_RESOLUTION = frozenset(
    {"logical_type_changed", "decimal_scale_changed", "decimal_precision_increased", "decimal_precision_decreased"}
)


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


@dataclass(frozen=True, slots=True)
class AvroNode:
    """An Avro schema node (name references resolved to their definition) and where it is written."""

    raw: Any
    file: str
    tokens: Tokens
    namespace: str
    named: Mapping[str, AvroNode] = field(compare=False, repr=False)

    @property
    def kind(self) -> str:
        """union, a primitive name, record, enum, fixed, array or map."""
        if isinstance(self.raw, list):
            return "union"
        if isinstance(self.raw, str):
            return self.raw
        kind = str(self.raw.get("type"))
        return "record" if kind == "error" else kind

    @property
    def name(self) -> str:
        """Unqualified name of a named type."""
        return str(self.raw.get("name", "")).rsplit(".", 1)[-1] if isinstance(self.raw, dict) else ""

    @property
    def fullname(self) -> str:
        """Namespace-qualified name of a named type."""
        return _fullname(self.name, self.namespace)

    @property
    def aliases(self) -> frozenset[str]:
        """The named type's aliases, qualified by its namespace."""
        raw = self.raw.get("aliases", []) if isinstance(self.raw, dict) else []
        return frozenset(_fullname(a, self.namespace) for a in raw if isinstance(a, str))

    @property
    def key(self) -> tuple[str, Tokens]:
        """Identity of the definition, for memoising recursive comparisons."""
        return self.file, self.tokens

    @property
    def where(self) -> tuple[str, Tokens]:
        """(file, tokens), as ``ChangeSink.emit`` takes it."""
        return self.file, self.tokens

    def attr(self, name: str, default: Any = None) -> Any:
        """An attribute of an object-form schema."""
        return self.raw.get(name, default) if isinstance(self.raw, dict) else default

    def resolve(self, raw: Any, *tokens: str | int) -> AvroNode:
        """A schema written below this node (at ``tokens``), name references followed."""
        return _node(raw, self.file, (*self.tokens, *tokens), self.namespace, self.named)

    def child(self, *tokens: str | int) -> AvroNode:
        """The sub-schema at ``tokens`` below this node."""
        raw: Any = self.raw
        for token in tokens:
            raw = raw[token]
        return self.resolve(raw, *tokens)

    def branches(self) -> list[AvroNode]:
        """A union's branches."""
        return [self.child(i) for i in range(len(self.raw))]


def _node(raw: Any, file: str, tokens: Tokens, namespace: str, named: Mapping[str, AvroNode]) -> AvroNode:
    for _ in range(_REFERENCE_LIMIT):
        if isinstance(raw, str) and raw not in _PRIMITIVES:
            found = named.get(_fullname(raw, namespace)) or named.get(raw)
            if found is None:
                raise SpecError(file, jp.to_pointer(tokens), f"unknown Avro type {raw!r}")
            return found
        if isinstance(raw, dict) and not (raw.get("type") in _PRIMITIVES or raw.get("type") in _COMPLEX):
            raw, tokens = raw.get("type"), (*tokens, "type")  # {"type": {...}} or {"type": "a.Name"}
            continue
        if isinstance(raw, dict) and raw.get("type") in _NAMED:
            namespace = _fullname(str(raw.get("name", "")), str(raw.get("namespace", namespace))).rpartition(".")[0]
        return AvroNode(raw, file, tokens, namespace, named)
    raise SpecError(file, jp.to_pointer(tokens), "Avro type references go round in a circle")


def _collect(raw: Any, file: str, tokens: Tokens, namespace: str, out: dict[str, AvroNode]) -> None:
    """Register every named type defined in ``raw`` under its full name (first definition wins)."""
    if isinstance(raw, list):
        for index, branch in enumerate(raw):
            _collect(branch, file, (*tokens, index), namespace, out)
        return
    if not isinstance(raw, dict):
        return
    kind = raw.get("type")
    if kind in _NAMED and isinstance(raw.get("name"), str):
        node = _node(raw, file, tokens, namespace, out)
        out.setdefault(node.fullname, node)
        for index, spec in enumerate(raw.get("fields", [])):
            if isinstance(spec, dict):
                _collect(spec.get("type"), file, (*tokens, "fields", index, "type"), node.namespace, out)
    elif kind == "array":
        _collect(raw.get("items"), file, (*tokens, "items"), namespace, out)
    elif kind == "map":
        _collect(raw.get("values"), file, (*tokens, "values"), namespace, out)
    elif isinstance(kind, dict | list):
        _collect(kind, file, (*tokens, "type"), namespace, out)


def root_node(source: SchemaSource) -> AvroNode:
    """The root of an Avro schema, with the named types of itself and its references.

    The document's own definitions are registered first, so a type it defines is never
    shadowed by a same-named type in one of its references.
    """
    named: dict[str, AvroNode] = {}
    _collect(source.document, source.file, (), "", named)
    for file, doc in source.avro_references:
        _collect(doc, file, (), "", named)
    return _node(source.document, source.file, (), "", named)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


class Checker:
    """Reader/writer resolution (BACKWARD: reader = new, writer = old), memoised per named pair."""

    def __init__(self) -> None:
        self._memo: dict[tuple[tuple[str, Tokens], tuple[str, Tokens]], list[str] | None] = {}

    def reads(self, reader: AvroNode, writer: AvroNode) -> bool:
        """Whether ``reader`` can read everything ``writer`` writes."""
        return not self.problems(reader, writer)

    def problems(self, reader: AvroNode, writer: AvroNode) -> list[str]:
        """Why ``reader`` cannot read data written with ``writer`` (empty: it can)."""
        if writer.kind == "union":
            return [p for branch in writer.branches() for p in self.problems(reader, branch)]
        where = jp.to_pointer(reader.tokens)
        if reader.kind == "union":
            if any(self.reads(branch, writer) for branch in reader.branches()):
                return []
            return [f"{reader.file}#{where}: no branch of the reader's union reads a {writer.kind}"]
        if reader.kind != writer.kind:
            if (writer.kind, reader.kind) in _PROMOTIONS:
                return []
            return [f"{reader.file}#{where}: a {reader.kind} reader cannot read a {writer.kind}"]
        if reader.kind == "array":
            return self.problems(reader.child("items"), writer.child("items"))
        if reader.kind == "map":
            return self.problems(reader.child("values"), writer.child("values"))
        if reader.kind not in _NAMED and reader.kind != "record":
            return []
        key = (reader.key, writer.key)
        if key in self._memo:
            return self._memo[key] or []  # None: in progress, assumed compatible
        self._memo[key] = None
        found = self._named(reader, writer, f"{reader.file}#{where}")
        self._memo[key] = found
        return found

    def _named(self, reader: AvroNode, writer: AvroNode, where: str) -> list[str]:
        found: list[str] = []
        if reader.name != writer.name and writer.fullname not in reader.aliases:
            found.append(f"{where}: reader {reader.fullname} does not match writer {writer.fullname} (nor by alias)")
        if reader.kind == "fixed" and reader.attr("size") != writer.attr("size"):
            found.append(f"{where}: fixed size {writer.attr('size')} read as {reader.attr('size')}")
        elif reader.kind == "enum":
            symbols = reader.attr("symbols", [])
            missing = [s for s in writer.attr("symbols", []) if s not in symbols]
            if missing and reader.attr("default") not in symbols:
                found.append(f"{where}: reader enum lacks {', '.join(missing)} and has no default")
        elif reader.kind == "record":
            writer_fields = {spec["name"]: index for index, spec in enumerate(writer.attr("fields", []))}
            for index, spec in enumerate(reader.attr("fields", [])):
                names = [spec["name"], *spec.get("aliases", [])]
                match = next((writer_fields[n] for n in names if n in writer_fields), None)
                if match is None:
                    if "default" not in spec:
                        found.append(f"{where}/fields/{index}: field {spec['name']} is not written and has no default")
                    continue
                found += self.problems(reader.child("fields", index, "type"), writer.child("fields", match, "type"))
        return found


def reader_problems(reader: SchemaSource, writer: SchemaSource) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; empty when it can."""
    return Checker().problems(root_node(reader), root_node(writer))


def _branch_key(node: AvroNode) -> str:
    return f"named:{node.name}" if node.kind in _NAMED or node.kind == "record" else node.kind


def _pair_branches(old: list[AvroNode], new: list[AvroNode]) -> dict[int, int]:
    """Map old to new index for union branches of the same type (named types: name or alias)."""
    new_keys = {_branch_key(n): j for j, n in enumerate(new)}
    pairs = {i: new_keys[_branch_key(o)] for i, o in enumerate(old) if _branch_key(o) in new_keys}
    taken = set(pairs.values())
    for j, branch in enumerate(new):
        if j in taken or branch.kind not in _NAMED | {"record"}:
            continue
        for i, candidate in enumerate(old):
            if i not in pairs and candidate.kind == branch.kind and candidate.fullname in branch.aliases:
                pairs[i] = j
                break
    return pairs


class AvroDiff:
    """One walk over an old and a new Avro schema, collecting named changes."""

    def __init__(self) -> None:
        self.sink = ChangeSink()
        self.check = Checker()
        self._active: set[tuple[tuple[str, Tokens], tuple[str, Tokens]]] = set()
        self._done: set[tuple[tuple[str, Tokens], tuple[str, Tokens]]] = set()

    def run(self, old: AvroNode, new: AvroNode) -> list[Change]:
        """Compare and return the changes."""
        self.diff(old, new)
        return self.sink.changes

    def diff(self, old: AvroNode, new: AvroNode) -> None:
        """Compare two nodes."""
        old_kind, new_kind = old.kind, new.kind
        if old_kind == "union" and new_kind == "union":
            self._unions(old, new)
        elif new_kind == "union":
            self._into_union(old, new)
        elif old_kind == "union":
            self._out_of_union(old, new)
        elif old_kind != new_kind:
            self._type_change(old, new)
        elif old_kind in ("record", "enum", "fixed"):
            key = (old.key, new.key)
            if key in self._active or key in self._done:
                return
            self._active.add(key)
            try:
                self._names(old, new)
                self._attributes(old, new, _STRUCTURE[old_kind])
                {"record": self._record, "enum": self._enum, "fixed": self._fixed}[old_kind](old, new)
            finally:
                self._active.discard(key)
                self._done.add(key)
        elif old_kind in ("array", "map"):
            self._attributes(old, new, _STRUCTURE[old_kind])
            keyword = "items" if old_kind == "array" else "values"
            self.diff(old.child(keyword), new.child(keyword))
        else:
            self._attributes(old, new, _PRIMITIVE_STRUCTURE)
            self._logical(old, new)

    def _type_change(self, old: AvroNode, new: AvroNode) -> None:
        backward, forward = self.check.reads(new, old), self.check.reads(old, new)
        kind = (
            "type_interchanged"
            if backward and forward
            else "type_promoted"
            if backward
            else "type_demoted"
            if forward
            else "type_changed"
        )
        self.sink.emit(kind, new.where, f"type {old.kind} -> {new.kind}", backward=backward, forward=forward)
        if old.kind in _PRIMITIVES and new.kind in _PRIMITIVES:
            self._logical(old, new)  # a promotion still reads the bytes, but maybe as another value

    def _into_union(self, old: AvroNode, new: AvroNode) -> None:
        branches = new.branches()
        match = _pair_branches([old], branches).get(0)
        backward = match is not None or self.check.reads(new, old)
        forward = all(self.check.reads(old, b) for j, b in enumerate(branches) if j != match)
        names = ", ".join(b.kind if b.kind not in _NAMED | {"record"} else b.fullname for b in branches)
        self.sink.emit(
            "type_to_union", new.where, f"{old.kind} became the union [{names}]", backward=backward, forward=forward
        )
        if match is not None:
            self.diff(old, branches[match])

    def _out_of_union(self, old: AvroNode, new: AvroNode) -> None:
        branches = old.branches()
        match = _pair_branches(branches, [new])
        matched = next(iter(match), None)
        backward = all(self.check.reads(new, b) for i, b in enumerate(branches) if i != matched)
        forward = matched is not None or self.check.reads(old, new)
        self.sink.emit("union_to_type", new.where, f"union became {new.kind}", backward=backward, forward=forward)
        if matched is not None:
            self.diff(branches[matched], new)

    def _unions(self, old: AvroNode, new: AvroNode) -> None:
        old_branches, new_branches = old.branches(), new.branches()
        pairs = _pair_branches(old_branches, new_branches)
        for i, j in sorted(pairs.items()):
            self.diff(old_branches[i], new_branches[j])
        for j, branch in enumerate(new_branches):
            if j not in pairs.values():
                self.sink.emit(
                    "union_branch_added",
                    branch.where,
                    f"union branch {branch.kind} added",
                    forward=self.check.reads(old, branch),
                )
        for i, branch in enumerate(old_branches):
            if i not in pairs:
                self.sink.emit(
                    "union_branch_removed",
                    branch.where,
                    f"union branch {branch.kind} removed",
                    backward=self.check.reads(new, branch),
                    side="old",
                )

    def _names(self, old: AvroNode, new: AvroNode) -> None:
        if old.name != new.name:
            backward, forward = old.fullname in new.aliases, new.fullname in old.aliases
            self.sink.emit(
                "name_changed",
                (new.file, (*new.tokens, "name")),
                f"{old.kind} {old.fullname} renamed to {new.fullname}",
                backward=backward,
                forward=forward,
            )
        elif old.namespace != new.namespace:
            self.sink.emit(
                "namespace_changed", (new.file, (*new.tokens, "name")), f"{old.fullname} is now {new.fullname}"
            )
        if old.aliases != new.aliases:
            self.sink.emit(
                "aliases_changed", (new.file, (*new.tokens, "aliases")), f"aliases of {new.fullname} changed"
            )

    def _attributes(self, old: AvroNode, new: AvroNode, structure: frozenset[str]) -> None:
        """Docs and custom attributes (``x-owner``, ...) of a schema node."""
        self._annotations(_mapping(old.raw), _mapping(new.raw), old.where, new.where, structure, "")

    def _annotations(
        self,
        before_map: Mapping[str, Any],
        after_map: Mapping[str, Any],
        old_where: tuple[str, Tokens],
        new_where: tuple[str, Tokens],
        structure: frozenset[str],
        label: str,
    ) -> None:
        """Report attributes outside ``structure``: cosmetic, except ``x-pii`` (it changes redaction)."""
        for key in [*before_map, *(k for k in after_map if k not in before_map)]:
            if key in structure:
                continue
            if key in before_map and key in after_map and _canonical(before_map[key]) == _canonical(after_map[key]):
                continue
            kind = (
                "doc_changed" if key == "doc" else "pii_annotation_changed" if key == "x-pii" else "annotation_changed"
            )
            if key in after_map:
                what = "added" if key not in before_map else "changed"
                self.sink.emit(kind, (new_where[0], (*new_where[1], key)), f"{label}{key} {what}")
            else:
                self.sink.emit(kind, (old_where[0], (*old_where[1], key)), f"{label}{key} removed", side="old")

    def _logical(self, old: AvroNode, new: AvroNode) -> None:
        before, after = old.attr("logicalType"), new.attr("logicalType")
        where = (new.file, (*new.tokens, "logicalType"))
        if before != after:
            kind = f"logical_type_{lifecycle(before, after)}"
            self.sink.emit(kind, where, f"logicalType {before or 'none'} -> {after or 'none'}")
        elif before == "decimal":
            if old.attr("scale", 0) != new.attr("scale", 0):
                self.sink.emit(
                    "decimal_scale_changed",
                    (new.file, (*new.tokens, "scale")),
                    f"decimal scale {old.attr('scale', 0)} -> {new.attr('scale', 0)}",
                )
            precision = (old.attr("precision", 0), new.attr("precision", 0))
            if precision[0] != precision[1]:
                kind = "decimal_precision_increased" if precision[1] > precision[0] else "decimal_precision_decreased"
                self.sink.emit(
                    kind, (new.file, (*new.tokens, "precision")), f"decimal precision {precision[0]} -> {precision[1]}"
                )

    def _fixed(self, old: AvroNode, new: AvroNode) -> None:
        if old.attr("size") != new.attr("size"):
            self.sink.emit(
                "fixed_size_changed",
                (new.file, (*new.tokens, "size")),
                f"fixed {new.fullname} size {old.attr('size')} -> {new.attr('size')}",
            )
        self._logical(old, new)

    def _enum(self, old: AvroNode, new: AvroNode) -> None:
        old_symbols, new_symbols = list(old.attr("symbols", [])), list(new.attr("symbols", []))
        old_default, new_default = old.attr("default"), new.attr("default")
        for index, symbol in enumerate(new_symbols):
            if symbol not in old_symbols:
                self.sink.emit(
                    "enum_symbol_added",
                    (new.file, (*new.tokens, "symbols", index)),
                    f"{new.fullname}: symbol {symbol} added"
                    + ("" if old_default in old_symbols else " (old readers have no enum default to fall back on)"),
                    forward=old_default in old_symbols,
                )
        for index, symbol in enumerate(old_symbols):
            if symbol not in new_symbols:
                self.sink.emit(
                    "enum_symbol_removed",
                    (old.file, (*old.tokens, "symbols", index)),
                    f"{new.fullname}: symbol {symbol} removed"
                    + ("" if new_default in new_symbols else " (new readers have no enum default to fall back on)"),
                    backward=new_default in new_symbols,
                    side="old",
                )
        common = [s for s in old_symbols if s in new_symbols]
        if common != [s for s in new_symbols if s in old_symbols]:
            self.sink.emit(
                "enum_symbols_reordered", (new.file, (*new.tokens, "symbols")), f"{new.fullname}: symbols reordered"
            )
        if old_default != new_default:
            kind = f"enum_default_{lifecycle(old_default, new_default)}"
            self.sink.emit(
                kind, (new.file, (*new.tokens, "default")), f"{new.fullname}: default {old_default} -> {new_default}"
            )

    def _record(self, old: AvroNode, new: AvroNode) -> None:
        old_fields, new_fields = list(old.attr("fields", [])), list(new.attr("fields", []))
        by_name = {spec["name"]: i for i, spec in enumerate(old_fields)}
        pairs: list[tuple[int, int]] = []
        used: set[int] = set()
        for j, spec in enumerate(new_fields):
            i = by_name.get(spec["name"])
            renamed = False
            if i is None:
                i = next((by_name[a] for a in spec.get("aliases", []) if by_name.get(a) not in (None, *used)), None)
                renamed = i is not None
            if i is None or i in used:
                self._field_added(new, j, spec)
                continue
            used.add(i)
            pairs.append((i, j))
            if renamed:
                before = old_fields[i]
                self.sink.emit(
                    "field_renamed",
                    (new.file, (*new.tokens, "fields", j, "name")),
                    f"field {before['name']} renamed to {spec['name']} (alias {before['name']})",
                    backward=True,
                    forward="default" in before or spec["name"] in before.get("aliases", []),
                )
            self._field(old, new, i, j)
        for i, spec in enumerate(old_fields):
            if i not in used:
                with_default = "default" in spec
                self.sink.emit(
                    f"field_removed_{'with' if with_default else 'without'}_default",
                    (old.file, (*old.tokens, "fields", i)),
                    f"field {spec['name']} removed" + ("" if with_default else ": old readers have no default for it"),
                    side="old",
                )
        old_order = [i for i, _ in pairs]
        if old_order != sorted(old_order):
            self.sink.emit("fields_reordered", (new.file, (*new.tokens, "fields")), f"{new.fullname}: fields reordered")

    def _field_added(self, new: AvroNode, index: int, spec: Mapping[str, Any]) -> None:
        with_default = "default" in spec
        self.sink.emit(
            f"field_added_{'with' if with_default else 'without'}_default",
            (new.file, (*new.tokens, "fields", index)),
            f"field {spec['name']} added"
            + (
                f" with default {_short(spec['default'])}"
                if with_default
                else ": new readers have no value for old data"
            ),
        )

    def _field(self, old: AvroNode, new: AvroNode, i: int, j: int) -> None:
        before, after = old.attr("fields")[i], new.attr("fields")[j]
        where = (new.file, (*new.tokens, "fields", j))
        if "default" in before or "default" in after:
            if "default" not in before:
                self.sink.emit(
                    "field_default_added", (where[0], (*where[1], "default")), f"field {after['name']}: default added"
                )
            elif "default" not in after:
                self.sink.emit("field_default_removed", where, f"field {after['name']}: default removed")
            elif _canonical(before["default"]) != _canonical(after["default"]):
                self.sink.emit(
                    "field_default_changed",
                    (where[0], (*where[1], "default")),
                    f"field {after['name']}: default {_short(before['default'])} -> {_short(after['default'])}",
                )
        if set(before.get("aliases", [])) != set(after.get("aliases", [])):
            self.sink.emit(
                "aliases_changed", (where[0], (*where[1], "aliases")), f"field {after['name']}: aliases changed"
            )
        self._annotations(
            before,
            after,
            (old.file, (*old.tokens, "fields", i)),
            where,
            _FIELD_STRUCTURE,
            f"field {after['name']}: ",
        )
        self.diff(old.child("fields", i, "type"), new.child("fields", j, "type"))


def _mapping(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, dict) else {}


def diff_avro(old: SchemaSource, new: SchemaSource) -> list[Change]:
    """Every change from the ``old`` Avro schema to the ``new`` one."""
    return AvroDiff().run(root_node(old), root_node(new))
