"""The batch-delivering consumer (worker/transport.py) against Faust's own bookkeeping.

``Consumer._deliver`` replaces the inner loop of faust-streaming's ``_drain_messages``; these
tests pin the behaviour that loop had (order, read offsets, skipped re-deliveries, ack gaps) on a
real Faust consumer object of the sentinel's app, with the conductor callback recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust.transport.consumer

from stream_sentinel.config import Settings
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.worker import transport
from stream_sentinel.worker.sentinel import Sentinel

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"


def consumer(tmp_path: Path) -> tuple[Any, list[tuple[str, int, int]]]:
    s = Sentinel(
        Settings.load(None, spec_dir=SPEC, data_dir=tmp_path, web_enabled=False),
        Engine.from_spec_dir(str(SPEC)),
    )
    c = s.app.consumer
    assert isinstance(c, transport.Consumer)
    delivered: list[tuple[str, int, int]] = []

    async def callback(message: Any) -> None:
        delivered.append((message.topic, message.partition, message.offset))

    c.callback = callback
    s.app.batch_stage = None  # Faust's path (the conductor callback); the stage's tests set one
    return c, delivered


async def handle(c: Any, batch: list[tuple[Any, Any]]) -> None:
    """What the drain loop does with one fetch, minus the race with a rebalance."""
    await c._deliver(await c._prepare(batch))


def message(topic: str, partition: int, offset: int) -> tuple[Any, Any]:
    tp = faust.types.TP(topic, partition)
    return tp, SimpleNamespace(topic=topic, partition=partition, offset=offset, tp=tp)


def test_the_sentinel_app_consumes_through_the_batch_transport(tmp_path: Path) -> None:
    s = Sentinel(
        Settings.load(None, spec_dir=SPEC, data_dir=tmp_path, web_enabled=False),
        Engine.from_spec_dir(str(SPEC)),
    )
    assert type(s.app.transport) is transport.Transport
    assert str(s.app.conf.broker_consumer[0]).startswith("sentinel-kafka://")
    # The producer side stays Faust's own transport.
    assert str(s.app.conf.broker_producer[0]).startswith("kafka://")


def test_a_batch_is_delivered_in_fetch_order_and_read_offsets_advance(tmp_path: Path) -> None:
    c, delivered = consumer(tmp_path)
    batch = [message("orders", p, o) for o in range(3) for p in (0, 1)]
    asyncio.run(handle(c, batch))
    assert delivered == [("orders", p, o) for o in range(3) for p in (0, 1)]
    assert c._read_offset[faust.types.TP("orders", 0)] == 2
    assert c._read_offset[faust.types.TP("orders", 1)] == 2


def test_messages_behind_the_read_offset_are_not_delivered_twice(tmp_path: Path) -> None:
    c, delivered = consumer(tmp_path)
    asyncio.run(handle(c, [message("orders", 0, o) for o in (5, 6)]))
    asyncio.run(handle(c, [message("orders", 0, o) for o in (4, 6, 7)]))
    assert [o for _, _, o in delivered] == [5, 6, 6, 7]  # 4 is behind; 6 is the read offset itself, as in Faust


def test_an_offset_gap_on_an_acking_topic_is_recorded_for_commits(tmp_path: Path) -> None:
    c, _ = consumer(tmp_path)
    c.app.topics._acking_topics.add("orders")
    asyncio.run(handle(c, [message("orders", 0, o) for o in (1, 2, 6)]))
    gaps = sorted((i.begin, i.end) for i in c._gap[faust.types.TP("orders", 0)])
    # Offsets 3..5 never came (compacted away, or control records), so commits may pass them.
    # Faust records the interval up to and including the arrived offset: [3, 7) in intervaltree terms.
    assert gaps == [(3, 7)]


def test_the_copied_faust_loop_is_the_installed_one() -> None:
    """transport.py copies faust-streaming's drain loop; a Faust upgrade must re-check that copy."""
    source = inspect.getsource(faust.transport.consumer.Consumer._drain_messages)
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == transport.FAUST_DRAIN_LOOP_SHA256, (
        "faust-streaming's Consumer._drain_messages changed: compare it with "
        "stream_sentinel/worker/transport.py, then update FAUST_DRAIN_LOOP_SHA256"
    )


def test_the_table_manager_starts_recovery_without_faust_s_fixed_sleep(tmp_path: Path) -> None:
    from faust.tables.manager import TableManager as FaustTableManager

    from stream_sentinel.worker.tables import TableManager

    s = Sentinel(
        Settings.load(None, spec_dir=SPEC, data_dir=tmp_path, web_enabled=False),
        Engine.from_spec_dir(str(SPEC)),
    )
    assert type(s.app.tables) is TableManager
    # worker/tables.py repeats Faust's on_start minus the sleep: a Faust upgrade must re-check it.
    source = inspect.getsource(FaustTableManager.on_start)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_TABLE_MANAGER_ON_START, (
        "faust's TableManager.on_start changed: compare it with stream_sentinel/worker/tables.py"
    )
    assert "sleep" not in inspect.getsource(TableManager.on_start).split('"""')[-1]


FAUST_TABLE_MANAGER_ON_START = "365dd25fbc0e068499c89e526516c638693a2d143b6ac249f84a60f5267fec9d"


def faust_message(topic: str, partition: int, offset: int) -> Any:
    return faust.types.Message(topic, partition, offset, 0.0, 0, [], b"k", b"v", None)


def test_range_acks_keep_faust_s_own_commit_bookkeeping(tmp_path: Path) -> None:
    """ack_range leaves the consumer exactly as Faust's Consumer.ack per message does."""
    faust_way, _ = consumer(tmp_path / "a")
    range_way, _ = consumer(tmp_path / "b")
    tp0, tp1 = faust.types.TP("orders", 0), faust.types.TP("orders", 1)
    for c in (faust_way, range_way):
        c.app.topics._acking_topics.add("orders")
        c._committed_offset[tp1] = 5  # offsets before it were committed already: not acked again

    def batches() -> list[list[Any]]:
        first = [faust_message("orders", p, o) for o in range(10) for p in (0, 1)]
        again = [faust_message("orders", 0, o) for o in (8, 9, 10, 10, 11)]  # re-deliveries and a duplicate
        other = [faust_message("legacy.audit", 0, o) for o in range(3)]  # not an acking topic
        return [first, again, other]

    for batch in batches():
        faust_way._unacked_messages.update(batch)
        for m in batch:
            faust_way.ack(m)
    for batch in batches():
        range_way._track(batch)
        range_way.ack_range(batch)
    for tp in (tp0, tp1):
        assert range_way._acked[tp] == faust_way._acked[tp]
        assert range_way._acked_index[tp] == faust_way._acked_index[tp]
        assert range_way._new_offset(tp) == faust_way._new_offset(tp)
    assert range_way._n_acked == faust_way._n_acked == 10 + 5 + 2
    assert not range_way._unacked_messages


def staged(tmp_path: Path, size: int = 3) -> tuple[Any, list[tuple[str, int, int]], list[list[int]], asyncio.Event]:
    c, delivered = consumer(tmp_path)
    c.app.topics._acking_topics.add("orders")
    seen: list[list[int]] = []
    go = asyncio.Event()

    async def handle_batch(messages: list[Any]) -> None:
        seen.append([m.offset for m in messages])
        assert all(m in c._unacked_messages for m in messages)  # tracked: Faust's wait_empty waits for them
        await go.wait()

    c.app.batch_stage = transport.Stage(frozenset({"orders"}), handle_batch, size)
    return c, delivered, seen, go


def test_source_messages_go_to_the_stage_in_batches_and_are_acked_as_ranges_after_it(tmp_path: Path) -> None:
    async def run() -> None:
        c, delivered, seen, go = staged(tmp_path)
        batch = [(m.tp, m) for m in [faust_message("orders", 0, o) for o in range(7)]]
        batch.insert(2, (faust.types.TP("other", 0), faust_message("other", 0, 0)))
        delivery = asyncio.ensure_future(c._deliver(await c._prepare(batch)))
        await asyncio.sleep(0.01)
        assert seen == [[0, 1, 2]]
        assert not c._acked[faust.types.TP("orders", 0)]  # nothing acked before the stage returns
        assert delivered == [("other", 0, 0)]  # other topics: the conductor, as before
        go.set()
        await delivery
        assert seen == [[0, 1, 2], [3, 4, 5], [6]]
        assert c._acked[faust.types.TP("orders", 0)] == list(range(7))
        assert c._read_offset[faust.types.TP("orders", 0)] == 6
        assert not c._unacked_messages

    asyncio.run(run())


def test_a_rebalance_stops_the_delivery_not_the_batch_and_wait_empty_waits_for_it(tmp_path: Path) -> None:
    async def run() -> None:
        c, _, seen, go = staged(tmp_path, size=100)
        messages = [faust_message("orders", 0, o) for o in range(5)]
        delivery = asyncio.ensure_future(c._deliver([(m.tp, m) for m in messages]))
        await asyncio.sleep(0.01)
        delivery.cancel()  # what wait_first does to the delivery when suspend_flow wins
        await asyncio.wait([delivery])

        async def commit(*args: Any, **kwargs: Any) -> bool:
            return False  # no broker here; wait_empty commits between waits

        c.commit = commit
        empty = asyncio.ensure_future(c.wait_empty())
        await asyncio.sleep(0.05)
        assert not empty.done()  # the batch in flight still owes its acks
        go.set()
        await asyncio.wait_for(empty, 10)
        assert seen == [[0, 1, 2, 3, 4]]
        assert c._acked[faust.types.TP("orders", 0)] == list(range(5))

    asyncio.run(run())


def test_a_batch_the_stop_cancels_is_never_acked_and_not_waited_for(tmp_path: Path) -> None:
    async def run() -> None:
        c, _, _, _ = staged(tmp_path, size=100)
        messages = [faust_message("orders", 0, o) for o in range(5)]
        delivery = asyncio.ensure_future(c._deliver([(m.tp, m) for m in messages]))
        await asyncio.sleep(0.01)
        assert c._staged is not None
        c._staged.cancel()
        await asyncio.wait([delivery])
        assert not c._acked[faust.types.TP("orders", 0)]  # re-read from the committed offset
        assert not c._unacked_messages  # so wait_empty does not wait for it

    asyncio.run(run())


def test_the_copied_faust_ack_bookkeeping_is_the_installed_one() -> None:
    """ack_range and _track do Consumer.ack's and track_message's bookkeeping; an upgrade must re-check them."""
    faust_consumer = faust.transport.consumer.Consumer
    source = inspect.getsource(faust_consumer.ack) + "\n" + inspect.getsource(faust_consumer.track_message)
    assert hashlib.sha256(source.encode()).hexdigest() == transport.FAUST_ACK_SHA256, (
        "faust-streaming's Consumer.ack or track_message changed: compare them with "
        "stream_sentinel/worker/transport.py (ack_range, _track), then update FAUST_ACK_SHA256"
    )
