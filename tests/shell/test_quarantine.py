"""The quarantine action without a broker: headers, which records are copied, bounds, at-least-once.

Driven through the same ``Sentinel.handle_batch`` the consumer calls, with a fake producer that
records what the worker hands over (topic, key, value, headers). The integration test
(tests/integration/test_quarantine.py) reads the copies back from a real broker.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from stream_sentinel.config import Settings
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.errors import SpecError
from stream_sentinel.worker import bounds
from stream_sentinel.worker.quarantine import rule_headers, source_headers, worst
from stream_sentinel.worker.run import check_quarantine_topics, quarantine_topics
from stream_sentinel.worker.sentinel import Sentinel

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
NOW = 1_795_000_000.0
QUARANTINE = "orders.quarantine"
HEADERS = [("event-type", b"OrderCreated"), ("schema-version", b"2")]
# Repeated names, a null value and non-text bytes: all must come back exactly as they were.
ODD_HEADERS = [*HEADERS, ("trace", b"\x00\xff\x10"), ("trace", b"second"), ("empty", None)]
VALID = orjson.dumps(
    {
        "order_id": "ord_8q6r88jdtnla",
        "customer": {"id": "cus_zj5j37mpnkon", "email": "a@example.jp", "name": "A", "tier": "silver"},
        "items": [{"sku": "BOO-80014", "name": "Book", "quantity": 3, "unit_price_cents": 4200}],
        "total_cents": 12600,
        "currency": "USD",
        "status": "placed",
        "created_at": "2026-11-20T10:00:00Z",
        "shipping_address": {"street": "350 Fifth Avenue", "city": "New York", "postcode": "10118", "country": "US"},
        "channel": "store",
    }
)
BROKEN = b'{"not": "an order",  "x": [1, 2]}'


class Producer:
    """Stands in for Faust's producer: records (topic, key, value, headers); can fail the first N sends."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, Any, Any, Any]] = []

    async def __call__(self, topic: Any, records: list[bounds.Record]) -> list[asyncio.Future[None]]:
        futures = []
        for record in records:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self.failures:
                self.failures -= 1
                future.set_exception(ConnectionError("broker away"))
            else:
                self.sent.append((topic.get_topic_name(), record[0], record[1], bounds.headers_of(record)))
                future.set_result(None)
            futures.append(future)
        return futures

    def to(self, topic: str) -> list[tuple[Any, Any, Any]]:
        return [(k, v, h) for t, k, v, h in self.sent if t == topic]

    def drift(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for _, v, _ in self.to("sentinel.drift")]


def spec_with_quarantine(tmp_path: Path, setting: str = f"{{topic: {QUARANTINE}}}") -> Path:
    spec = tmp_path / "spec"
    shutil.copytree(SPEC, spec)
    catalog = (spec / "catalog.yaml").read_text()
    catalog = catalog.replace("\n  orders:\n", f"\n  orders:\n    quarantine: {setting}\n", 1)
    (spec / "catalog.yaml").write_text(catalog)
    return spec


def sentinel(tmp_path: Path, producer: Producer, spec: Path | None = None, **settings: Any) -> Sentinel:
    spec = spec if spec is not None else spec_with_quarantine(tmp_path)
    options = {"spec_dir": spec, "data_dir": tmp_path / "data", "web_enabled": False, "alert_mode": "every"}
    s = Sentinel(Settings.load(None, **{**options, **settings}), Engine.from_spec_dir(str(spec)), clock=lambda: NOW)
    s._enqueue = producer  # type: ignore[method-assign,assignment]
    # The quarantine topic, made as the worker makes it but not declared: there is no broker to create it on.
    for name in s.quarantine.names():
        s.quarantine._channels[name] = s.app.topic(name, key_serializer="raw", value_serializer="raw")
    s.settings = s.settings.model_copy(update={"publish_retry_backoff_max": 0.01})
    return s


def message(offset: int, value: bytes | None, headers: Any = HEADERS, topic: str = "orders", key: Any = b"k") -> Any:
    return SimpleNamespace(
        topic=topic, partition=2, offset=offset, timestamp=NOW, key=key, value=value, headers=headers
    )


def named(headers: Any) -> dict[str, bytes]:
    return {name: value for name, value in headers if name.startswith("__rule.")}


# -- headers ---------------------------------------------------------------------------------


def _violation(kind: str, severity: str, rule_path: str = "/x", **extra: Any) -> d.Violation:
    return d.Violation(kind, severity, rule_path, rule_path, "something", "string", **extra)


def test_the_most_severe_violation_names_the_copy_the_first_of_equals() -> None:
    first = _violation("undocumented_field", d.INFO)
    lag = _violation("version_lag", d.WARNING)
    missing = _violation("missing_required", d.BREAKING, "/a")
    constraint = _violation("constraint", d.BREAKING, "/b")
    assert worst([first, lag, missing, constraint], d.INFO) is missing
    assert worst([first, lag], d.WARNING) is lag
    assert worst([first, lag], d.BREAKING) is None  # below the floor: no copy
    assert worst([], d.INFO) is None


def test_rule_headers_say_kind_severity_requirement_drift_id_name_and_source() -> None:
    violation = _violation("missing_required", d.BREAKING, "/customer/email", requirement="REQ-ORD-1")
    headers = rule_headers(violation, "abc123", "orders", 2, 41)
    assert headers == (
        ("__rule.kind", b"missing_required"),
        ("__rule.severity", b"breaking"),
        ("__rule.requirement", b"REQ-ORD-1"),
        ("__rule.drift_id", b"abc123"),
        ("__rule.name", b"/customer/email"),
        ("__rule.source", b"orders/2/41"),
        ("__rule.topic", b"orders"),
    )


def test_a_behavioural_rule_is_named_by_its_id_and_no_requirement_means_no_header() -> None:
    violation = _violation("illegal_transition", d.BREAKING, "rule:order-lifecycle", rule="order-lifecycle")
    headers = dict(rule_headers(violation, "id", "orders", 0, 1))
    assert headers["__rule.name"] == b"order-lifecycle"
    assert "__rule.requirement" not in headers


def test_a_long_rule_path_is_capped_as_in_the_drift_event() -> None:
    violation = _violation("undocumented_field", d.INFO, "/" + "x" * 5000)
    name = dict(rule_headers(violation, "id", "orders", 0, 1))["__rule.name"]
    assert name is not None
    assert len(name) < 400
    assert name.startswith(b"/xxx")


def test_source_headers_keep_order_repeats_and_null_values() -> None:
    assert source_headers(message(0, b"", ODD_HEADERS)) == tuple(ODD_HEADERS)
    assert source_headers(message(0, b"", {"a": b"1"})) == (("a", b"1"),)
    assert source_headers(message(0, b"", None)) == ()


def test_record_size_counts_key_value_and_headers() -> None:
    assert bounds.record_size((b"ab", b"cde")) == 5
    assert bounds.record_size((None, None, (("h", b"12"), ("n", None)))) == 4
    assert bounds.headers_of((b"k", b"v")) is None


# -- the worker's batches ---------------------------------------------------------------------


def test_only_the_drifting_record_is_copied_byte_for_byte_with_rule_headers(tmp_path: Path) -> None:
    producer = Producer()
    s = sentinel(tmp_path, producer)
    unknown_type = [("event-type", b"OrderShipped")]  # unknown_event_type: a warning, below the default floor
    batch = [
        message(0, VALID),
        message(1, BROKEN, ODD_HEADERS, key=b"\x00key\xff"),
        message(2, VALID, unknown_type),
        message(3, BROKEN, topic="customers.profile"),  # drifts, but its topic has no quarantine
    ]
    asyncio.run(s.handle_batch(batch))
    [(key, value, headers)] = producer.to(QUARANTINE)
    assert (key, value) == (b"\x00key\xff", BROKEN)
    assert headers[: len(ODD_HEADERS)] == ODD_HEADERS  # the source's headers first, exactly as read
    rule = named(headers[len(ODD_HEADERS) :])
    assert set(rule) == {
        "__rule.kind",
        "__rule.severity",
        "__rule.requirement",
        "__rule.drift_id",
        "__rule.name",
        "__rule.source",
        "__rule.topic",
    }
    assert rule["__rule.source"] == b"orders/2/1"
    assert rule["__rule.topic"] == b"orders"
    assert rule["__rule.severity"] == b"breaking"
    # The header names the first breaking violation, and its drift id is that drift event's.
    events = [e for e in producer.drift() if e["source"]["offset"] == 1]
    first_breaking = next(e for e in events if e["severity"] == "breaking")
    assert rule["__rule.drift_id"] == first_breaking["drift_id"].encode()
    assert rule["__rule.kind"] == first_breaking["kind"].encode()
    assert rule["__rule.name"] == first_breaking["rule_path"].encode()
    assert rule["__rule.requirement"] == first_breaking["requirement"].encode()
    metrics = s.metrics.render().decode()
    assert 'sentinel_quarantined_total{topic="orders"} 1.0' in metrics


def test_min_severity_warning_copies_warning_drift_too(tmp_path: Path) -> None:
    producer = Producer()
    spec = spec_with_quarantine(tmp_path, f"{{topic: {QUARANTINE}, min_severity: warning}}")
    s = sentinel(tmp_path, producer, spec)
    asyncio.run(s.handle_batch([message(0, VALID, [("event-type", b"OrderShipped")]), message(1, VALID)]))
    [(_, value, headers)] = producer.to(QUARANTINE)
    assert value == VALID
    assert named(headers)["__rule.kind"] == b"unknown_event_type"
    assert named(headers)["__rule.severity"] == b"warning"


def test_first_mode_copies_every_drifting_record_with_the_drift_id_the_core_gives(tmp_path: Path) -> None:
    producer = Producer()
    s = sentinel(tmp_path, producer, alert_mode="first")
    asyncio.run(s.handle_batch([message(offset, BROKEN) for offset in range(3)]))
    assert not producer.drift()  # first mode: alerts come from the windows stage, copies do not wait for them
    copies = producer.to(QUARANTINE)
    assert len(copies) == 3  # one per message, not one per violation or per fingerprint
    checker = s.engine.checker("orders")
    assert checker is not None
    for offset, (_, _, headers) in enumerate(copies):
        events = checker.check(BROKEN, HEADERS).drift_events(d.Source("orders", 2, offset), "json")
        assert named(headers)["__rule.drift_id"] == events[0].drift_id.encode()


def test_a_copy_over_the_record_limit_is_counted_not_written_and_the_drift_still_published(tmp_path: Path) -> None:
    producer = Producer()
    s = sentinel(tmp_path, producer, producer_max_request_size=16 * 1024)  # records up to 4 KiB
    big = orjson.dumps({"not": "an order", "pad": "x" * 5000})
    asyncio.run(s.handle_batch([message(0, big), message(1, BROKEN)]))
    assert [v for _, v, _ in producer.to(QUARANTINE)] == [BROKEN]
    assert {e["source"]["offset"] for e in producer.drift()} == {0, 1}
    metrics = s.metrics.render().decode()
    assert 'sentinel_unwritable_records_total{error="RecordTooLargeError",record="quarantine"} 1.0' in metrics
    assert 'sentinel_quarantined_total{topic="orders"} 1.0' in metrics


def test_a_failed_copy_is_re_sent_and_owed_until_then(tmp_path: Path) -> None:
    producer = Producer()
    s = sentinel(tmp_path, producer)
    sent = producer.__call__
    failed: list[bool] = []

    async def failing_copies(topic: Any, records: list[bounds.Record]) -> list[asyncio.Future[None]]:
        if topic.get_topic_name() == QUARANTINE and not failed:
            failed.append(True)
            producer.failures = 1  # the copy fails inside the client, once
        return await sent(topic, records)

    s._enqueue = failing_copies  # type: ignore[method-assign,assignment]

    owed: list[int] = []

    async def scenario() -> None:
        await s.handle_batch([message(0, BROKEN)])
        owed.append(s.unreported())  # the batch is acked now; the failed copy still holds every commit
        while s.unreported() or not producer.to(QUARANTINE):  # no commit may pass the owed copy
            await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert failed
    assert owed == [1]
    assert [v for _, v, _ in producer.to(QUARANTINE)] == [BROKEN]
    assert s.outstanding().quarantined == 0
    assert s.publishing_ok


def test_copies_not_handed_over_at_stop_are_in_the_shutdown_summary(tmp_path: Path) -> None:
    class Stalling(Producer):
        async def __call__(self, topic: Any, records: list[bounds.Record]) -> list[asyncio.Future[None]]:
            if topic.get_topic_name() == QUARANTINE:
                await asyncio.sleep(3600)  # the producer's buffer is full and the broker away
            return await super().__call__(topic, records)

    s = sentinel(tmp_path, Stalling())

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(s.handle_batch([message(offset, BROKEN) for offset in range(3)]), 0.2)

    asyncio.run(scenario())
    left = s.outstanding()
    assert left.quarantined == 3
    assert "3 quarantine copies unpublished" in left.line()


def test_the_valid_path_and_other_topics_note_nothing_for_quarantine(tmp_path: Path) -> None:
    s = sentinel(tmp_path, Producer())
    result = s.batches.run([message(i, VALID) for i in range(5)], round(NOW * 1000))
    assert result.quarantine == []
    result = s.batches.run([message(0, BROKEN, topic="customers.profile")], round(NOW * 1000))
    assert result.quarantine == []
    plain = sentinel(tmp_path / "plain", Producer(), SPEC)  # the example catalog: no quarantine anywhere
    assert plain.batches.quarantined == frozenset()
    assert plain.batches.run([message(0, BROKEN)], round(NOW * 1000)).quarantine == []


def test_an_internal_error_is_not_quarantined(tmp_path: Path) -> None:
    producer = Producer()
    s = sentinel(tmp_path, producer)
    _, rate, wire = s.checkers["orders"]

    def boom(value: Any, headers: Any) -> Any:
        raise RuntimeError("core bug")

    s.batches.checkers["orders"] = (SimpleNamespace(check=boom), rate, wire)  # type: ignore[assignment]
    asyncio.run(s.handle_batch([message(0, BROKEN)]))
    assert [e["kind"] for e in producer.drift()] == ["internal_error"]
    assert producer.to(QUARANTINE) == []


# -- settings against the catalog ---------------------------------------------------------------


def test_a_quarantine_topic_may_not_be_the_workers_own(tmp_path: Path) -> None:
    engine = Engine.from_spec_dir(str(spec_with_quarantine(tmp_path)))
    assert quarantine_topics(engine) == {QUARANTINE}
    check_quarantine_topics(Settings.load(None, spec_dir=SPEC), engine)
    with pytest.raises(SpecError) as caught:
        check_quarantine_topics(Settings.load(None, spec_dir=SPEC, drift_topic=QUARANTINE), engine)
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("catalog.yaml#/topics/orders/quarantine/topic: 'orders.quarantine' is")
    own = Engine.from_spec_dir(str(spec_with_quarantine(tmp_path / "own", "{topic: s1-tallies}")))
    with pytest.raises(SpecError, match="the worker's own topic"):
        check_quarantine_topics(Settings.load(None, spec_dir=SPEC, app_id="s1"), own)
