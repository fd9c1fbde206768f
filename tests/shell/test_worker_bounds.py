"""Issue #11 section 2.1/2.2 without a broker: oversized records, never-writable records, /ready, caps.

The publisher fakes behave like Faust over aiokafka: a record over ``max_request_size`` is
refused when handed over (aiokafka raises MessageSizeTooLargeError, Faust wraps it in
ProducerSendError); a broker refusal arrives through the delivery future.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import errors as kafka_errors
from faust.exceptions import ProducerSendError

from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.check import drift as d
from stream_sentinel.worker import bounds
from stream_sentinel.worker.sentinel import Sentinel
from tests.shell.test_worker_batch import HEADERS, event, sentinel

ORDER = (Path(__file__).resolve().parents[2] / "replay" / "captures" / "orders-mixed.jsonl").read_bytes()
MAX_REQUEST = 1_000_000
# The smallest request size the settings allow (a 4 KiB record limit): the core already caps
# names and samples, so only a small limit still meets drift events too big to write whole.
SMALL_REQUEST = 16 * 1024
DEADLINE = 20.0  # generous: the stall this guards against is forever


def order(**extra: Any) -> bytes:
    payload = orjson.loads(orjson.loads(ORDER.splitlines()[0])["payload"])
    return orjson.dumps({**payload, **extra})


# A 250 KB undocumented field name (what stalled the worker) beside 30 long ones: the core caps
# each name, yet every drift event's sample still lists them all, over the 4 KiB record limit.
HUGE_NAME = order(**{"x" * 250_000: 1}, **{f"f{i:02d}" + "y" * 120: 1 for i in range(30)})


class Producer:
    """A fake producer: refuses records over max_request_size like aiokafka, and whatever ``refuse`` says."""

    def __init__(
        self,
        refuse: Callable[[str, bytes], BaseException | None] = lambda _t, _v: None,
        max_request: int = MAX_REQUEST,
    ) -> None:
        self.refuse = refuse
        self.max_request = max_request
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def __call__(self, topic: Any, records: list[tuple[bytes, bytes]]) -> list[asyncio.Future[None]]:
        futures = []
        name = topic.get_topic_name()
        for key, value in records:
            if len(key) + len(value) > self.max_request:
                cause = kafka_errors.MessageSizeTooLargeError(f"The message is {len(value)} bytes")
                raise ProducerSendError(f"Error while sending: {cause!r}") from cause
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            error = self.refuse(name, value)
            if error is not None:
                future.set_exception(error)
            else:
                self.sent.append((name, key, value))
                future.set_result(None)
            futures.append(future)
        return futures

    def drift(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for t, _, v in self.sent if t == "sentinel.drift"]

    def tallies(self) -> list[tuple[bytes, dict[str, Any]]]:
        return [(k, orjson.loads(v)) for t, k, v in self.sent if t.endswith("-tallies")]


def run(s: Sentinel, *batches: list[Any]) -> None:
    async def go() -> None:
        for batch in [*batches, []]:  # the empty batch confirms the previous one's records
            await s.handle_batch(batch)

    asyncio.run(asyncio.wait_for(go(), DEADLINE))


def batch_with_a_huge_field_name() -> list[Any]:
    return [
        event("orders", 0, HUGE_NAME, HEADERS),
        event("orders", 1, b"{broken", HEADERS),
        event("orders", 2, order(total_cents="a string"), HEADERS),
        event("orders", 3, order(), HEADERS),
    ]


def test_an_oversized_drift_event_is_shrunk_and_the_next_messages_are_still_reported(tmp_path: Path) -> None:
    producer = Producer(max_request=SMALL_REQUEST)
    s = sentinel(tmp_path, producer, producer_max_request_size=SMALL_REQUEST)  # type: ignore[arg-type]
    s.ready = True
    run(s, batch_with_a_huge_field_name(), [event("orders", 4, b"{broken again", HEADERS)])
    drift = producer.drift()
    assert {e["source"]["offset"] for e in drift} == {0, 1, 2, 4}
    assert all(len(v) <= s.record_limit for _, _, v in producer.sent)
    huge = [e for e in drift if e["source"]["offset"] == 0]
    assert len(huge) == 31
    assert all(e["kind"] == "undocumented_field" and e["sample"] is None for e in huge)
    assert s.metrics.bound_hits.labels("record_shrunk")._value.get() == 31
    assert s.publishing_ok


def test_first_mode_tallies_with_an_oversized_candidate_fit_too(tmp_path: Path) -> None:
    producer = Producer(max_request=SMALL_REQUEST)
    s = sentinel(tmp_path, producer, alert_mode="first", producer_max_request_size=SMALL_REQUEST)  # type: ignore[arg-type]
    run(s, batch_with_a_huge_field_name())
    tallies = producer.tallies()
    assert all(len(k) + len(orjson.dumps(t)) <= s.record_limit for k, t in tallies)
    parts = [t for k, t in tallies if k == b"orders|OrderCreated"]
    assert len(parts) > 1  # one record would be over the 4 KiB limit: split by fingerprint
    candidates = [c for part in parts for c in part["candidates"].values()]
    # Each undocumented field (the huge one and the 30 long ones, shrunk) and the type mismatch.
    assert len(candidates) == 32
    assert sum(c["sample"] is None for c in candidates) >= 31
    assert all(len(stats["rule_path"]) < bounds.TEXT_CAP + 40 for part in parts for stats in part["drift"].values())


def test_a_drift_event_the_broker_never_accepts_is_replaced_by_a_stand_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(topic: str, value: bytes) -> BaseException | None:
        if topic == "sentinel.drift" and b'"kind":"internal_error"' not in value and b'"offset":1,' in value:
            refused: BaseException = kafka_errors.MessageSizeTooLargeError("MESSAGE_SIZE_TOO_LARGE")
            return refused
        return None

    producer = Producer(refuse)
    s = sentinel(tmp_path, producer)  # type: ignore[arg-type]
    s.ready = True
    with caplog.at_level(logging.ERROR, logger="stream_sentinel.worker"):
        run(s, batch_with_a_huge_field_name(), [event("orders", 1, b"{broken", HEADERS)])
    drift = producer.drift()
    stand_ins = [e for e in drift if e["kind"] == "internal_error"]
    assert len(stand_ins) == 2  # offset 1 twice (two batches): each replaced, none blocking
    assert stand_ins[0]["source"]["offset"] == 1
    assert stand_ins[0]["actual"] == {"type": "error", "value": "MessageSizeTooLargeError"}
    assert "could never be written" in stand_ins[0]["detail"]
    assert {e["source"]["offset"] for e in drift if e["kind"] != "internal_error"} == {0, 2}
    assert s.metrics.unwritable.labels("drift", "MessageSizeTooLargeError")._value.get() == 2
    assert len([r for r in caplog.records if "unwritable_record" in r.getMessage()]) == 1  # logged once
    assert s.publishing_ok  # not an outage


def test_an_unauthorised_drift_topic_drops_records_and_does_not_stall(tmp_path: Path) -> None:
    def refuse(topic: str, _value: bytes) -> BaseException | None:
        if topic == "sentinel.drift":
            refused: BaseException = kafka_errors.TopicAuthorizationFailedError("TOPIC_AUTHORIZATION_FAILED")
            return refused
        return None

    producer = Producer(refuse)
    s = sentinel(tmp_path, producer)  # type: ignore[arg-type]
    run(s, [event("orders", 1, b"{broken", HEADERS)], [event("orders", 2, b"{broken", HEADERS)])
    unwritable = s.metrics.unwritable
    assert unwritable.labels("drift", "TopicAuthorizationFailedError")._value.get() == 2
    assert unwritable.labels("stand_in", "TopicAuthorizationFailedError")._value.get() == 2
    assert producer.tallies()  # the rest of the work went on


def test_ready_stays_false_while_a_publish_fails_even_if_ticks_succeed(tmp_path: Path) -> None:
    broker_back = False

    def refuse(topic: str, _value: bytes) -> BaseException | None:
        return None if broker_back or topic != "sentinel.drift" else ConnectionError("leader away")

    producer = Producer(refuse)
    s = sentinel(tmp_path, producer)  # type: ignore[arg-type]
    s.ready = True
    s.known_keys = {"orders|OrderCreated"}

    async def scenario() -> list[bool]:
        nonlocal broker_back
        publish = asyncio.create_task(s._publish([(b"fp", b'{"type":"drift"}')], "drift"))
        while s.publishing_ok:
            await asyncio.sleep(0.001)
        seen: list[bool] = [s.publishing_ok]
        await s._ticks()  # an unrelated action succeeds meanwhile
        seen.append(s.publishing_ok)
        broker_back = True
        await publish
        seen.append(s.publishing_ok)
        return seen

    assert asyncio.run(asyncio.wait_for(scenario(), DEADLINE)) == [False, False, True]
    assert any(t.endswith("-tallies") for t, _, _ in producer.sent)


def test_an_event_type_storm_folds_past_the_cap_into_one_key(tmp_path: Path) -> None:
    producer = Producer()
    s = sentinel(tmp_path, producer, alert_mode="first", max_event_types_per_topic=5)  # type: ignore[arg-type]
    storm = [event("orders", i, order(), [("event-type", f"Storm{i}".encode())]) for i in range(200)]
    run(s, storm[:100], storm[100:])
    keys = {k.decode() for k, _ in producer.tallies()}
    assert keys == {"orders|", "orders|~other", *(f"orders|Storm{i}" for i in range(5))}
    assert {k for k in s.known_keys if k.startswith("orders|Storm") or k.endswith("~other")} == keys - {"orders|"}
    assert s.metrics.bound_hits.labels("event_types")._value.get() == 195
    other = [t for k, t in producer.tallies() if k == b"orders|~other"]
    assert sum(t["messages"] for t in other) == 195
    assert sum(stats["count"] for t in other for stats in t["drift"].values()) == 195


def test_the_drift_view_shows_at_most_max_drift_view_keys(tmp_path: Path) -> None:
    s = sentinel(tmp_path, Producer(), max_drift_view_keys=3)  # type: ignore[arg-type]
    states = {f"orders|T{i}": w.new_state(f"orders|T{i}") for i in range(10)}
    s.table = states  # type: ignore[assignment]
    view = s.drift_view()
    assert len(view["windows"]["orders"]) == 3
    assert view["keys_left_out"] == 7
    assert s.metrics.bound_hits.labels("drift_view_keys")._value.get() == 7


def test_in_a_storm_no_alert_is_built_once_the_window_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    producer = Producer()
    s = sentinel(tmp_path, producer, alert_mode="first", max_event_types_per_topic=0, max_fingerprints=10)  # type: ignore[arg-type]
    built = 0
    real = d.build_drift_events  # every message's drift events are built by this one call (core.assess)

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal built
        built += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(d, "build_drift_events", counting)
    storm = [event("orders", i, order(), [("event-type", f"Storm{i}".encode())]) for i in range(300)]
    run(s, storm[:100], storm[100:200], storm[200:])
    assert built == 100  # the first batch's; then the ~other window is known to be full
    other = [t for k, t in producer.tallies() if k == b"orders|~other"]
    assert sum(t["messages"] for t in other) == 300
    assert sum(stats["count"] for t in other for stats in t["drift"].values()) == 300  # every one counted
    assert all(len(t["drift"]) <= 12 for t in other)
    assert s.metrics.bound_hits.labels("fingerprints")._value.get() == 289
