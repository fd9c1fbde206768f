"""Stateful behavioural rules: every kind and edge, over the example catalog's rules (no broker, no clock)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.rules.engine import DictStore, Finding, RuleRuntime
from stream_sentinel.core.rules.model import AFTER, EXPECT, Compiled, Fact, RuleSet, compile_rules

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
MIN = 60_000


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    engine = Engine.from_spec_dir(str(SPEC))
    return compile_rules(engine.catalog, engine.shows)


def runtime(rules: RuleSet, **options: Any) -> RuleRuntime:
    return RuleRuntime(rules, DictStore(), **options)


class Log:
    """Builds facts with increasing offsets per (topic, partition)."""

    def __init__(self) -> None:
        self.offsets: dict[tuple[str, int], int] = {}

    def fact(
        self, rule: str, entity: str, value: Any, ts: int, topic: str, event_type: str, partition: int = 0
    ) -> Fact:
        offset = self.offsets.get((topic, partition), -1) + 1
        self.offsets[topic, partition] = offset
        return Fact(rule, entity, value, ts, topic, partition, offset, event_type)


TOPIC_OF = {
    "OrderCreated": "orders",
    "OrderCancelled": "orders",
    "PaymentAuthorized": "payments",
    "PaymentRefunded": "payments",
    "ShipmentDispatched": "shipments",
    "ShipmentDelivered": "shipments",
}


def lifecycle(log: Log, event_type: str, ts: int, entity: str = "ord_1") -> Fact:
    return log.fact("order-lifecycle", entity, event_type, ts, TOPIC_OF[event_type], event_type)


def kinds(findings: list[Finding]) -> list[str]:
    return [f.violation.kind for f in findings]


def test_a_legal_lifecycle_is_silent_REQ_ORD_10(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    path = ["OrderCreated", "PaymentAuthorized", "ShipmentDispatched", "ShipmentDelivered"]
    assert [f for i, et in enumerate(path) for f in rt.process(lifecycle(log, et, 1000 + i))] == []


def test_a_cancelled_order_that_moves_again_is_an_illegal_transition_with_the_earlier_event_REQ_ORD_10(
    rules: RuleSet,
) -> None:
    rt, log = runtime(rules), Log()
    rt.process(lifecycle(log, "OrderCreated", 1000))
    cancelled = lifecycle(log, "OrderCancelled", 2000)
    rt.process(cancelled)
    [finding] = rt.process(lifecycle(log, "PaymentAuthorized", 3000))
    v = finding.violation
    assert (v.kind, v.rule, v.requirement, v.owner, v.severity) == (
        d.ILLEGAL_TRANSITION,
        "order-lifecycle",
        "REQ-ORD-10",
        "team-orders",
        d.BREAKING,
    )
    assert v.actual_value == "OrderCancelled -> PaymentAuthorized"
    assert v.expected == "OrderCancelled -> PaymentRefunded"
    assert v.related == d.Source("orders", 0, cancelled.offset, 2000)
    assert finding.source.topic == "payments"
    assert v.rule_path == "rule:order-lifecycle"
    assert "ord_1" in v.detail  # /order_id is documented and not x-pii in every version


def test_a_terminal_state_allows_nothing_and_one_wrong_move_is_one_finding_REQ_ORD_10(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    for i, et in enumerate(["OrderCreated", "PaymentAuthorized", "ShipmentDispatched", "ShipmentDelivered"]):
        rt.process(lifecycle(log, et, 1000 + i))
    [finding] = rt.process(lifecycle(log, "ShipmentDispatched", 5000))
    assert finding.violation.expected == "nothing after ShipmentDelivered (terminal)"
    # The state follows what was written: the next legal step is silent again.
    assert rt.process(lifecycle(log, "ShipmentDelivered", 6000)) == []


def test_an_entity_first_seen_mid_life_is_adopted_not_reported(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    assert rt.process(lifecycle(log, "ShipmentDispatched", 1000)) == []
    assert rt.process(lifecycle(log, "ShipmentDelivered", 2000)) == []


def test_strict_start_reports_an_entity_that_does_not_start_in_an_initial_state(rules: RuleSet) -> None:
    base = rules.rules["order-lifecycle"]
    strict = RuleSet([replace(base, spec=replace(base.spec, strict_start=True))])
    rt, log = runtime(strict), Log()
    [finding] = rt.process(lifecycle(log, "ShipmentDispatched", 1000))
    assert finding.violation.actual_value == "(none) -> ShipmentDispatched"
    assert finding.violation.related is None


def test_events_delivered_out_of_event_time_order_across_topics_are_not_drift(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    # payments ran ahead: the payment (t=2000) is processed before its order's creation (t=1000).
    assert rt.process(lifecycle(log, "PaymentAuthorized", 2000)) == []
    assert rt.process(lifecycle(log, "OrderCreated", 1000)) == []
    assert rt.process(lifecycle(log, "ShipmentDispatched", 3000)) == []


def test_a_late_event_that_cannot_precede_the_current_state_is_still_illegal(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    rt.process(lifecycle(log, "OrderCreated", 1000))
    rt.process(lifecycle(log, "PaymentAuthorized", 2000))
    rt.process(lifecycle(log, "ShipmentDispatched", 3000))
    rt.process(lifecycle(log, "ShipmentDelivered", 4000))
    [finding] = rt.process(lifecycle(log, "OrderCancelled", 3500))  # cancelled before delivery? never reaches it
    assert finding.violation.actual_value == "OrderCancelled -> ShipmentDelivered"
    assert "delivered after a later event" in finding.violation.detail


def test_a_redelivered_record_is_never_drift_whatever_came_after(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    created = lifecycle(log, "OrderCreated", 1000)
    rt.process(created)
    rt.process(lifecycle(log, "OrderCancelled", 2000))
    assert rt.process(created) == []  # re-read after a crash: same coordinates
    assert rt.redelivered == 1
    # ...while a *new* OrderCreated record for the cancelled order is drift.
    assert kinds(rt.process(lifecycle(log, "OrderCreated", 3000))) == [d.ILLEGAL_TRANSITION]


def test_a_second_authorisation_of_one_payment_id_is_a_duplicate_with_the_first_occurrence_REQ_PAY_10(
    rules: RuleSet,
) -> None:
    rt, log = runtime(rules), Log()
    first = log.fact("payment-once", "pay_1", None, 1000, "payments", "PaymentAuthorized")
    assert rt.process(first) == []
    assert rt.process(first) == []  # redelivered: same topic/partition/offset
    again = log.fact("payment-once", "pay_1", None, 5000, "payments", "PaymentAuthorized", partition=1)
    [finding] = rt.process(again)
    assert finding.violation.kind == d.DUPLICATE
    assert finding.violation.related == d.Source("payments", 0, first.offset, 1000)
    assert finding.source == d.Source("payments", 1, again.offset, 5000)


def test_an_id_is_forgotten_after_its_horizon(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    day = 86_400_000
    rt.process(log.fact("payment-once", "pay_1", None, 0, "payments", "PaymentAuthorized"))
    rt.process(log.fact("payment-once", "pay_2", None, 8 * day, "payments", "PaymentAuthorized"))  # watermark moves
    assert len(rt) == 1
    assert rt.process(log.fact("payment-once", "pay_1", None, 8 * day + 1, "payments", "PaymentAuthorized")) == []


def test_an_event_older_than_the_previous_one_of_its_entity_is_out_of_order_REQ_ORD_11(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    assert rt.process(log.fact("order-events-in-sequence", "ord_1", 2000, 2000, "orders", "OrderCreated")) == []
    assert rt.process(log.fact("order-events-in-sequence", "ord_1", 2000, 2000, "orders", "OrderCancelled")) == []
    [finding] = rt.process(log.fact("order-events-in-sequence", "ord_1", 1500, 1500, "orders", "OrderCancelled"))
    assert finding.violation.kind == d.OUT_OF_ORDER
    assert finding.violation.related is not None
    assert finding.violation.related.offset == 1


def test_a_sequence_field_must_grow_and_gaps_are_reported_when_asked(rules: RuleSet) -> None:
    base = rules.rules["order-events-in-sequence"]
    seq = RuleSet([replace(base, spec=replace(base.spec, by=("seq",), gaps=True))])
    rt, log = runtime(seq), Log()
    rule = "order-events-in-sequence"
    assert rt.process(log.fact(rule, "o", 1, 10, "orders", "OrderCreated")) == []
    assert rt.process(log.fact(rule, "o", 2, 11, "orders", "OrderCreated")) == []
    [gap] = rt.process(log.fact(rule, "o", 5, 12, "orders", "OrderCreated"))
    assert (gap.violation.kind, gap.violation.severity, gap.violation.expected) == (d.SEQUENCE_GAP, d.INFO, "3")
    [back] = rt.process(log.fact(rule, "o", 5, 13, "orders", "OrderCreated"))  # equal: not increasing
    assert back.violation.kind == d.OUT_OF_ORDER


def follows(log: Log, role: str, ts: int, entity: str = "ord_1") -> Fact:
    topic, et = ("orders", "OrderCreated") if role == AFTER else ("payments", "PaymentAuthorized")
    return log.fact("payment-after-order", entity, role, ts, topic, et)


def test_an_order_never_paid_is_a_missing_followup_once_the_deadline_and_grace_pass_REQ_PAY_11(
    rules: RuleSet,
) -> None:
    rt, log = runtime(rules, grace_ms=2000), Log()
    created = follows(log, AFTER, 0)
    rt.process(created)
    assert rt.process(follows(log, AFTER, 30 * MIN + 1999, entity="other")) == []  # deadline + grace not passed
    [finding] = rt.process(follows(log, AFTER, 30 * MIN + 2000, entity="third"))
    v = finding.violation
    assert (v.kind, v.requirement, v.owner) == (d.MISSING_FOLLOWUP, "REQ-PAY-11", "team-payments")
    assert finding.source == d.Source("orders", 0, created.offset, 0)  # reported on the order
    assert finding.event_type == "OrderCreated"


def test_a_payment_in_time_or_delivered_first_satisfies_the_followup(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    rt.process(follows(log, AFTER, 0, "a"))
    rt.process(follows(log, EXPECT, 10 * MIN, "a"))
    rt.process(follows(log, EXPECT, 5 * MIN, "b"))  # the payment's topic ran ahead
    rt.process(follows(log, AFTER, 1 * MIN, "b"))
    assert rt.tick(10 * 60 * MIN) == []


def test_a_deadline_past_the_newest_event_time_is_not_judged(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    rt.process(follows(log, AFTER, 0))
    assert rt.process(follows(log, AFTER, 29 * MIN, "b")) == []
    assert rt.tick(0) == []  # a tick behind the watermark changes nothing


def test_idle_entities_are_evicted_after_the_ttl_and_over_the_cap_counted(rules: RuleSet) -> None:
    rt, log = runtime(rules, ttl_ms=10 * MIN, max_entities=3), Log()
    for i in range(5):
        rt.process(lifecycle(log, "OrderCreated", 1000 + i, entity=f"o{i}"))
    assert len(rt) == 3
    assert rt.evicted["cap"] == 2
    rt.tick(60 * MIN)
    assert len(rt) == 0
    assert rt.evicted["ttl"] == 3
    # An evicted entity's past is unknown: it is adopted again, silently.
    assert rt.process(lifecycle(log, "ShipmentDelivered", 61 * MIN, entity="o4")) == []


def test_a_fact_that_moves_the_idle_ttl_later_keeps_the_entity_until_the_real_due_time(rules: RuleSet) -> None:
    # Timers are lazy: the entity's first heap entry (10 min) pops first and finds it due later.
    rt, log = runtime(rules, ttl_ms=10 * MIN), Log()
    rt.process(lifecycle(log, "OrderCreated", 0, entity="a"))
    rt.process(lifecycle(log, "PaymentAuthorized", 9 * MIN, entity="a"))
    rt.tick(12 * MIN)
    assert (len(rt), rt.evicted["ttl"]) == (1, 0)
    rt.tick(19 * MIN)
    assert (len(rt), rt.evicted["ttl"]) == (0, 1)


def test_over_the_cap_the_entity_really_due_soonest_goes(rules: RuleSet) -> None:
    store = DictStore()
    rt, log = RuleRuntime(rules, store, ttl_ms=10 * MIN, max_entities=2), Log()
    rt.process(lifecycle(log, "OrderCreated", 0, entity="a"))  # due 10 min, then (below) 15 min
    rt.process(lifecycle(log, "OrderCreated", 1 * MIN, entity="b"))  # due 11 min
    rt.process(lifecycle(log, "PaymentAuthorized", 5 * MIN, entity="a"))
    rt.process(lifecycle(log, "OrderCreated", 6 * MIN, entity="c"))
    assert rt.evicted["cap"] == 1
    assert sorted(k.split("\x1f")[1] for k in store.data) == ["a", "c"]


def test_an_older_first_occurrence_brings_the_unique_horizon_forward(rules: RuleSet) -> None:
    rt, log = runtime(rules), Log()
    day = 86_400_000
    rt.process(log.fact("payment-once", "pay_1", None, 10 * day, "payments", "PaymentAuthorized"))
    # Past the horizon before the first one: the new first occurrence, whose horizon (8 days) the
    # watermark (10 days) has passed already: the next tick forgets it.
    assert rt.process(log.fact("payment-once", "pay_1", None, 1 * day, "payments", "PaymentAuthorized")) == []
    assert len(rt) == 1
    rt.tick(0)
    assert len(rt) == 0


def test_entity_states_are_flat_plain_json(rules: RuleSet) -> None:
    """No container inside a state: plain JSON for the worker's table, never scanned by the cyclic collector."""
    store = DictStore()
    rt, log = RuleRuntime(rules, store), Log()
    rt.process(lifecycle(log, "OrderCreated", 0))
    rt.process(lifecycle(log, "PaymentAuthorized", 1000))
    rt.process(log.fact("payment-once", "pay_1", None, 1000, "payments", "PaymentAuthorized"))
    rt.process(log.fact("order-events-in-sequence", "ord_1", 0, 0, "orders", "OrderCreated"))
    rt.process(follows(log, AFTER, 0))
    rt.process(follows(log, EXPECT, 2000, "ord_2"))
    assert len(store.data) == 5
    for state in store.data.values():
        assert all(type(k) is str for k in state)
        assert all(v is None or type(v) in (str, int) for v in state.values()), state
        assert orjson.loads(orjson.dumps(state)) == state


def test_timers_are_rebuilt_from_the_store_after_a_restart(rules: RuleSet) -> None:
    store = DictStore()
    first = RuleRuntime(rules, store, lane=3)
    log = Log()
    first.process(follows(log, AFTER, 0))
    again = RuleRuntime(rules, store, lane=3)
    again.rebuild(store.data.items())
    assert kinds(again.tick(31 * MIN + 2000)) == [d.MISSING_FOLLOWUP]
    other_lane = RuleRuntime(rules, DictStore(), lane=4)
    other_lane.rebuild(store.data.items())
    assert len(other_lane) == 0


def test_facts_come_only_from_the_event_types_a_rule_reads(rules: RuleSet) -> None:
    order = {"order_id": "ord_9", "status": "pending"}
    facts = rules.facts("orders", "OrderCreated", order, b"k", 0, 7, 1000)
    assert sorted(f.rule for f in facts) == ["order-events-in-sequence", "order-lifecycle", "payment-after-order"]
    assert rules.facts("inventory", "StockAdjusted", {"sku": "x"}, None, 0, 1, 1) == []
    assert rules.facts("orders", "OrderCreated", {"order_id": 1.5}, None, 0, 1, 1) == []  # not an id
    assert rules.skipped["order-lifecycle"] == 1


def test_a_pii_entity_id_is_never_shown(rules: RuleSet) -> None:
    base: Compiled = rules.rules["order-lifecycle"]
    hidden = RuleSet([replace(base, shows_entity=dict.fromkeys(base.shows_entity, False))])
    rt, log = runtime(hidden), Log()
    rt.process(lifecycle(log, "OrderCancelled", 1000, entity="alice@example.com"))
    [finding] = rt.process(lifecycle(log, "OrderCreated", 2000, entity="alice@example.com"))
    assert "alice" not in repr(finding.violation)
