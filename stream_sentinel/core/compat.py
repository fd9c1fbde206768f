"""Contract diff: classify what changed between two contracts as breaking, compatible or cosmetic.

One model serves JSON Schema, Avro and whole catalogs. A comparison yields ``Change`` values; each
names its kind, where it is (file and JSON pointer), and two direction facts:

- ``backward_compatible``: a reader on the *new* contract still accepts everything written under
  the *old* one (consumers can upgrade first);
- ``forward_compatible``: a reader on the *old* contract accepts everything written under the
  *new* one (producers can upgrade first).

Whether a change *breaks* is derived from the mode in force, never stored: BACKWARD breaks on
the first fact, FORWARD on the second, FULL on either, NONE on neither; the ``_TRANSITIVE``
modes use the same facts but compare a new version against every earlier version of the event
type instead of only the previous one. Keeping the facts rather than a verdict lets one diff be
re-judged under any mode, and lets FULL be exactly BACKWARD and FORWARD together.

Cosmetic kinds (titles, descriptions, docs, examples, ``$comment``, ``x-owner`` and other
``x-`` annotations) are compatible both ways and do not count as a contract change at all: a diff
with only cosmetic changes has the verdict ``cosmetic``, which CI treats like no change.

The JSON Schema rules are in ``compat_json``, the Avro rules in ``compat_avro``; this module holds
the model, the kind table and the catalog-level comparison (topics, event types, versions, and a
breaking edit of a published version without a new version, ``version_not_bumped``).
Pure: the only input is what ``spec.load_catalog`` already read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

from stream_sentinel.core import pointer as jp
from stream_sentinel.core.spec import (
    CATALOG_FILE,
    COMPATIBILITY_MODES,
    Catalog,
    EventContract,
    SchemaKind,
    SchemaVersion,
    TopicContract,
    uri_for,
)

Severity = Literal["breaking", "compatible", "cosmetic"]
Verdict = Literal["none", "cosmetic", "compatible", "breaking"]
Side = Literal["old", "new"]
DEFAULT_MODE = "BACKWARD"
JSON_FORMAT_VERSION = 1  # the ``version`` field of ``--format json``; bumped only on breaking shape changes


class KindRule(NamedTuple):
    """What a change kind means and, where fixed, its direction facts.

    ``backward``/``forward`` are ``None`` for kinds whose facts depend on the schemas around them
    (a property added to a partially open object, a union branch a promotion may still read):
    those are computed where the change is found.
    """

    backward: bool | None
    forward: bool | None
    cosmetic: bool
    meaning: str


_T, _F, _N = True, False, None


def _bounds(stem: str, label: str, upper: bool) -> dict[str, KindRule]:
    """The four kinds of one numeric bound: tightening breaks BACKWARD, loosening breaks FORWARD."""
    tighten, loosen = ("decreased", "increased") if upper else ("increased", "decreased")
    return {
        f"{stem}_added": KindRule(_F, _T, False, f"{label} added: the new contract accepts fewer values"),
        f"{stem}_removed": KindRule(_T, _F, False, f"{label} removed: the new contract accepts more values"),
        f"{stem}_{tighten}": KindRule(_F, _T, False, f"{label} {tighten}: the new contract accepts fewer values"),
        f"{stem}_{loosen}": KindRule(_T, _F, False, f"{label} {loosen}: the new contract accepts more values"),
    }


def _content_model(prefix: str, what: str) -> dict[str, KindRule]:
    """The four state changes of a content-model keyword (absent/true, false, a schema)."""
    return {
        f"{prefix}_added": KindRule(_T, _F, False, f"{what} now allowed (was false): accepts more"),
        f"{prefix}_removed": KindRule(_F, _T, False, f"{what} now forbidden (false): accepts fewer"),
        f"{prefix}_extended": KindRule(_T, _F, False, f"{what} no longer constrained by a schema: accepts more"),
        f"{prefix}_narrowed": KindRule(_F, _T, False, f"{what} now constrained by a schema: accepts fewer"),
    }


# Every kind a diff can report. JSON Schema kinds are the Confluent Schema Registry's
# ``Difference.Type`` names in lower case where one exists; the rest follow the same pattern.
KINDS: Mapping[str, KindRule] = {
    # -- cosmetic: never break, never count as a contract change
    "title_changed": KindRule(_T, _T, True, "title added, removed or changed"),
    "description_changed": KindRule(_T, _T, True, "description added, removed or changed"),
    "examples_changed": KindRule(_T, _T, True, "examples added, removed or changed"),
    "comment_changed": KindRule(_T, _T, True, "$comment added, removed or changed"),
    "id_changed": KindRule(_T, _T, True, "$id changed ($refs are resolved before comparing)"),
    "annotation_changed": KindRule(_T, _T, True, "an annotation without validation effect (x-owner, deprecated, ...)"),
    "doc_changed": KindRule(_T, _T, True, "Avro doc added, removed or changed"),
    "catalog_annotation_changed": KindRule(_T, _T, True, "catalog description, owner, requirement or sample_rate"),
    # -- compatible both ways, but a real change of the contract (exit 10, not 0)
    "default_changed": KindRule(
        _T, _T, False, "JSON Schema default changed: readers that fill defaults see other values"
    ),
    "dialect_changed": KindRule(_T, _T, False, "$schema (the JSON Schema dialect) changed"),
    "pii_annotation_changed": KindRule(_T, _T, False, "x-pii added or removed: changes what the sentinel redacts"),
    "compatibility_mode_changed": KindRule(_T, _T, False, "the catalog's compatibility mode for the event changed"),
    # -- JSON Schema: types and values
    "type_extended": KindRule(
        _T, _F, False, "the type accepts more (a type added, integer -> number, false -> a schema)"
    ),
    "type_narrowed": KindRule(
        _F, _T, False, "the type accepts fewer (a type removed, number -> integer, a schema -> false)"
    ),
    "type_changed": KindRule(_F, _F, False, "the type changed to an unrelated one"),
    "enum_array_extended": KindRule(_T, _F, False, "enum/const values added"),
    "enum_array_narrowed": KindRule(_F, _T, False, "enum/const values removed"),
    "enum_array_changed": KindRule(_F, _F, False, "enum/const values both added and removed"),
    "enum_added": KindRule(_F, _T, False, "enum or const added where any value was allowed"),
    "enum_removed": KindRule(_T, _F, False, "enum or const removed: any value allowed"),
    **_bounds("max_length", "maxLength", upper=True),
    **_bounds("min_length", "minLength", upper=False),
    **_bounds("maximum", "maximum", upper=True),
    **_bounds("minimum", "minimum", upper=False),
    **_bounds("exclusive_maximum", "exclusiveMaximum", upper=True),
    **_bounds("exclusive_minimum", "exclusiveMinimum", upper=False),
    **_bounds("max_items", "maxItems", upper=True),
    **_bounds("min_items", "minItems", upper=False),
    **_bounds("max_properties", "maxProperties", upper=True),
    **_bounds("min_properties", "minProperties", upper=False),
    **_bounds("max_contains", "maxContains", upper=True),
    **_bounds("min_contains", "minContains", upper=False),
    "multiple_of_added": KindRule(_F, _T, False, "multipleOf added"),
    "multiple_of_removed": KindRule(_T, _F, False, "multipleOf removed"),
    "multiple_of_expanded": KindRule(_F, _T, False, "multipleOf became a multiple of the old one (accepts fewer)"),
    "multiple_of_reduced": KindRule(_T, _F, False, "multipleOf became a divisor of the old one (accepts more)"),
    "multiple_of_changed": KindRule(_F, _F, False, "multipleOf changed to an unrelated value"),
    "pattern_added": KindRule(_F, _T, False, "pattern added"),
    "pattern_removed": KindRule(_T, _F, False, "pattern removed"),
    "pattern_changed": KindRule(_F, _F, False, "pattern changed (regular languages are not compared)"),
    "format_added": KindRule(_F, _T, False, "format added (the sentinel asserts formats)"),
    "format_removed": KindRule(_T, _F, False, "format removed"),
    "format_changed": KindRule(_F, _F, False, "format changed"),
    "unique_items_added": KindRule(_F, _T, False, "uniqueItems now true"),
    "unique_items_removed": KindRule(_T, _F, False, "uniqueItems no longer true"),
    # -- JSON Schema: objects
    "required_attribute_added": KindRule(_F, _T, False, "an existing property became required"),
    "required_attribute_with_default_added": KindRule(
        _F, _T, False, "an existing property with a default became required (defaults are not filled in)"
    ),
    "required_attribute_removed": KindRule(_T, _F, False, "a property is no longer required"),
    "required_property_added_to_open_content_model": KindRule(
        _F, _N, False, "required property added to an open object"
    ),
    "optional_property_added_to_open_content_model": KindRule(
        _F, _T, False, "optional property added to an open object: old data may hold any value there"
    ),
    "property_with_empty_schema_added_to_open_content_model": KindRule(
        _T, _T, False, "property with an empty (any value) schema added to an open object"
    ),
    "required_property_added_to_unopen_content_model": KindRule(
        _F, _N, False, "required property added to a closed or partially open object: old data lacks it"
    ),
    "required_property_with_default_added_to_unopen_content_model": KindRule(
        _F, _N, False, "required property with a default added to a closed object (defaults are not filled in)"
    ),
    "optional_property_added_to_unopen_content_model": KindRule(
        _T, _N, False, "optional property added to a closed object: old readers reject it"
    ),
    "property_added_is_covered_by_partially_open_content_model": KindRule(
        _N, _N, False, "property added whose schema accepts what the old additionalProperties/patternProperties allowed"
    ),
    "property_added_not_covered_by_partially_open_content_model": KindRule(
        _N, _N, False, "property added whose schema rejects some of what the old object allowed there"
    ),
    "property_removed_from_open_content_model": KindRule(_N, _N, False, "property removed from an open object"),
    "property_with_false_removed_from_closed_content_model": KindRule(
        _T, _N, False, "property whose schema was false removed from a closed object"
    ),
    "property_removed_from_closed_content_model": KindRule(
        _F, _N, False, "property removed from a closed object: new readers reject old data that has it"
    ),
    "property_removed_is_covered_by_partially_open_content_model": KindRule(
        _N, _N, False, "property removed; the new additionalProperties/patternProperties accept its old values"
    ),
    "property_removed_not_covered_by_partially_open_content_model": KindRule(
        _N, _N, False, "property removed; the new additionalProperties/patternProperties reject some old values"
    ),
    "pattern_property_added": KindRule(_N, _N, False, "patternProperties entry added"),
    "pattern_property_removed": KindRule(_N, _N, False, "patternProperties entry removed"),
    **_content_model("additional_properties", "additional properties"),
    **_content_model("unevaluated_properties", "unevaluated properties"),
    "dependency_array_added": KindRule(_F, _T, False, "dependentRequired entry added"),
    "dependency_array_removed": KindRule(_T, _F, False, "dependentRequired entry removed"),
    "dependency_array_extended": KindRule(_F, _T, False, "dependentRequired entry requires more properties"),
    "dependency_array_narrowed": KindRule(_T, _F, False, "dependentRequired entry requires fewer properties"),
    "dependency_array_changed": KindRule(_F, _F, False, "dependentRequired entry changed both ways"),
    "dependency_schema_added": KindRule(_F, _T, False, "dependentSchemas entry added"),
    "dependency_schema_removed": KindRule(_T, _F, False, "dependentSchemas entry removed"),
    # -- JSON Schema: arrays
    "item_added_to_open_content_model": KindRule(_F, _T, False, "tuple position added where any item was allowed"),
    "item_with_empty_schema_added_to_open_content_model": KindRule(
        _T, _T, False, "tuple position with an empty schema added"
    ),
    "item_added_to_closed_content_model": KindRule(_T, _N, False, "tuple position added where no item was allowed"),
    "item_removed_from_open_content_model": KindRule(
        _T, _N, False, "tuple position removed; any item now allowed there"
    ),
    "item_with_false_removed_from_closed_content_model": KindRule(
        _T, _T, False, "tuple position with a false schema removed"
    ),
    "item_removed_from_closed_content_model": KindRule(
        _F, _T, False, "tuple position removed; no item allowed there now"
    ),
    "item_added_is_covered_by_partially_open_content_model": KindRule(_N, _N, False, "tuple position added, covered"),
    "item_added_not_covered_by_partially_open_content_model": KindRule(
        _N, _N, False, "tuple position added, not covered"
    ),
    "item_removed_is_covered_by_partially_open_content_model": KindRule(
        _N, _N, False, "tuple position removed, covered"
    ),
    "item_removed_not_covered_by_partially_open_content_model": KindRule(
        _N, _N, False, "tuple position removed, not covered"
    ),
    **_content_model("additional_items", "items after the tuple"),
    **_content_model("unevaluated_items", "unevaluated items"),
    "contains_added": KindRule(_F, _T, False, "contains added"),
    "contains_removed": KindRule(_T, _F, False, "contains removed"),
    "contains_changed_beside_max_contains": KindRule(
        _F, _F, False, "contains changed where maxContains bounds the matches: counts change both ways"
    ),
    # -- JSON Schema: combinators
    "sum_type_extended": KindRule(_T, _F, False, "anyOf/oneOf has more branches"),
    "sum_type_narrowed": KindRule(_F, _T, False, "anyOf/oneOf has fewer branches"),
    "product_type_extended": KindRule(_F, _T, False, "allOf has more branches"),
    "product_type_narrowed": KindRule(_T, _F, False, "allOf has fewer branches"),
    "combined_type_subschemas_changed": KindRule(_N, _N, False, "branches no longer pair up with compatible branches"),
    "combined_type_extended": KindRule(_N, _N, False, "combinator changed to a looser one (e.g. oneOf -> anyOf)"),
    "combined_type_changed": KindRule(_N, _N, False, "combinator changed (e.g. anyOf -> allOf)"),
    "sum_type_added": KindRule(_N, _N, False, "anyOf/oneOf added"),
    "sum_type_removed": KindRule(_N, _N, False, "anyOf/oneOf removed"),
    "product_type_added": KindRule(_N, _N, False, "allOf added"),
    "product_type_removed": KindRule(_N, _N, False, "allOf removed"),
    "not_type_extended": KindRule(_N, _N, False, "not matches more: the schema accepts fewer"),
    "not_type_narrowed": KindRule(_N, _N, False, "not matches fewer: the schema accepts more"),
    "not_type_added": KindRule(_F, _T, False, "not added"),
    "not_type_removed": KindRule(_T, _F, False, "not removed"),
    "conditional_added": KindRule(_F, _T, False, "if/then/else added"),
    "conditional_removed": KindRule(_T, _F, False, "if/then/else removed"),
    "conditional_changed": KindRule(_F, _F, False, "the if of if/then/else changed"),
    # -- Avro (schema resolution: the new schema reads old data for BACKWARD)
    "field_added_with_default": KindRule(_T, _T, False, "field added with a default"),
    "field_added_without_default": KindRule(
        _F, _T, False, "field added without a default: new readers cannot read old data"
    ),
    "field_removed_with_default": KindRule(_T, _T, False, "field removed that had a default"),
    "field_removed_without_default": KindRule(_T, _F, False, "field removed that had no default: old readers need it"),
    "field_renamed": KindRule(_N, _N, False, "field renamed; the new field lists the old name as an alias"),
    "fields_reordered": KindRule(
        _T, _T, False, "fields reordered (resolution matches by name; the binary layout changes)"
    ),
    "field_default_added": KindRule(_T, _T, False, "field default added"),
    "field_default_removed": KindRule(_T, _T, False, "field default removed"),
    "field_default_changed": KindRule(_T, _T, False, "field default changed"),
    "type_promoted": KindRule(_T, _F, False, "type promoted (int -> long -> float -> double)"),
    "type_demoted": KindRule(_F, _T, False, "type demoted (the reverse of a promotion)"),
    "type_interchanged": KindRule(_T, _T, False, "string <-> bytes: each reads the other"),
    "type_to_union": KindRule(_N, _N, False, "a type became a union"),
    "union_to_type": KindRule(_N, _N, False, "a union became a single type"),
    "union_branch_added": KindRule(_T, _N, False, "union branch added"),
    "union_branch_removed": KindRule(_N, _T, False, "union branch removed"),
    "enum_symbol_added": KindRule(_T, _N, False, "enum symbol added (old readers need an enum default)"),
    "enum_symbol_removed": KindRule(_N, _T, False, "enum symbol removed (new readers need an enum default)"),
    "enum_symbols_reordered": KindRule(_T, _T, False, "enum symbols reordered (resolution matches by name)"),
    "enum_default_added": KindRule(_T, _T, False, "enum default added"),
    "enum_default_removed": KindRule(_T, _T, False, "enum default removed"),
    "enum_default_changed": KindRule(_T, _T, False, "enum default changed"),
    "name_changed": KindRule(_N, _N, False, "named type renamed; compatible only through aliases"),
    "namespace_changed": KindRule(_T, _T, False, "namespace changed (resolution compares unqualified names)"),
    "aliases_changed": KindRule(_T, _T, False, "aliases changed"),
    "fixed_size_changed": KindRule(_F, _F, False, "fixed size changed"),
    "logical_type_added": KindRule(_T, _T, False, "logicalType added (same encoding)"),
    "logical_type_removed": KindRule(_T, _T, False, "logicalType removed (same encoding)"),
    "logical_type_changed": KindRule(_F, _F, False, "logicalType changed: the same bytes mean something else"),
    "decimal_precision_increased": KindRule(
        _F, _F, False, "decimal precision increased: decimals resolve only with equal precision and scale"
    ),
    "decimal_precision_decreased": KindRule(
        _F, _F, False, "decimal precision decreased: decimals resolve only with equal precision and scale"
    ),
    "decimal_scale_changed": KindRule(_F, _F, False, "decimal scale changed: the same digits mean another value"),
    # -- catalog level
    "topic_added": KindRule(_T, _T, False, "topic added to the catalog"),
    "topic_removed": KindRule(_F, _F, False, "topic removed from the catalog"),
    "event_type_added": KindRule(_T, _T, False, "event type added to a topic"),
    "event_type_removed": KindRule(_F, _F, False, "event type removed from a topic"),
    "version_added": KindRule(_T, _T, False, "schema version added (checked against earlier versions)"),
    "version_removed": KindRule(_F, _F, False, "schema version removed: messages declaring it become unknown_version"),
    "version_not_bumped": KindRule(
        _F, _F, False, "a published version was edited in a breaking way instead of adding one"
    ),
    "mode_violated_by_history": KindRule(
        _F, _F, False, "the compatibility mode became stricter and published versions break under it"
    ),
    "schema_format_changed": KindRule(_F, _F, False, "a version's schema changed between JSON Schema and Avro"),
    "topic_format_changed": KindRule(_F, _F, False, "the topic's wire format changed"),
    "event_type_locator_changed": KindRule(_F, _F, False, "where messages carry their event type changed"),
    "version_locator_changed": KindRule(_F, _F, False, "where messages carry their version changed"),
    "schema_id_changed": KindRule(_F, _F, False, "a version's Confluent schema id changed"),
    "tombstones_changed": KindRule(_N, _N, False, "tombstone policy changed (drift: null values are violations)"),
}


# Which direction facts each base mode requires: (backward, forward).
_REQUIRES = {"BACKWARD": (True, False), "FORWARD": (False, True), "FULL": (True, True), "NONE": (False, False)}


def _requirements(mode: str) -> tuple[bool, bool, bool]:
    """(requires backward, requires forward, transitive) of a mode."""
    backward, forward = _REQUIRES[mode.removesuffix("_TRANSITIVE")]
    return backward, forward, mode.endswith("_TRANSITIVE")


def strictest(first: str, second: str) -> str:
    """The mode requiring everything either mode requires (BACKWARD and FORWARD make FULL)."""
    a, b = _requirements(first), _requirements(second)
    backward, forward, transitive = a[0] or b[0], a[1] or b[1], a[2] or b[2]
    base = "FULL" if backward and forward else "BACKWARD" if backward else "FORWARD" if forward else "NONE"
    return base + ("_TRANSITIVE" if transitive and base != "NONE" else "")


def breaks_under(mode: str, backward_compatible: bool, forward_compatible: bool) -> bool:
    """Whether a change with these direction facts breaks under ``mode``."""
    backward, forward, _ = _requirements(mode)
    return (backward and not backward_compatible) or (forward and not forward_compatible)


@dataclass(frozen=True, slots=True)
class Change:
    """One change between two contracts.

    ``file`` is spec-relative and ``pointer`` a JSON pointer into it; ``side`` says whether that
    location is in the old or the new tree (a removed property only exists in the old one).
    ``topic``/``event_type``/``version`` are set by catalog comparisons; ``against`` is the
    version the new one was compared with (itself for an edit in place).
    """

    kind: str
    file: str
    pointer: str
    message: str
    backward_compatible: bool
    forward_compatible: bool
    side: Side = "new"
    mode: str = DEFAULT_MODE
    topic: str | None = None
    event_type: str | None = None
    version: int | None = None
    against: int | None = None

    @property
    def cosmetic(self) -> bool:
        """Cosmetic kinds never count as a contract change."""
        return KINDS[self.kind].cosmetic

    @property
    def breaking(self) -> bool:
        """Whether this change breaks under its mode."""
        return breaks_under(self.mode, self.backward_compatible, self.forward_compatible)

    @property
    def severity(self) -> Severity:
        """breaking, compatible (a real change that does not break), or cosmetic."""
        if self.breaking:
            return "breaking"
        return "cosmetic" if self.cosmetic else "compatible"

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of one change (see the README's Contract diff section)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "breaking": self.breaking,
            "backward_compatible": self.backward_compatible,
            "forward_compatible": self.forward_compatible,
            "mode": self.mode,
            "topic": self.topic,
            "event_type": self.event_type,
            "version": self.version,
            "against": self.against,
            "file": self.file,
            "side": self.side,
            "pointer": self.pointer,
            "message": self.message,
        }


class ChangeSink:
    """Collects changes, filling direction facts from ``KINDS`` unless a rule computed them.

    Shared by the JSON Schema and Avro walkers so a kind's facts live in one table.
    """

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def emit(
        self,
        kind: str,
        where: tuple[str, tuple[str | int, ...]],
        message: str,
        *,
        backward: bool | None = None,
        forward: bool | None = None,
        side: Side = "new",
    ) -> None:
        """Record one change at ``where`` = (file, pointer tokens)."""
        rule = KINDS[kind]
        b = rule.backward if backward is None else backward
        f = rule.forward if forward is None else forward
        if b is None or f is None:  # pragma: no cover - a walker bug, not an input problem
            raise ValueError(f"{kind}: direction facts must be computed where the change is found")
        file, tokens = where
        self.changes.append(Change(kind, file, jp.to_pointer(tokens), message, b, f, side=side))

    def extend(self, changes: Iterable[Change]) -> None:
        """Adopt changes found by a sub-comparison."""
        self.changes.extend(changes)


def lifecycle(before: object, after: object) -> str:
    """``added``, ``removed`` or ``changed`` for a value that was or is ``None`` when absent."""
    if before is None:
        return "added"
    return "removed" if after is None else "changed"


def all_backward(changes: Iterable[Change]) -> bool:
    """True when no change breaks BACKWARD (so an empty diff is compatible)."""
    return all(c.backward_compatible for c in changes)


def all_forward(changes: Iterable[Change]) -> bool:
    """True when no change breaks FORWARD."""
    return all(c.forward_compatible for c in changes)


def verdict(changes: Iterable[Change]) -> Verdict:
    """The worst severity among ``changes``: none, cosmetic, compatible or breaking."""
    worst: Verdict = "none"
    for change in changes:
        severity = change.severity
        if severity == "breaking":
            return "breaking"
        if severity == "compatible" or worst == "none":
            worst = severity
    return worst


# -- what is compared ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaSource:
    """One schema document and everything needed to resolve what it references.

    ``json_documents`` maps base URIs (``file:///spec/<path>``) to every JSON Schema document a
    ``$ref`` may reach; ``avro_references`` lists (file, document) pairs of Avro files defining
    named types the schema uses, in order. Built from a loaded ``Catalog`` by ``source_of`` or
    directly (tests, in-memory comparisons).
    """

    kind: SchemaKind
    file: str
    document: Any = field(repr=False)
    json_documents: Mapping[str, Any] = field(default_factory=dict, repr=False)
    avro_references: tuple[tuple[str, Any], ...] = field(default=(), repr=False)

    @property
    def uri(self) -> str:
        """Base URI of the document (before any ``$id``)."""
        return uri_for(self.file)


def source_of(catalog: Catalog, ref: str, references: Iterable[str] | None = None) -> SchemaSource:
    """The schema file ``ref`` of a loaded catalog, with its ``$ref`` universe or Avro references.

    For an Avro file that is not a catalog version (``references`` is None) every other Avro
    file of the catalog may define the named types it uses.
    """
    if ref in catalog.avro_documents:
        names = [r for r in catalog.avro_documents if r != ref] if references is None else list(references)
        return SchemaSource(
            "avro",
            ref,
            catalog.avro_documents[ref],
            avro_references=tuple((r, catalog.avro_documents[r]) for r in names),
        )
    return SchemaSource("json", ref, catalog.json_documents[uri_for(ref)], json_documents=catalog.json_documents)


def compare_schemas(old: SchemaSource, new: SchemaSource, mode: str = DEFAULT_MODE) -> tuple[Change, ...]:
    """Every change from ``old`` to ``new``, judged under ``mode``."""
    from stream_sentinel.core import compat_avro, compat_json  # the walkers import this module's model

    if old.kind != new.kind:
        sink = ChangeSink()
        sink.emit("schema_format_changed", (new.file, ()), f"{old.kind} schema {old.file} replaced by {new.kind}")
        changes: Iterable[Change] = sink.changes
    elif old.kind == "json":
        changes = compat_json.diff_json(old, new)
    else:
        changes = compat_avro.diff_avro(old, new)
    return tuple(replace(c, mode=mode) for c in _unique(changes))


def _key(change: Change) -> tuple[str, str, str, str, bool, bool]:
    """What makes two reports the same change: where it is, what it is, and both direction facts.

    The facts are part of it so that a repeat can never hide a report that breaks where the
    kept one does not (the same symbol added is compatible against one version, not another).
    """
    return (
        change.kind,
        change.side,
        change.file,
        change.pointer,
        change.backward_compatible,
        change.forward_compatible,
    )


def _unique(changes: Iterable[Change]) -> Iterator[Change]:
    """Drop repeats: a shared definition reached through several ``$ref`` paths changes once."""
    seen: set[tuple[str, str, str, str, bool, bool]] = set()
    for change in changes:
        key = _key(change)
        if key not in seen:
            seen.add(key)
            yield change


# -- catalogs --------------------------------------------------------------------------------


def compare_catalogs(old: Catalog, new: Catalog, mode: str | None = None) -> tuple[Change, ...]:
    """Every change between two catalogs, each judged under its event type's mode or ``mode``.

    Per event type: versions removed break; a version present in both is compared with itself
    (an edit in place) under the stricter of the old and the new mode, so loosening the mode in
    the same change lets no breaking edit through, and if that edit breaks, ``version_not_bumped``
    is reported too; every added version is compared with the version before it, or with every
    earlier version under the ``_TRANSITIVE`` modes. When a published version is edited, the
    versions it is compared with under the mode are compared with it again, and what now breaks
    between them (and did not before) is reported.
    """
    out: list[Change] = []
    for name in _union(old.topics, new.topics):
        old_topic, new_topic = old.topics.get(name), new.topics.get(name)
        if new_topic is None:
            assert old_topic is not None
            out.append(_catalog_change("topic_removed", old_topic, None, f"topic {name} removed", mode, "old"))
            continue
        if old_topic is None:
            out.append(_catalog_change("topic_added", new_topic, None, f"topic {name} added", mode))
            for event in new_topic.events.values():
                out.extend(_version_pairs(new, event, _mode(event, mode)))
            continue
        out.extend(_compare_topics(old, new, old_topic, new_topic, mode))
    return tuple(out)


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [*a, *(k for k in b if k not in a)]


def _mode(event: EventContract, override: str | None) -> str:
    return override or event.compatibility


def _catalog_change(
    kind: str,
    topic: TopicContract,
    event: EventContract | None,
    message: str,
    mode: str | None,
    side: Side = "new",
    *rest: str,
    backward: bool | None = None,
    forward: bool | None = None,
) -> Change:
    tokens = ("topics", topic.name, *(("events", event.name) if event else ()), *rest)
    rule = KINDS[kind]
    b = rule.backward if backward is None else backward
    f = rule.forward if forward is None else forward
    assert b is not None
    assert f is not None
    return Change(
        kind,
        CATALOG_FILE,
        jp.to_pointer(tokens),
        message,
        b,
        f,
        side=side,
        mode=(_mode(event, mode) if event else mode or topic.compatibility),
        topic=topic.name,
        event_type=event.name if event else None,
    )


_TOPIC_LOCATORS = (("event_type", "event_type_locator_changed"), ("version", "version_locator_changed"))


def _compare_topics(
    old_cat: Catalog, new_cat: Catalog, old: TopicContract, new: TopicContract, mode: str | None
) -> Iterator[Change]:
    name = new.name
    if old.format != new.format:
        yield _catalog_change(
            "topic_format_changed",
            new,
            None,
            f"topic {name}: format {old.format} -> {new.format}",
            mode,
            "new",
            "format",
        )
    for attr, kind in _TOPIC_LOCATORS:
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            yield _catalog_change(
                kind, new, None, f"topic {name}: {attr} {_loc(before)} -> {_loc(after)}", mode, "new", attr
            )
    if old.tombstones != new.tombstones:
        # drift -> ignore accepts more (null values were violations); ignore -> drift accepts fewer.
        looser = new.tombstones == "ignore"
        yield _catalog_change(
            "tombstones_changed",
            new,
            None,
            f"topic {name}: tombstones {old.tombstones} -> {new.tombstones}",
            mode,
            "new",
            "tombstones",
            backward=looser,
            forward=not looser,
        )
    for attr in ("description", "owner", "sample_rate"):
        if getattr(old, attr) != getattr(new, attr):
            yield _catalog_change(
                "catalog_annotation_changed", new, None, f"topic {name}: {attr} changed", mode, "new", attr
            )
    for event_name in _union(old.events, new.events):
        old_event, new_event = old.events.get(event_name), new.events.get(event_name)
        if new_event is None:
            assert old_event is not None
            yield _catalog_change(
                "event_type_removed", old, old_event, f"event type {name}/{event_name} removed", mode, "old"
            )
        elif old_event is None:
            yield _catalog_change("event_type_added", new, new_event, f"event type {name}/{event_name} added", mode)
            yield from _version_pairs(new_cat, new_event, _mode(new_event, mode))
        else:
            yield from _compare_events(old_cat, new_cat, new, old_event, new_event, mode)


def _loc(locator: Any) -> str:
    return "none" if locator is None else f"{locator.kind}:{locator.value}"


def _compare_events(
    old_cat: Catalog,
    new_cat: Catalog,
    topic: TopicContract,
    old: EventContract,
    new: EventContract,
    override: str | None,
) -> Iterator[Change]:
    mode = _mode(new, override)
    edit_mode = override or _edit_mode(old.compatibility, new.compatibility)
    label = f"{topic.name}/{new.name}"
    if old.compatibility != new.compatibility:
        yield _mode_change(topic, old, new, label)
    for attr in ("description", "owner", "requirement"):
        if getattr(old, attr) != getattr(new, attr):
            yield _catalog_change(
                "catalog_annotation_changed", topic, new, f"{label}: {attr} changed", override, "new", attr
            )
    old_versions = {v.version: (i, v) for i, v in enumerate(old.versions)}
    new_numbers = {v.version for v in new.versions}
    for number, (index, _) in old_versions.items():
        if number not in new_numbers:
            yield _catalog_change(
                "version_removed", topic, old, f"{label} v{number} removed", override, "old", "versions", str(index)
            )
    edited: set[int] = set()
    for index, version in enumerate(new.versions):
        if version.version not in old_versions:
            continue
        before = old_versions[version.version][1]
        if before.schema_id != version.schema_id:
            yield _catalog_change(
                "schema_id_changed",
                topic,
                new,
                f"{label} v{version.version}: schema_id {before.schema_id} -> {version.schema_id}",
                override,
                "new",
                "versions",
                str(index),
                "schema_id",
            )
        edits = _versioned(
            compare_schemas(_source(old_cat, before), _source(new_cat, version), edit_mode),
            new,
            version,
            version.version,
        )
        yield from edits
        if any(not change.cosmetic for change in edits):
            edited.add(version.version)
        if any(change.breaking for change in edits):
            yield replace(
                _catalog_change(
                    "version_not_bumped",
                    topic,
                    new,
                    f"{label} v{version.version} was changed in a way that breaks under {edit_mode}"
                    + (
                        ""
                        if override or edit_mode == strictest(old.compatibility, new.compatibility)
                        else f" (edits in place are judged BACKWARD too: messages written as v{version.version} "
                        "stay on the topic)"
                    )
                    + f"; publish the change as v{new.versions[-1].version + 1} instead of editing v{version.version}",
                    edit_mode,
                    "new",
                    "versions",
                    str(index),
                ),
                version=version.version,
            )
    pairs = tuple(_version_pairs(new_cat, new, mode, old_cat, old, frozenset(edited)))
    yield from pairs
    if override is None and _tightened(old.compatibility, new.compatibility):
        yield from _history(new_cat, topic, old, new, {_pair_key(c) for c in pairs})


def _edit_mode(before: str, after: str) -> str:
    """The mode an edit in place is judged under: the stricter of both, and BACKWARD unless NONE.

    Messages already written under the edited version stay on the topic and are validated against
    it, so an edit that rejects them breaks real traffic (what ``replay --against`` reports)
    under any mode that checks anything: publish a new version instead.
    """
    mode = strictest(before, after)
    return mode if mode == "NONE" else strictest(mode, "BACKWARD")


def _tightened(before: str, after: str) -> bool:
    """Whether ``after`` requires something ``before`` did not (a direction, or transitivity)."""
    return any(now and not was for was, now in zip(_requirements(before), _requirements(after), strict=True))


def _pair_key(change: Change) -> tuple[int | None, int | None, tuple[str, str, str, str, bool, bool]]:
    return change.version, change.against, _key(change)


def _earlier(event: EventContract, index: int, mode: str) -> list[SchemaVersion]:
    """The versions ``mode`` compares the version at ``index`` with, newest first."""
    earlier = event.versions[:index] if mode.endswith("_TRANSITIVE") else event.versions[max(index - 1, 0) : index]
    return list(reversed(earlier))


def _history(
    catalog: Catalog,
    topic: TopicContract,
    old: EventContract,
    new: EventContract,
    reported: set[tuple[int | None, int | None, tuple[str, str, str, str, bool, bool]]],
) -> Iterator[Change]:
    """``mode_violated_by_history``: published versions compared again under a stricter mode.

    Consecutive versions, or every pair under ``_TRANSITIVE``; what breaks is reported with its
    version pair, then once as ``mode_violated_by_history``.
    """
    mode = new.compatibility
    published = {v.version for v in old.versions}
    violations: list[Change] = []
    for index, version in enumerate(new.versions):
        if version.version not in published:
            continue  # an added version is compared under the new mode anyway
        for previous in _earlier(new, index, mode):
            if previous.version not in published:
                continue
            changes = compare_schemas(_source(catalog, previous), _source(catalog, version), mode)
            for change in _versioned(changes, new, version, previous.version):
                key = _pair_key(change)
                if change.breaking and key not in reported:
                    reported.add(key)
                    violations.append(
                        replace(change, message=f"{change.message} (published; checked because the mode is now {mode})")
                    )
    yield from violations
    if violations:
        pairs = ", ".join(sorted({f"v{c.against} -> v{c.version}" for c in violations}))
        yield _catalog_change(
            "mode_violated_by_history",
            topic,
            new,
            f"{topic.name}/{new.name}: compatibility {old.compatibility} -> {mode}, but published versions "
            f"already break under {mode} ({pairs}); keep the looser mode or start a new event type",
            None,
            "new",
            "compatibility",
        )


def _mode_change(topic: TopicContract, old: EventContract, new: EventContract, label: str) -> Change:
    """``compatibility_mode_changed``: a direction no longer checked is that direction's fact.

    Judged under the new mode, which by definition no longer requires what was dropped, so it
    never breaks, but it is not silent either (a ``::warning`` in GitHub annotations).
    """
    before, after = _requirements(old.compatibility), _requirements(new.compatibility)
    transitivity_dropped = before[2] and not after[2]
    backward = not (before[0] and (not after[0] or transitivity_dropped))
    forward = not (before[1] and (not after[1] or transitivity_dropped))
    dropped = [name for name, kept in (("BACKWARD", backward), ("FORWARD", forward)) if not kept]
    note = f"; {' and '.join(dropped)} changes that break are no longer caught" if dropped else ""
    return _catalog_change(
        "compatibility_mode_changed",
        topic,
        new,
        f"{label}: compatibility {old.compatibility} -> {new.compatibility}{note}",
        None,
        "new",
        "compatibility",
        backward=backward,
        forward=forward,
    )


def _version_pairs(
    catalog: Catalog,
    event: EventContract,
    mode: str,
    old_catalog: Catalog | None = None,
    old_event: EventContract | None = None,
    edited: frozenset[int] = frozenset(),
) -> Iterator[Change]:
    """Compare each version with the versions before it that ``mode`` compares it with.

    A version not in ``old_event`` is reported as added and every change against them is
    reported. A version already published is only compared again when it or the earlier one
    was edited in place (``edited``); then only what breaks now and did not before is reported.
    """
    before = {v.version: v for v in old_event.versions} if old_event is not None else {}
    topic = catalog.topics[event.topic]
    for index, version in enumerate(event.versions):
        added = version.version not in before
        if added:
            yield replace(
                _catalog_change(
                    "version_added",
                    topic,
                    event,
                    f"{event.topic}/{event.name} v{version.version} added",
                    mode,
                    "new",
                    "versions",
                    str(index),
                ),
                version=version.version,
            )
        seen: set[tuple[str, str, str, str, bool, bool]] = set()
        for previous in _earlier(event, index, mode):  # newest first, so a repeat names the nearest version
            if added:
                changes: Iterable[Change] = compare_schemas(_source(catalog, previous), _source(catalog, version), mode)
            elif previous.version not in before or {previous.version, version.version} & edited:
                assert old_catalog is not None
                changes = _recheck(old_catalog, catalog, before, previous, version, mode, edited)
            else:
                continue
            for change in _versioned(changes, event, version, previous.version):
                key = _key(change)
                if key not in seen:
                    seen.add(key)
                    yield change


def _recheck(
    old_catalog: Catalog,
    catalog: Catalog,
    before: Mapping[int, SchemaVersion],
    previous: SchemaVersion,
    version: SchemaVersion,
    mode: str,
    edited: frozenset[int],
) -> list[Change]:
    """What breaks between two published versions after an edit in place, and did not before."""
    known: set[tuple[str, str, str, str, bool, bool]] = set()
    if previous.version in before:
        was = compare_schemas(
            _source(old_catalog, before[previous.version]), _source(old_catalog, before[version.version]), mode
        )
        known = {_key(c) for c in was if c.breaking}
    which = (
        " and ".join(f"v{n}" for n in sorted({previous.version, version.version} & edited)) or f"v{previous.version}"
    )
    return [
        replace(c, message=f"{c.message} (compared again because {which} was edited in place)")
        for c in compare_schemas(_source(catalog, previous), _source(catalog, version), mode)
        if c.breaking and _key(c) not in known
    ]


def _source(catalog: Catalog, version: SchemaVersion) -> SchemaSource:
    return source_of(catalog, version.ref, version.references)


def _versioned(
    changes: Iterable[Change], event: EventContract, version: SchemaVersion, against: int
) -> tuple[Change, ...]:
    return tuple(
        replace(c, topic=event.topic, event_type=event.name, version=version.version, against=against) for c in changes
    )


__all__ = [
    "COMPATIBILITY_MODES",
    "DEFAULT_MODE",
    "JSON_FORMAT_VERSION",
    "KINDS",
    "Change",
    "ChangeSink",
    "KindRule",
    "SchemaSource",
    "Severity",
    "Verdict",
    "all_backward",
    "all_forward",
    "breaks_under",
    "compare_catalogs",
    "compare_schemas",
    "lifecycle",
    "source_of",
    "strictest",
    "verdict",
]
