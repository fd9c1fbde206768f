"""RuleSession: the behavioural rules over one offline range, as check and replay run them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.core.aggregate.report import DriftReport
from stream_sentinel.core.assess import Assessor, Policy, Ref
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.rules.engine import DictStore, RuleRuntime
from stream_sentinel.core.rules.session import open_session, wants

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
MIN = 60_000
CREATED = (("event-type", b"OrderCreated"), ("schema-version", b"1"))
CANCELLED = (("event-type", b"OrderCancelled"), ("schema-version", b"1"))
EXPRESSION_RULE = """
  - id: refund-not-above-limit
    kind: expression
    requirement: REQ-ORD-99
    message: A refund is never above 1000.00.
    events: {orders: [OrderCancelled]}
    expression: self.refund_cents <= 100000
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    spec = tmp_path_factory.mktemp("spec") / "events"
    shutil.copytree(SPEC, spec)
    with (spec / "catalog.yaml").open("a") as catalog:
        catalog.write(EXPRESSION_RULE)
    return Engine.from_spec_dir(str(spec))


def order(order_id: str) -> bytes:
    return orjson.dumps(
        {
            "order_id": order_id,
            "customer": {"id": "cus_000000000001", "email": "a@example.com", "name": "A", "tier": "gold"},
            "items": [{"sku": "KIT-04417", "name": "Knife", "quantity": 1, "unit_price_cents": 4990}],
            "total_cents": 4990,
            "currency": "EUR",
            "status": "placed",
            "created_at": "2026-11-20T10:00:00Z",
            "shipping_address": {"street": "1 Rue", "city": "Paris", "postcode": "75002", "country": "FR"},
        }
    )


def cancel(order_id: str, refund: int) -> bytes:
    return orjson.dumps(
        {
            "order_id": order_id,
            "reason": "customer_request",
            "cancelled_at": "2026-11-20T10:05:00Z",
            "refund_cents": refund,
            "currency": "EUR",
        }
    )


class Run:
    """Feeds orders-topic records through a session as check does (offsets per partition)."""

    def __init__(self, engine: Engine) -> None:
        session = open_session(engine.catalog, engine.shows)
        assert session is not None
        self.session = session
        self.check = engine.keeping_check("orders", wants(session.rules, "orders"))
        self.offsets: dict[int, int] = {}

    def feed(self, value: bytes, headers: Any, ts: int, partition: int = 0, **kw: Any) -> tuple[Any, list[Any]]:
        offset = self.offsets.get(partition, 0)
        self.offsets[partition] = offset + 1
        return self.session.message("orders", self.check(value, headers), None, partition, offset, ts, **kw)


def test_no_session_when_the_catalog_has_no_rule_for_the_topics_read(engine: Engine) -> None:
    assert open_session(engine.catalog, engine.shows, ["customers.profile"]) is None
    assert open_session(engine.catalog, engine.shows, ["orders"]) is not None


def test_an_expression_violation_joins_the_outcome_and_its_sample_is_redacted(engine: Engine) -> None:
    run = Run(engine)
    outcome, findings = run.feed(cancel("ord_000000000001", 500_000), CANCELLED, 0)
    assert findings == []
    [violation] = outcome.violations
    assert (violation.kind, violation.rule, violation.requirement) == (
        d.RULE_FAILED,
        "refund-not-above-limit",
        "REQ-ORD-99",
    )
    drift = Assessor(Policy()).assess(outcome, Ref("orders", 0, 0, 0, None, "json"))
    assert drift is not None
    [event] = drift.events()
    assert isinstance(event.sample, dict)  # redacted through the schema's walker, not "[UNDOCUMENTED ...]"


def test_follow_ups_are_judged_at_the_end_whatever_order_the_topics_came_in(engine: Engine) -> None:
    """The orders topic read to its end before payments: a watermark from it would fire too early."""
    run = Run(engine)
    run.feed(order("ord_000000000001"), CREATED, 0)
    run.feed(order("ord_000000000002"), CREATED, 120 * MIN)  # orders ran two hours ahead
    rules = run.session.rules
    payment = rules.facts("payments", "PaymentAuthorized", {"order_id": "ord_000000000001"}, None, 0, 0, 5 * MIN)
    for fact in payment:
        run.session.runtime.process(fact)
    run.session.topics_read.add("payments")
    assert run.session.finish() == []  # the first order was paid in time; the second's deadline is unknown future
    # The plain runtime, watermark-driven, would have reported the paid order as missing its payment.
    plain = RuleRuntime(rules, DictStore())
    fired = [
        f
        for fact in rules.facts("orders", "OrderCreated", orjson.loads(order("ord_1")), None, 0, 0, 0)
        for f in plain.process(fact)
    ]
    fired += [
        f
        for fact in rules.facts("orders", "OrderCreated", orjson.loads(order("ord_2")), None, 0, 1, 120 * MIN)
        for f in plain.process(fact)
    ]
    assert [f.violation.kind for f in fired] == [d.MISSING_FOLLOWUP]


def test_a_deadline_passed_by_the_last_event_time_is_reported_only_when_the_expected_topic_was_read(
    engine: Engine,
) -> None:
    run = Run(engine)
    run.feed(order("ord_000000000001"), CREATED, 0)
    run.feed(order("ord_000000000002"), CREATED, 31 * MIN)
    assert run.session.finish() == []  # payments never read: unknown, not missing
    assert run.session.unjudged == 1
    run = Run(engine)
    run.session.topics_read.add("payments")
    run.feed(order("ord_000000000001"), CREATED, 0)
    run.feed(order("ord_000000000002"), CREATED, 31 * MIN)
    [finding] = run.session.finish()
    assert (finding.violation.kind, finding.source.offset) == (d.MISSING_FOLLOWUP, 0)


def test_warm_up_builds_state_and_reports_nothing(engine: Engine) -> None:
    run = Run(engine)
    outcome, findings = run.feed(cancel("ord_000000000001", 500_000), CANCELLED, 0, warm_up=True)
    assert (outcome.violations, findings) == ((), [])  # no expression judged while warming up
    _, findings = run.feed(order("ord_000000000001"), CREATED, MIN, warm_up=True)
    assert findings == []  # OrderCancelled -> OrderCreated: in the warm-up, not reported
    _, findings = run.feed(cancel("ord_000000000001", 10), CANCELLED, 2 * MIN)
    findings += run.session.finish()
    assert findings == []  # the warmed state (OrderCreated) allows the cancellation; the warm-up's finding is dropped
    assert run.session.warmed == 2


def test_a_finding_is_drift_that_is_not_a_new_message(engine: Engine) -> None:
    run = Run(engine)
    report, assessor = DriftReport(), Assessor(Policy(origin="check"))
    for value, headers, ts in (
        (order("ord_000000000001"), CREATED, 0),
        (cancel("ord_000000000001", 1), CANCELLED, MIN),
        (order("ord_000000000001"), CREATED, 2 * MIN),
    ):
        outcome, findings = run.feed(value, headers, ts)
        report.add(("orders", outcome, 0, None))
        for finding in findings:
            drift = assessor.finding(finding, "json")
            assert drift is not None
            report.add_drift(drift)
    for finding in run.session.finish():  # facts are judged in event-time order, the last ones at the end
        drift = assessor.finding(finding, "json")
        assert drift is not None
        report.add_drift(drift)
    assert (report.messages, report.drifting_messages, report.drift_events, report.rule_drift) == (3, 0, 1, 1)
    [stats] = report.ranked()
    assert (stats.kind, stats.first, stats.examples[0].source.offset) == (d.ILLEGAL_TRANSITION, (0, 2), 2)


def test_partitions_are_merged_by_event_time_but_each_keeps_its_delivery_order(engine: Engine) -> None:
    """A capture listing one topic after another: judged as it happened; a late event stays late."""
    run = Run(engine)
    run.feed(order("ord_000000000001"), CREATED, 0, partition=0)
    run.feed(order("ord_000000000002"), CREATED, 10 * MIN, partition=0)
    run.feed(cancel("ord_000000000002", 1), CANCELLED, 5 * MIN, partition=0)  # late in its partition
    run.feed(cancel("ord_000000000001", 1), CANCELLED, MIN, partition=1)  # another partition, read after
    kinds = sorted(f.violation.kind for f in run.session.finish())
    # ord_1: created then cancelled (in event time): fine. ord_2: cancelled before created: both rules see it.
    assert kinds == [d.ILLEGAL_TRANSITION, d.OUT_OF_ORDER]


def test_the_reorder_window_is_bounded(engine: Engine) -> None:
    run = Run(engine)
    run.session.reorder = 2
    for n in range(5):
        run.feed(order(f"ord_00000000000{n}"), CREATED, n * MIN, partition=n % 3)
    assert run.session._count == 2
