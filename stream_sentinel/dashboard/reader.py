"""Follow the drift topic: a group-less aiokafka consumer from ``now - lookback`` on, forever.

No consumer group (nothing joined, nothing committed, no rebalance of anyone's group): every
worker and every ``stream-sentinel dashboard`` reads the whole topic. The reader never stops on
a broker failure: it says so (:attr:`DriftReader.state`, shown on the page), waits and starts
again from ``now - lookback``; the buffer keeps what it had. It never creates the drift topic: it
waits until the worker has (a metadata request for *all* topics names none, so creates none).

Time lookups are not verified (replay does): a broker that answers offset 0 for any time (the
embedded Tansu) makes the reader read from the start, and the buffer skips what is older than
the lookback. That costs reading time, never a missed record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from stream_sentinel.dashboard.buffer import RecordBuffer
from stream_sentinel.kafkaio import bounded, consumer, describe

log = logging.getLogger("stream_sentinel.dashboard")

STARTING: Final = "starting"
WAITING: Final = "waiting"  # the drift topic does not exist yet
FOLLOWING: Final = "following"
FAILING: Final = "failing"
#: Seconds between two looks for a drift topic that does not exist yet, and before a retry after a failure.
RETRY: Final = 5.0
#: Seconds between two checks of the drift topic's partition count (a new partition: start over).
RECHECK: Final = 60.0
#: The reader counts as behind when records were waiting for it for this many seconds without a catch-up.
BEHIND_AFTER: Final = 30.0
MAX_RECORDS_PER_FETCH: Final = 5_000


class DriftReader:
    """Feeds every record of ``topic`` from ``now - lookback`` on into ``buffer``, until cancelled."""

    def __init__(
        self,
        kwargs: dict[str, Any],
        topic: str,
        buffer: RecordBuffer,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kwargs, self.topic, self.buffer, self.timeout, self.clock = kwargs, topic, buffer, timeout, clock
        self.state = STARTING
        self.detail = ""
        self.since: float | None = None  # when the current state began (clock)
        self.lag: int | None = None  # records on the broker not read yet, at the last fetch
        self.caught_up_at: float | None = None
        self.records = 0
        #: Next offset to read per partition: a fresh start resumes there (nothing read twice).
        self._positions: dict[int, int] = {}

    def _set(self, state: str, detail: str = "") -> None:
        if state != self.state:
            self.since = self.clock()
            level = logging.WARNING if state in (FAILING, WAITING) else logging.INFO
            log.log(level, "event=dashboard_reader state=%s topic=%s detail=%r", state, self.topic, detail)
        self.state, self.detail = state, detail

    @property
    def behind(self) -> bool:
        """Records have been waiting for longer than :data:`BEHIND_AFTER` seconds."""
        if self.state != FOLLOWING or not self.lag:
            return False
        reference = self.caught_up_at if self.caught_up_at is not None else self.since
        return reference is not None and self.clock() - reference > BEHIND_AFTER

    async def run(self) -> None:
        """Follow the topic until cancelled; failures are shown, waited out and retried."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: shown on the page, then a fresh start
                self._set(FAILING, describe(exc))
            await asyncio.sleep(RETRY)

    async def _follow(self) -> None:
        async with consumer(self.kwargs, self.timeout) as client:
            tps = await self._partitions(client)
            while not tps:
                self._set(WAITING, f"the drift topic {self.topic} does not exist yet")
                await asyncio.sleep(RETRY)
                tps = await self._partitions(client)
            client.assign(tps)
            await self._seek(client, tps)
            self._set(FOLLOWING)
            checked = self.clock()
            while True:
                try:
                    await self._fetch(client, tps)
                except OffsetOutOfRangeError:
                    self._positions.clear()  # retention deleted what was next: start over from the lookback
                    raise
                if self.clock() - checked >= RECHECK:
                    checked = self.clock()
                    if len(await self._partitions(client)) != len(tps):
                        return  # partitions were added: assign them all (the rest resume where they were)

    async def _partitions(self, client: AIOKafkaConsumer) -> list[TopicPartition]:
        existing = await bounded(client.topics(), self.timeout, "read the cluster's topics")
        if self.topic not in existing:
            return []
        return [TopicPartition(self.topic, p) for p in sorted(client.partitions_for_topic(self.topic) or ())]

    async def _seek(self, client: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        """Each partition where the last run stopped, else at its first record of the lookback (or its end)."""
        fresh = [tp for tp in tps if tp.partition not in self._positions]
        for tp in tps:
            if tp.partition in self._positions:
                client.seek(tp, self._positions[tp.partition])
        since = round(self.clock() * 1000) - self.buffer.lookback_ms
        found = {}
        if fresh:
            found = await bounded(
                client.offsets_for_times(dict.fromkeys(fresh, since)), self.timeout, "look up offsets"
            )
        late = [tp for tp in fresh if found.get(tp) is None]
        for tp in fresh:
            hit = found.get(tp)
            if hit is not None:
                client.seek(tp, hit.offset)
        if late:
            await bounded(client.seek_to_end(*late), self.timeout, "seek to the end of the drift topic")

    async def _fetch(self, client: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        batches = await client.getmany(*tps, timeout_ms=1000, max_records=MAX_RECORDS_PER_FETCH)
        now_ms = round(self.clock() * 1000)
        for tp, records in batches.items():
            for record in records:
                self.buffer.add(record.timestamp, record.value, now_ms)
            if records:
                self._positions[tp.partition] = records[-1].offset + 1
            self.records += len(records)
        lag = 0
        for tp in tps:
            highwater = client.highwater(tp)
            if highwater is not None:
                lag += max(0, highwater - await client.position(tp))
        self.lag = lag
        if not lag:
            self.caught_up_at = self.clock()

    def notice(self) -> str | None:
        """What the page must say about its reader, if anything (failing, waiting, behind)."""
        if self.state == FAILING:
            return f"The drift-topic reader is failing ({self.detail}); the page shows what was read before. Retrying."
        if self.state == WAITING:
            return f"Waiting for the drift topic {self.topic}: it does not exist yet (a worker creates it)."
        if self.state == STARTING:
            return f"Connecting to the drift topic {self.topic}."
        if self.behind:
            return (
                f"The drift-topic reader is {self.lag:,} records behind: the latest drift may be missing from this "
                "page."
            )
        return None
