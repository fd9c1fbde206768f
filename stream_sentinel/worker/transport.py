"""Faust's aiokafka transport with one change: messages are handed to the app a fetch at a time.

Why: faust-streaming's ``Consumer._drain_messages`` delivers every message through
``Service.wait_first(callback(message), suspend_flow.wait())``, which wraps the delivery in four
asyncio tasks plus an ``asyncio.wait``. Measured on this machine that costs ~35 µs per message
(``bench/worker.py`` moved from ~8k msg/s; a plain ``await`` of the same callback costs 0.1 µs):
it was most of Faust's per-event cost, far above what validation costs (~6 µs).

This transport keeps every semantic of that loop (read offsets, gap tracking for acks, commit
every N acks, and giving way when a rebalance suspends the flow), but races ``suspend_flow``
once per fetched batch instead of once per message. When the flow is suspended mid-batch the
rest of the batch is dropped exactly as Faust drops it per message: after the rebalance the
consumer seeks to the committed offsets and fetches those messages again (at-least-once).

The loop is a copy of faust-streaming 0.15.3's (pinned in pyproject.toml) with its inner part
split into :meth:`Consumer._prepare` (read offsets, gaps, commits: outside the race, where
Faust has them) and :meth:`Consumer._deliver` (the callbacks: inside it); it is installed under the URL scheme ``sentinel-kafka://``
for the consumer side only (``broker_consumer``), so Faust's producer is untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from aiokafka import TopicPartition
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode import Service, ServiceT

SCHEME = "sentinel-kafka"

#: sha256 of faust-streaming's ``Consumer._drain_messages`` source that this module copies; a
#: test compares it with the installed Faust so an upgrade cannot silently diverge from the copy.
FAUST_DRAIN_LOOP_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"

#: Give the event loop a turn after this many messages, as Faust's loop does.
YIELD_EVERY = 100


class Consumer(faust_aiokafka.Consumer):
    """aiokafka consumer whose drain loop races the flow switch per batch, not per message.

    It also refuses a commit while the app reports records it owes the broker (at-least-once:
    a message's drift event is acknowledged before its offset is committed), and keeps the
    offsets the broker confirmed as committed (``durable``), for the shutdown summary.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Offsets the broker confirmed as committed: read at assignment, and every commit that succeeded.
        self.durable: dict[TP, int] = {}
        self._refusing = False  # log the refusal once per stretch, not once per commit interval
        #: Offsets ``_commit`` refused that Faust nonetheless marked committed: committed at the next commit.
        self._refused: dict[TP, int] = {}

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets; those offsets are durable.

        A partition without a committed offset is rewound to its beginning (the app reads from
        ``earliest``): aiokafka's ``seek_to_committed`` leaves it where the fetcher got to, and
        records fetched while the flow was stopped (a rebalance mid-fetch) are dropped by Faust,
        so without the rewind they were never handed to the agent. Changelogs are the tables'
        recovery's to position.
        """
        await super().perform_seek()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            fresh = [
                tp
                for tp in self.assignment()
                if self._read_offset.get(tp) is None and not tp.topic.endswith("-changelog")
            ]
            if fresh:
                await self._thread.seek_to_beginning(*(TopicPartition(tp.topic, tp.partition) for tp in fresh))
        self.durable.update({tp: offset for tp, offset in self._committed_offset.items() if offset is not None})
        self._refused.clear()  # Faust's marks are the broker's again

    def _filter_committable_offsets(self, tps: Iterable[TP]) -> dict[TP, int]:
        """Faust's offsets to commit, plus the offsets of partitions whose last commit was refused.

        Faust takes those offsets off its acked lists and marks them committed even when
        ``_commit`` refused them, and then commits a partition only past that mark: without
        this, a refused offset was committed only once a newer message arrived on its
        partition (an idle partition never, not even at the final commit of a clean stop).
        """
        offsets = super()._filter_committable_offsets(tps)
        if self._refused:
            assignment = self.assignment()
            for tp, offset in list(self._refused.items()):
                if tp not in assignment:
                    del self._refused[tp]  # revoked: its new owner reads from the broker's offset
                elif offset > offsets.get(tp, -1):
                    offsets[tp] = offset
        return offsets

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Commit unless the app still owes the broker records (``app.unreported``, after Faust's flush)."""
        unreported: Callable[[], int] | None = getattr(self.app, "unreported", None)
        owed = unreported() if unreported is not None else 0
        if owed:
            if not self._refusing:
                self.log.warning("Not committing: %s records not yet acknowledged by the broker", owed)
                self._refusing = True
            for tp, offset in offsets.items():  # due again at the next commit (_filter_committable_offsets)
                self._refused[tp] = max(offset, self._refused.get(tp, offset))
            return False
        if self._refusing:
            self.log.info("Committing again: every record was acknowledged")
            self._refusing = False
        committed = await super()._commit(offsets)
        if committed:
            self.durable.update(offsets)
            for tp, offset in offsets.items():
                if self._refused.get(tp, offset) <= offset:
                    self._refused.pop(tp, None)
        return committed

    async def _prepare(self, batch: Sequence[tuple[TP, Message]]) -> list[tuple[TP, Message]]:
        """Faust's per-message bookkeeping before delivery, outside the race with a rebalance.

        Drops messages behind the read offset (re-deliveries), records offset gaps on acking
        topics (so commits can pass offsets that will never arrive) and commits when ``commit_every``
        acks are due. These run where Faust runs them, outside ``wait_first``: a rebalance may
        cancel a delivery, never a commit or a gap half-recorded.
        """
        get_read_offset = self._read_offset.__getitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        seen: dict[TP, int | None] = {}
        fresh = []
        for tp, message in batch:
            offset = message.offset
            r_offset = seen[tp] if tp in seen else get_read_offset(tp)
            if r_offset is None or offset >= r_offset:
                gap = offset - (r_offset or 0)
                if gap > 1 and r_offset and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                seen[tp] = offset
                fresh.append((tp, message))
        commit_every = self._commit_every
        if commit_every is not None and self._n_acked >= commit_every:
            self._n_acked = 0
            await self.commit()
        return fresh

    async def _deliver(self, batch: Sequence[tuple[TP, Message]]) -> None:
        """Hand prepared messages to the conductor in fetch order, advancing read offsets."""
        callback = self.callback
        set_read_offset = self._read_offset.__setitem__
        since_yield = 0
        for tp, message in batch:
            since_yield += 1
            if since_yield > YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            await callback(message)
            set_read_offset(tp, message.offset)

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover - Faust's loop, see module doc
        consumer_should_stop = cast("Service", self)._stopped.is_set
        fetcher_should_stop = cast("Service", fetcher)._stopped.is_set
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                batch = [pair async for pair in self.getmany(timeout=1.0)]
                # Sleeping because getmany may return at once in a loop that never yields.
                await self.sleep(0)
                if batch and not self.should_stop:
                    fresh = await self._prepare(batch)
                    if fresh:
                        await self.wait_first(self._deliver(fresh), self.suspend_flow.wait())
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the batch-delivering consumer."""

    Consumer = Consumer


def register() -> None:
    """Make ``sentinel-kafka://`` URLs resolve to this transport (idempotent)."""
    TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")


def consumer_urls(servers: Sequence[str]) -> list[str]:
    """Faust ``broker_consumer`` URLs for bootstrap servers."""
    return [f"{SCHEME}://{server}" for server in servers]


__all__ = ["SCHEME", "Consumer", "Transport", "consumer_urls", "register"]
