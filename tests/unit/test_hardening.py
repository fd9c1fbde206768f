"""Regressions for defects found in review: each test pins one failure mode that once existed."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest

from stream_sentinel.core.capture import parse_line
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.annotate import REDACTED, AvroSchemaIndex
from stream_sentinel.core.check.validate import Engine, _json_violations
from stream_sentinel.core.errors import SpecError
from tests.conftest import CATALOG, DRAFT, ORDER_HEADERS, valid_order
from tests.unit.test_validate import check, only

SpecFactory = Callable[[dict[str, Any] | None], Path]
SECRET = "123-45-678X"


def with_topic(name: str, topic: dict[str, Any]) -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    catalog["topics"][name] = topic
    return catalog


def fixed_topic(schema: str) -> dict[str, Any]:
    return {
        "owner": "team-x",
        "event_type": {"fixed": "E"},
        "events": {"E": {"versions": [{"version": 1, "schema": schema}]}},
    }


def engine_with(spec_factory: SpecFactory, name: str, schema: dict[str, Any]) -> Engine:
    root = spec_factory(
        {"catalog.yaml": with_topic(name, fixed_topic(f"x/{name}.schema.json")), f"x/{name}.schema.json": schema}
    )
    return Engine.from_spec_dir(str(root))


def everything(outcome: Any, topic: str) -> bytes:
    return b"".join(e.to_json() for e in outcome.drift_events(d.Source(topic, 0, 0), "json"))


def test_recursive_root_by_file_name_is_explained_like_the_full_validator(spec_factory: SpecFactory) -> None:
    node = {
        "$schema": DRAFT,
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "kids": {"type": "array", "items": {"$ref": "tree.schema.json"}}},
    }
    engine = engine_with(spec_factory, "tree", node)
    outcome = check(engine, "tree", {"id": "a", "kids": [{"x": 1}]})
    assert [(v.kind, v.path) for v in outcome.violations] == [
        (d.MISSING_REQUIRED, "/kids/0/id"),
        (d.UNDOCUMENTED_FIELD, "/kids/0/x"),
    ]
    compiled = engine.checker("tree")._events["E"].newest  # type: ignore[union-attr]
    assert compiled.plan is not None
    payload = {"id": "a", "kids": [{"x": 1}]}
    assert _json_violations(compiled, payload) == _json_violations(compiled, payload, use_plan=False)


@pytest.mark.parametrize(
    "schema",
    [
        {  # the failing rule lives in a then-branch, the x-pii on the property itself
            "$schema": DRAFT,
            "type": "object",
            "properties": {"country": {"type": "string"}, "tax_id": {"type": "string", "x-pii": True}},
            "if": {"properties": {"country": {"const": "US"}}},
            "then": {"properties": {"tax_id": {"pattern": "^[0-9]{9}$"}}},
        },
        {  # x-pii only inside a oneOf branch
            "$schema": DRAFT,
            "type": "object",
            "properties": {
                "country": {"type": "string"},
                "tax_id": {"oneOf": [{"type": "string", "pattern": "^[0-9]{9}$", "x-pii": True}, {"type": "null"}]},
            },
        },
    ],
    ids=["if-then", "oneOf-branch"],
)
def test_pii_is_judged_by_where_the_value_sits(spec_factory: SpecFactory, schema: dict[str, Any]) -> None:
    engine = engine_with(spec_factory, "tax", schema)
    outcome = check(engine, "tax", {"country": "US", "tax_id": SECRET})
    assert not outcome.ok
    assert SECRET.encode() not in everything(outcome, "tax")


def test_text_where_a_pii_bearing_object_belongs_is_not_echoed(engine: Engine) -> None:
    leaked = orjson.dumps({"id": "c1", "email": "john.doe@example.com"}).decode()
    outcome = check(engine, "orders", valid_order(customer=leaked), ORDER_HEADERS)
    violation = only(outcome)
    assert violation.kind == d.TYPE_MISMATCH
    assert violation.redacted
    assert b"john.doe" not in everything(outcome, "orders")
    assert outcome.sample()["customer"] == REDACTED


def test_avro_union_of_records_and_short_names_redact_exactly() -> None:
    person = {
        "type": "record",
        "name": "Person",
        "namespace": "com.b",
        "fields": [{"name": "ssn", "type": "string", "x-pii": True}, {"name": "city", "type": "string"}],
    }
    company = {"type": "record", "name": "Company", "namespace": "com.b", "fields": [{"name": "vat", "type": "string"}]}
    doc = {
        "type": "record",
        "name": "Holder",
        "namespace": "com.b",
        "fields": [
            {"name": "who", "type": [company, person]},
            {"name": "note", "type": ["null", {"type": "string", "x-pii": True}]},
        ],
    }
    index = AvroSchemaIndex(doc, fastavro.parse_schema(doc))
    redacted = index.redact({"who": {"ssn": SECRET, "city": "Utrecht"}, "note": "call me at 555"})
    assert redacted == {"who": {"ssn": REDACTED, "city": "Utrecht"}, "note": REDACTED}


def test_undecodable_bytes_are_not_shown_unless_asked(engine: Engine) -> None:
    outcome = check(engine, "orders", b'{"email":"john.doe@example', ORDER_HEADERS)
    assert outcome.sample() == {"size": 26}
    assert outcome.sample(raw_prefix=2) == {"size": 26, "prefix_hex": "7b22"}


@pytest.mark.timeout(10)
def test_pattern_properties_use_the_validators_regex_engine(spec_factory: SpecFactory) -> None:
    schema = {
        "$schema": DRAFT,
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "patternProperties": {"^\\p{L}+$": {"type": "string"}, "^(a|aa)+$": {"type": "integer"}},
    }
    engine = engine_with(spec_factory, "pat", schema)
    started = time.monotonic()
    outcome = check(engine, "pat", {"id": "x", "héllo": "ok", "a" * 38 + "1": 1, "ab1": 2})
    assert time.monotonic() - started < 2  # python's re would backtrack for seconds on ^(a|aa)+$
    assert [(v.kind, v.path, v.severity) for v in outcome.violations] == [
        (d.UNDOCUMENTED_FIELD, "/" + "a" * 38 + "1", d.INFO),
        (d.UNDOCUMENTED_FIELD, "/ab1", d.INFO),
    ]


def test_draft07_open_objects_report_undocumented_fields(spec_factory: SpecFactory) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"id": {"type": "string"}},
    }
    engine = engine_with(spec_factory, "old", schema)
    violation = only(check(engine, "old", {"id": "a", "secret_extra": "x"}))
    assert (violation.kind, violation.path, violation.severity) == (d.UNDOCUMENTED_FIELD, "/secret_extra", d.INFO)
    assert check(engine, "old", {"id": "a"}).ok


def test_two_rules_broken_at_one_path_have_distinct_drift_ids() -> None:
    source = d.Source("t", 0, 1)
    a = d.Violation(d.CONSTRAINT, d.BREAKING, "/email", "/email", "a string in format email", "string")
    b = d.Violation(d.CONSTRAINT, d.BREAKING, "/email", "/email", "at most 254 characters long", "string")
    assert d.drift_id(source, "E", a, "s.json") != d.drift_id(source, "E", b, "s.json")


def test_duplicate_headers_last_value_wins_on_every_path(engine: Engine) -> None:
    v1_then_v2 = [*ORDER_HEADERS, ("schema-version", b"1"), ("schema-version", b"2")]
    v2_then_v1 = [*ORDER_HEADERS, ("schema-version", b"2"), ("schema-version", b"1")]
    order_v1 = valid_order(version=1)
    assert only(check(engine, "orders", order_v1, v1_then_v2)).kind == d.MISSING_REQUIRED  # judged as v2
    assert check(engine, "orders", order_v1, v2_then_v1).ok  # judged as v1
    assert (
        only(check(engine, "orders", valid_order(), [*v1_then_v2, ("schema-version", b"9")])).kind == d.UNKNOWN_VERSION
    )
    # the generic path (unknown types go there) and the Avro path read headers the same way
    last_unknown = check(engine, "orders", valid_order(), [("event-type", b"OrderCreated"), ("event-type", b"Nope")])
    assert last_unknown.event_type == "Nope"
    assert check(engine, "orders", valid_order(), [("event-type", b"Nope"), ("event-type", b"OrderCreated")]).ok
    pay = [("event-type", b"Nope"), ("event-type", b"PaymentAuthorized")]
    assert check(engine, "payments", b"\x00", pay).event_type == "PaymentAuthorized"


def test_odd_header_values_never_raise(engine: Engine) -> None:
    odd: list[Any] = [bytearray(b"OrderCreated"), ["OrderCreated"], None, memoryview(b"OrderCreated")]
    for value in odd:
        outcome = check(engine, "orders", valid_order(), [("event-type", value)])
        assert outcome.ok or outcome.violations[0].kind == d.UNKNOWN_EVENT_TYPE


def test_kcat_null_header_value_is_an_absent_header() -> None:
    line = orjson.dumps({"topic": "t", "offset": 1, "headers": ["schema-version", None, "a", "b"], "payload": "{}"})
    message = parse_line(line, 1)
    assert message is not None
    assert message.headers == (("a", b"b"),)


def test_unknown_dialect_and_duplicate_yaml_keys_fail_at_load(spec_factory: SpecFactory) -> None:
    schema = {"$schema": "https://example.com/my-dialect", "type": "object"}
    root = spec_factory({"catalog.yaml": with_topic("d", fixed_topic("x/d.schema.json")), "x/d.schema.json": schema})
    with pytest.raises(SpecError) as caught:
        Engine.from_spec_dir(str(root))
    assert (caught.value.file, caught.value.pointer) == ("x/d.schema.json", "/$schema")
    text = (
        "catalog: 1\ntopics:\n  t:\n    event_type: {fixed: E}\n    events:\n"
        "      E: {versions: [{version: 1, schema: crm/profile.schema.json}]}\n"
        "      E: {versions: []}\n"
    )
    root = spec_factory({"catalog.yaml": text})
    with pytest.raises(SpecError, match="duplicate key 'E'"):
        Engine.from_spec_dir(str(root))
