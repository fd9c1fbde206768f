"""The quarantine action on a real broker: exactly the drifting record, byte for byte, with ``__rule.*`` headers."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.conftest import Harness, read_raw, unique, wait_for

pytestmark = pytest.mark.integration

HEADERS = [("event-type", b"OrderCreated"), ("schema-version", b"2")]
VALID = orjson.dumps(
    {
        "order_id": "ord_8q6r88jdtnla",
        "customer": {"id": "cus_zj5j37mpnkon", "email": "a@example.jp", "name": "A", "tier": "silver"},
        "items": [{"sku": "BOO-80014", "name": "Book", "quantity": 3, "unit_price_cents": 4200}],
        "total_cents": 12600,
        "currency": "USD",
        "status": "placed",
        "created_at": "2026-11-20T10:00:00Z",
        "shipping_address": {"street": "350 Fifth Avenue", "city": "New York", "postcode": "10118", "country": "US"},
        "channel": "store",
    }
)
# Drifts (missing required fields, an undocumented one); its headers repeat a name, carry raw bytes and a null.
DRIFTING = b'{"order_id": "ord_8q6r88jdtnla", "stray": [1, 2]}'
DRIFTING_HEADERS: list[tuple[str, bytes | None]] = [
    *HEADERS,
    ("trace", b"\x00\xff\x10"),
    ("trace", b"second"),
    ("empty", None),
]


def with_quarantine(harness: Harness, target: str) -> None:
    catalog = harness.spec / "catalog.yaml"
    # The example's rules name the example's topic names, which this copy renamed: not needed here.
    text = catalog.read_text().split("\nrules:", 1)[0]
    marker = f"\n  {harness.topic}:\n"
    assert marker in text
    catalog.write_text(text.replace(marker, f"{marker}    quarantine: {{topic: {target}}}\n", 1))


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def test_exactly_the_drifting_record_is_quarantined_byte_for_byte_with_rule_headers(harness: Harness) -> None:
    target = unique("orders-quarantine")
    with_quarantine(harness, target)
    _, port = harness.start_worker(alert_mode="every")
    asyncio.run(
        produce(
            harness.bootstrap,
            harness.topic,
            [(b"valid-key", VALID, HEADERS), (b"\x00bad-key\xff", DRIFTING, DRIFTING_HEADERS)],
        )
    )
    drift = [r for r in harness.drift(expect=1) if r["type"] == "drift"]
    [copy] = asyncio.run(read_raw(harness.bootstrap, target, expect=1))
    assert copy.key == b"\x00bad-key\xff"
    assert copy.value == DRIFTING
    headers = list(copy.headers)
    assert headers[: len(DRIFTING_HEADERS)] == DRIFTING_HEADERS, harness.logs()
    rule = dict(headers[len(DRIFTING_HEADERS) :])
    assert set(rule) == {
        "__rule.kind",
        "__rule.severity",
        "__rule.requirement",
        "__rule.drift_id",
        "__rule.name",
        "__rule.source",
        "__rule.topic",
    }
    assert rule["__rule.severity"] == b"breaking"
    assert rule["__rule.topic"] == harness.topic.encode()
    topic, partition, offset = rule["__rule.source"].decode().rsplit("/", 2)
    assert topic == harness.topic
    assert int(partition) >= 0
    assert int(offset) >= 0
    # Only the drifting message drifted, and the copy names its most severe violation's drift event.
    assert {(r["source"]["partition"], r["source"]["offset"]) for r in drift} == {(int(partition), int(offset))}
    # The drift topic is keyed by fingerprint, so its read order is not the violations' order:
    # find the drift event the header names (the shell tests pin which violation it is).
    by_id = {r["drift_id"].encode(): r for r in drift}
    named = by_id[rule["__rule.drift_id"]]
    assert named["severity"] == "breaking"
    assert rule["__rule.kind"] == named["kind"].encode()
    assert rule["__rule.name"] == named["rule_path"].encode()
    assert rule["__rule.requirement"] == named["requirement"].encode()

    def counted() -> bool:
        status, body = harness.http(port, "/metrics")
        return status == 200 and f'sentinel_quarantined_total{{topic="{harness.topic}"}} 1.0'.encode() in body

    wait_for(counted, timeout=30)
