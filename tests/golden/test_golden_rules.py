"""Behavioural rules on the example captures (replay/make_rule_captures.py), by requirement.

The goldens themselves (``*.drift.jsonl``, ``*.report.txt``) are compared by test_golden.py like
every capture's; these tests pin, per rule, exactly which messages fire and which valid
sequences must not (redelivery, a follow-up delivered first, an entity first seen mid-capture,
a deadline after the capture's last event), and that ``--no-rules`` is the plain path.
"""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from stream_sentinel.cli import run

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
CAPTURES = ROOT / "replay" / "captures"
RULE_KINDS = {"illegal_transition", "duplicate", "out_of_order", "sequence_gap", "missing_followup", "rule_failed"}


def check(data: bytes, *options: str) -> tuple[int, list[tuple[object, ...]]]:
    """Exit code and (kind, requirement, topic, partition, offset) of every drift event."""
    out, err = io.StringIO(), io.StringIO()
    code = run(["check", "--spec", str(SPEC), "--format", "jsonl", *options, "-"], io.BytesIO(data), out, err)
    assert code in (0, 1), err.getvalue()
    found: list[tuple[object, ...]] = []
    for line in out.getvalue().splitlines():
        e = orjson.loads(line)
        s = e["source"]
        found.append((e["kind"], e["requirement"], s["topic"], s["partition"], s["offset"]))
    return code, found


def capture(name: str) -> bytes:
    return (CAPTURES / f"{name}.jsonl").read_bytes()


def test_illegal_transition_REQ_ORD_10() -> None:
    code, found = check(capture("req-ord-10-illegal-transition"))
    assert code == 1
    assert found == [
        ("illegal_transition", "REQ-ORD-10", "payments", 1, 1),  # OrderCancelled -> PaymentAuthorized
        ("illegal_transition", "REQ-ORD-10", "orders", 1, 2),  # OrderCancelled -> OrderCreated
    ]


def test_duplicate_payment_REQ_PAY_10_and_its_redelivery_is_not_drift() -> None:
    code, found = check(capture("req-pay-10-duplicate-payment"))
    assert code == 1
    assert found == [("duplicate", "REQ-PAY-10", "payments", 0, 1)]  # once, though the record came twice


def test_out_of_order_REQ_ORD_11() -> None:
    code, found = check(capture("req-ord-11-out-of-order"))
    assert code == 1
    # The cancellation's event time is before the creation's: out of order, and in event time a
    # history the lifecycle does not allow either (both are real findings about one message).
    assert sorted(found) == [
        ("illegal_transition", "REQ-ORD-10", "orders", 2, 1),
        ("out_of_order", "REQ-ORD-11", "orders", 2, 1),
    ]


def test_missing_followup_REQ_PAY_11_reported_on_the_order_and_the_unknown_future_not_judged() -> None:
    code, found = check(capture("req-pay-11-missing-payment"))
    assert code == 1
    assert found == [("missing_followup", "REQ-PAY-11", "orders", 0, 0)]  # the orders at 42 and 45 min: not judged


def test_missing_followup_REQ_PAY_11_is_not_judged_when_the_payments_topic_was_not_read() -> None:
    lines = [line for line in capture("req-pay-11-missing-payment").splitlines() if b'"topic":"orders"' in line]
    code, found = check(b"\n".join(lines) + b"\n")
    assert (code, found) == (0, [])


def test_valid_sequences_do_not_fire_REQ_ORD_10_REQ_PAY_10_REQ_ORD_11_REQ_PAY_11() -> None:
    """Redeliveries, a payment delivered before its order, an order first seen at its refund."""
    assert check(capture("rules-no-false-alarms")) == (0, [])


def test_no_rules_is_the_plain_path_REQ_ORD_10() -> None:
    assert check(capture("req-ord-10-illegal-transition"), "--no-rules") == (0, [])
    _, with_rules = check(capture("orders-mixed"))
    _, without = check(capture("orders-mixed"), "--no-rules")
    assert without == [f for f in with_rules if f[0] not in RULE_KINDS]


def test_rule_findings_count_as_drift_events_not_as_messages_REQ_PAY_11() -> None:
    out, err = io.StringIO(), io.StringIO()
    path = str(CAPTURES / "req-pay-11-missing-payment.jsonl")
    assert run(["check", "--spec", str(SPEC), "--format", "json", path], io.BytesIO(), out, err) == 1
    report = orjson.loads(out.getvalue())
    assert (report["messages"], report["drifting_messages"], report["drift_events"]) == (9, 0, 1)
    assert report["by_kind"] == {"missing_followup": 1}
