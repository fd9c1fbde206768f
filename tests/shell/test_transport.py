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
