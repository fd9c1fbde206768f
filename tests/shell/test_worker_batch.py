"""The worker's batch handling without a broker: an event loop, a fake publisher, a fixed clock.

What cannot be provoked through a real broker (the core raising, the publisher failing) is
driven here through the same ``Sentinel.handle_batch`` the agent calls.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from stream_sentinel.config import Settings
from stream_sentinel.core.check.validate import Engine, Outcome
from stream_sentinel.worker.sentinel import Sentinel

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
NOW = 1_795_000_000.0


class Published:
    """Stands in for the producer: records what was sent, can fail the first N attempts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def __call__(self, topic: Any, records: list[tuple[bytes, bytes]]) -> list[asyncio.Future[None]]:
        futures = []
        for key, value in records:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self.failures:
                self.failures -= 1
                future.set_exception(ConnectionError("broker away"))
            else:
                self.sent.append((topic.get_topic_name(), key, value))
                future.set_result(None)
            futures.append(future)
        return futures


def sentinel(tmp_path: Path, publisher: Published, **settings: Any) -> Sentinel:
    options = {"spec_dir": SPEC, "data_dir": tmp_path, "web_enabled": False, "alert_mode": "every", **settings}
    s = Sentinel(Settings.load(None, **options), Engine.from_spec_dir(str(SPEC)), clock=lambda: NOW)
    s._enqueue = publisher  # type: ignore[method-assign,assignment]
    s.settings = s.settings.model_copy(update={"publish_retry_backoff_max": 0.01})
    return s


def event(topic: str, offset: int, value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
    return SimpleNamespace(
        topic=topic, partition=0, offset=offset, timestamp=NOW, key=b"k", value=value, headers=headers
    )


HEADERS = [("event-type", b"OrderCreated"), ("schema-version", b"2")]


def test_an_exception_in_the_core_becomes_internal_error_drift_and_the_batch_goes_on(tmp_path: Path) -> None:
    publisher = Published()
    s = sentinel(tmp_path, publisher)
    checker, rate, wire = s.checkers["orders"] or pytest.fail("orders has a contract")
    real = checker.check

    def flaky(value: bytes | None, headers: Any) -> Outcome:
        if value == b"boom":
            raise RuntimeError("core bug")
        return real(value, headers)

    s.checkers["orders"] = (SimpleNamespace(check=flaky), rate, wire)
    batch = [event("orders", 0, b"boom", HEADERS), event("orders", 1, b'{"not": "an order"}', HEADERS)]
    asyncio.run(s.handle_batch(batch))
    drift = [orjson.loads(v) for t, _, v in publisher.sent if t == "sentinel.drift"]
    by_offset = {d["source"]["offset"]: d for d in drift}
    assert by_offset[0]["kind"] == "internal_error"
    assert by_offset[0]["actual"] == {"type": "error", "value": "RuntimeError"}
    assert by_offset[0]["source"]["key"] == "k"  # like every other drift event (issue 11)
    assert 1 in by_offset  # the next message was still checked
    assert s.metrics.internal_errors._value.get() == 1


def test_an_internal_error_the_core_reports_is_counted_like_one_raised_around_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stream_sentinel.core.check import validate

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("explain bug")

    monkeypatch.setattr(validate, "_json_violations", broken)
    publisher = Published()
    s = sentinel(tmp_path, publisher)
    asyncio.run(s.handle_batch([event("orders", 0, b'{"not": "an order"}', HEADERS)]))
    drift = [orjson.loads(v) for t, _, v in publisher.sent if t == "sentinel.drift"]
    assert [e["kind"] for e in drift] == ["internal_error"]
    assert s.metrics.internal_errors._value.get() == 1


def test_a_failing_publisher_is_retried_and_nothing_is_acknowledged_before_it_succeeds(tmp_path: Path) -> None:
    publisher = Published(failures=3)
    s = sentinel(tmp_path, publisher)
    s.ready = True

    async def two_batches() -> None:
        await s.handle_batch([event("orders", 7, b"{broken", HEADERS)])
        await s.handle_batch([])  # the next batch confirms the previous one's records

    asyncio.run(two_batches())
    # The drift event and the tally fail inside the client; re-publishing the drift event fails once more.
    assert s.metrics.publish_failures._value.get() == 1
    assert any(t.endswith("-tallies") for t, _, _ in publisher.sent)
    assert any(t == "sentinel.drift" for t, _, _ in publisher.sent)
    assert s.publishing_ok


def test_uncovered_topics_are_counted_not_validated(tmp_path: Path) -> None:
    publisher = Published()
    s = sentinel(tmp_path, publisher)
    asyncio.run(s.handle_batch([event("legacy.audit", 0, b"whatever", [])] * 3))
    assert s.uncovered == {"legacy.audit": 3}
    assert not [t for t, _, _ in publisher.sent if t == "sentinel.drift"]
    assert s.drift_view()["coverage"]["uncovered"] == {"legacy.audit": 3}
    # Counted topic-wide in the tally (never validated): its windows give traffic records.
    tallies = [orjson.loads(v) for t, _, v in publisher.sent if t.endswith("-tallies")]
    assert [(r["topic"], r["event_type"], r["messages"], r["drift"]) for r in tallies] == [
        ("legacy.audit", None, 3, {})
    ]


def test_first_mode_counts_every_violation_but_builds_one_candidate_per_fingerprint(tmp_path: Path) -> None:
    publisher = Published()
    s = sentinel(tmp_path, publisher, alert_mode="first")
    batch = [event("orders", i, b"{broken", HEADERS) for i in range(5)]
    asyncio.run(s.handle_batch(batch))
    assert not [t for t, _, _ in publisher.sent if t == "sentinel.drift"]  # alerts come from the windows stage
    [tally] = [orjson.loads(v) for t, k, v in publisher.sent if t.endswith("-tallies") and k == b"orders|"]
    [stats] = tally["drift"].values()
    assert stats["count"] == 5
    assert len(tally["candidates"]) == 1


def test_the_worker_lists_at_most_max_violations_per_message(tmp_path: Path) -> None:
    from stream_sentinel.worker.run import engine_for

    publisher = Published()
    settings = Settings.load(
        None,
        spec_dir=SPEC,
        data_dir=tmp_path,
        web_enabled=False,
        alert_mode="every",
        max_violations_per_message=4,
    )
    s = Sentinel(settings, engine_for(settings))  # build() would also ask a broker to answer
    s._enqueue = publisher  # type: ignore[method-assign,assignment]
    items = [{"sku": "bad", "name": "x", "quantity": 0, "unit_price_cents": 1}] * 20
    order = {"order_id": "ord_abcdefabcdef", "items": items}
    asyncio.run(s.handle_batch([event("orders", 0, orjson.dumps(order), HEADERS)]))
    drift = [orjson.loads(v) for t, _, v in publisher.sent if t == "sentinel.drift"]
    assert len(drift) == 5
    assert drift[-1]["kind"] == "overflow"


@pytest.mark.parametrize("mode", ["every", "first"])
@pytest.mark.parametrize("fails", ["check", "assess", "events"])
def test_a_message_the_core_fails_on_is_counted_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, fails: str
) -> None:
    # The rate's denominator must not lose (or double) the message whatever step raised: the
    # check (no event type: counted topic-wide, like its internal_error), the assessment, or
    # building its drift events (after the message was counted).
    s = sentinel(tmp_path, Published(), alert_mode=mode)
    batches = s.batches
    if fails == "check":
        _, rate, wire = s.checkers["orders"] or pytest.fail("orders has a contract")
        bad = SimpleNamespace(check=_raise)
        batches.checkers["orders"] = (bad, rate, wire)
    elif fails == "assess":
        monkeypatch.setattr(
            batches,
            "assessor",
            SimpleNamespace(policy=batches.assessor.policy, assess=_raise, failure=batches.assessor.failure),
        )
    else:
        from stream_sentinel.core.check import drift

        real = drift.build_drift_events

        def build(violations: Any, *args: Any, **kwargs: Any) -> Any:
            if violations[0].kind != "internal_error":
                raise RuntimeError("redaction bug")
            return real(violations, *args, **kwargs)

        monkeypatch.setattr(drift, "build_drift_events", build)
    result = batches.run([event("orders", 0, b'{"not": "an order"}', HEADERS)], round(NOW * 1000))
    records = {(r["topic"], r["event_type"]): r for _, r in result.tally.records()}
    assert records[("orders", None)]["messages"] == 1
    if fails != "check":
        assert records[("orders", "OrderCreated")]["messages"] == 1
    else:
        assert ("orders", "OrderCreated") not in records
    kinds = {kind for (_, _, kind, _) in result.drift_kinds}
    assert "internal_error" in kinds


def _raise(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("core bug")


PROBE = [*HEADERS, ("sentinel-probe", b"probe-run-1")]


@pytest.mark.parametrize("mode", ["every", "first"])
def test_a_canary_is_published_as_probe_drift_and_counted_apart(tmp_path: Path, mode: str) -> None:
    publisher = Published()
    s = sentinel(tmp_path, publisher, alert_mode=mode)
    batch = [
        event("orders", 0, b'{"order_id": "o1"}', PROBE),  # a drifting canary
        event("orders", 1, b'{"order_id": "o2"}', HEADERS),  # a live drifting message
    ]
    asyncio.run(s.handle_batch(batch))
    drift = [orjson.loads(v) for t, _, v in publisher.sent if t == "sentinel.drift"]
    canary = [d for d in drift if d["source"]["offset"] == 0]
    assert canary  # published in every mode: the proof the pipeline works
    assert {(d["origin"], d["run_id"]) for d in canary} == {("probe", "probe-run-1")}
    assert all(d["origin"] == "live" for d in drift if d["source"]["offset"] == 1)
    tallies = [orjson.loads(v) for t, _, v in publisher.sent if t.endswith("-tallies")]
    assert {(r["event_type"], r["messages"]) for r in tallies} == {("OrderCreated", 1), (None, 1)}  # live only
    assert all(f["first"][1] == 1 for r in tallies for f in r["drift"].values())  # the canary is in no tally
    assert s.metrics.probe_messages.labels("orders", "drift")._value.get() == 1
    assert s.metrics.messages.labels("orders", "true")._value.get() == 1  # the canary is not a message
