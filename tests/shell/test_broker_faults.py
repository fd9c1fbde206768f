"""The worker's fault handling with an event loop but no broker (issue #11, 2.3 and 2.5).

The broker probe against fake clients (answering, failing, hanging), and at-least-once at
the commit: the consumer refuses to commit while drift records are unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import faust.transport.consumer
import pytest
from aiokafka.errors import KafkaConnectionError
from faust.types import TP

from stream_sentinel.worker import transport
from stream_sentinel.worker.health import PUBLISHING_FAILING, BrokerProbe
from stream_sentinel.worker.logs import RepeatFilter
from tests.shell.test_worker_batch import HEADERS, Published, event, sentinel


class Client:
    """A stand-in for the producer's AIOKafkaClient: answers, fails or never answers."""

    def __init__(self, mode: str = "answer") -> None:
        self.mode = mode
        self.requests = 0

    def get_random_node(self) -> int:
        return 1

    async def send(self, node: int, request: Any) -> object:
        self.requests += 1
        if self.mode == "fail":
            raise ConnectionError("node 1 not ready")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        assert node == 1
        assert request.API_KEY == 3  # Metadata
        return object()


def test_a_probe_answered_refreshes_the_broker_and_a_failure_or_silence_does_not() -> None:
    client = Client()
    probe = BrokerProbe(interval=0.01, timeout=0.05, get_client=lambda: client)

    async def probes() -> list[tuple[bool, str]]:
        out = [(await probe.probe(), probe.last_error)]
        client.mode = "fail"
        out.append((await probe.probe(), probe.last_error))
        client.mode = "hang"
        out.append((await probe.probe(), probe.last_error))
        return out

    assert asyncio.run(probes()) == [
        (True, ""),
        (False, "node 1 not ready"),
        (False, "no answer within 0.05 s"),
    ]


def test_the_probe_loop_reports_a_silent_broker_and_its_return_without_piling_up_requests() -> None:
    client = Client("hang")
    flips: list[bool] = []
    probe = BrokerProbe(interval=0.02, timeout=0.1, get_client=lambda: client, on_change=flips.append)

    async def scenario() -> None:
        task = asyncio.ensure_future(probe.run())
        while not flips:
            await asyncio.sleep(0.01)
        assert client.requests == 1  # one probe waits for the frozen broker; none piled up behind it
        client.mode = "answer"
        while len(flips) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert flips == [False, True]


def test_no_commit_while_drift_records_are_unacknowledged_then_the_same_offset_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed: list[dict[TP, int]] = []

    async def thread_commit(self: Any, offsets: dict[TP, int]) -> bool:
        committed.append(dict(offsets))
        return True

    async def flush() -> None:
        return None

    monkeypatch.setattr(faust.transport.consumer.ThreadDelegateConsumer, "_commit", thread_commit)
    publisher = Published(failures=2)  # the drift event and the tally fail inside the client
    s = sentinel(tmp_path, publisher)
    consumer = s.app.consumer
    assert isinstance(consumer, transport.Consumer)
    tp = TP("orders", 0)
    monkeypatch.setattr(consumer, "assignment", lambda: {tp})
    monkeypatch.setattr(s.app.producer, "flush", flush)

    async def scenario() -> tuple[int, bool, int, bool]:
        await s.handle_batch([event("orders", 7, b"{broken", HEADERS)])
        consumer._acked[tp] = [7]  # the batch was acked: offset 8 is due
        consumer._acked_index[tp] = {7}
        owed = s.unreported()
        refused = await consumer.force_commit()  # through Faust's bookkeeping, not around it
        await s.handle_batch([])  # re-publishes what failed, with retries, before going on
        # Nothing new arrived on the partition: the refused offset itself must be committed now.
        return owed, refused, s.unreported(), await consumer.force_commit()

    owed, first, settled, second = asyncio.run(scenario())
    assert (owed, first) == (2, False)
    assert (settled, second) == (0, True)
    assert committed == [{tp: 8}]
    assert consumer.durable == {tp: 8}


def test_records_still_retried_when_the_worker_stops_are_counted_as_unpublished(tmp_path: Path) -> None:
    publisher = Published(failures=10**9)  # the broker never comes back
    s = sentinel(tmp_path, publisher)
    s.handled[("orders", 0)] = 6  # what the summary counts against the durable offsets

    async def scenario() -> None:
        await s.handle_batch([event("orders", 7, b"{broken", HEADERS)])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(s.handle_batch([]), 0.2)  # the stop cancels the retries

    asyncio.run(scenario())
    left = s.outstanding()
    assert (left.drift, left.tallies) == (1, 1)
    assert (left.messages, left.partitions) == (8, 1)  # offsets 0..7 of orders/0: nothing was ever committed
    assert s.unreported() == 2


def test_a_kafka_client_exception_is_one_line_without_its_traceback_from_any_logger() -> None:
    try:
        raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")
    except KafkaConnectionError:
        crash = logging.LogRecord(
            "stream_sentinel.worker.shutdown", logging.ERROR, __file__, 1, "Error: %r", ("x",), sys.exc_info()
        )
    assert RepeatFilter().filter(crash)
    assert crash.exc_info is None
    assert crash.getMessage() == "Error: 'x': KafkaConnectionError: Unable to bootstrap from [('127.0.0.1', 1)]"


def test_a_publish_cancelled_in_flight_is_judged_by_its_delivery_not_counted_blindly(tmp_path: Path) -> None:
    held: list[asyncio.Future[None]] = []

    async def slow_producer(topic: Any, records: list[tuple[bytes, bytes]]) -> list[asyncio.Future[None]]:
        futures = [asyncio.get_running_loop().create_future() for _ in records]
        held.extend(futures)
        return futures

    s = sentinel(tmp_path, Published())
    s._enqueue = slow_producer  # type: ignore[method-assign,assignment]

    async def scenario() -> list[tuple[int, int]]:
        seen = []
        with pytest.raises(TimeoutError):  # the stop cancels the windows stage mid-publish
            await asyncio.wait_for(s._publish([(b"fp", b"{}"), (b"fp", b"{}")], "summary"), 0.1)
        seen.append((s.outstanding().drift, s.unreported()))  # in the producer's hands: not failed
        held[0].set_result(None)  # Faust's flush at stop delivers one ...
        held[1].set_exception(ConnectionError("broker away"))  # ... and the other fails
        seen.append((s.outstanding().drift, s.unreported()))
        return seen

    assert asyncio.run(scenario()) == [(2, 0), (1, 1)]
    assert not held[0].cancelled()  # the cancelled wait left the deliveries alone


def test_a_failed_delivery_of_the_last_batch_is_re_sent_while_the_source_is_quiet(tmp_path: Path) -> None:
    publisher = Published(failures=2)  # the drift event and the tally fail inside the client; re-sent fine
    s = sentinel(tmp_path, publisher)
    s.ready = True
    verdicts: list[tuple[bool, tuple[str, ...]]] = []
    set_ready = s._set_ready

    def recording() -> None:
        verdict = s.readiness()
        verdicts.append((verdict.ok, verdict.reasons))
        set_ready()

    s._set_ready = recording  # type: ignore[method-assign]

    async def scenario() -> None:
        await s.handle_batch([event("orders", 7, b"{broken", HEADERS)])
        # No batch follows: the failed records are re-sent anyway, and then commits may go on.
        while s.unreported() or not s.publishing_ok or not publisher.sent:
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert (False, (PUBLISHING_FAILING,)) in verdicts  # /ready said 503 while they were owed
    assert verdicts[-1] == (True, ())
    assert sorted(t for t, _, _ in publisher.sent) == ["sentinel.drift", f"{s.settings.app_id}-tallies"]
    assert s.outstanding().drift == s.outstanding().tallies == 0


def test_records_not_yet_handed_over_when_the_worker_stops_are_counted_as_unpublished(tmp_path: Path) -> None:
    class Stalling(Published):
        """Takes one record, then blocks: the producer's buffer is full and the broker away."""

        async def __call__(self, topic: Any, records: list[tuple[bytes, bytes]]) -> list[asyncio.Future[None]]:
            if self.sent:
                await asyncio.sleep(3600)
            return await super().__call__(topic, records)

    s = sentinel(tmp_path, Stalling())

    async def scenario() -> None:
        batch = [event("orders", offset, b"{broken", HEADERS) for offset in range(5)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(s.handle_batch(batch), 0.2)  # the stop cancels the hand-over

    asyncio.run(scenario())
    left = s.outstanding()
    assert (left.drift, left.tallies) == (4, 1)  # one drift event landed; the other four and the tally did not
    # Not owed for commits: their batch is not acked (take_events acks it when the next is taken).
    assert s.unreported() == 0
