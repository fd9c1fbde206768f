"""Drift event identity, serialization and JSON pointers."""

from __future__ import annotations

import orjson
import pytest

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts import pointer as jp
from tests.conftest import ORDER_HEADERS, valid_order
from tests.unit.test_validate import check


def events_for(engine: Engine, payload: object, offset: int = 3, partition: int = 1) -> list[d.DriftEvent]:
    outcome = check(engine, "orders", payload, ORDER_HEADERS)
    return outcome.drift_events(d.Source("orders", partition, offset, 1_700_000_000_000, "ord_abc123"), "json")


def test_drift_id_is_deterministic_per_message_and_rule(engine: Engine) -> None:
    bad = valid_order(total_cents=1.5, status="lost")
    first, again = events_for(engine, bad), events_for(engine, bad)
    assert [e.drift_id for e in first] == [e.drift_id for e in again]
    assert len({e.drift_id for e in first}) == 2  # two rules, two ids
    moved = events_for(engine, bad, offset=4)
    assert {e.drift_id for e in moved}.isdisjoint(e.drift_id for e in first)


def test_fingerprint_groups_a_rule_across_messages_and_positions(engine: Engine) -> None:
    a = events_for(engine, valid_order(items=[{"sku": "A", "quantity": 0}]), offset=1)
    b = events_for(
        engine,
        valid_order(items=[{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 0}]),
        offset=2,
    )
    assert a[0].fingerprint == b[0].fingerprint
    assert a[0].path != b[0].path
    assert a[0].rule_path == b[0].rule_path == "/items/*/quantity"
    assert d.fingerprint("orders", "OrderCreated", "constraint", "/items/*/quantity") == a[0].fingerprint


def test_drift_event_serializes_every_field(engine: Engine) -> None:
    event = events_for(engine, valid_order(total_cents=1.5))[0]
    data = orjson.loads(event.to_json())
    assert data["type"] == "drift"
    assert data["source"] == {
        "topic": "orders",
        "partition": 1,
        "offset": 3,
        "timestamp": 1_700_000_000_000,
        "key": "ord_abc123",
    }
    assert data["schema"] == {"ref": "orders/created.v2.schema.json", "version": 2, "id": None}
    assert data["actual"] == {"type": "number", "value": "1.5"}
    assert data["origin"] == "live"
    assert data["sentinel_version"]
    assert list(data) == list(event.to_dict())


def test_every_kind_is_documented_with_a_fix() -> None:
    for kind in d.KINDS:
        violation = d.Violation(kind, d.BREAKING, "/x", "/x", "e", "string", '"v"')
        assert d.describe(violation, "E", 1)
        assert d.suggest_fix(violation, "E", "json") != "inspect the sample and the contract"


@pytest.mark.parametrize(
    ("tokens", "pointer"),
    [
        ((), ""),
        (("a", "b"), "/a/b"),
        (("a/b", "c~d"), "/a~1b/c~0d"),
        (("items", 3, "sku"), "/items/3/sku"),
    ],
)
def test_pointer_round_trip(tokens: tuple[str | int, ...], pointer: str) -> None:
    assert jp.to_pointer(tokens) == pointer
    assert jp.parse(pointer) == tuple(str(t) for t in tokens)


def test_pointer_resolve_and_generalize() -> None:
    doc = {"a": [{"b": 1}]}
    assert jp.resolve(doc, jp.parse("/a/0/b")) == 1
    with pytest.raises(KeyError):
        jp.resolve(doc, jp.parse("/a/1"))
    assert jp.generalize(("a", 0, "b")) == "/a/*/b"
    with pytest.raises(ValueError, match="must be empty or start"):
        jp.parse("a")


def test_describe_names_the_actual_type_once() -> None:
    array = d.Violation(d.CONSTRAINT, d.BREAKING, "/items", "/items", "at most 3 items", "array", "array of 5 items")
    assert d.describe(array, "OrderCreated", 2) == (
        "OrderCreated v2: value at /items must be at most 3 items; got array of 5 items"
    )
    text = d.Violation(d.CONSTRAINT, d.BREAKING, "/s", "/s", "one of a", "string", '"b"')
    assert d.describe(text, "E", 1).endswith('got string "b"')


def test_the_whole_message_is_shown_in_words_in_tables_and_stays_empty_in_json() -> None:
    assert d.shown_path("") == "(message)"
    assert d.shown_path("/a") == "/a"


@pytest.mark.parametrize(
    ("payload", "words", "fix"),
    [
        (b'{"a": 1', "the JSON text ends early (line 1, column 8): the payload is cut short", "cut short"),
        (b'"\\ud800"', "a \\u escape is half of a UTF-16 surrogate pair", "does not write json"),
        (b'"\xff"', "byte 1 is not valid UTF-8 (JSON text must be UTF-8)", "does not write json"),
        (b"<xml/>", "not valid JSON: unexpected character", "does not write json"),
    ],
)
def test_undecodable_json_is_explained_in_the_users_words(engine: Engine, payload: bytes, words: str, fix: str) -> None:
    checker = engine.checker("orders")
    assert checker is not None
    (violation,) = checker.check(payload, ORDER_HEADERS).violations
    assert violation.kind == d.UNDECODABLE
    assert violation.detail is not None
    assert words in violation.detail
    assert "surrogates not allowed" not in violation.detail
    assert fix in d.suggest_fix(violation, "OrderCreated", "json")
