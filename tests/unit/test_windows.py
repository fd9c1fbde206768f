"""Sampling, tallies and window state: the worker's bookkeeping, without Faust or a loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.assess import sampled
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
SPEC_W = w.WindowSpec(tumbling_ms=60_000, hopping_ms=3_600_000, step_ms=300_000, grace_ms=5_000)
T0 = 1_795_000_040_000  # a minute boundary (…020_000) plus 20 s


def event(offset: int, fp_path: str = "/total_cents", kind: str = d.TYPE_MISMATCH, partition: int = 0) -> d.DriftEvent:
    violation = d.Violation(kind, d.BREAKING, fp_path, fp_path, "integer", "number", "10.5", requirement="REQ-ORD-3")
    subject = d.Subject("OrderCreated", "orders/order-created.v2.schema.json", 2, None, "json")
    return d.build_drift_events((violation,), subject, d.Source("orders", partition, offset, T0), None)[0]


def tally(*events: d.DriftEvent, messages: int = 10, ts: int = T0, candidate: bool = True) -> dict[str, Any]:
    t = w.Tally()
    t.messages("orders", "OrderCreated", ts, messages)
    for e in events:
        t.drift(e, ts, candidate=candidate)
    [(key, record), (topic_key, topic_record)] = t.records()
    assert (key, topic_key) == ("orders|OrderCreated", "orders|")
    assert topic_record["messages"] == messages
    travelled: dict[str, Any] = orjson.loads(orjson.dumps(record))  # as it travels: through JSON
    return travelled


def test_sampling_is_deterministic_and_close_to_the_rate() -> None:
    picks = [sampled(p, o, 0.1) for p in range(4) for o in range(25_000)]
    assert picks == [sampled(p, o, 0.1) for p in range(4) for o in range(25_000)]
    assert 0.095 < sum(picks) / len(picks) < 0.105
    assert all(sampled(3, o, 1.0) for o in range(100))
    assert not any(sampled(3, o, 0.0) for o in range(100))


def test_hopping_windows_cover_a_timestamp_exactly() -> None:
    starts = list(SPEC_W.hopping(T0))
    assert len(starts) == 12
    assert all(s <= T0 < s + SPEC_W.hopping_ms for s in starts)
    assert SPEC_W.tumbling(T0) == T0 - 20_000
    with pytest.raises(ValueError, match="multiple"):
        w.WindowSpec(tumbling_ms=60_000, hopping_ms=1000_000, step_ms=300_000)


def test_tally_counts_per_fingerprint_and_keeps_the_first_event_as_candidate() -> None:
    record = tally(event(5), event(6), event(7, "/status", d.CONSTRAINT))
    assert record["messages"] == 10
    [first, second] = sorted(record["drift"].values(), key=lambda s: s["rule_path"])
    assert (second["count"], second["first"], second["last"]) == (2, [0, 5], [0, 6])
    assert first["count"] == 1
    assert len(record["candidates"]) == 2
    assert {c["source"]["offset"] for c in record["candidates"].values()} == {5, 7}


def test_first_alert_once_per_fingerprint_per_tumbling_window() -> None:
    state = w.new_state("orders|OrderCreated")
    now = T0
    one = w.advance(state, tally(event(1)), SPEC_W, now)
    assert [e["source"]["offset"] for e in one.first] == [1]
    two = w.advance(state, tally(event(2), ts=T0 + 1000), SPEC_W, now)
    assert two.first == []  # same fingerprint, same window: silent
    three = w.advance(state, tally(event(3), ts=T0 + 60_000), SPEC_W, now)  # next window
    assert [e["source"]["offset"] for e in three.first] == [3]


def test_window_closes_into_summaries_with_real_rates_after_the_grace() -> None:
    state = w.new_state("orders|OrderCreated")
    w.advance(state, tally(event(1), event(2), messages=40), SPEC_W, T0)
    w.advance(state, tally(messages=60, ts=T0 + 30_000), SPEC_W, T0)
    start = SPEC_W.tumbling(T0)
    end = start + 60_000
    not_yet = w.advance(state, tally(messages=1, ts=end + 4_000), SPEC_W, T0)
    assert not_yet.summaries == []  # inside the grace
    closed = w.advance(state, tally(messages=1, ts=end + 5_000), SPEC_W, T0)
    [summary] = closed.summaries
    assert summary["window"] == {"kind": "tumbling", "start": start, "end": end}
    assert (summary["count"], summary["messages"], summary["rate"]) == (2, 100, 0.02)
    assert (summary["first"], summary["last"]) == ({"partition": 0, "offset": 1}, {"partition": 0, "offset": 2})


def test_late_records_are_not_counted_but_their_drift_is_still_alerted() -> None:
    state = w.new_state("orders|OrderCreated")
    w.advance(state, tally(event(1)), SPEC_W, T0)
    w.advance(state, tally(ts=T0 + 200_000), SPEC_W, T0)  # closes the first window
    late = w.advance(state, tally(event(9), messages=7), SPEC_W, T0)
    assert late.late == 7
    assert [e["source"]["offset"] for e in late.first] == [9]


def test_ticks_close_an_idle_keys_windows_but_not_a_busy_ones() -> None:
    state = w.new_state("orders|OrderCreated")
    w.advance(state, tally(event(1)), SPEC_W, now_ms=T0)
    busy = w.advance(state, w.tick(T0 + 600_000), SPEC_W, now_ms=T0 + 1_000)
    assert busy.summaries == []  # the last record arrived 1 s ago: not idle
    idle = w.advance(state, w.tick(T0 + 600_000), SPEC_W, now_ms=T0 + 600_000)
    assert len(idle.summaries) == 1
    assert state["tumbling"] == {}


def test_fingerprints_beyond_the_cap_are_counted_as_overflow() -> None:
    state = w.new_state("orders|OrderCreated")
    events = [event(i, f"/f{i}") for i in range(w.MAX_FINGERPRINTS + 3)]
    w.advance(state, tally(*events), SPEC_W, T0)
    [window] = state["tumbling"].values()
    assert len(window["drift"]) == w.MAX_FINGERPRINTS + 1
    assert window["drift"][w.OVERFLOW]["count"] == 3


def test_summaries_and_the_drift_view_follow_the_contracts() -> None:
    engine = Engine.from_spec_dir(str(SPEC))
    checker = engine.checker("sentinel.drift")
    assert checker is not None
    state = w.new_state("orders|OrderCreated")
    w.advance(state, tally(event(1), *(event(i, f"/f{i}") for i in range(w.MAX_FINGERPRINTS + 1))), SPEC_W, T0)
    view = w.view([("orders|OrderCreated", state)], SPEC_W)
    assert view["orders"]["OrderCreated"]["windows"][0]["messages"] == 10
    closed = w.advance(state, w.tick(T0 + 10**7), SPEC_W, now_ms=T0 + 10**7)
    assert len(closed.summaries) == w.MAX_FINGERPRINTS + 1
    for summary in closed.summaries:
        record = {**summary, "observed_at": T0, "sentinel_version": "0.1.0"}
        outcome = checker.check(orjson.dumps(record), None)
        assert outcome.ok, (record, outcome.violations)


def test_counting_violations_without_events_gives_the_same_record_as_counting_events() -> None:
    events = [event(1), event(2), event(3, "/status", d.CONSTRAINT)]
    by_events, by_violations = w.Tally(), w.Tally()
    for e in events:
        by_events.drift(e, T0, candidate=True)
        fp = d.fingerprint("orders", "OrderCreated", e.kind, e.rule_path)
        if by_violations.violation("orders", "OrderCreated", fp, e, 0, e.source.offset, T0):
            by_violations.candidate(e, T0)
    assert by_events.records() == by_violations.records()


def test_closed_windows_publish_traffic_records_drift_or_not_REQ_SEN_5() -> None:
    """Every closed tumbling window with messages gives one traffic record (drift-traffic.v1)."""
    checker = Engine.from_spec_dir(str(SPEC)).checker("sentinel.drift")
    assert checker is not None
    state = w.new_state("orders|OrderCreated")
    results = [
        w.advance(state, tally(messages=7), SPEC_W, T0),  # a clean window: no summary, one traffic record
        w.advance(state, tally(event(1), messages=3, ts=T0 + 60_000), SPEC_W, T0 + 60_000),
        w.advance(state, w.tick(T0 + 10**7), SPEC_W, now_ms=T0 + 10**7),
    ]
    assert sum(len(r.summaries) for r in results) == 1
    traffic_records = [t for r in results for t in r.traffic]
    start = T0 - T0 % 60_000
    assert [(t["window"]["start"], t["messages"]) for t in traffic_records] == [(start, 7), (start + 60_000, 3)]
    for traffic in traffic_records:
        assert (traffic["type"], traffic["topic"], traffic["event_type"]) == ("traffic", "orders", "OrderCreated")
        record = {**traffic, "observed_at": T0, "sentinel_version": "0.1.0"}
        outcome = checker.check(orjson.dumps(record), None)
        assert outcome.ok, (record, outcome.violations)
        assert outcome.event_type == "traffic"
