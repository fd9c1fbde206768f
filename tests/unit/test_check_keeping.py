"""Valid messages of event types a rule reads carry their decoded payload; nothing else changes."""

from __future__ import annotations

from pathlib import Path

import orjson

from stream_sentinel.core.check.validate import Engine

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"


def _engine() -> Engine:
    return Engine.from_spec_dir(str(SPEC))


def test_a_valid_message_a_rule_reads_carries_its_payload() -> None:
    engine = _engine()
    checker = engine.checker("orders")
    assert checker is not None
    plain = checker.check
    value = _order_created()
    headers = [("event-type", b"OrderCreated")]
    assert plain(value, headers).ok
    assert plain(value, headers).payload is None  # the plain path builds nothing
    kept = engine.keeping_check("orders", lambda et: et == "OrderCreated")(value, headers)
    assert kept.ok
    assert kept.payload == orjson.loads(value)
    skipped = engine.keeping_check("orders", lambda et: False)(value, headers)
    assert skipped.payload is None


def test_an_invalid_message_is_returned_as_the_plain_check_returns_it() -> None:
    engine = _engine()
    headers = [("event-type", b"OrderCreated")]
    bad = b'{"order_id": 5}'
    kept = engine.keeping_check("orders", lambda et: True)(bad, headers)
    checker = engine.checker("orders")
    assert checker is not None
    assert kept == checker.check(bad, headers)
    assert kept.violations


def _order_created() -> bytes:
    """The first valid OrderCreated of the bundled captures."""
    capture = SPEC.parents[1] / "replay" / "captures" / "orders-mixed.jsonl"
    checker = _engine().checker("orders")
    assert checker is not None
    for line in capture.read_text().splitlines():
        record = orjson.loads(line)
        if "OrderCreated" in record.get("headers", []):
            value = record["payload"].encode()
            if checker.check(value, [("event-type", b"OrderCreated")]).ok:
                return bytes(value)
    raise AssertionError("no valid OrderCreated in the captures")


def test_an_avro_message_is_decoded_with_the_version_it_passed() -> None:
    import base64

    engine = _engine()
    capture = SPEC.parents[1] / "replay" / "captures" / "payments-avro.jsonl"
    record = orjson.loads(capture.read_text().splitlines()[0])
    value = base64.b64decode(record["payload"])
    names = record["headers"]
    headers = [(names[i], names[i + 1].encode()) for i in range(0, len(names), 2)]
    kept = engine.keeping_check("payments", lambda et: True)(value, headers)
    assert kept.ok
    assert isinstance(kept.payload, dict)
    assert kept.payload["order_id"] == record["key"]
