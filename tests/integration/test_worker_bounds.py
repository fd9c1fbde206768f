"""Issue #11 2.1/2.2 on a real broker: an oversized record, an event-type storm."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.integration.conftest import Harness, Message, order_messages, wait_for
from tests.integration.test_worker import drift_ids, expected_drift

pytestmark = pytest.mark.integration

HEADERS = (("event-type", b"OrderCreated"), ("schema-version", b"2"))


def huge_field_name_message() -> Message:
    valid = next(
        value for value, headers in order_messages() if value and dict(headers).get("event-type") == b"OrderCreated"
    )
    payload = orjson.loads(valid)
    payload["x" * 250_000] = 1  # a 250 KB undocumented field name
    return orjson.dumps(payload), HEADERS


def committed(h: Harness) -> dict[int, int]:
    async def fetch() -> dict[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=h.bootstrap, group_id=h.app_id, enable_auto_commit=False)
        await consumer.start()
        try:
            out = {}
            for partition in range(4):
                offset = await consumer.committed(TopicPartition(h.topic, partition))
                if offset is not None:
                    out[partition] = offset
            return out
        finally:
            await consumer.stop()

    return asyncio.run(fetch())


def metric(h: Harness, port: int, pattern: str) -> float:
    _, body = h.http(port, "/metrics")
    found = re.search(rf"^{pattern} ([0-9.e+]+)$", body.decode(), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("mode", ["every", "first"])
def test_an_oversized_record_does_not_stall_the_worker_and_loses_no_drift(harness: Harness, mode: str) -> None:
    _, port = harness.start_worker(alert_mode=mode)
    before = order_messages()
    coords = harness.produce(before)
    want_before = set().union(*expected_drift(harness, before, coords).values())
    records = harness.drift(expect=1, until=lambda r: want_before <= drift_ids(r) if mode == "every" else bool(r))
    counted_before = len(drift_ids(records))

    after = [huge_field_name_message(), *order_messages()]
    coords_after = harness.produce(after)
    expected = expected_drift(harness, before + after, coords + coords_after)
    [huge_id] = expected[coords_after[0]]

    def reported(r: list[dict[str, Any]]) -> bool:
        ids = drift_ids(r)
        if mode == "every":
            return set().union(*expected.values()) <= ids
        return huge_id in ids

    records = harness.drift(expect=counted_before + 1, timeout=90, until=reported)
    ids = drift_ids(records)
    assert huge_id in ids, harness.logs()
    if mode == "every":  # every message's drift, before and after the oversized one: none lost
        assert ids == set().union(*expected.values())
    [huge] = [r for r in records if r.get("drift_id") == huge_id]
    assert huge["kind"] == "undocumented_field"
    assert len(huge["path"]) < 300  # the core caps the echoed name (the edge would shrink it anyway)
    assert all(len(orjson.dumps(r)) < 64 * 1024 for r in records)
    print(f"[{mode}] drift events before the oversized record: {counted_before}, after: {len(ids)}")

    # Offsets of everything produced get committed; /ready tells the truth.
    ends: dict[int, int] = {}
    for partition, offset in coords + coords_after:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    wait_for(lambda: committed(harness) == ends, timeout=60)
    status, body = harness.http(port, "/ready")
    assert (status, orjson.loads(body)["publishing"]) == (200, True)
    assert "MessageSizeTooLarge" not in harness.logs()


async def produce_at(bootstrap: str, topic: str, messages: list[Message], timestamp_ms: int) -> None:
    """Send messages all stamped with one event time, so they land in one window whatever the clock does."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for i, (value, headers) in enumerate(messages):
            await producer.send_and_wait(
                topic, value, key=str(i).encode(), headers=list(headers), timestamp_ms=timestamp_ms
            )
    finally:
        await producer.stop()


def test_an_event_type_storm_is_folded_past_the_cap_and_the_state_stays_under_the_record_limit(
    harness: Harness,
) -> None:
    # Small caps so a few hundred messages hit every bound: 5 unknown event types per topic, 50
    # fingerprints per window, and a 25 KB record limit that the ~other key's state (13 windows of
    # 51 fingerprints) outgrows, so it must be trimmed or Faust's changelog producer crashes.
    process, port = harness.start_worker(
        alert_mode="first", max_event_types_per_topic="5", max_fingerprints="50", producer_max_request_size="100000"
    )
    valid = order_messages()[0][0]
    storm: list[Message] = [(valid, (("event-type", f"Storm{i}".encode()),)) for i in range(300)]
    asyncio.run(produce_at(harness.bootstrap, harness.topic, storm, int(time.time() * 1000)))

    def hits(bound: str) -> float:
        return metric(harness, port, rf'sentinel_bound_hits_total\{{bound="{bound}"\}}')

    wait_for(lambda: hits("event_types") == 295, timeout=60)
    wait_for(lambda: hits("fingerprints") > 0 and hits("state_trimmed") > 0, timeout=60)

    def keys() -> set[str]:
        view = orjson.loads(harness.http(port, "/drift")[1])
        return set(view["windows"].get(harness.topic, {}))

    def settled() -> set[str] | None:
        # Tallies of different keys reach the window stage through different partitions, so
        # ~other may show before every own key has: wait for both, then check there are no more.
        now = keys()
        return now if "~other" in now and len(now - {"", "~other"}) >= 5 else None

    shown = wait_for(settled, timeout=60)
    assert len(shown - {"", "~other"}) == 5
    # The first unknown event types each get their alert (5 own keys, 50 fingerprints of ~other
    # plus the overflow's first); the rest are counted, and the worker is alive and ready.
    records = harness.drift(expect=56, timeout=60)
    unknown = {r["event_type"] for r in records if r["type"] == "drift" and r["kind"] == "unknown_event_type"}
    assert len(unknown) >= 56
    assert process.poll() is None, harness.logs()
    assert harness.http(port, "/ready")[0] == 200
    assert "MessageSizeTooLarge" not in harness.logs()
