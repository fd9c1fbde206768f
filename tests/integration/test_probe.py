"""``stream-sentinel probe`` end to end: canaries through a real worker on the embedded broker.

A passing probe against a running worker (JUnit output validated), a failing one (no worker: step 1
fails with a reason), no broker (exit 3, one line), and canaries never reaching alert sinks or the
windows' rates (a loopback webhook receiver, the traffic and summary records).
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import orjson
import pytest

from stream_sentinel.cli import run
from stream_sentinel.embedded import free_port
from stream_sentinel.testing import create_topics
from tests.integration.conftest import Harness, Message, wait_for
from tests.integration.test_alerts import Webhooks
from tests.integration.test_quarantine import DRIFTING, HEADERS, VALID

pytestmark = pytest.mark.integration


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), sys.stdin.buffer, out, err)
    return code, out.getvalue(), err.getvalue()


def probe(harness: Harness, *extra: str) -> tuple[int, str, str]:
    return cli(
        "probe",
        "--topic",
        harness.topic,
        "--spec",
        str(harness.spec),
        "--bootstrap",
        harness.bootstrap,
        "--drift-topic",
        harness.drift_topic,
        *extra,
    )


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in report["steps"]}


def test_a_probe_passes_against_a_running_worker_and_junit_shows_each_step(harness: Harness) -> None:
    _, port = harness.start_worker()
    metrics = f"http://127.0.0.1:{port}/metrics"
    code, out, err = probe(harness, "--metrics-url", metrics, "--timeout", "60", "--format", "junit")
    assert code == 0, (out, err, harness.logs())
    suite = ET.fromstring(out.split("\n", 1)[1])
    assert suite.tag == "testsuite"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["drive", "drift_event", "valid_quiet", "metrics", "alert"]
    assert suite.get("tests") == "5"
    assert suite.get("failures") == "0"
    assert suite.get("skipped") == "1"
    assert cases["alert"].find("skipped") is not None  # no --alert-receiver
    assert all(cases[n].find("failure") is None and cases[n].find("skipped") is None for n in list(cases)[:4])
    _, body = harness.http(port, "/metrics")
    assert f'sentinel_probe_messages_total{{result="valid",topic="{harness.topic}"}} 1.0'.encode() in body
    assert f'sentinel_probe_messages_total{{result="drift",topic="{harness.topic}"}} 1.0'.encode() in body
    assert f'sentinel_messages_total{{covered="true",topic="{harness.topic}"}}'.encode() not in body
    # The probe's drift event: origin probe, the run id, on the drift topic.
    run_id = next(p.get("value") for p in suite.iter("property") if p.get("name") == "run_id")
    drift = harness.drift(expect=1, until=lambda rs: any(r.get("run_id") == run_id for r in rs))
    mine = [r for r in drift if r.get("run_id") == run_id]
    assert mine
    assert {r["origin"] for r in mine} == {"probe"}


def test_a_probe_without_a_worker_fails_step_one_with_a_reason(harness: Harness) -> None:
    asyncio.run(create_topics(harness.bootstrap, [harness.drift_topic], 4))
    code, out, err = probe(harness, "--timeout", "4", "--format", "json")
    assert code == 1, (out, err)
    report = orjson.loads(out)
    assert report["outcome"] == "fail"
    assert statuses(report) == {
        "drive": "pass",
        "drift_event": "fail",
        "valid_quiet": "skip",
        "metrics": "skip",
        "alert": "skip",
    }
    reason = report["steps"][1]["reason"]
    assert "no drift event" in reason
    assert "worker" in reason


def test_a_probe_without_a_broker_exits_3_in_one_line(tmp_path: Path) -> None:
    code, out, err = cli(
        "probe", "--topic", "orders", "--bootstrap", f"127.0.0.1:{free_port()}", "--timeout", "2", "--format", "json"
    )
    assert code == 3, (out, err)
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("stream-sentinel: cannot reach the Kafka brokers")


def _traffic(records: list[dict[str, Any]], topic: str) -> int:
    return sum(r["messages"] for r in records if r["type"] == "traffic" and r["topic"] == topic and not r["event_type"])


def test_canaries_never_reach_alert_sinks_or_the_windows_rates(harness: Harness) -> None:
    with Webhooks() as hooks:
        routes = [{"owner": "*", "url": hooks.url("json"), "min_severity": "info", "name": "all"}]
        harness.start_worker(
            alert_routes=orjson.dumps(routes).decode(),
            alert_mode="every",
            alert_backoff="0.1",
            tumbling_window="2",
            hopping_window="4",
            hopping_step="2",
        )
        code, out, err = probe(harness, "--timeout", "60", "--format", "json")
        assert code == 0, (out, err, harness.logs())
        run_id = orjson.loads(out)["run_id"]
        live: list[Message] = [(VALID, tuple(HEADERS)), (VALID, tuple(HEADERS)), (DRIFTING, tuple(HEADERS))]
        harness.produce(live)
        bodies = wait_for(lambda: hooks.bodies("json"), timeout=60)
        records = harness.drift(expect=1, timeout=60, until=lambda rs: _traffic(rs, harness.topic) >= len(live))
        time.sleep(5)  # windows of 2 s: anything the canaries added would be closed and published by now
        records = harness.drift(expect=1, timeout=30, until=lambda rs: _traffic(rs, harness.topic) >= len(live))
        bodies = hooks.bodies("json")

    assert bodies, harness.logs()
    assert all(run_id not in orjson.dumps(b).decode() for b in bodies)  # the live drift alerted, no canary did
    assert _traffic(records, harness.topic) == len(live)  # the two canaries are in no traffic count
    probe_events = [r for r in records if r.get("run_id") == run_id]
    assert probe_events
    assert all(r["origin"] == "probe" for r in probe_events)
    summaries = [r for r in records if r["type"] == "summary" and r["topic"] == harness.topic]
    assert summaries  # the live drift is summarised...
    assert {r["fingerprint"] for r in probe_events}.isdisjoint(r["fingerprint"] for r in summaries)  # ...no canary


def test_the_built_in_probe_runs_in_the_worker_and_exports_its_outcome(harness: Harness) -> None:
    captures = Path(__file__).resolve().parents[2] / "replay" / "captures"
    _, port = harness.start_worker(
        probe_interval="1", probe_topic=harness.topic, probe_examples=str(captures), probe_timeout="30"
    )

    def passed() -> bytes | None:
        _, body = harness.http(port, "/metrics")
        return body if b'sentinel_probe_runs_total{result="pass"} 0.0' not in body else None

    body = wait_for(passed, timeout=90)
    assert b'sentinel_probe_runs_total{result="pass"}' in body, harness.logs()
    assert b"sentinel_probe_last_success_timestamp_seconds 0.0" not in body
    assert f'sentinel_probe_messages_total{{result="drift",topic="{harness.topic}"}}'.encode() in body
    assert "event=probe" in harness.logs()
