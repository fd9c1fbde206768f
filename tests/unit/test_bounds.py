"""The worker's edge bounds (worker/bounds.py): record sizes, text caps, event-type folding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.worker import bounds

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
HEADERS = [("event-type", b"OrderCreated"), ("schema-version", b"2")]
T0 = 1_795_000_000_000
LIMIT = bounds.record_limit(1_000_000)
HUGE = "x" * 250_000


def order(**extra: Any) -> bytes:
    line = (SPEC.parents[1] / "replay" / "captures" / "orders-mixed.jsonl").read_bytes().splitlines()[0]
    payload = orjson.loads(orjson.loads(line)["payload"])
    return orjson.dumps({**payload, **extra})


def huge_name_events() -> list[d.DriftEvent]:
    """Drift events of an order carrying a 250 KB undocumented field name, its texts uncapped.

    The core caps echoed names itself (``drift.cap_text``); the worker's edge must hold even if
    a future kind or a core defect lets a long text through, so the cap is undone here.
    """
    checker = Engine.from_spec_dir(str(SPEC)).checker("orders")
    assert checker is not None
    outcome = checker.check(order(**{HUGE: 1}), HEADERS)
    source = d.Source("orders", 0, 7, T0, "k")
    events = outcome.drift_events(source, "json", observed_at=T0, min_severity="info", raw_prefix=0)
    path = "/" + HUGE
    return [
        replace(e, path=path, rule_path=path, message=f"field {path} undocumented", sample={HUGE: 1, "big": HUGE})
        for e in events
    ]


def conforms(event: dict[str, Any]) -> bool:
    """Whether a record meets the drift event's own contract (spec/events/sentinel)."""
    schema = orjson.loads((SPEC / "sentinel" / "drift-event.v1.schema.json").read_bytes())
    return not list(jsonschema.Draft202012Validator(schema).iter_errors(event))


def test_the_record_limit_is_well_under_the_request_size() -> None:
    assert bounds.record_limit(1_000_000) == 250_000
    assert bounds.record_limit(1_048_576) < 1_048_576 // 2


def test_cap_keeps_short_texts_and_cuts_long_ones_saying_how_much() -> None:
    assert bounds.cap("/short") == "/short"
    cut = bounds.cap("/" + HUGE)
    assert cut.startswith("/xxx")
    assert len(cut) < bounds.TEXT_CAP + 40
    assert cut.endswith(f"[{250_001 - bounds.TEXT_CAP} more chars]")


def test_a_drift_event_under_the_limit_is_written_unchanged() -> None:
    event = huge_name_events()[0].to_dict()
    event.update(path="/small", rule_path="/small", message="m", suggested_fix="f", sample={"a": 1})
    data, shrunk = bounds.fit_drift(event, LIMIT)
    assert not shrunk
    assert data == orjson.dumps(event)


def test_an_oversized_drift_event_is_shrunk_under_the_limit_keeping_its_identity() -> None:
    [event] = huge_name_events()
    whole = event.to_dict()
    assert len(orjson.dumps(whole)) > 1_000_000  # what stalled the worker: over max_request_size
    data, shrunk = bounds.fit_drift(whole, LIMIT)
    assert shrunk
    assert len(data) <= LIMIT
    fitted = orjson.loads(data)
    assert fitted["sample"] is None
    for name in ("drift_id", "fingerprint", "kind", "severity", "source", "schema", "event_type", "type"):
        assert fitted[name] == whole[name]
    assert fitted["path"].startswith("/xxx")  # still a pointer, cut
    assert "record shrunk" in fitted["detail"]
    assert set(fitted) == set(whole)  # the drift-event contract's fields, no others
    assert conforms(fitted)


def test_a_stand_in_names_the_drift_event_it_replaces_and_meets_the_contract() -> None:
    [event] = huge_name_events()
    stub = bounds.stub_for(event.to_json(), RuntimeError("MESSAGE_SIZE_TOO_LARGE"), T0)
    assert stub is not None
    assert len(stub) < 4096
    stand_in = orjson.loads(stub)
    assert stand_in["kind"] == "internal_error"
    assert event.drift_id in stand_in["detail"]
    assert stand_in["source"] == orjson.loads(event.to_json())["source"]
    assert stand_in["drift_id"] != event.drift_id
    assert conforms(stand_in)
    assert bounds.stub_for(b'{"type": "summary"}', RuntimeError("x"), T0) is None  # summaries are dropped


@pytest.mark.parametrize("limit", [4_000, 20_000, LIMIT])
def test_shrinking_reaches_any_limit_the_settings_allow(limit: int) -> None:
    [event] = huge_name_events()
    data, _ = bounds.fit_drift(event.to_dict(), limit)
    assert len(data) <= limit
    assert conforms(orjson.loads(data))


def tally_with(fingerprints: int, rule_path: str = "/f", *, candidates: bool = True) -> dict[str, Any]:
    tally = w.Tally()
    tally.messages("orders", "OrderCreated", T0, count=fingerprints)
    [event] = huge_name_events()
    for i in range(fingerprints):
        violation = d.Violation(d.CONSTRAINT, d.BREAKING, f"{rule_path}{i}", f"{rule_path}{i}", "x", "string")
        fp = d.fingerprint("orders", "OrderCreated", d.CONSTRAINT, violation.rule_path)
        tally.violation("orders", "OrderCreated", fp, violation, 0, i, T0)
        if candidates:
            tally.candidate(replace(event, fingerprint=fp), T0)
    [(_, record), _topic_wide] = tally.records()
    return record


def test_tally_texts_are_capped_and_candidates_shrunk() -> None:
    record = tally_with(2, "/" + HUGE)
    shrunk = bounds.bound_tally(record, LIMIT)
    assert shrunk == 2
    for stats in record["drift"].values():
        assert len(stats["rule_path"]) < bounds.TEXT_CAP + 40
    for candidate in record["candidates"].values():
        assert len(orjson.dumps(candidate)) <= LIMIT // 2


def test_a_small_tally_record_is_one_record() -> None:
    record = tally_with(3, candidates=False)
    assert bounds.split_tally(record, LIMIT) == [orjson.dumps(record)]


def test_a_large_tally_record_is_split_into_parts_that_add_up_to_it() -> None:
    record = tally_with(40)
    bounds.bound_tally(record, 20_000)
    parts = [orjson.loads(part) for part in bounds.split_tally(record, 20_000)]
    assert len(parts) > 1
    assert all(len(orjson.dumps(part)) <= 20_000 for part in parts)
    assert sum(part["messages"] for part in parts) == record["messages"]
    assert {fp for part in parts for fp in part["drift"]} == set(record["drift"])
    for part in parts:  # a fingerprint's alert travels with its counts
        assert set(part["candidates"]) <= set(part["drift"])
    # The windows stage sees the same thing from the parts as from the whole.
    spec = w.WindowSpec(tumbling_ms=60_000, hopping_ms=300_000, step_ms=60_000, grace_ms=5_000)
    whole_state = w.new_state("orders|OrderCreated")
    whole = w.advance(whole_state, orjson.loads(orjson.dumps(record)), spec, T0)
    split_state = w.new_state("orders|OrderCreated")
    first: list[dict[str, Any]] = []
    for part in parts:
        result = w.advance(split_state, part, spec, T0)
        first.extend(result.first)
    assert split_state == whole_state
    assert sorted(e["fingerprint"] for e in first) == sorted(e["fingerprint"] for e in whole.first)


def test_event_types_past_the_cap_fold_into_other_per_topic() -> None:
    cap = bounds.EventTypeCap({"orders": ["OrderCreated"]}, limit=2)
    assert [cap.key("orders", f"T{i}") for i in range(4)] == ["T0", "T1", "~other", "~other"]
    assert cap.key("orders", "T1") == "T1"  # admitted ones keep their key
    assert cap.key("orders", "OrderCreated") == "OrderCreated"  # the catalog's never fold
    assert cap.key("orders", None) is None
    assert cap.key("payments", "T9") == "T9"  # per topic


def test_fold_merges_over_the_cap_tally_records_and_counts_their_messages() -> None:
    tally = w.Tally()
    for i in range(10):
        tally.messages("orders", f"New{i}", T0, count=2)
        violation = d.Violation(d.UNKNOWN_EVENT_TYPE, d.WARNING, "", "", "one of OrderCreated", "string")
        tally.violation("orders", f"New{i}", f"fp{i}", violation, 0, i, T0)
    cap = bounds.EventTypeCap({"orders": ["OrderCreated"]}, limit=3)
    records, folded = cap.fold(record for _, record in tally.records())
    keys = [w.window_key(r["topic"], r["event_type"]) for r in records]
    assert keys == ["orders|New0", "orders|", "orders|New1", "orders|New2", "orders|~other"]
    other = records[-1]
    assert folded == other["messages"] == 14
    assert set(other["drift"]) == {f"fp{i}" for i in range(3, 10)}
    topic_wide = records[1]
    assert topic_wide["messages"] == 20  # the topic's total is untouched


def test_windows_count_at_most_max_fingerprints_and_report_the_overflow() -> None:
    spec = w.WindowSpec(tumbling_ms=60_000, hopping_ms=300_000, step_ms=60_000, grace_ms=5_000, max_fingerprints=3)
    record = tally_with(5, candidates=False)
    result = w.advance(w.new_state("orders|OrderCreated"), record, spec, T0)
    [window] = result.state["tumbling"].values()
    assert len(window["drift"]) == 4  # three fingerprints and the overflow
    assert window["drift"][w.OVERFLOW]["count"] == 2
    assert result.overflowed == 2


def test_a_key_state_over_the_record_limit_folds_hopping_fingerprints_first() -> None:
    spec = w.WindowSpec(tumbling_ms=60_000, hopping_ms=720_000, step_ms=60_000, grace_ms=5_000)  # 12 hops
    state = w.new_state("orders|OrderCreated")
    w.advance(state, tally_with(500, "/a/rather/long/rule/path/field", candidates=False), spec, T0)
    whole = len(orjson.dumps(state))
    limit = 250_000
    assert whole > limit  # 13 windows x 500 fingerprints: what crashed Faust's changelog producer
    totals = {k: sum(s["count"] for s in win["drift"].values()) for k, win in state["hopping"].items()}
    [tumbling] = state["tumbling"].values()
    tumbling_before = orjson.dumps(tumbling)
    folded = bounds.trim_state(state, limit)
    assert folded > 0
    assert len(orjson.dumps(state)) <= limit
    assert len(orjson.dumps(state["hopping"])) <= limit // 4  # each write stays small under a storm
    assert orjson.dumps(tumbling) == tumbling_before  # alerts and summaries come from tumbling windows
    for key, window in state["hopping"].items():
        assert sum(s["count"] for s in window["drift"].values()) == totals[key]  # folded, not lost
        assert window["drift"][w.OVERFLOW]["kind"] == w.OVERFLOW


def test_a_small_key_state_is_left_alone() -> None:
    spec = w.WindowSpec(tumbling_ms=60_000, hopping_ms=720_000, step_ms=60_000, grace_ms=5_000)
    state = w.new_state("orders|OrderCreated")
    w.advance(state, tally_with(20, candidates=False), spec, T0)
    before = orjson.dumps(state)
    assert bounds.trim_state(state, 250_000) == 0
    assert orjson.dumps(state) == before


def budget_record(fps: range, ts: int = T0) -> dict[str, Any]:
    tally = w.Tally()
    violation = d.Violation(d.UNKNOWN_EVENT_TYPE, d.WARNING, "", "", "one of OrderCreated", "string")
    for i in fps:
        tally.violation("orders", "~other", f"fp{i}", violation, 0, i, ts)
    [(_, record)] = tally.records()
    record["candidates"] = {fp: {"fingerprint": fp} for fp in record["drift"]}
    return record


def test_past_a_full_window_new_fingerprints_travel_folded_without_candidates() -> None:
    budget = bounds.FingerprintBudget(cap=3, tumbling_ms=60_000)
    first = budget_record(range(6))
    assert budget.apply("orders|~other", first) == 2
    assert list(first["drift"]) == ["fp0", "fp1", "fp2", "fp3", w.OVERFLOW]  # cap + 1: the window's overflow is alerted
    assert first["drift"][w.OVERFLOW]["count"] == 2
    assert set(first["candidates"]) == {"fp0", "fp1", "fp2", "fp3"}
    assert budget.full("orders|~other", T0)
    again = budget_record(range(2, 5))  # known ones still count apart in the same window
    assert budget.apply("orders|~other", again) == 1
    assert set(again["drift"]) == {"fp2", "fp3", w.OVERFLOW}
    later = budget_record(range(10, 12), ts=T0 + 60_000)  # a new window starts empty
    assert budget.apply("orders|~other", later) == 0
    assert not budget.full("orders|~other", T0 + 60_000)


def test_a_folded_record_counts_the_same_in_the_window() -> None:
    spec = w.WindowSpec(tumbling_ms=60_000, hopping_ms=300_000, step_ms=60_000, grace_ms=5_000, max_fingerprints=3)
    plain, folded = w.new_state("orders|~other"), w.new_state("orders|~other")
    w.advance(plain, budget_record(range(6)), spec, T0)
    record = budget_record(range(6))
    bounds.FingerprintBudget(cap=3, tumbling_ms=60_000).apply("orders|~other", record)
    w.advance(folded, record, spec, T0)
    assert plain["tumbling"] == folded["tumbling"]


def test_the_budget_keeps_only_the_newest_windows_per_key() -> None:
    budget = bounds.FingerprintBudget(cap=1, tumbling_ms=1000)
    for second in range(10):
        budget.apply("k", budget_record(range(3), ts=T0 + second * 1000))
    assert len(budget._seen["k"]) == bounds.FingerprintBudget.WINDOWS_KEPT
