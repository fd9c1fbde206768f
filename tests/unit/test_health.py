"""The cluster health model (core/health): statuses, open vs fixed, rates, trend, coverage, rendering.

Records are built as the worker publishes them (drift-event.v1, drift-summary.v1,
drift-traffic.v1); the golden tests run the same model over a recorded week of the drift topic.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.health import model as m
from stream_sentinel.core.health.aggregate import HealthAggregator, TopicContracts, arrow
from stream_sentinel.core.health.render import md, render, render_html, render_markdown, spark_text

MIN = 60_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % MIN  # a window boundary
PERIOD = m.Period(T0, T0 + 60 * MIN, buckets=6, open_windows=3)
CONTRACTS = {
    "orders": TopicContracts("team-orders", {"OrderCreated": (1, 2), "OrderCancelled": (1,)}),
    "inventory": TopicContracts("team-warehouse", {"StockAdjusted": (1, 2)}),
}


def window(minute: int) -> dict[str, Any]:
    return {"kind": "tumbling", "start": T0 + minute * MIN, "end": T0 + (minute + 1) * MIN}


def traffic(
    minute: int, messages: int, topic: str = "orders", event_type: str | None = "OrderCreated"
) -> dict[str, Any]:
    return {"type": "traffic", "topic": topic, "event_type": event_type, "window": window(minute), "messages": messages}


def summary(minute: int, count: int, messages: int, fp: str = "fp1", **over: Any) -> dict[str, Any]:
    return {
        "type": "summary",
        "fingerprint": fp,
        "topic": "orders",
        "event_type": "OrderCreated",
        "kind": "type_mismatch",
        "rule_path": "/total_cents",
        "severity": "breaking",
        "requirement": "REQ-ORD-3",
        "owner": "team-orders",
        "window": window(minute),
        "count": count,
        "messages": messages,
        "rate": count / messages,
        "first": {"partition": 1, "offset": 100 + minute},
        "last": {"partition": 1, "offset": 110 + minute},
        **over,
    }


def drift(minute: int, drift_id: str = "d1", fp: str = "fp1", **over: Any) -> dict[str, Any]:
    return {
        "type": "drift",
        "drift_id": drift_id,
        "fingerprint": fp,
        "kind": "type_mismatch",
        "severity": "breaking",
        "requirement": "REQ-ORD-3",
        "owner": "team-orders",
        "event_type": "OrderCreated",
        "path": "/total_cents",
        "rule_path": "/total_cents",
        "expected": "integer",
        "actual": {"type": "number", "value": "10.5"},
        "message": "producer sends number; contract says integer at /total_cents (REQ-ORD-3)",
        "suggested_fix": "round at the producer",
        "source": {"topic": "orders", "partition": 1, "offset": 7, "timestamp": T0 + minute * MIN + 5000, "key": "k"},
        "schema": {"ref": "orders/order-created.v2.schema.json", "version": 2, "id": None},
        "sample": {"total_cents": 10.5, "email": "[REDACTED]"},
        "origin": "live",
        **over,
    }


def build(*records: Any, period: m.Period = PERIOD, **options: Any) -> m.HealthReport:
    aggregator = HealthAggregator(period, CONTRACTS, generated_at=period.until, **options)
    for record in records:
        aggregator.add(record)
    return aggregator.result()


def topic(report: m.HealthReport, name: str = "orders") -> m.TopicHealth:
    return next(t for t in report.topics if t.topic == name)


# -- statuses --------------------------------------------------------------------------------------


def test_statuses_ok_drifting_uncovered_silent() -> None:
    report = build(
        traffic(1, 10),
        traffic(2, 5, topic="clickstream", event_type=None),
        summary(1, 2, 10),
    )
    statuses = {t.topic: t.status for t in report.topics}
    assert statuses == {"orders": m.DRIFTING, "clickstream": m.UNCOVERED, "inventory": m.SILENT}
    assert [t.topic for t in report.topics] == ["orders", "clickstream", "inventory"]  # worst first
    assert topic(build(traffic(1, 10))).status == m.OK


def test_without_traffic_records_a_quiet_topic_is_unknown_not_silent() -> None:
    report = build(summary(1, 2, 10))
    assert topic(report, "inventory").status == m.UNKNOWN
    assert not report.coverage.traffic_known
    assert report.coverage.unused_event_types == ()  # cannot be told without traffic records
    assert "no traffic records" in render_markdown(report)


def test_open_info_drift_alone_leaves_a_topic_ok() -> None:
    report = build(traffic(1, 10), summary(1, 1, 10, severity="info", kind="undocumented_field"))
    assert topic(report).status == m.OK
    assert topic(report).open_rules[0].severity == "info"
    assert report.exit_code == 0


def test_open_warning_drift_is_drifting_but_exits_0() -> None:
    report = build(traffic(1, 10), summary(1, 1, 10, severity="warning", kind="version_lag"))
    assert topic(report).status == m.DRIFTING
    assert report.exit_code == 0


# -- open vs fixed -------------------------------------------------------------------------------


def test_a_rule_is_fixed_after_open_windows_clean_windows_of_its_event_type() -> None:
    records = [traffic(w, 10) for w in range(1, 5)] + [summary(1, 2, 10)]
    [rule] = topic(build(*records)).rules
    assert (rule.state, rule.clean_windows) == (m.FIXED, 3)
    assert build(*records).exit_code == 0
    [rule] = topic(build(*records[:3], records[-1])).rules
    assert (rule.state, rule.clean_windows) == (m.OPEN, 2)


def test_traffic_of_another_event_type_does_not_fix_a_rule() -> None:
    records = [traffic(w, 10, event_type="OrderCancelled") for w in range(2, 9)]
    [rule] = topic(build(traffic(1, 10), summary(1, 2, 10), *records)).rules
    assert rule.state == m.OPEN


def test_a_rule_seen_again_is_open_again_only_the_stretch_after_counts() -> None:
    records = [traffic(w, 10) for w in range(1, 10)] + [summary(1, 1, 10), summary(8, 1, 10)]
    [rule] = topic(build(*records)).rules
    assert (rule.state, rule.clean_windows, rule.count) == (m.OPEN, 1, 2)
    assert rule.first_seen == T0 + MIN
    assert rule.last_seen == T0 + 8 * MIN


def test_drift_with_no_traffic_after_it_stays_open() -> None:
    [rule] = topic(build(traffic(1, 10), summary(1, 2, 10))).rules
    assert rule.state == m.OPEN
    assert build(traffic(1, 10), summary(1, 2, 10)).exit_code == 1


def test_other_summaries_of_the_event_type_prove_traffic_without_traffic_records() -> None:
    others = [summary(w, 1, 10, fp="fp2", kind="constraint", rule_path="/status") for w in range(2, 6)]
    rules = {r.fingerprint: r for r in topic(build(summary(1, 2, 10), *others)).rules}
    assert rules["fp1"].state == m.FIXED
    assert rules["fp2"].state == m.OPEN


# -- counts and rates ------------------------------------------------------------------------------


def test_rates_now_and_over_the_period() -> None:
    records = [traffic(1, 100), traffic(2, 50), summary(1, 5, 100), summary(2, 10, 50)]
    records += [traffic(1, 100, event_type=None), traffic(2, 50, event_type=None)]
    t = topic(build(*records))
    [rule] = t.rules
    assert (rule.count, rule.messages, rule.rate) == (15, 150, 0.1)
    assert (rule.count_now, rule.rate_now) == (10, 0.2)
    assert (t.messages, t.drift, t.rate, t.messages_now, t.drift_now, t.rate_now) == (150, 15, 0.1, 50, 10, 0.2)
    assert t.first_drift_offsets == {1: 101}


def test_summaries_count_exactly_drift_events_only_where_no_summary_is_out() -> None:
    records = [traffic(1, 10), traffic(2, 10), summary(1, 4, 10)]
    records += [drift(1, "a"), drift(1, "b"), drift(2, "c"), drift(2, "d"), drift(2, "d")]  # "d" redelivered
    report = build(*records)
    [rule] = topic(report).rules
    assert rule.count == 4 + 2
    assert report.records["duplicate"] == 1


def test_replay_published_drift_is_not_counted_twice() -> None:
    report = build(traffic(1, 10), drift(1, "a", origin="replay"))
    assert topic(report).rules == ()
    assert report.records["other_origin"] == 1


def test_the_latest_event_gives_the_sample_and_fix_as_published() -> None:
    report = build(traffic(1, 10), drift(1, "a"), drift(3, "b", suggested_fix="the newer fix"))
    [rule] = topic(report).rules
    assert rule.latest is not None
    assert (rule.latest.drift_id, rule.latest.suggested_fix) == ("b", "the newer fix")
    assert rule.latest.sample == {"total_cents": 10.5, "email": "[REDACTED]"}


def test_records_outside_the_period_or_unreadable_are_counted_not_raised() -> None:
    report = build(summary(-5, 1, 10), traffic(61, 3), None, "text", {"type": "drift"}, {"type": "odd"})
    assert report.topics[0].rules == ()
    assert report.records == {"outside_period": 2, "ignored": 4}


def test_rules_past_the_bound_are_counted_not_listed() -> None:
    report = build(summary(1, 1, 10, fp="a"), summary(1, 1, 10, fp="b"), summary(1, 1, 10, fp="c"), max_rules=2)
    assert len(topic(report).rules) == 2
    assert report.rules_dropped == 1


# -- trend -----------------------------------------------------------------------------------------


def test_trend_buckets_cover_the_period() -> None:
    t = topic(build(traffic(0, 10), traffic(59, 10), summary(59, 5, 10)))
    assert len(t.trend) == 6
    assert [(b.messages, b.drift) for b in t.trend] == [(10, 0), (0, 0), (0, 0), (0, 0), (0, 0), (10, 5)]
    assert t.trend[5].start == T0 + 50 * MIN
    assert t.arrow == m.UP


@pytest.mark.parametrize(
    ("early", "late", "expected"),
    [
        ((100, 10), (100, 20), m.UP),
        ((100, 20), (100, 10), m.DOWN),
        ((100, 10), (100, 11), m.FLAT),
        ((0, 0), (100, 5), m.UP),
        ((100, 5), (0, 0), m.FLAT),  # no traffic later: nothing says where the rate went
        ((2000, 1), (2000, 0), m.FLAT),  # under 0.001 apart: noise
    ],
)
def test_arrow(early: tuple[int, int], late: tuple[int, int], expected: str) -> None:
    trend = [m.Bucket(0, *early), m.Bucket(1, *late)]
    assert arrow(trend) == expected


def test_spark_text_scales_to_the_highest_bucket() -> None:
    assert spark_text([m.Bucket(0, 10, 0), m.Bucket(1, 10, 5), m.Bucket(2, 10, 10)]) == "▁▅█"


# -- coverage and consumers ----------------------------------------------------------------------


def test_coverage_unused_event_types_and_versions_seen_in_drift() -> None:
    report = build(traffic(1, 10), traffic(1, 3, topic="legacy", event_type=None), drift(1))
    coverage = report.coverage
    assert coverage.uncovered_topics == ("legacy",)
    assert coverage.silent_topics == ("inventory",)
    assert [(u.topic, u.event_type, u.versions) for u in coverage.unused_event_types] == [
        ("orders", "OrderCancelled", (1,))
    ]
    assert coverage.versions_in_drift == {"orders": {"OrderCreated": (2,)}}


def test_affected_consumers_are_rendered_when_given() -> None:
    consumers = {"orders": [m.ConsumerImpact("billing", True, 42), m.ConsumerImpact("audit|<x>", False, 0)]}
    report = build(traffic(1, 10), summary(1, 2, 10), consumers=consumers)
    assert topic(report).consumers == tuple(consumers["orders"])
    text = render_markdown(report)
    assert "| billing | yes | 42 |" in text
    assert r"| audit\|\<x\> | no | 0 |" in text
    page = render_html(report)
    assert "<td>billing</td><td>yes</td>" in page
    assert "audit|&lt;x&gt;" in page
    bare = build(traffic(1, 10), summary(1, 2, 10))
    assert topic(bare).consumers is None
    assert "Consumer groups: not collected." in render_markdown(bare)


# -- rendering -----------------------------------------------------------------------------------


def test_html_escapes_every_value_and_needs_no_script_or_network() -> None:
    hostile = drift(1, sample={"note": "</pre><script>alert(1)</script>"}, message="<b>bold</b>")
    page = render_html(build(traffic(1, 10), hostile, traffic(1, 1, topic="<img src=x>", event_type=None)))
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;img src=x&gt;" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<link" not in page


def test_markdown_cells_cannot_break_the_table_and_samples_cannot_close_their_fence() -> None:
    assert md("a|b\nc <x> `y`") == r"a\|b c \<x\> \`y\`"
    report = build(traffic(1, 10), drift(1, sample={"s": "```` end"}))
    text = render_markdown(report)
    assert "`````json" in text


def test_json_is_the_documented_shape() -> None:
    report = build(traffic(1, 10), summary(1, 2, 10), drift(1))
    data = orjson.loads(render(report, "json"))
    assert list(data) == [
        "report",
        "version",
        "generated_at",
        "period",
        "now_window",
        "verdict",
        "statuses",
        "topics",
        "coverage",
        "records",
        "rules_dropped",
    ]
    assert data["verdict"] == {"exit_code": 1, "open_breaking": 1, "open": 1, "fixed": 0}
    [rule] = data["topics"][0]["rules"]
    assert rule["latest"]["sample"] == {"total_cents": 10.5, "email": "[REDACTED]"}
    assert set(data["topics"][0]) >= {"status", "rate", "rate_now", "trend", "rules", "consumers"}


def test_period_is_checked() -> None:
    with pytest.raises(ValueError, match="end after"):
        m.Period(10, 10)
    assert m.Period(0, 7 * 86_400_000, buckets=24).bucket_ms == 25_200_000


# -- the command's usage errors (the broker and the recording are in integration/golden tests) ------


def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["report", *argv], io.BytesIO(), out, err)
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--since", "last tuesday"), "unparsable time"),
        (("--since", "1d", "--until", "2d"), "must be after"),
        (("--format", "pdf"), "invalid choice"),
        (("--spec", "/nonexistent/spec", "--input", "-"), "nonexistent"),
        (("--consumers", "/nonexistent.json", "--input", "-"), "cannot read"),
    ],
)
def test_usage_errors_exit_2_in_one_line(argv: tuple[str, ...], message: str) -> None:
    code, err = _cli(*argv)
    assert code == 2, err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_unreachable_brokers_exit_3_in_one_line() -> None:
    code, err = _cli("--bootstrap", "127.0.0.1:1", "--timeout", "1")
    assert code == 3, err
    assert err.startswith("stream-sentinel: ")
    assert err.count("\n") == 1


def test_drifting_offsets_feed_the_consumer_impacts() -> None:
    from stream_sentinel.core.consumers import impacts

    aggregator = HealthAggregator(PERIOD, CONTRACTS, generated_at=PERIOD.until)
    for record in (traffic(1, 10), summary(1, 2, 10), drift(2, "a")):
        aggregator.add(record)
    offsets = aggregator.drifting_offsets("orders")
    assert offsets == {1: [7, 101, 111]}  # the drift event's source, the summary's first and last
    found = impacts(offsets, {"billing": {1: 102}, "late": {1: 0}})
    aggregator.set_consumers({"orders": [m.from_impact(i) for i in found]})
    consumers = topic(aggregator.result()).consumers
    assert consumers == (
        m.ConsumerImpact("billing", True, 2, "committed offsets on 1 partition", 1),
        m.ConsumerImpact("late", False, 0, "committed offsets on 1 partition", 3),
    )


def test_drift_in_a_window_straddling_the_period_start_goes_to_the_first_bucket() -> None:

    hour, since = 3_600_000, 30_000  # the period does not start on a window boundary
    period = m.Period(since, since + 24 * hour, window_ms=60_000, buckets=24)
    agg = HealthAggregator(
        period, {"orders": TopicContracts("team", {"OrderCreated": (1,)})}, generated_at=period.until
    )
    agg.add(
        {
            "type": "drift",
            "drift_id": "x",
            "fingerprint": "fp",
            "kind": "type_mismatch",
            "severity": "breaking",
            "topic": "orders",
            "event_type": "OrderCreated",
            "source": {"topic": "orders", "partition": 0, "offset": 5, "timestamp": 40_000},
            "origin": "live",
        }
    )
    for w in range(60_000, 24 * hour, 60_000):
        agg.add(
            {
                "type": "traffic",
                "topic": "orders",
                "event_type": "OrderCreated",
                "window": {"start": w, "end": w + 60_000},
                "messages": 10,
            }
        )
    [topic] = agg.result().topics
    assert [b.drift for b in topic.trend] == [1] + [0] * 23  # not the newest bucket


def test_overflow_summaries_of_two_topics_stay_apart_and_a_redelivered_summary_counts_once() -> None:

    period = m.Period(0, 600_000, window_ms=60_000, buckets=10)
    contracts = {"a": TopicContracts("team-a", {"A": (1,)}), "b": TopicContracts("team-b", {"B": (1,)})}
    agg = HealthAggregator(period, contracts, generated_at=period.until)
    for topic, event_type, n in (("a", "A", 5), ("b", "B", 700), ("b", "B", 700)):
        agg.add(
            {
                "type": "summary",
                "fingerprint": "overflow",
                "topic": topic,
                "event_type": event_type,
                "kind": "overflow",
                "severity": "breaking",
                "owner": "team-" + topic,
                "window": {"start": 60_000, "end": 120_000},
                "count": n,
                "messages": 1000,
            }
        )
    found = {t.topic: [(r.topic, r.count, r.owner) for r in t.rules] for t in agg.result().topics}
    assert found == {"a": [("a", 5, "team-a")], "b": [("b", 700, "team-b")]}
