"""A second worker joins while the first works through a large backlog: no invalid message goes unreported.

The validate stage takes whole fetches and acks them as ranges (worker/transport.py); a rebalance
in the middle must neither lose a batch in flight (revocation waits for it) nor commit offsets of
messages whose drift events were not written. Duplicates are allowed (at-least-once), losses not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_sentinel.core.check.validate import Engine
from tests.integration.conftest import Harness, Message, order_messages, wait_for

pytestmark = pytest.mark.integration

BACKLOG = 20_000
INVALID_EVERY = 50  # 400 invalid messages spread over the backlog


async def produce_fast(bootstrap: str, topic: str, messages: list[Message]) -> list[tuple[int, int]]:
    """Send every message (key = index) without a round trip each; returns their (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=str(i).encode(), headers=list(headers))
            for i, (value, headers) in enumerate(messages)
        ]
        return [(meta.partition, meta.offset) for meta in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


def backlog(h: Harness) -> tuple[list[Message], list[bool]]:
    """``BACKLOG`` orders, every ``INVALID_EVERY``-th one drifting (which ones: the core says)."""
    checker = Engine.from_spec_dir(str(h.spec)).checker(h.topic)
    assert checker is not None
    capture = order_messages()
    drifting = [bool(checker.check(value, headers).violations) for value, headers in capture]
    valid = [m for m, bad in zip(capture, drifting, strict=True) if not bad]
    invalid = [m for m, bad in zip(capture, drifting, strict=True) if bad]
    assert valid
    assert invalid
    messages = [
        invalid[i // INVALID_EVERY % len(invalid)] if i % INVALID_EVERY == 7 else valid[i % len(valid)]
        for i in range(BACKLOG)
    ]
    return messages, [i % INVALID_EVERY == 7 for i in range(BACKLOG)]


def reported(records: list[dict[str, Any]]) -> set[tuple[int, int]]:
    return {(r["source"]["partition"], r["source"]["offset"]) for r in records if r["type"] == "drift"}


def test_a_worker_joining_mid_backlog_loses_no_invalid_message(harness: Harness) -> None:
    messages, bad = backlog(harness)
    coords = asyncio.run(produce_fast(harness.bootstrap, harness.topic, messages))
    want = {coord for coord, is_bad in zip(coords, bad, strict=True) if is_bad}
    one, port_one = harness.start_worker("a", alert_mode="every", batch_size="2")
    harness.drift(expect=1, settle=0.0)  # the first worker is inside the backlog
    two, port_two = harness.start_worker("b", alert_mode="every", batch_size="2")

    def assigned(port: int) -> int:
        _, body = harness.http(port, "/drift")
        return len(orjson.loads(body)["worker"]["assigned"])

    wait_for(lambda: assigned(port_one) > 0 and assigned(port_two) > 0, timeout=60)
    so_far = reported(harness.drift(expect=1, settle=0.0))
    print(f"reported when the second worker had partitions: {len(so_far & want)} of {len(want)}")
    assert len(so_far & want) < len(want), "the backlog was done before the rebalance: make it larger"
    records = harness.drift(expect=len(want), timeout=180, settle=2.0, until=lambda r: want <= reported(r))
    missing = want - reported(records)
    assert not missing, (len(missing), sorted(missing)[:10], harness.logs())
    drifts = [r for r in records if r["type"] == "drift"]
    print(f"drift events: {len(drifts)} for {len(want)} invalid messages (duplicates: at-least-once)")
    assert one.poll() is None
    assert two.poll() is None
