"""The validation core on a small spec: every kind, annotation rules, PII, version selection."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine, Outcome
from tests.conftest import ORDER_HEADERS, avro_bytes, valid_order

V2 = [*ORDER_HEADERS, ("schema-version", b"2")]


def check(engine: Engine, topic: str, payload: object, headers: list[tuple[str, bytes]] | None = None) -> Outcome:
    checker = engine.checker(topic)
    assert checker is not None
    value = payload if isinstance(payload, bytes) or payload is None else orjson.dumps(payload)
    return checker.check(value, headers)


def kinds(outcome: Outcome) -> list[tuple[str, str]]:
    return [(v.kind, v.path) for v in outcome.violations]


def only(outcome: Outcome) -> d.Violation:
    assert len(outcome.violations) == 1, outcome.violations
    return outcome.violations[0]


def test_valid_message_returns_the_versions_prebuilt_outcome(engine: Engine) -> None:
    first = check(engine, "orders", valid_order(), ORDER_HEADERS)
    second = check(engine, "orders", valid_order(total_cents=1), ORDER_HEADERS)
    assert first.ok
    assert first.event_type == "OrderCreated"
    assert first.version is not None
    assert first.version.version == 2
    assert first is second  # the fast path allocates no outcome, no error objects


def test_REQ_ORD_3_number_where_integer_is_contracted(engine: Engine) -> None:
    outcome = check(engine, "orders", valid_order(total_cents=10.5), ORDER_HEADERS)
    violation = only(outcome)
    assert violation.kind == d.TYPE_MISMATCH
    assert violation.path == "/total_cents"
    assert violation.requirement == "REQ-ORD-3"  # from the $ref'd definition in another file
    assert violation.owner == "team-orders"
    assert (violation.expected, violation.actual_type, violation.actual_value) == (
        "integer",
        "number",
        "10.5",
    )
    event = outcome.drift_events(d.Source("orders", 0, 5), "json")[0]
    assert event.suggested_fix == (
        "producer sends number; contract says integer at /total_cents (REQ-ORD-3): "
        "round at the producer or widen the contract with a new version"
    )


def test_missing_required_takes_the_missing_fields_requirement(engine: Engine) -> None:
    order = valid_order()
    del order["status"]
    violation = only(check(engine, "orders", order, V2))
    assert (violation.kind, violation.path, violation.actual_type) == (
        d.MISSING_REQUIRED,
        "/status",
        "missing",
    )
    assert violation.requirement == "REQ-ORD-5"


def test_nearest_annotation_wins_and_catalog_is_the_fallback(engine: Engine) -> None:
    outcome = check(engine, "orders", valid_order(order_id="ORD-1", created_at="yesterday"), ORDER_HEADERS)
    by_path = {v.path: v for v in outcome.violations}
    assert by_path["/order_id"].requirement == "REQ-ORD-2"  # field-level x-requirement
    assert by_path["/created_at"].requirement == "REQ-ORD-1"  # no annotation: the event's
    assert by_path["/created_at"].expected == "a string in format date-time"


@pytest.mark.parametrize(
    ("change", "path", "expected"),
    [
        ({"status": "shipped"}, "/status", 'one of "created", "paid"'),
        ({"order_id": "x"}, "/order_id", "a string matching ^ord_[0-9a-z]{6}$"),
        ({"items": []}, "/items", "an array of at least 1 items"),
        (
            {"items": [{"sku": "S" * 20, "quantity": 1}]},
            "/items/0/sku",
            "at most 12 characters long",
        ),
        ({"items": [{"sku": "S", "quantity": 0}]}, "/items/0/quantity", ">= 1"),
        ({"total_cents": -1}, "/total_cents", ">= 0"),
    ],
)
def test_constraints(engine: Engine, change: dict[str, Any], path: str, expected: str) -> None:
    violation = only(check(engine, "orders", valid_order(**change), ORDER_HEADERS))
    assert (violation.kind, violation.path, violation.expected) == (d.CONSTRAINT, path, expected)
    assert violation.severity == d.BREAKING


def test_array_indexes_are_generalized_in_rule_path(engine: Engine) -> None:
    items = [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 0}]
    violation = only(check(engine, "orders", valid_order(items=items), ORDER_HEADERS))
    assert (violation.path, violation.rule_path) == ("/items/1/quantity", "/items/*/quantity")


def test_composition(engine: Engine) -> None:
    violation = only(check(engine, "orders", valid_order(discount=1.5), ORDER_HEADERS))
    assert violation.kind == d.COMPOSITION
    assert violation.expected == "a match for exactly one of 2 alternatives"


def test_pii_values_are_never_echoed(engine: Engine) -> None:
    secret = "jane.secret@example.com"
    order = valid_order(customer={"id": 7, "email": [secret]}, total_cents=1.5)
    outcome = check(engine, "orders", order, ORDER_HEADERS)
    email = next(v for v in outcome.violations if v.path == "/customer/email")
    assert email.redacted
    assert email.actual_value is None
    assert email.actual_type == "array"
    events = outcome.drift_events(d.Source("orders", 0, 1), "json")
    assert len(events) == 3
    blob = b"".join(e.to_json() for e in events)
    assert secret.encode() not in blob
    assert events[0].sample["customer"]["email"] == "[REDACTED]"


def test_undocumented_field_in_closed_object_is_breaking_and_value_hidden(engine: Engine) -> None:
    outcome = check(engine, "orders", valid_order(coupon_code="FREE-STUFF"), ORDER_HEADERS)
    violation = only(outcome)
    assert (violation.kind, violation.path, violation.severity) == (
        d.UNDOCUMENTED_FIELD,
        "/coupon_code",
        d.BREAKING,
    )
    assert violation.actual_value is None
    assert violation.redacted
    assert outcome.sample()["coupon_code"] == "[UNDOCUMENTED string]"


def test_undocumented_field_in_open_object_is_info(engine: Engine) -> None:
    outcome = check(engine, "profiles", {"id": "p1", "loyalty": 3, "metadata": {"k": "v"}, "nickname": "J"})
    violation = only(outcome)
    # metadata keys are documented by the typed map; nickname by the allOf branch
    assert (violation.kind, violation.path, violation.severity) == (
        d.UNDOCUMENTED_FIELD,
        "/loyalty",
        d.INFO,
    )


def test_open_object_fully_documented_is_valid(engine: Engine) -> None:
    assert check(engine, "profiles", {"id": "p1", "name": "Jane", "nickname": "J", "metadata": {}}).ok


def test_invalid_open_object_reports_no_false_undocumented_fields(engine: Engine) -> None:
    outcome = check(engine, "profiles", {"id": 5, "name": 7, "nickname": "J"})
    assert kinds(outcome) == [(d.TYPE_MISMATCH, "/id"), (d.TYPE_MISMATCH, "/name")]
    assert outcome.violations[1].redacted


def test_undeclared_message_passing_only_an_older_version_is_version_lag(engine: Engine) -> None:
    outcome = check(engine, "orders", valid_order(version=1), ORDER_HEADERS)
    violation = only(outcome)
    assert violation.kind == d.VERSION_LAG
    assert violation.severity == d.WARNING
    assert (violation.expected, violation.actual_value) == ("v2", "v1")
    assert "missing_required at /channel" in violation.detail
    assert outcome.version is not None
    assert outcome.version.version == 1


def test_declared_version_is_validated_against_that_version(engine: Engine) -> None:
    v1 = [*ORDER_HEADERS, ("schema-version", b"1")]
    assert check(engine, "orders", valid_order(version=1), v1).ok
    assert kinds(check(engine, "orders", valid_order(version=1), V2)) == [(d.MISSING_REQUIRED, "/channel")]


def test_unknown_declared_version(engine: Engine) -> None:
    violation = only(check(engine, "orders", valid_order(), [*ORDER_HEADERS, ("schema-version", b"9")]))
    assert (violation.kind, violation.actual_value, violation.expected) == (
        d.UNKNOWN_VERSION,
        "9",
        "one of v1, v2",
    )


def test_unknown_and_missing_event_type(engine: Engine) -> None:
    unknown = check(engine, "orders", valid_order(), [("event-type", b"OrderShipped")])
    assert only(unknown).kind == d.UNKNOWN_EVENT_TYPE
    assert unknown.event_type == "OrderShipped"
    missing = only(check(engine, "orders", valid_order(), []))
    assert (missing.kind, missing.actual_type) == (d.UNKNOWN_EVENT_TYPE, "missing")


def test_event_type_and_version_from_payload_pointers(engine: Engine) -> None:
    assert check(engine, "typed", {"type": "Ping", "v": 1}).ok
    assert only(check(engine, "typed", {"type": "Pong"})).kind == d.UNKNOWN_EVENT_TYPE
    assert only(check(engine, "typed", {"type": "Ping", "v": 3})).kind == d.UNKNOWN_VERSION
    assert only(check(engine, "typed", {"type": ["Ping"]})).actual_type == "missing"


def test_tombstones_ignored_by_default_and_drift_when_configured(engine: Engine) -> None:
    ignored = check(engine, "orders", None, ORDER_HEADERS)
    assert ignored.ok
    assert ignored.tombstone
    assert only(check(engine, "profiles", None)).kind == d.TOMBSTONE


def test_avro_valid_versions_and_lag(engine: Engine) -> None:
    record = {
        "payment_id": "p1",
        "amount": {"amount_cents": 5, "currency": "EUR"},
        "cardholder": "Jane Q",
    }
    headers = [("event-type", b"PaymentAuthorized")]
    newest = avro_bytes("pay/auth.v2.avsc", {**record, "risk_score": 3})
    assert check(engine, "payments", newest, headers).ok
    lagging = check(engine, "payments", avro_bytes("pay/auth.v1.avsc", record), headers)
    violation = only(lagging)
    assert violation.kind == d.VERSION_LAG
    assert violation.requirement == "REQ-PAY-1"
    assert lagging.sample()["cardholder"] == "[REDACTED]"
    assert lagging.sample()["amount"] == {"amount_cents": 5, "currency": "EUR"}


def test_avro_trailing_bytes_are_schema_mismatch(engine: Engine) -> None:
    record = {
        "payment_id": "p1",
        "amount": {"amount_cents": 5, "currency": "EUR"},
        "cardholder": "J",
        "risk_score": 1,
    }
    value = avro_bytes("pay/auth.v2.avsc", record) + b"\x02\x04"
    violation = only(check(engine, "payments", value, [("event-type", b"PaymentAuthorized")]))
    assert violation.kind == d.SCHEMA_MISMATCH
    assert "2 of" in violation.detail


def test_confluent_avro_and_json(engine: Engine) -> None:
    framed = b"\x00" + (7).to_bytes(4, "big") + avro_bytes("ship/shipped.avsc", {"shipment_id": "s", "parcels": 2})
    outcome = check(engine, "shipments", framed)
    assert outcome.ok
    assert outcome.event_type == "Shipped"
    stock = b"\x00" + (21).to_bytes(4, "big") + orjson.dumps({"sku": "A", "delta": "1"})
    bad = only(check(engine, "stock", stock))
    assert (bad.kind, bad.path) == (d.TYPE_MISMATCH, "/delta")
    assert check(engine, "stock", stock.replace(b'"1"', b"1")).ok


def test_unknown_version_and_event_type_report_the_type_the_message_used(engine: Engine) -> None:
    from_field = only(check(engine, "typed", {"type": "Ping", "v": 3}))
    assert (from_field.kind, from_field.actual_type, from_field.actual_value) == (d.UNKNOWN_VERSION, "integer", "3")
    from_header = only(check(engine, "orders", valid_order(), [*ORDER_HEADERS, ("schema-version", b"9")]))
    assert (from_header.actual_type, from_header.actual_value) == ("string", "9")
    assert only(check(engine, "typed", {"type": 7})).actual_type == "integer"
    assert only(check(engine, "typed", {"type": "Pong"})).actual_type == "string"
