"""The replay reader's stopping rules on an event loop, with a scripted consumer.

What a real broker will not do on demand (go silent mid-replay, skip offsets with transaction
markers) is scripted here; the real-broker behaviour is in tests/integration/test_replay.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from stream_sentinel.core.errors import BrokerError
from stream_sentinel.core.ranges import PartitionPlan
from stream_sentinel.replay import kafka

TP = TopicPartition("orders", 0)


class Scripted:
    """Stands in for AIOKafkaConsumer: returns scripted fetches and positions."""

    def __init__(self, fetches: list[list[int]], positions: list[int]) -> None:
        self.fetches, self.positions = fetches, positions
        self.position_now = 0
        self.paused: list[TopicPartition] = []
        self.sought: dict[TopicPartition, int] = {}

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = tps

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought[tp] = offset

    def pause(self, tp: TopicPartition) -> None:
        self.paused.append(tp)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0.01)
        if self.positions:
            self.position_now = self.positions.pop(0)
        if not self.fetches:
            return {}
        return {TP: [SimpleNamespace(offset=o) for o in self.fetches.pop(0)]}

    async def position(self, tp: TopicPartition) -> int:
        return self.position_now


async def offsets(client: Scripted, plan: PartitionPlan, stall: float = 5.0) -> list[int]:
    seen: list[int] = []
    async for batch in kafka.read(client, [plan], stall):
        seen.extend(r.offset for r in batch)
    return seen


def plan(start: int, end: int) -> PartitionPlan:
    return PartitionPlan("orders", 0, 0, 100, start, end)


def test_records_at_or_past_the_end_are_dropped_and_the_partition_paused() -> None:
    client = Scripted([[3, 4, 5], [6, 7, 8, 9]], positions=[6, 10])
    assert asyncio.run(offsets(client, plan(3, 8))) == [3, 4, 5, 6, 7]
    assert client.sought == {TP: 3}
    assert client.paused == [TP]


def test_completion_follows_the_position_past_records_that_never_arrive() -> None:
    # Offsets 5..7 are transaction markers or aborted records: the position moves past them.
    client = Scripted([[3, 4], []], positions=[5, 8])
    assert asyncio.run(offsets(client, plan(3, 8))) == [3, 4]


def test_an_empty_range_reads_nothing() -> None:
    client = Scripted([[1]], positions=[2])
    assert asyncio.run(offsets(client, plan(5, 5))) == []
    assert client.sought == {}


def test_a_broker_that_goes_silent_is_a_broker_error_not_a_hang() -> None:
    client = Scripted([[3]], positions=[4])
    with pytest.raises(BrokerError, match=r"no progress reading orders\[0\] for 0.2 s"):
        asyncio.run(offsets(client, plan(3, 8), stall=0.2))
