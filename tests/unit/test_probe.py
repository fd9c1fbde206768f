"""The pure half of the probe (core/probe.py): canaries, expected drift, step outcomes, renderings."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import orjson
import pytest

from stream_sentinel.core import probe as p
from stream_sentinel.core.assess import Assessor, Policy, Ref
from stream_sentinel.core.capture import CapturedMessage, read_capture
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
ENGINE = load_engine(str(ROOT / "spec" / "events"))
RUN = "probe-0123456789abcdef"


def captures() -> list[CapturedMessage]:
    with (ROOT / "replay" / "captures" / "orders-mixed.jsonl").open("rb") as lines:
        return list(read_capture(lines))


def built() -> p.Canaries:
    return p.build_canaries(ENGINE.checker("orders"), captures(), RUN)


def test_probe_run_reads_the_header_and_nothing_else() -> None:
    assert p.probe_run([("event-type", b"OrderCreated")]) is None
    assert p.probe_run([("event-type", b"x"), (p.PROBE_HEADER, RUN.encode())]) == RUN
    assert p.probe_run({p.PROBE_HEADER: b"r1"}) == "r1"
    assert p.probe_run([(p.PROBE_HEADER, b"x" * 500)]) == "x" * p.MAX_RUN_ID
    assert p.probe_run([(p.PROBE_HEADER, b"")]) == "-"


def test_canaries_are_built_from_the_contract_one_valid_one_drifting() -> None:
    canaries = built()
    checker = ENGINE.checker("orders")
    assert checker is not None
    assert not checker.check(canaries.valid.value, canaries.valid.headers).violations
    drift = checker.check(canaries.drifting.value, canaries.drifting.headers)
    assert drift.violations == canaries.outcome.violations
    assert drift.violations[0].kind == "missing_required"
    for canary in (canaries.valid, canaries.drifting):
        assert (p.PROBE_HEADER, RUN.encode()) in canary.headers
        assert canary.key == f"probe-{RUN}".encode()  # one key: one partition, the valid one first
    removed = set(orjson.loads(canaries.valid.value)) - set(orjson.loads(canaries.drifting.value))
    assert len(removed) == 1


@pytest.mark.parametrize(
    ("topic", "capture", "kind"),
    [
        ("payments", "payments-avro.jsonl", "schema_mismatch"),
        ("shipments", "shipments-confluent.jsonl", "schema_mismatch"),
    ],
)
def test_binary_topics_get_a_canary_with_one_byte_more(topic: str, capture: str, kind: str) -> None:
    with (ROOT / "replay" / "captures" / capture).open("rb") as lines:
        messages = list(read_capture(lines))
    checker = ENGINE.checker(topic)
    assert checker is not None
    canaries = p.build_canaries(checker, messages, RUN)
    assert not checker.check(canaries.valid.value, canaries.valid.headers).violations
    assert canaries.drifting.value == canaries.valid.value + b"\x00"
    drift = checker.check(canaries.drifting.value, canaries.drifting.headers)
    assert [v.kind for v in drift.violations] == [kind]
    assert drift.violations == canaries.outcome.violations


def test_no_usable_example_is_a_usage_error() -> None:
    only_drift = [m for m in captures() if ENGINE.checker("orders").check(m.value, m.headers).violations]  # type: ignore[union-attr]
    with pytest.raises(UsageError, match="no example message"):
        p.build_canaries(ENGINE.checker("orders"), only_drift, RUN)


def test_the_expected_drift_id_is_the_one_the_worker_computes() -> None:
    canaries = built()
    expected = p.expected_drift(canaries.outcome, "orders", 3, 41, "json")
    assessor = Assessor(Policy(origin=p.ORIGIN, run_id=RUN))
    drift = assessor.assess(canaries.outcome, Ref("orders", 3, 41, None, canaries.drifting.key, "json"))
    assert drift is not None
    events = drift.events()
    assert [(e.drift_id, e.kind, e.path, e.requirement) for e in events] == [
        (x.drift_id, x.kind, x.path, x.requirement) for x in expected
    ]
    assert {e.origin for e in events} == {"probe"}
    assert p.expected_drift(canaries.outcome, "orders", 3, 42, "json") != expected  # the offset is part of it


def _events(expected: list[p.Expected], **changes: object) -> list[dict[str, object]]:
    return [
        {"drift_id": x.drift_id, "kind": x.kind, "path": x.path, "requirement": x.requirement, "origin": "probe"}
        | {"run_id": RUN}
        | changes
        for x in expected
    ]


def test_the_drift_step_passes_fails_and_says_what_to_do() -> None:
    expected = p.expected_drift(built().outcome, "orders", 0, 7, "json")
    assert p.drift_step(_events(expected), expected, RUN, "30 s").status == p.PASS
    missing = p.drift_step([], expected, RUN, "30 s")
    assert missing.status == p.FAIL
    assert "within 30 s" in missing.reason
    assert "worker" in missing.reason
    wrong = p.drift_step(_events(expected, origin="live"), expected, RUN, "30 s")
    assert wrong.status == p.FAIL
    assert "origin 'live' (expected 'probe')" in wrong.reason


def test_the_quiet_step_needs_the_drift_event_first() -> None:
    at = ("orders", 0, 6)
    assert p.quiet_step([], at, drift_arrived=False).status == p.SKIP
    assert p.quiet_step([], at, drift_arrived=True).status == p.PASS
    noisy = [{"kind": "type_mismatch", "path": "/x", "source": {"topic": "orders", "partition": 0, "offset": 6}}]
    failed = p.quiet_step(noisy, at, drift_arrived=True)
    assert failed.status == p.FAIL
    assert "type_mismatch at /x" in failed.reason


METRICS = """# HELP sentinel_probe_messages_total Canaries
# TYPE sentinel_probe_messages_total counter
sentinel_probe_messages_total{result="valid",topic="orders"} 2.0
sentinel_probe_messages_total{result="drift",topic="orders"} 3.0
sentinel_probe_messages_total{result="drift",topic="payments"} 9.0
sentinel_messages_total{covered="true",topic="orders"} 100.0
"""


def test_metrics_are_read_per_topic_and_compared_before_and_after() -> None:
    before = p.probe_counts(METRICS, "orders")
    assert before == {"valid": 2.0, "drift": 3.0}
    assert p.metrics_step(before, {"valid": 3.0, "drift": 4.0}).status == p.PASS
    failed = p.metrics_step(before, {"valid": 3.0, "drift": 3.0})
    assert failed.status == p.FAIL
    assert "drift canary" in failed.reason
    assert p.metrics_step(None, None).status == p.SKIP
    assert "--metrics-url" in p.metrics_step(None, None).reason
    assert p.metrics_step(None, None, "unreachable").reason == "unreachable"


def test_the_alert_step() -> None:
    expected = [p.Expected("a" * 32, "missing_required", "/order_id", "REQ-ORD-1")]
    assert p.alert_step(None, expected).status == p.SKIP
    assert p.alert_step(f'[{{"drift_id": "{"a" * 32}"}}]', expected).status == p.PASS
    failed = p.alert_step("[]", expected)
    assert failed.status == p.FAIL
    assert "alert_probes" in failed.reason


def test_a_failed_drive_skips_every_verify_step_and_the_worst_step_wins() -> None:
    drive = p.Step("drive", p.FAIL, "topic missing")
    steps = (drive, *p.skipped_after_drive("topic missing"))
    assert [s.name for s in steps] == list(p.STEPS)
    assert {s.status for s in steps[1:]} == {p.SKIP}
    assert p.outcome_of(steps) == p.FAIL
    assert p.outcome_of([p.Step("a", p.PASS, ""), p.Step("b", p.SKIP, "")]) == p.PASS


def report() -> p.Report:
    steps = (
        p.Step("drive", p.PASS, "produced"),
        p.Step("drift_event", p.FAIL, "no drift event <arrived> & so on"),
        p.Step("valid_quiet", p.SKIP, "silence proves nothing"),
        p.Step("metrics", p.SKIP, "no --metrics-url"),
        p.Step("alert", p.SKIP, "no --alert-receiver"),
    )
    return p.Report(RUN, "orders", steps, 1.5)


def test_junit_has_one_testcase_per_step_with_failure_and_skipped() -> None:
    text = p.render_junit(report())
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    suite = ET.fromstring(text.split("\n", 1)[1])
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == (
        "5",
        "1",
        "3",
        "0",
    )
    cases = list(suite.iter("testcase"))
    assert [c.get("name") for c in cases] == list(p.STEPS)
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "no drift event <arrived> & so on"  # escaped, read back intact
    assert all(c.find("skipped") is not None for c in cases[2:])
    assert cases[0].find("failure") is None
    assert cases[0].find("skipped") is None


def test_json_and_table() -> None:
    data = orjson.loads(p.render_json(report()))
    assert data["outcome"] == "fail"
    assert data["run_id"] == RUN
    assert [s["status"] for s in data["steps"]] == ["pass", "fail", "skip", "skip", "skip"]
    table = p.render_table(report())
    assert "FAIL  drift_event" in table
    assert table.rstrip().endswith("outcome: FAIL (1.5 s)")
