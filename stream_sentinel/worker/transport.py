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

Batches for the validate stage (``Stage``, set by the app as ``app.batch_stage``): messages of
the stage's topics bypass Faust's ``Conductor`` (a lock, an ``Event`` and a queue put per
message), the agent's channel and ``take_events`` re-batching. ``_deliver`` hands what one fetch
brought of those topics to the stage as lists of at most ``Stage.size`` messages, in a task that
outlives a suspended flow, and acknowledges each list as a range (:meth:`Consumer.ack_range`:
what Faust's ``Consumer.ack`` does per message, done per partition with ``extend``/``update``)
once the stage returned, i.e. once its drift events and tallies were handed to the producer.
The messages are tracked in Faust's ``_unacked_messages`` from hand-over to ack, so Faust's own
``wait_empty`` (rebalance, stop) waits for a batch in flight exactly as it waits for a stream's
event; the drain loop awaits the batch before fetching again, so no batch is ever queued behind
it (nothing of a revoked partition waits unprocessed: the next fetch comes after the rebalance,
from the committed offsets). Other topics (tallies, changelogs) keep Faust's path.
``Consumer.ack`` and ``Consumer.track_message`` are copied in spirit by ``ack_range`` and
``_track``; their sources are pinned by sha256 too (``FAUST_ACK_SHA256``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from weakref import WeakSet

from aiokafka import TopicPartition
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode import Service, ServiceT
from mode.utils.futures import notify

SCHEME = "sentinel-kafka"

#: sha256 of faust-streaming's ``Consumer._drain_messages`` source that this module copies; a
#: test compares it with the installed Faust so an upgrade cannot silently diverge from the copy.
FAUST_DRAIN_LOOP_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"

#: sha256 of faust-streaming's ``Consumer.ack`` and ``Consumer.track_message`` sources (joined by a
#: newline), whose bookkeeping ``Consumer.ack_range`` and ``Consumer._track`` do for a whole batch.
FAUST_ACK_SHA256 = "395d3848bdab7b244395ff412d4e962f703a7e44ba554bbc0db6c40b7c4f8732"

#: Give the event loop a turn after this many messages, as Faust's loop does.
YIELD_EVERY = 100


@dataclass(frozen=True, slots=True)
class Stage:
    """Where the consumer hands batches of ``topics``' messages (``app.batch_stage``).

    ``handle`` is awaited with at most ``size`` messages of one fetch, in fetch order; once it
    returns the messages are acknowledged (their offsets may be committed).
    """

    topics: frozenset[str]
    handle: Callable[[list[Message]], Awaitable[None]]
    size: int


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
        #: The batch stage's work on the last fetch; it outlives a delivery cut short by a rebalance.
        self._staged: asyncio.Future[None] | None = None

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
        """Hand prepared messages over in fetch order, advancing read offsets.

        Messages of the batch stage's topics go to the stage (``_stage``); the others to the
        conductor one by one, as Faust's loop hands them.
        """
        stage: Stage | None = getattr(self.app, "batch_stage", None)
        if stage is None:
            await self._deliver_each(batch)
            return
        topics = stage.topics
        own: list[Message] = []
        rest: list[tuple[TP, Message]] = []
        keep, other = own.append, rest.append
        for pair in batch:
            if pair[1].topic in topics:
                keep(pair[1])
            else:
                other(pair)
        staged = None
        if own:
            staged = await self._stage(stage, own)
        if rest:
            await self._deliver_each(rest)
        if staged is not None:
            # Shielded: a rebalance stops waiting here, not the stage; Faust's wait_empty waits for its acks.
            await asyncio.shield(staged)

    async def _stage(self, stage: Stage, messages: list[Message]) -> asyncio.Future[None]:
        """Start the stage on ``messages`` (tracked until acked); returns its future."""
        previous = self._staged
        if previous is not None and not previous.done():
            await asyncio.shield(previous)  # a batch that outlived a suspended delivery goes first
        self._track(messages)
        self._read_offset.update({message.tp: message.offset for message in messages})
        staged = self._staged = asyncio.ensure_future(self._run_stage(stage, messages))
        return staged

    async def _run_stage(self, stage: Stage, messages: list[Message]) -> None:
        size = stage.size
        done = 0
        try:
            while done < len(messages):
                chunk = messages[done : done + size]
                await stage.handle(chunk)
                self.ack_range(chunk)
                done += len(chunk)
        finally:
            if done < len(messages):  # cancelled (stop) or failed: never acked, re-read from the committed offset
                self._unacked().difference_update(messages[done:])
                notify(self._waiting_for_ack)

    def _unacked(self) -> WeakSet[Message]:
        return cast("WeakSet[Message]", self._unacked_messages)  # Faust's is a WeakSet, typed MutableSet

    def _track(self, messages: list[Message]) -> None:
        """``Consumer.track_message`` for a batch: pending ack until :meth:`ack_range` (wait_empty waits)."""
        self._unacked().update(messages)

    def ack_range(self, messages: Sequence[Message]) -> int:
        """Faust's ``Consumer.ack`` for each of ``messages``, a partition at a time; returns how many were new.

        Per message as Faust: marked acked once; on an acking topic, an offset at or past the
        committed one and not acked before joins ``_acked[tp]``/``_acked_index[tp]`` and counts
        in ``_n_acked``; it leaves ``_unacked_messages``; a ``wait_empty`` waiting is woken.
        """
        offsets: dict[TP, list[int]] = {}
        new = 0
        with ack_lock:
            try:
                for message in messages:
                    if not message.acked:
                        message.acked = True
                        tp = message.tp
                        if tp in offsets:
                            offsets[tp].append(message.offset)
                        else:
                            offsets[tp] = [message.offset]
                acks_enabled_for = self.app.topics.acks_enabled_for
                for tp, acked in offsets.items():
                    if not acks_enabled_for(tp.topic):
                        continue
                    committed = self._committed_offset[tp]
                    index = self._acked_index[tp]
                    unique = set(acked)
                    if (
                        len(unique) != len(acked)
                        or not index.isdisjoint(unique)
                        or (committed is not None and min(acked) < committed)
                    ):  # the rare path: Faust's tests one offset at a time
                        fresh = []
                        for offset in acked:
                            if (committed is None or offset >= committed) and offset not in index:
                                index.add(offset)
                                fresh.append(offset)
                        acked = fresh
                    else:
                        index.update(unique)
                    self._acked[tp].extend(acked)
                    new += len(acked)
                self._n_acked += new
                self._unacked().difference_update(messages)
            finally:
                notify(self._waiting_for_ack)
        return new

    async def _deliver_each(self, batch: Sequence[tuple[TP, Message]]) -> None:
        """Hand messages to the conductor in fetch order, advancing read offsets (Faust's path)."""
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

    async def on_stop(self) -> None:
        """Cancel a batch still in the stage (a clean stop waited for it in Faust's wait_empty), then Faust's stop."""
        staged = self._staged
        if staged is not None and not staged.done():
            staged.cancel()
            await asyncio.wait([staged])
        await super().on_stop()

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


__all__ = ["SCHEME", "Consumer", "Stage", "Transport", "consumer_urls", "register"]
