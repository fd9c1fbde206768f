"""Reading the drift topic for the health report: a time range, by offsets, with aiokafka only.

The same group-less assign + seek reader as replay (no group joined, nothing committed, exact
end offsets), so a report never disturbs a worker. Records are published after the windows they
describe close (a summary: the window's end plus the grace; a drift event: after its message),
so the range read is the period widened by ``slack_ms`` on both sides; the health model then
keeps what falls in the period by event time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from stream_sentinel import kafkaio
from stream_sentinel.core.ranges import End, Start
from stream_sentinel.replay import kafka
from stream_sentinel.replay.run import Connection


def decode(value: bytes | None) -> Any:
    """A drift-topic record's value as JSON, or None (counted as ignored by the model)."""
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


async def read_drift_topic(
    connection: Connection, topic: str, since_ms: int, until_ms: int, add: Callable[[Any], None], slack_ms: int
) -> int:
    """Hand every record of ``topic`` published in the widened period to ``add``; returns how many.

    Unreachable brokers, a stalled read and a time lookup the record timestamps contradict are
    :class:`BrokerError` (exit 3); a drift topic that does not exist is a usage error (exit 2).
    """
    read = 0
    async with kafkaio.consumer(connection.kwargs, connection.timeout) as client:
        tps = await kafka.partitions(client, [topic], [], connection.timeout)
        start, end = Start("time", max(0, since_ms - slack_ms)), End("time", until_ms + slack_ms)
        plans = await kafka.plan(client, tps, start, end, connection.timeout)
        async for batch in kafka.read(client, plans, connection.stall_timeout):
            for record in batch:
                add(decode(record.value))
            read += len(batch)
    return read
