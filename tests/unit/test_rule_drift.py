"""Behavioural rule violations as drift events, tallies and summaries: same format, same topic, the rule id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.core import assess as a
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine, Outcome
from stream_sentinel.core.rules.engine import DictStore, RuleRuntime
from stream_sentinel.core.rules.model import Fact, compile_rules

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
T0 = 1_795_000_040_000
SUBJECT = d.Subject("PaymentAuthorized", None, None, None, "json")
SOURCE = d.Source("payments", 1, 42, T0, "pay_1")
FIRST = d.Source("payments", 0, 7, T0 - 60_000)


def rule_violation(
    rule: str = "payment-once", kind: str = d.DUPLICATE, related: d.Source | None = FIRST, severity: str = d.BREAKING
) -> d.Violation:
    return d.Violation(
        kind,
        severity,
        "/payment_id",
        f"rule:{rule}",
        "each id once within 7d",
        "duplicate",
        "seen before",
        False,
        "REQ-PAY-10",
        "team-payments",
        kind,
        "entity pay_1; A payment id is authorised once",
        rule=rule,
        related=related,
    )


def contract_violation() -> d.Violation:
    return d.Violation(d.TYPE_MISMATCH, d.BREAKING, "/amount", "/amount", "integer", "number", "1.5")


def build(*violations: d.Violation, source: d.Source = SOURCE) -> list[d.DriftEvent]:
    return d.build_drift_events(violations, SUBJECT, source, {"payment_id": "pay_1"})


def test_a_rule_violations_event_names_the_rule_and_the_earlier_message_in_fixed_places() -> None:
    (event,) = build(rule_violation())
    data = orjson.loads(event.to_json())
    assert (data["rule"], data["rule_path"]) == ("payment-once", "rule:payment-once")
    assert data["related"] == {"topic": "payments", "partition": 0, "offset": 7, "timestamp": T0 - 60_000}
    keys = list(data)
    assert keys.index("rule") == keys.index("rule_path") + 1
    assert keys.index("related") == keys.index("source") + 1
    # A rule violation without an earlier message (rule_failed) still says so: related is null.
    (failed,) = build(rule_violation("refund-within-amount", d.RULE_FAILED, related=None))
    assert failed.to_dict()["related"] is None
    assert "rule" in failed.to_dict()


def test_a_contract_violations_event_has_neither_key_and_keeps_its_drift_id() -> None:
    (event,) = build(contract_violation())
    data = event.to_dict()
    assert "rule" not in data
    assert "related" not in data
    # The id of a contract violation is computed exactly as before rules existed.
    v = contract_violation()
    parts = ("payments", 1, 42, "PaymentAuthorized", v.kind, v.path, v.expected, None)
    assert event.drift_id == d._digest(parts, 16)


def test_two_rules_flagging_one_message_are_two_events_with_distinct_ids_and_fingerprints() -> None:
    one, two = build(rule_violation("payment-once"), rule_violation("payment-once-per-order"))
    assert one.drift_id != two.drift_id
    assert one.fingerprint != two.fingerprint
    assert one.fingerprint == d.fingerprint("payments", "PaymentAuthorized", d.DUPLICATE, "rule:payment-once")
    again, other_offset = build(rule_violation()), build(rule_violation(), source=d.Source("payments", 1, 43, T0))
    assert again[0].drift_id == one.drift_id  # deterministic per (message, rule)
    assert other_offset[0].drift_id != one.drift_id
    assert other_offset[0].fingerprint == one.fingerprint  # one rule, counted together


@pytest.mark.parametrize("kind", d.RULE_KINDS)
def test_every_rule_kind_has_a_sentence_and_an_actionable_fix(kind: str) -> None:
    (event,) = build(rule_violation("order-lifecycle", kind))
    assert "order-lifecycle" in event.message
    assert "order-lifecycle" in event.suggested_fix
    assert event.suggested_fix != "inspect the sample and the contract"
    assert d.KIND_SEVERITY[kind] in (d.PER_RULE, d.INFO)


def test_fixes_name_what_to_change() -> None:
    transition = rule_violation("order-lifecycle", d.ILLEGAL_TRANSITION)
    fix = d.suggest_fix(transition, "OrderCancelled", "json")
    assert fix.startswith("the producer of OrderCancelled emitted a transition the lifecycle does not allow")
    assert fix.endswith("or add the transition to rule order-lifecycle")
    assert "idempotent" in d.suggest_fix(rule_violation(), "PaymentAuthorized", "json")
    assert "partition by the entity key" in d.suggest_fix(rule_violation("seq", d.OUT_OF_ORDER), "OrderCreated", "json")
    missing = rule_violation("payment-after-order", d.MISSING_FOLLOWUP)._replace(
        expected="PaymentAuthorized within 30m (Every order is paid within 30 minutes of its creation.)"
    )
    assert d.suggest_fix(missing, "OrderCreated", "json").startswith(
        "check the downstream service that should emit PaymentAuthorized"
    )
    assert "CEL" in d.suggest_fix(rule_violation("refund", d.RULE_FAILED), "PaymentRefunded", "json")


def test_a_withheld_rule_value_is_said_to_be_withheld() -> None:
    hidden = rule_violation("seq", d.OUT_OF_ORDER)._replace(actual_value=None, redacted=True)
    (event,) = build(hidden)
    assert "withheld" in event.message
    assert "value" not in event.actual


def test_the_assessor_carries_rule_and_related_into_its_lazy_events() -> None:
    outcome = Outcome("PaymentAuthorized", None, (rule_violation(), contract_violation()))
    drift = a.Assessor(a.Policy()).assess(outcome, a.Ref("payments", 1, 42, T0, b"pay_1", "json"))
    assert drift is not None
    rule_event, contract_event = drift.events()
    assert (rule_event.rule, rule_event.related) == ("payment-once", FIRST)
    assert (contract_event.rule, contract_event.related) == (None, None)
    assert drift.fingerprints[0] == rule_event.fingerprint


def _travelled(record: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = orjson.loads(orjson.dumps(record))
    return decoded


def test_rule_and_related_survive_the_tally_round_trip_and_summaries_name_the_rule() -> None:
    (event,) = build(rule_violation())
    tally = w.Tally()
    tally.messages("payments", "PaymentAuthorized", T0)
    tally.drift(event, T0, candidate=True)
    key, record = tally.records()[0]
    state = w.new_state(key)
    spec = w.WindowSpec(grace_ms=5_000)
    first = w.advance(state, _travelled(record), spec, T0).first
    assert first == [event.to_dict()]  # the published alert is the event as built, rule and related included
    closed = w.advance(state, w.tick(T0 + 10**7), spec, now_ms=T0 + 10**7).summaries
    (summary,) = closed
    assert (summary["rule"], summary["rule_path"], summary["kind"]) == (
        "payment-once",
        "rule:payment-once",
        "duplicate",
    )
    assert list(summary).index("rule") == list(summary).index("rule_path") + 1


def test_a_contract_violations_summary_has_no_rule_key() -> None:
    (event,) = build(contract_violation())
    tally = w.Tally()
    tally.messages("payments", "PaymentAuthorized", T0)
    tally.drift(event, T0, candidate=False)
    key, record = tally.records()[0]
    state = w.new_state(key)
    spec = w.WindowSpec(grace_ms=5_000)
    w.advance(state, _travelled(record), spec, T0)
    (summary,) = w.advance(state, w.tick(T0 + 10**7), spec, now_ms=T0 + 10**7).summaries
    assert "rule" not in summary


def test_REQ_SEN_4_rule_summaries_follow_the_summary_contract() -> None:
    engine = Engine.from_spec_dir(str(SPEC))
    checker = engine.checker("sentinel.drift")
    assert checker is not None
    tally = w.Tally()
    tally.messages("payments", "PaymentAuthorized", T0, 3)
    for kind in d.RULE_KINDS:
        tally.drift(build(rule_violation(f"rule-{kind.replace('_', '-')}", kind))[0], T0, candidate=True)
    key, record = tally.records()[0]
    state = w.new_state(key)
    spec = w.WindowSpec(grace_ms=5_000)
    for alert in w.advance(state, _travelled(record), spec, T0).first:
        assert checker.check(orjson.dumps(alert), None).ok
    summaries = w.advance(state, w.tick(T0 + 10**7), spec, now_ms=T0 + 10**7).summaries
    assert len(summaries) == len(d.RULE_KINDS)
    for summary in summaries:
        outcome = checker.check(orjson.dumps({**summary, "observed_at": T0, "sentinel_version": "0.1.0"}), None)
        assert outcome.ok, (summary, outcome.violations)


def test_the_readmes_rule_violation_example_is_what_the_runtime_and_drift_events_give() -> None:
    """README "Behavioural rule violations": every field shown is the real event's."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r'```json\n(\{\n  "type": "drift",\n[^`]*?"kind": "illegal_transition".*?\n\})\n```', readme, re.S
    )
    assert match, "no rule violation example in README"
    example = orjson.loads(match.group(1))
    engine = Engine.from_spec_dir(str(SPEC))
    runtime = RuleRuntime(compile_rules(engine.catalog, engine.shows), DictStore())
    t, entity = 1_795_168_800_000, "ord_3lvqizmht3yr"
    runtime.process(Fact("order-lifecycle", entity, "OrderCreated", t, "orders", 1, 0, "OrderCreated"))
    runtime.process(Fact("order-lifecycle", entity, "OrderCancelled", t + 60_000, "orders", 1, 4, "OrderCancelled"))
    (finding,) = runtime.process(
        Fact("order-lifecycle", entity, "PaymentAuthorized", t + 120_000, "payments", 0, 17, "PaymentAuthorized")
    )
    subject = d.Subject(finding.event_type, None, None, None, "json")
    (event,) = d.build_drift_events((finding.violation,), subject, finding.source, None)
    real = event.to_dict()
    assert {k: real[k] for k in example} == example
    assert [k for k in real if k in example] == list(example)  # shown in the real order
