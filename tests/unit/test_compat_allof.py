"""Soundness of the JSON Schema diff around allOf, properties/items and unevaluated*.

The corpus pins exact kinds and verdicts for hand-written cases; this checks the one property
the sentinel must never lose, on many generated ones: when the diff calls a change compatible
in a direction, no instance tells otherwise. Every instance (objects over a few names and
values) valid under the writer's schema must be valid under the reader's, as ``jsonschema``
judges them. False alarms are allowed (the diff keeps the strict side when it cannot prove a
change safe); missed breaks are not.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import jsonschema
import pytest

from stream_sentinel.core.compat import SchemaSource, all_backward, all_forward, compare_schemas

NAMES = ("a", "b", "c")
VALUES = ("x", "long", 1, None)
INSTANCES = [
    dict(zip(keys, values, strict=True))
    for size in range(3)
    for keys in itertools.combinations(NAMES, size)
    for values in itertools.product(VALUES, repeat=size)
]
PROPERTY_SCHEMAS: tuple[Any, ...] = (
    {"type": "string"},
    {"type": "integer"},
    {"type": ["string", "integer"]},
    {"maxLength": 2},
    {"type": "string", "maxLength": 2},
    {},
    False,
    True,
    {"$ref": "#/$defs/S"},
    {"const": 1},
)
DEFS = {"S": {"type": "string"}, "B": {"type": "object", "properties": {"b": {"type": "integer"}}}}


class _Schemas:
    """Object schemas: properties, required, content models, nested allOf/anyOf/oneOf branches."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def properties(self) -> dict[str, Any]:
        return {name: self.rng.choice(PROPERTY_SCHEMAS) for name in self.rng.sample(NAMES, self.rng.randint(0, 2))}

    def object(self, depth: int) -> dict[str, Any]:
        rng = self.rng
        schema: dict[str, Any] = {}
        if rng.random() < 0.5:
            schema["type"] = "object"
        if rng.random() < 0.7:
            schema["properties"] = self.properties()
        if rng.random() < 0.3:
            schema["required"] = rng.sample(NAMES, rng.randint(1, 2))
        roll = rng.random()
        if roll < 0.15:
            schema["additionalProperties"] = False
        elif roll < 0.2:
            schema["additionalProperties"] = {"type": "integer"}
        elif roll < 0.25:
            schema["patternProperties"] = {"^c": {"type": "string"}}
        if rng.random() < 0.1:
            schema["minProperties"] = 1
        if depth > 0 and rng.random() < 0.6:
            keyword = rng.choice(("allOf", "allOf", "allOf", "anyOf", "oneOf"))
            schema[keyword] = [self.object(depth - 1) for _ in range(rng.choice((1, 1, 1, 2)))]
        elif depth > 0 and rng.random() < 0.1:
            schema["allOf"] = [{"$ref": "#/$defs/B"}]
        return schema

    def top(self) -> dict[str, Any]:
        schema = self.object(2)
        if self.rng.random() < 0.5:
            schema["unevaluatedProperties"] = self.rng.choice((False, False, {"type": "integer"}))
        schema["$defs"] = DEFS
        return schema

    def pair(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two unrelated schemas, or one with its allOf dropped or replaced by one branch."""
        old = self.top()
        if self.rng.random() < 0.5:
            return old, self.top()
        new = json.loads(json.dumps(old))
        roll = self.rng.random()
        if "allOf" in new and roll < 0.2:
            del new["allOf"]
        elif "allOf" in new and roll < 0.5:
            self.same_conjunction(new)
        elif "allOf" in new and roll < 0.7:
            self.switched(new)
        else:
            new["allOf"] = [self.branch(1)]
        return old, new

    def same_conjunction(self, schema: dict[str, Any]) -> None:
        """The allOf with a branch repeated, or ``{}``/``true`` added: it accepts the same values."""
        branches = schema["allOf"]
        extra: Any = self.rng.choice((json.loads(json.dumps(self.rng.choice(branches))), {}, True))
        branches.insert(self.rng.randint(0, len(branches)), extra)

    def switched(self, schema: dict[str, Any]) -> None:
        """The allOf turned into an anyOf of some of its branches (wider), and/or of other ones."""
        branches = schema.pop("allOf")
        kept = self.rng.sample(branches, self.rng.randint(0, len(branches)))
        kept += [self.branch(1) for _ in range(self.rng.randint(0 if kept else 1, 2))]
        schema["anyOf"] = kept

    def branch(self, depth: int) -> dict[str, Any]:
        """A schema for an allOf branch of ``top``'s kind."""
        return self.object(depth)


def _missed_breaks(old: dict[str, Any], new: dict[str, Any], instances: list[Any] | None = None) -> list[str]:
    source = SchemaSource("json", "case.schema.json", old), SchemaSource("json", "case.schema.json", new)
    changes = compare_schemas(*source)
    old_ok = jsonschema.Draft202012Validator(old).is_valid
    new_ok = jsonschema.Draft202012Validator(new).is_valid
    missed = []
    for instance in INSTANCES if instances is None else instances:
        if all_backward(changes) and old_ok(instance) and not new_ok(instance):
            missed.append(f"BACKWARD said compatible, but old data {instance} is rejected by the new schema")
        if all_forward(changes) and new_ok(instance) and not old_ok(instance):
            missed.append(f"FORWARD said compatible, but new data {instance} is rejected by the old schema")
    return missed


@pytest.mark.parametrize("seed", range(4))
def test_no_missed_break_around_allof_and_unevaluated_properties(seed: int) -> None:
    schemas = _Schemas(seed)
    for _ in range(150):
        old, new = schemas.pair()
        missed = _missed_breaks(old, new)
        assert not missed, (json.dumps(old), json.dumps(new), missed[:2])


@pytest.mark.parametrize("seed", range(4))
def test_no_missed_break_when_an_allof_is_rewritten(seed: int) -> None:
    """allOf judged by what it accepts: a branch repeated, ``{}``/``true`` added, a branch
    dropped, or the allOf turned into an anyOf of some of its branches and/or others."""
    schemas = _Schemas(seed)
    checked = 0
    while checked < 150:
        old = schemas.top()
        if "allOf" not in old:
            continue
        new = json.loads(json.dumps(old))
        roll = schemas.rng.random()
        if roll < 0.3:
            schemas.same_conjunction(new)
        elif roll < 0.5 and len(new["allOf"]) > 1:
            new["allOf"].pop(schemas.rng.randrange(len(new["allOf"])))  # one branch fewer
        else:
            schemas.switched(new)
        checked += 1
        for before, after in ((old, new), (new, old)):
            missed = _missed_breaks(before, after)
            assert not missed, (json.dumps(before), json.dumps(after), missed[:2])


REGRESSIONS = [
    pytest.param(
        {
            "type": "object",
            "allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": True}}],
            "unevaluatedProperties": False,
        },
        {"type": "object", "allOf": [{"properties": {"a": {"type": "string"}}}], "unevaluatedProperties": False},
        id="allOf branch accepting everything but evaluating a property dropped under unevaluatedProperties",
    ),
    pytest.param(
        {"type": "object", "allOf": [{"properties": {"a": {"type": "string"}}}], "unevaluatedProperties": False},
        {
            "type": "object",
            "allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": True}}],
            "unevaluatedProperties": False,
        },
        id="allOf branch accepting everything but evaluating a property added under unevaluatedProperties",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": False,
            "allOf": [{"additionalProperties": False}],
        },
        id="allOf branch whose additionalProperties would read the parent's properties",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": {"type": "integer"},
            "allOf": [{"additionalProperties": {"type": "integer"}}],
        },
        id="allOf branch additionalProperties schema beside listed properties",
    ),
    pytest.param(
        {
            "type": "object",
            "allOf": [{"properties": {"a": {"type": "string"}}}, {"type": "object"}],
            "unevaluatedProperties": False,
        },
        {"type": "object", "unevaluatedProperties": False},
        id="allOf of two branches removed from an object closed by unevaluatedProperties",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "string"}}, "unevaluatedProperties": False},
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "allOf": [{"properties": {"b": {"type": "integer"}}}, {"properties": {"c": {"type": "integer"}}}],
            "unevaluatedProperties": False,
        },
        id="allOf of two branches added to an object closed by unevaluatedProperties",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "string"}}, "unevaluatedProperties": False},
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "allOf": [{"properties": {"b": {"type": "integer"}}}],
            "unevaluatedProperties": False,
        },
        id="allOf of one branch added to an object closed by unevaluatedProperties",
    ),
    pytest.param(
        {"type": "object", "properties": {"c": {"type": ["string", "integer"]}}, "unevaluatedProperties": False},
        {
            "type": "object",
            "properties": {"c": {"type": ["string", "integer"]}},
            "allOf": [{"patternProperties": {"^c": {"type": "string"}}}],
            "unevaluatedProperties": False,
        },
        id="pattern added by an allOf branch over a listed property",
    ),
    pytest.param(
        {
            "properties": {"b": {"type": "string"}, "c": True},
            "additionalProperties": False,
            "allOf": [{"patternProperties": {"^c": {"type": "string"}}}],
        },
        {"properties": {"b": {"type": "string"}, "c": True}, "additionalProperties": False, "allOf": [{}]},
        id="pattern removed from a branch, over a name the parent lists",
    ),
    pytest.param(
        {"type": "object", "allOf": [{"properties": {"a": {"type": "string"}}}, {}], "unevaluatedProperties": False},
        {"type": "object", "allOf": [{}], "unevaluatedProperties": False},
        id="allOf branch evaluating a property dropped under unevaluatedProperties",
    ),
    pytest.param(
        {"type": "object", "unevaluatedProperties": False},
        {"type": "object", "additionalProperties": {"type": "integer"}, "unevaluatedProperties": False},
        id="additionalProperties added to an object closed by unevaluatedProperties",
    ),
    pytest.param(
        {"required": ["b", "c"], "allOf": [{"properties": {"c": {}}}, {}], "unevaluatedProperties": False},
        {
            "required": ["b", "c"],
            "allOf": [{"type": "object", "additionalProperties": {"type": "integer"}}, {}],
            "unevaluatedProperties": False,
        },
        id="allOf branch gains additionalProperties under unevaluatedProperties",
    ),
    pytest.param(
        {
            "type": "object",
            "anyOf": [{"properties": {"a": {"type": "string"}}, "required": ["a", "k"]}, {"properties": {"b": {}}}],
            "unevaluatedProperties": False,
        },
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "anyOf": [{"properties": {"a": {"type": "string"}}, "required": ["a", "k"]}, {"properties": {"b": {}}}],
            "unevaluatedProperties": False,
        },
        id="property added that only one of several anyOf branches evaluates (it may fail)",
    ),
]


@pytest.mark.parametrize(("old", "new"), REGRESSIONS)
def test_no_missed_break_in_found_cases(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert not _missed_breaks(old, new)


ARRAYS = [[], [1], ["x"], [1, 2], ["x", 1], [1, "x"], ["x", "y"], [1, 2, 3], ["x", "y", 1]]
ITEM_SCHEMAS: tuple[Any, ...] = ({"type": "integer"}, {"type": "string"}, {}, False)


class _Arrays(_Schemas):
    """Array schemas: items, prefixItems, contains, nested allOf/anyOf branches, unevaluatedItems."""

    def array(self, depth: int) -> dict[str, Any]:
        rng = self.rng
        schema: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.3:
            schema["items"] = rng.choice(ITEM_SCHEMAS)
        elif roll < 0.5:
            schema["prefixItems"] = [rng.choice(ITEM_SCHEMAS) for _ in range(rng.randint(1, 2))]
            if rng.random() < 0.3:
                schema["items"] = rng.choice(ITEM_SCHEMAS)
        if rng.random() < 0.15:
            schema["contains"] = rng.choice(ITEM_SCHEMAS[:2])
        if depth > 0 and rng.random() < 0.5:
            keyword = rng.choice(("allOf", "allOf", "anyOf"))
            schema[keyword] = [self.array(depth - 1) for _ in range(rng.choice((1, 2)))]
        return schema

    def top(self) -> dict[str, Any]:
        schema = {"type": "array", **self.array(2)}
        if self.rng.random() < 0.7:
            schema["unevaluatedItems"] = self.rng.choice((False, {"type": "integer"}))
        return schema

    def branch(self, depth: int) -> dict[str, Any]:
        return self.array(depth)


@pytest.mark.parametrize("seed", range(2))
def test_no_missed_break_around_unevaluated_items(seed: int) -> None:
    schemas = _Arrays(seed)
    for _ in range(150):
        old, new = schemas.pair()
        missed = _missed_breaks(old, new, ARRAYS)
        assert not missed, (json.dumps(old), json.dumps(new), missed[:2])


ARRAY_REGRESSIONS = [
    pytest.param(
        {"type": "array", "unevaluatedItems": False},
        {"type": "array", "items": {"type": "integer"}, "unevaluatedItems": False},
        id="items added to an array closed by unevaluatedItems",
    ),
    pytest.param(
        {"type": "array", "allOf": [{}, {"minItems": 0}], "unevaluatedItems": False},
        {"type": "array", "allOf": [{"items": {"type": "integer"}}, {"minItems": 0}], "unevaluatedItems": False},
        id="items added in an allOf branch of an array closed by unevaluatedItems",
    ),
    pytest.param(
        {"type": "array", "items": {"type": "integer"}, "unevaluatedItems": False},
        {"type": "array", "unevaluatedItems": False},
        id="items removed from an array closed by unevaluatedItems",
    ),
    pytest.param(
        {"type": "array", "prefixItems": [{"type": "integer"}], "unevaluatedItems": False},
        {"type": "array", "prefixItems": [{"type": "integer"}], "items": {"type": "string"}, "unevaluatedItems": False},
        id="items added after a tuple closed by unevaluatedItems",
    ),
    pytest.param(
        {"type": "array", "anyOf": [{"prefixItems": [{"type": "string"}]}, {}], "unevaluatedItems": False},
        {
            "type": "array",
            "prefixItems": [{"type": "integer"}],
            "anyOf": [{"prefixItems": [{"type": "string"}]}, {}],
            "unevaluatedItems": False,
        },
        id="position added that only one of several anyOf branches evaluates (it may fail)",
    ),
    pytest.param(
        {"type": "array", "prefixItems": [{}], "contains": {"type": "integer"}, "unevaluatedItems": False},
        {
            "type": "array",
            "prefixItems": [{}, {"type": "string"}],
            "contains": {"type": "integer"},
            "unevaluatedItems": False,
        },
        id="position added where the array's own contains may have evaluated the item",
    ),
    pytest.param(
        {"type": "array", "unevaluatedItems": False},
        {"type": "array", "contains": {"type": "integer"}, "unevaluatedItems": False},
        id="contains added to an array closed by unevaluatedItems",
    ),
]


@pytest.mark.parametrize(("old", "new"), ARRAY_REGRESSIONS)
def test_no_missed_break_in_found_array_cases(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert not _missed_breaks(old, new, ARRAYS)
