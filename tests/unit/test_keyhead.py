"""Key and header contracts (``key:``/``headers:`` in catalog.yaml): read, refused at their pointer, checked.

Violations use the existing kinds with paths ``key`` / ``headers/<name>``; a value is echoed only
when the contract does not mark it (or, for ``equals``, the value field it equals) ``x-pii``.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.outcome import Outcome
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.errors import SpecError
from tests.conftest import CATALOG, ORDER_HEADERS, avro_bytes, valid_order

SpecFactory = Callable[[dict[str, Any] | None], Path]
UUID = b"0b7f3c9e-1d2a-4e5f-8a9b-0c1d2e3f4a5b"


def with_keyhead(topic_level: dict[str, Any], event_level: dict[str, Any] | None = None) -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    catalog["topics"]["orders"].update(topic_level)
    if event_level is not None:
        catalog["topics"]["orders"]["events"]["OrderCreated"].update(event_level)
    return catalog


def engine_of(spec_factory: SpecFactory, catalog: dict[str, Any]) -> Engine:
    return Engine.from_spec_dir(str(spec_factory({"catalog.yaml": catalog})))


def judged(engine: Engine, key: Any, headers: list[tuple[str, bytes]], order: dict[str, Any] | None = None) -> Outcome:
    value = orjson.dumps(order if order is not None else valid_order())
    checker = engine.checker("orders")
    assert checker is not None
    outcome = checker.check(value, headers)
    return engine.keyheads["orders"].judge(outcome, key, headers, value)


def test_a_topic_without_key_or_header_contracts_has_no_keyhead_checker(engine: Engine) -> None:
    assert engine.keyheads == {}  # the hot path never calls anything for them


def test_the_key_must_equal_the_value_field_it_names(spec_factory: SpecFactory) -> None:
    engine = engine_of(spec_factory, with_keyhead({"key": {"equals": "/order_id", "requirement": "REQ-KEY-1"}}))
    assert judged(engine, b"ord_abc123", ORDER_HEADERS).ok
    outcome = judged(engine, b"ord_zzz999", ORDER_HEADERS)
    (violation,) = outcome.violations
    assert (violation.kind, violation.path, violation.rule_path) == (d.CONSTRAINT, "key", "key")
    assert violation.expected == "equal to the value's /order_id"
    assert violation.actual_value == "ord_zzz999"  # order_id is documented and not x-pii
    assert violation.requirement == "REQ-KEY-1"
    assert outcome.event_type == "OrderCreated"
    assert outcome.sample() is not None  # the (valid) value is decoded again for the sample


def test_a_required_key_that_is_null_is_missing_required(spec_factory: SpecFactory) -> None:
    engine = engine_of(spec_factory, with_keyhead({"key": {"required": True}}))
    (violation,) = judged(engine, None, ORDER_HEADERS).violations
    assert (violation.kind, violation.path, violation.actual_type) == (d.MISSING_REQUIRED, "key", "missing")
    # Not required: a null key passes.
    assert judged(engine_of(spec_factory, with_keyhead({"key": {"format": "uuid"}})), None, ORDER_HEADERS).ok


def test_header_rules_use_the_existing_kinds_with_headers_paths(spec_factory: SpecFactory) -> None:
    headers_spec = {
        "trace-id": {"format": "uuid"},
        "x-count": {"type": "integer", "minimum": 1},
        "x-tenant": {"required": True, "enum": ["acme", "globex"]},
        "a/b": {"pattern": "^[a-z]+$"},
    }
    engine = engine_of(spec_factory, with_keyhead({"headers": headers_spec}))
    good = [*ORDER_HEADERS, ("trace-id", UUID), ("x-count", b"3"), ("x-tenant", b"acme"), ("a/b", b"ok")]
    assert judged(engine, b"k", good).ok
    bad = [*ORDER_HEADERS, ("trace-id", b"nope"), ("x-count", b"many"), ("a/b", b"NO")]
    found = {(v.kind, v.path): v for v in judged(engine, b"k", bad).violations}
    assert set(found) == {
        (d.CONSTRAINT, "headers/trace-id"),
        (d.TYPE_MISMATCH, "headers/x-count"),
        (d.MISSING_REQUIRED, "headers/x-tenant"),
        (d.CONSTRAINT, "headers/a~1b"),  # the name escaped as a pointer token
    }
    assert found[d.CONSTRAINT, "headers/trace-id"].expected == "a valid uuid"
    assert found[d.CONSTRAINT, "headers/trace-id"].actual_value == "nope"
    assert found[d.TYPE_MISMATCH, "headers/x-count"].expected == "integer"
    below = {v.kind for v in judged(engine, b"k", [*good[:2], ("x-count", b"0"), *good[3:]]).violations}
    assert below == {d.CONSTRAINT}


def test_the_last_header_of_a_name_is_the_one_checked(spec_factory: SpecFactory) -> None:
    engine = engine_of(spec_factory, with_keyhead({"headers": {"trace-id": {"format": "uuid"}}}))
    assert judged(engine, None, [*ORDER_HEADERS, ("trace-id", b"bad"), ("trace-id", UUID)]).ok


def test_pii_values_are_withheld(spec_factory: SpecFactory) -> None:
    catalog = with_keyhead(
        {"key": {"equals": "/customer/email"}, "headers": {"user": {"x-pii": True, "pattern": "^u_"}}}
    )
    engine = engine_of(spec_factory, catalog)
    outcome = judged(engine, b"someone@example.com", [*ORDER_HEADERS, ("user", b"jane.doe@example.com")])
    by_path = {v.path: v for v in outcome.violations}
    assert by_path["key"].actual_value is None  # /customer/email is x-pii
    assert by_path["key"].redacted
    assert by_path["headers/user"].actual_value is None
    assert by_path["headers/user"].redacted
    text = "".join(e.to_json().decode() for e in outcome.drift_events(d.Source("orders", 0, 1), "json"))
    assert "jane.doe@example.com" not in text
    assert "someone@example.com" not in text


def test_an_event_types_contract_replaces_the_topics_key_and_merges_headers(spec_factory: SpecFactory) -> None:
    catalog = with_keyhead(
        {"key": {"format": "uuid"}, "headers": {"trace-id": {"format": "uuid"}, "x-a": {"required": True}}},
        {"key": {"equals": "/order_id"}, "headers": {"x-a": {"required": False}}},
    )
    contract = load_catalog(spec_factory({"catalog.yaml": catalog})).topics["orders"]
    assert contract.keyhead is not None
    assert contract.events["OrderCreated"].keyhead is not None
    engine = engine_of(spec_factory, catalog)
    assert judged(engine, b"ord_abc123", ORDER_HEADERS).ok  # event key wins; x-a no longer required
    (violation,) = judged(engine, b"ord_abc123", [*ORDER_HEADERS, ("trace-id", b"x")]).violations
    assert violation.path == "headers/trace-id"


def test_a_json_key_is_checked_with_its_schema_and_points_inside_the_key(spec_factory: SpecFactory) -> None:
    schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    engine = engine_of(spec_factory, with_keyhead({"key": {"encoding": "json", "schema": schema}}))
    assert judged(engine, b'{"id": "a"}', ORDER_HEADERS).ok
    assert [(v.kind, v.path) for v in judged(engine, b"{}", ORDER_HEADERS).violations] == [
        (d.MISSING_REQUIRED, "key/id")
    ]
    assert [(v.kind, v.path) for v in judged(engine, b'{"id": 1}', ORDER_HEADERS).violations] == [
        (d.TYPE_MISMATCH, "key/id")
    ]
    assert [(v.kind, v.expected) for v in judged(engine, b"not json", ORDER_HEADERS).violations] == [
        (d.TYPE_MISMATCH, "JSON text")
    ]


def test_a_key_that_is_not_utf8_text_is_a_type_mismatch(spec_factory: SpecFactory) -> None:
    engine = engine_of(spec_factory, with_keyhead({"key": {"pattern": "^o"}}))
    (violation,) = judged(engine, b"\xff\xfe", ORDER_HEADERS).violations
    assert (violation.kind, violation.expected, violation.actual_value) == (d.TYPE_MISMATCH, "UTF-8 text", None)


def test_an_invalid_value_keeps_its_violations_and_gains_the_keys(spec_factory: SpecFactory) -> None:
    engine = engine_of(spec_factory, with_keyhead({"key": {"equals": "/order_id"}}))
    outcome = judged(engine, b"ord_other1", ORDER_HEADERS, valid_order(status="lost"))
    assert {v.path for v in outcome.violations} == {"/status", "key"}


def test_an_avro_value_is_decoded_for_equals(spec_factory: SpecFactory) -> None:
    catalog = copy.deepcopy(CATALOG)
    catalog["topics"]["payments"]["key"] = {"equals": "/payment_id"}
    engine = engine_of(spec_factory, catalog)
    record = {"payment_id": "pay_1", "amount": {"amount_cents": 100, "currency": "EUR"}, "cardholder": "J"}
    value = avro_bytes("pay/auth.v2.avsc", {**record, "risk_score": 1})
    headers = [("event-type", b"PaymentAuthorized")]
    checker = engine.checker("payments")
    assert checker is not None
    outcome = checker.check(value, headers)
    assert outcome.ok
    assert engine.keyheads["payments"].judge(outcome, b"pay_1", headers, value).ok
    (violation,) = engine.keyheads["payments"].judge(outcome, b"pay_2", headers, value).violations
    assert (violation.kind, violation.path) == (d.CONSTRAINT, "key")


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown-keyword", {"key": {"equal": "/order_id"}}, "/topics/orders/key", "'equal' was unexpected"),
    ("equals-not-pointer", {"key": {"equals": "order_id"}}, "/topics/orders/key/equals", "does not match"),
    ("bad-regex", {"headers": {"h": {"pattern": "(["}}}, "/topics/orders/headers/h/pattern", "regular expression"),
    ("bad-schema", {"key": {"schema": {"type": 7}}}, "/topics/orders/key/schema/type", "not a JSON Schema"),
    ("bad-encoding", {"key": {"encoding": "xml"}}, "/topics/orders/key/encoding", "is not one of"),
    ("headers-not-object", {"headers": ["h"]}, "/topics/orders/headers", "is not of type 'object'"),
]


@pytest.mark.parametrize(("name", "setting", "pointer", "cause"), BAD, ids=[case[0] for case in BAD])
def test_a_bad_setting_is_refused_at_its_pointer(
    spec_factory: SpecFactory, name: str, setting: dict[str, Any], pointer: str, cause: str
) -> None:
    root = spec_factory({"catalog.yaml": with_keyhead(setting)})
    with pytest.raises(SpecError) as caught:
        load_catalog(root)
    assert (caught.value.file, caught.value.pointer) == ("catalog.yaml", pointer), (name, caught.value)
    assert cause in caught.value.cause, caught.value.cause


def test_the_cli_says_it_in_one_line_with_exit_2(spec_factory: SpecFactory) -> None:
    root = spec_factory({"catalog.yaml": with_keyhead({"headers": {"h": {"pattern": "(["}}})})
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(["spec", "--spec", str(root)], io.BytesIO(b""), stdout, stderr)
    assert code == 2
    assert stderr.getvalue().count("\n") == 1
    assert "catalog.yaml#/topics/orders/headers/h/pattern" in stderr.getvalue()
