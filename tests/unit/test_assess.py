"""The one per-message assessment (core.assess) and the aggregators through their one protocol."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from stream_sentinel.core import assess as a
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.aggregate.comparison import Comparison
from stream_sentinel.core.aggregate.protocol import Aggregator
from stream_sentinel.core.aggregate.report import DriftReport
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine, Outcome

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
ENGINE = Engine.from_spec_dir(str(SPEC))
HEADERS = [("event-type", b"OrderCreated"), ("schema-version", b"2")]
T0 = 1_795_000_040_000
NOT_AN_ORDER = b'{"not": "an order"}'

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


def fold(aggregator: Aggregator[ItemT, ResultT], items: Iterable[ItemT]) -> ResultT:
    """What every shell does with an aggregator, and nothing else: initialize, add, result."""
    aggregator.initialize()
    for item in items:
        aggregator.add(item)
    return aggregator.result()


def checker() -> Any:
    found = ENGINE.checker("orders")
    assert found is not None
    return found


def ref(offset: int, partition: int = 0, key: bytes | str | None = b"k1", observed_at: int | None = None) -> a.Ref:
    return a.Ref("orders", partition, offset, T0, key, "json", observed_at)


def v(kind: str, path: str, severity: str) -> d.Violation:
    return d.Violation(kind, severity, path, path, "integer", "number", requirement="REQ-ORD-3")


MIXED = Outcome(
    "OrderCreated",
    None,
    (
        v(d.TYPE_MISMATCH, "/total_cents", d.BREAKING),
        v(d.UNDOCUMENTED_FIELD, "/x", d.INFO),
        v(d.VERSION_LAG, "", d.WARNING),
    ),
)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts drift-event builds (one per message whose events someone asked for)."""
    calls: list[int] = []
    real = d.build_drift_events

    def counting(*args: Any, **kwargs: Any) -> list[d.DriftEvent]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(d, "build_drift_events", counting)
    return calls


# -- Policy, sampling ---------------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "floor"), [(d.INFO, 0), (d.WARNING, 1), (d.BREAKING, 2)])
def test_the_policy_decides_the_severity_floor_once(severity: str, floor: int) -> None:
    assert a.Policy(min_severity=severity).floor == floor


def test_sampling_skips_only_when_the_policy_samples_and_the_rate_is_below_one() -> None:
    rate = 0.5
    kept = [o for o in range(2000) if a.sampled(3, o, rate)]
    assert 800 < len(kept) < 1200  # deterministic, about half
    sampling = a.Policy(sample=True)
    assert [o for o in range(2000) if not sampling.skips(3, o, rate)] == kept
    assert not any(a.Policy(sample=False).skips(3, o, rate) for o in range(2000))  # check: never samples
    assert not any(sampling.skips(3, o, 1.0) for o in range(2000))


# -- assess -------------------------------------------------------------------------------------


def test_assess_keeps_violations_at_or_above_the_floor_with_their_fingerprints() -> None:
    kept = a.Assessor(a.Policy(min_severity=d.WARNING)).assess(MIXED, ref(1))
    assert kept is not None
    assert [x.kind for x in kept.violations] == [d.TYPE_MISMATCH, d.VERSION_LAG]
    assert kept.fingerprints == tuple(
        d.fingerprint("orders", "OrderCreated", x.kind, x.rule_path) for x in kept.violations
    )
    assert kept.event_type == "OrderCreated"
    assert not kept.internal
    everything = a.Assessor(a.Policy()).assess(MIXED, ref(1))
    assert everything is not None
    assert len(everything.violations) == 3


def test_assess_keeps_nothing_below_the_floor() -> None:
    info_only = Outcome("OrderCreated", None, (v(d.UNDOCUMENTED_FIELD, "/x", d.INFO),))
    assert a.Assessor(a.Policy(min_severity=d.WARNING)).assess(info_only, ref(1)) is None
    assert a.Assessor(a.Policy()).assess(Outcome("OrderCreated", None), ref(1)) is None


def test_drift_events_are_built_only_when_asked_and_once(builds: list[int]) -> None:
    outcome = checker().check(NOT_AN_ORDER, HEADERS)
    drift = a.Assessor(a.Policy()).assess(outcome, ref(4))
    assert drift is not None
    assert builds == []  # assessing counts and fingerprints; no event, sample or message text yet
    first = drift.events()
    assert drift.events() is first
    assert builds == [1]
    assert [e.fingerprint for e in first] == list(drift.fingerprints)


@pytest.mark.parametrize(
    ("policy", "stamped", "origin", "run_id", "observed_at"),
    [
        (a.Policy(origin="check"), None, "check", None, None),
        (a.Policy(origin="replay", run_id="r1", clock=lambda: T0 / 1000), None, "replay", "r1", T0),
        (a.Policy(min_severity=d.BREAKING, raw_prefix=4), T0 + 5, "live", None, T0 + 5),  # the worker: batch time
    ],
)
def test_events_are_those_the_checked_outcome_describes(
    policy: a.Policy, stamped: int | None, origin: str, run_id: str | None, observed_at: int | None
) -> None:
    for value in (NOT_AN_ORDER, b"{broken"):
        outcome = checker().check(value, HEADERS)
        drift = a.Assessor(policy).assess(outcome, ref(7, 2, b"k\xff", observed_at=stamped))
        assert drift is not None
        expected = outcome.drift_events(
            d.Source("orders", 2, 7, T0, b"k\xff".decode("utf-8", "replace")),
            "json",
            origin=origin,
            run_id=run_id,
            observed_at=observed_at,
            min_severity=policy.min_severity,
            raw_prefix=policy.raw_prefix,
        )
        assert [e.to_json() for e in drift.events()] == [e.to_json() for e in expected]


def test_a_failure_of_the_core_is_internal_error_drift_without_the_exception_text() -> None:
    try:
        raise RuntimeError("secret@example.com")
    except RuntimeError as exc:
        drift = a.Assessor(a.Policy(min_severity=d.BREAKING)).failure(ref(9, observed_at=T0), exc)
    assert drift.internal
    assert drift.outcome is None
    assert drift.event_type is None
    [event] = drift.events()
    assert (event.kind, event.severity, event.origin, event.observed_at) == (d.INTERNAL_ERROR, d.BREAKING, "live", T0)
    assert event.fingerprint == drift.fingerprints[0] == d.fingerprint("orders", None, d.INTERNAL_ERROR, "")
    assert event.source == d.Source("orders", 0, 9, T0, "k1")
    assert b"secret" not in event.to_json()


def test_the_fingerprint_memo_is_bounded_in_entries_and_key_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(a, "MAX_MEMO", 3)
    assessor = a.Assessor(a.Policy())
    for i in range(10):
        assert assessor.fingerprint("orders", None, d.CONSTRAINT, f"/f{i}") == d.fingerprint(
            "orders", None, d.CONSTRAINT, f"/f{i}"
        )
    long_path = "/" + "x" * (a.MAX_MEMO_PATH + 1)
    fresh = a.Assessor(a.Policy())
    assert fresh.fingerprint("orders", None, d.CONSTRAINT, long_path) == d.fingerprint(
        "orders", None, d.CONSTRAINT, long_path
    )
    assert len(assessor._memo) == 3
    assert fresh._memo == {}


# -- the shells' shared output ------------------------------------------------------------------


def test_no_contract_jsonl_and_publish_records_have_one_wording_and_shape() -> None:
    assert a.no_contract("x", ["b", "a"], "spec/") == "topic 'x' has no contract in spec/ (known: a, b)"
    assert a.no_contract("x", ["a"]) == "topic 'x' has no contract (known: a)"
    drift = a.Assessor(a.Policy()).assess(checker().check(b"{broken", HEADERS), ref(1))
    assert drift is not None
    [event] = drift.events()
    assert a.publish_record(event) == (event.fingerprint.encode(), event.to_json())
    out = io.StringIO()
    a.write_jsonl(drift.events(), out)
    assert out.getvalue() == event.to_json().decode() + "\n"


# -- the aggregators, through the protocol ------------------------------------------------------


def checked(offsets: Iterable[int], policy: a.Policy | None = None) -> list[a.Checked]:
    """Messages 0..n: every third valid-looking by the floor, the others broken one of two ways."""
    assessor = a.Assessor(policy or a.Policy())
    items: list[a.Checked] = []
    for offset in offsets:
        value = NOT_AN_ORDER if offset % 2 else b"{broken"
        outcome = checker().check(value, HEADERS) if offset % 3 else Outcome("OrderCreated", None)
        drift = assessor.assess(outcome, ref(offset, observed_at=T0)) if outcome.violations else None
        items.append(("orders", outcome, T0 + offset * 1000, drift))  # one second each
    return items


def test_the_report_builds_events_only_while_a_rule_wants_an_example(builds: list[int]) -> None:
    lazy = fold(DriftReport(max_examples=2), checked(range(60)))
    assert len(builds) <= 4  # two messages per way of breaking; the rest only counted
    eager_items = checked(range(60))
    for item in eager_items:
        if item[3] is not None:
            item[3].events()  # as replay --publish / check --format jsonl build every event
    eager = fold(DriftReport(max_examples=2), eager_items)
    assert lazy.to_dict() == eager.to_dict()
    data = lazy.to_dict()
    assert (data["messages"], data["drifting_messages"]) == (60, 40)
    assert data["drift_events"] == 20 + 20 * 10  # {broken: one violation; not an order: ten
    assert all(len(f["examples"]) == 2 for f in data["fingerprints"])
    assert {f["last"]["offset"] for f in data["fingerprints"]} == {58, 59}


def test_the_report_starts_over_on_initialize() -> None:
    report = DriftReport()
    for item in checked(range(6)):
        report.add(item)
    assert fold(report, checked(range(3))).to_dict()["messages"] == 3


@pytest.mark.parametrize("mode", ["first", "summary", "every"])
def test_the_tally_counts_the_same_drift_in_every_alert_mode(mode: str) -> None:
    records = fold(w.Tally(mode), checked(range(30)))
    baseline = fold(w.Tally("every"), checked(range(30)))
    counts = {k: (r["messages"], {fp: s["count"] for fp, s in r["drift"].items()}) for k, r in records}
    assert counts == {k: (r["messages"], {fp: s["count"] for fp, s in r["drift"].items()}) for k, r in baseline}
    candidates = {fp for _, r in records for fp in r["candidates"]}
    if mode == "first":
        assert candidates == {fp for _, r in records for fp in r["drift"]}
    else:
        assert candidates == set()  # every: the worker publishes each event itself; summary: none


def test_the_tally_builds_first_alerts_only_for_new_fingerprints_the_window_can_take(builds: list[int]) -> None:
    asked: list[tuple[str, str | None, int]] = []

    def may_alert(topic: str, event_type: str | None, ts: int) -> bool:
        asked.append((topic, event_type, ts))
        return False

    records = fold(w.Tally("first", may_alert), checked(range(30)))
    assert builds == []
    assert all(not r["candidates"] for _, r in records)
    assert sum(s["count"] for _, r in records for s in r["drift"].values()) == 10 + 10 * 10
    assert len(asked) == 20  # each drifting message has its own second, so its fingerprints are new there
    assert sum(r["messages"] for k, r in records if k == "orders|") == 30


def test_an_internal_error_is_always_a_first_alert_and_counts_no_message() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        failed = a.Assessor(a.Policy()).failure(ref(3, observed_at=T0), exc)
    [(key, record)] = fold(w.Tally("first", lambda *_: False), [("orders", None, T0, failed)])
    assert key == "orders|"
    assert record["messages"] == 0
    assert list(record["candidates"]) == list(failed.fingerprints)
    assert orjson.loads(orjson.dumps(record["candidates"][failed.fingerprints[0]]))["kind"] == d.INTERNAL_ERROR


def test_the_comparison_folds_current_and_candidate_assessments() -> None:
    current, candidate = a.Assessor(a.Policy()), a.Assessor(a.Policy())
    checker_ = checker()
    pairs: list[tuple[a.Checked, a.Checked]] = []
    for offset, (now, then) in enumerate([(b"{broken", NOT_AN_ORDER), (NOT_AN_ORDER, NOT_AN_ORDER)]):
        sides = []
        for assessor, value in ((current, now), (candidate, then)):
            outcome = checker_.check(value, HEADERS)
            sides.append(("orders", outcome, T0, assessor.assess(outcome, ref(offset))))
        pairs.append((sides[0], sides[1]))
    result = fold(Comparison(max_examples=1), pairs)
    data = result.to_dict()
    assert data["messages"] == 2
    assert data["by_kind"]["fixed"] == {d.UNDECODABLE: 1}
    assert data["by_kind"]["same"] == {d.MISSING_REQUIRED: 9, d.UNDOCUMENTED_FIELD: 1}
    assert data["by_kind"]["new"] == {d.MISSING_REQUIRED: 9, d.UNDOCUMENTED_FIELD: 1}
    assert result.breaks_anything_new
    assert fold(result, []).to_dict()["messages"] == 0
