"""PII regressions of issue #11: every case the attack found, pinned on the real outputs.

Each test places unique markers where the contract (in some version) says PII, sends the
payload in a shape the contract does not expect, and asserts the markers reach no drift event
(path, rule_path, message, detail, expected, actual, sample) in any form.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.annotate import REDACTED
from stream_sentinel.core.check.validate import Engine, Outcome
from tests.conftest import CATALOG, DRAFT

SpecFactory = Callable[[dict[str, Any] | None], Path]
SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
ORDER_V2 = [("event-type", b"OrderCreated"), ("schema-version", b"2")]
EMAIL = "zq.secret.mail@example.com"
NAME = "Zq Secretname"
PHONE = 4915112345678  # a phone number sent as a JSON number


@pytest.fixture(scope="module")
def example() -> Engine:
    return Engine.from_spec_dir(str(SPEC))


def order(**changes: Any) -> dict[str, Any]:
    """A valid OrderCreated v2 of the example catalog, with PII markers in its PII fields."""
    payload: dict[str, Any] = {
        "order_id": "ord_abcdefabcdef",
        "customer": {"id": "cus_abcdefabcdef", "email": EMAIL, "name": NAME, "tier": "gold"},
        "items": [{"sku": "ABC-12345", "name": "Mug", "quantity": 1, "unit_price_cents": 900}],
        "total_cents": 900,
        "currency": "EUR",
        "status": "placed",
        "created_at": "2026-01-01T10:00:00Z",
        "shipping_address": {"street": "Zq Secretstreet 1", "city": "Utrecht", "postcode": "ZQ9999", "country": "NL"},
        "channel": "web",
    }
    payload.update(changes)
    return payload


def outputs(outcome: Outcome, topic: str) -> bytes:
    """Every byte the drift events of one message put on the drift topic."""
    return b"\n".join(e.to_json() for e in outcome.drift_events(d.Source(topic, 0, 0), "json"))


def check(engine: Engine, topic: str, value: Any, headers: list[tuple[str, bytes]] | None = None) -> Outcome:
    checker = engine.checker(topic)
    assert checker is not None
    return checker.check(value if isinstance(value, bytes) else orjson.dumps(value), headers)


def assert_hidden(outcome: Outcome, topic: str, *secrets: str) -> None:
    assert not outcome.ok
    text = outputs(outcome, topic)
    for secret in secrets:
        assert secret.encode() not in text, (secret, text)


def test_valid_order_fixture_is_valid(example: Engine) -> None:
    assert check(example, "orders", order(), ORDER_V2).ok


# -- 1. wrong container types ----------------------------------------------------------------


def test_whole_message_sent_as_an_array(example: Engine) -> None:
    outcome = check(example, "orders", [order()], ORDER_V2)
    assert_hidden(outcome, "orders", EMAIL, NAME, "Secretstreet", "ZQ9999")
    assert outcome.sample() == REDACTED


def test_customer_sent_as_an_array_of_objects(example: Engine) -> None:
    outcome = check(example, "orders", order(customer=[order()["customer"]]), ORDER_V2)
    assert_hidden(outcome, "orders", EMAIL, NAME)
    assert outcome.sample()["customer"] == REDACTED
    assert outcome.sample()["order_id"] == "ord_abcdefabcdef"  # documented, non-PII values stay


def test_customer_sent_as_an_array_of_strings(example: Engine) -> None:
    outcome = check(example, "orders", order(customer=[EMAIL]), ORDER_V2)
    assert_hidden(outcome, "orders", EMAIL)


def test_nested_arrays_around_pii(example: Engine) -> None:
    outcome = check(example, "orders", order(customer=[[{"email": EMAIL, "phone": str(PHONE)}]]), ORDER_V2)
    assert_hidden(outcome, "orders", EMAIL, str(PHONE))
    whole = check(example, "orders", [[order()]], ORDER_V2)
    assert_hidden(whole, "orders", EMAIL, NAME)


def test_number_where_an_object_holding_pii_belongs(example: Engine) -> None:
    outcome = check(example, "orders", order(customer=PHONE), ORDER_V2)
    [violation] = outcome.violations
    assert (violation.kind, violation.path, violation.actual_type) == (d.TYPE_MISMATCH, "/customer", "integer")
    assert violation.actual_value is None
    assert violation.redacted
    assert_hidden(outcome, "orders", str(PHONE))


CONTACTS = {
    "$schema": DRAFT,
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "contacts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"kind": {"type": "string"}, "phone": {"type": "string", "x-pii": True}},
            },
        },
    },
}


def with_topic(name: str, topic: dict[str, Any]) -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    catalog["topics"][name] = topic
    return catalog


def json_topic(versions: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "owner": "team-x",
        "event_type": {"fixed": "E"},
        "events": {"E": {"versions": [{"version": i + 1, "schema": s} for i, s in enumerate(versions)]}},
        **extra,
    }


def test_object_where_an_array_of_pii_records_is_expected(spec_factory: SpecFactory) -> None:
    root = spec_factory({"catalog.yaml": with_topic("c", json_topic(["x/c.json"])), "x/c.json": CONTACTS})
    engine = Engine.from_spec_dir(str(root))
    outcome = check(engine, "c", {"id": "a", "contacts": {"kind": "mobile", "phone": "+zq31600000001"}})
    assert_hidden(outcome, "c", "zq31600000001")
    assert outcome.sample() == {"id": "a", "contacts": REDACTED}
    nested = check(engine, "c", {"id": "a", "contacts": [[{"phone": "+zq31600000002"}]]})
    assert_hidden(nested, "c", "zq31600000002")
    assert nested.sample() == {"id": "a", "contacts": [REDACTED]}


# -- 2. property names under an x-pii object -------------------------------------------------

PERSON_SCHEMAS = {
    "closed": {
        "type": "object",
        "x-pii": True,
        "properties": {"name": {"type": "string"}},
        "additionalProperties": False,
    },
    "typed": {"type": "object", "x-pii": True, "additionalProperties": {"type": "string"}},
    "names": {"type": "object", "x-pii": True, "propertyNames": {"pattern": "^[a-z]+$"}},
    "open": {"type": "object", "x-pii": True, "properties": {"name": {"type": "string"}}},
}


@pytest.mark.parametrize("variant", sorted(PERSON_SCHEMAS))
def test_property_names_under_an_x_pii_object_never_appear(spec_factory: SpecFactory, variant: str) -> None:
    schema = {"$schema": DRAFT, "type": "object", "properties": {"person": PERSON_SCHEMAS[variant]}}
    root = spec_factory({"catalog.yaml": with_topic("p", json_topic(["x/p.json"])), "x/p.json": schema})
    engine = Engine.from_spec_dir(str(root))
    fingerprints: set[str] = set()
    for name in ("someone@example.com", "zq.other@example.com"):
        outcome = check(engine, "p", {"person": {name: 1}})
        assert_hidden(outcome, "p", name, name.split("@")[0])
        events = outcome.drift_events(d.Source("p", 0, 0), "json")
        # propertyNames failures are reported at the object itself, everything else below it
        expected = "/person" if variant == "names" else "/person/[REDACTED]"
        assert {(e.path, e.rule_path) for e in events} == {(expected, expected)}
        fingerprints.update(e.fingerprint for e in events)
    assert len(fingerprints) == 1  # the masked rule_path groups every name under one fingerprint


# -- 4. derived values ------------------------------------------------------------------------

BIRTH_AVSC = {
    "type": "record",
    "name": "Person",
    "namespace": "x",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "born", "type": {"type": "int", "logicalType": "date"}, "x-pii": True},
        {"name": "seen", "type": {"type": "long", "logicalType": "timestamp-millis"}, "x-pii": True},
    ],
}
BIRTH_RAW = {
    "type": "record",
    "name": "Person",
    "namespace": "x",
    "fields": [{"name": "id", "type": "string"}, {"name": "born", "type": "int"}, {"name": "seen", "type": "long"}],
}


@pytest.mark.parametrize(("days", "millis"), [(3_000_000, 0), (-1_000_000, 0), (0, 10**15), (0, -(10**15))])
def test_out_of_range_avro_dates_put_nothing_derived_into_detail(
    spec_factory: SpecFactory, days: int, millis: int
) -> None:
    topic = {"format": "avro", **json_topic(["x/p.avsc"])}
    root = spec_factory({"catalog.yaml": with_topic("born", topic), "x/p.avsc": BIRTH_AVSC})
    engine = Engine.from_spec_dir(str(root))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(BIRTH_RAW), {"id": "p1", "born": days, "seen": millis})
    outcome = check(engine, "born", buffer.getvalue())
    [violation] = outcome.violations
    assert violation.kind == d.UNDECODABLE
    text = outputs(outcome, "born").decode()
    # fastavro says "year 10183 is out of range" or "ordinal must be >= 1": derived from the value
    for derived in ("10183", "year", "ordinal", "0x"):
        assert derived not in text
    assert violation.detail.startswith("not decodable as Avro: ")


# -- 5. x-pii in any version counts for every version -----------------------------------------


def _versions(nick_v1: dict[str, Any], nick_v2: dict[str, Any]) -> dict[str, Any]:
    def doc(nick: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {
            "$schema": DRAFT,
            "type": "object",
            "additionalProperties": False,
            "required": required,
            "properties": {"id": {"type": "string"}, "channel": {"type": "string"}, "nick": nick},
        }

    topic = json_topic(["x/v1.json", "x/v2.json"])
    return {
        "catalog.yaml": with_topic("v", topic),
        "x/v1.json": doc(nick_v1, ["id"]),
        "x/v2.json": doc(nick_v2, ["id", "channel"]),
    }


def test_lagging_message_is_sampled_with_the_newest_versions_pii_marks(spec_factory: SpecFactory) -> None:
    engine = Engine.from_spec_dir(str(spec_factory(_versions({"type": "string"}, {"type": "string", "x-pii": True}))))
    outcome = check(engine, "v", {"id": "a", "nick": "zq-nick-1"})  # valid v1, lacks v2's channel
    [violation] = outcome.violations
    assert violation.kind == d.VERSION_LAG
    assert_hidden(outcome, "v", "zq-nick-1")
    assert outcome.sample() == {"id": "a", "nick": REDACTED}


def test_newest_version_sample_honours_an_older_versions_pii_mark(spec_factory: SpecFactory) -> None:
    v2_nick = {"type": "string", "maxLength": 3}
    engine = Engine.from_spec_dir(str(spec_factory(_versions({"type": "string", "x-pii": True}, v2_nick))))
    outcome = check(engine, "v", {"id": "a", "channel": "web", "nick": "zq-nick-2", "extra": 1})
    assert {v.kind for v in outcome.violations} == {d.CONSTRAINT, d.UNDOCUMENTED_FIELD}
    assert_hidden(outcome, "v", "zq-nick-2")  # neither actual.value nor the sample echo it


def test_avro_lag_sample_honours_the_newest_versions_pii_mark(spec_factory: SpecFactory) -> None:
    v1 = {"type": "record", "name": "R", "namespace": "x", "fields": [{"name": "note", "type": "string"}]}
    v2 = copy.deepcopy(v1)
    v2["fields"] = [
        {"name": "note", "type": "string", "x-pii": True},
        {"name": "flag", "type": "boolean"},
    ]
    topic = {"format": "avro", **json_topic(["x/v1.avsc", "x/v2.avsc"])}
    engine = Engine.from_spec_dir(
        str(spec_factory({"catalog.yaml": with_topic("a", topic), "x/v1.avsc": v1, "x/v2.avsc": v2}))
    )
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(v1), {"note": "zq-note-1"})
    outcome = check(engine, "a", buffer.getvalue())
    [violation] = outcome.violations
    assert violation.kind == d.VERSION_LAG
    assert_hidden(outcome, "a", "zq-note-1")
    assert outcome.sample() == {"note": REDACTED}


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.binary(max_size=12),
    middle=st.sampled_from([b'"', b'{"', b"[", b"", b'{"a": ', b"\\u", b"1e"]),
    suffix=st.binary(max_size=12),
)
def test_decode_failure_texts_quote_nothing_of_the_payload(
    example: Engine, prefix: bytes, middle: bytes, suffix: bytes
) -> None:
    data = prefix + middle + b"zqmarker" + suffix
    framed = b"\x00" + (301).to_bytes(4, "big") + data
    for topic, value, headers in (
        ("orders", data, ORDER_V2),
        ("payments", data, [("event-type", b"PaymentAuthorized")]),
        ("payments", data, [("event-type", b"PaymentAuthorized"), ("schema-version", b"1")]),
        ("shipments", framed, None),
    ):
        text = outputs(check(example, topic, value, headers), topic)
        assert b"zqmarker" not in text
        assert b"0x" not in text  # no object addresses, no quoted bytes
