"""The change kinds of contract diff: what each means and, where fixed, its direction facts.

One table for JSON Schema, Avro and catalog comparisons, so ``stream-sentinel kinds``, the README
and every walker agree on a kind's meaning and on whether it is compatible in each direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


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
    "catalog_annotation_changed": KindRule(
        _T, _T, True, "catalog description, owner, requirement, sample_rate or severity setting"
    ),
    # -- compatible both ways, but a real change of the contract (exit 10, not 0)
    "default_changed": KindRule(
        _T, _T, False, "JSON Schema default changed: readers that fill defaults see other values"
    ),
    "dialect_changed": KindRule(_T, _T, False, "$schema (the JSON Schema dialect) changed"),
    "pii_annotation_changed": KindRule(_T, _T, False, "x-pii added or removed: changes what the sentinel redacts"),
    "compatibility_mode_changed": KindRule(_T, _T, False, "the catalog's compatibility mode for the event changed"),
    "rule_added": KindRule(_T, _T, False, "a behavioural rule added: the sentinel reports more; producers unaffected"),
    "rule_removed": KindRule(_T, _T, False, "a behavioural rule removed: the sentinel reports less"),
    "rule_changed": KindRule(_T, _T, False, "a behavioural rule's declaration changed (what it reads or judges)"),
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
    # -- Protobuf (core/compat/protobuf.py): fields are identified by number on the wire
    "proto_field_added": KindRule(_T, _T, False, "Protobuf field added (old readers skip it, new readers default it)"),
    "proto_required_field_added": KindRule(_F, _T, False, "proto2 required field added: old messages lack it"),
    "proto_field_deleted": KindRule(
        _F, _F, False, "Protobuf field removed without reserving its number: a later field may reuse it (buf)"
    ),
    "proto_field_deleted_reserved": KindRule(_T, _T, False, "Protobuf field removed, its number reserved"),
    "proto_reserved_reused": KindRule(_F, _F, False, "a field uses a number or name the old contract reserved"),
    "proto_field_number_changed": KindRule(_F, _F, False, "a Protobuf field keeps its name but changes its number"),
    "proto_field_renamed": KindRule(
        _T, _T, False, "Protobuf field renamed, same number (wire-compatible, JSON breaks)"
    ),
    "proto_field_type_changed": KindRule(_F, _F, False, "Protobuf field type changed incompatibly on the wire"),
    "proto_field_type_widened": KindRule(_T, _T, False, "Protobuf field type changed within a wire-compatible group"),
    "proto_field_label_changed": KindRule(_F, _F, False, "Protobuf field label changed (optional/required/repeated)"),
    "proto_field_oneof_changed": KindRule(_F, _F, False, "Protobuf field moved into, out of or between oneofs"),
    "proto_message_added": KindRule(_T, _T, False, "Protobuf message added"),
    "proto_message_deleted": KindRule(_F, _F, False, "Protobuf message removed (a field's type no longer exists)"),
    "proto_enum_deleted": KindRule(_F, _F, False, "Protobuf enum removed"),
    "proto_enum_value_added": KindRule(_T, _T, False, "Protobuf enum value added"),
    "proto_enum_value_deleted": KindRule(_F, _F, False, "Protobuf enum value removed: old data may carry it"),
}
