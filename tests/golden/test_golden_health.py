"""Golden tests of ``stream-sentinel report`` on a recorded week of the drift topic.

``replay/drift-topic/week.jsonl`` is what the worker's own code path publishes for a week of the
bundled captures (``replay/make_drift_topic.py``; a test below regenerates it byte for byte).
The reports in ``replay/golden/health/`` are reviewed output: a diff here is a change in what an
auditor, an issue tracker or a dashboard would see. Rewrite with ``make golden`` after review.

Test names carry the requirement IDs whose open breaking drift decides the report's exit code.
"""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path

import orjson
import pytest

from stream_sentinel.cli import run

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
WEEK = ROOT / "replay" / "drift-topic" / "week.jsonl"
GOLDEN = ROOT / "replay" / "golden" / "health"
PERIOD = ("--since", "2026-11-13T10:00:00Z", "--until", "2026-11-20T10:00:00Z", "--now", "2026-11-20T10:00:00Z")
SUFFIX = {"markdown": "md", "json": "json", "html": "html"}


def _report(fmt: str, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["report", "--spec", str(SPEC), "--input", str(WEEK), *PERIOD, "--format", fmt, *extra]
    code = run(argv, io.BytesIO(), out, err)
    return code, out.getvalue(), err.getvalue()


def _compare_or_update(request: pytest.FixtureRequest, path: Path, actual: str) -> None:
    if request.config.getoption("--update-goldens"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"no golden {path.relative_to(ROOT)}: run `make golden` and review it"
    assert actual == path.read_text(), f"{path.relative_to(ROOT)} differs (review, then `make golden`)"


@pytest.mark.parametrize("fmt", ["markdown", "json", "html"])
def test_golden_week_REQ_ORD_3_REQ_CRM_6_REQ_PAY_1_open_breaking(request: pytest.FixtureRequest, fmt: str) -> None:
    code, text, err = _report(fmt)
    assert code == 1, err  # open breaking drift: REQ-ORD-3 (back on the last day), REQ-CRM-6, REQ-PAY-1
    _compare_or_update(request, GOLDEN / f"week.{SUFFIX[fmt]}", text)


def test_week_verdict_names_the_open_breaking_requirements() -> None:
    _, text, _ = _report("json")
    report = orjson.loads(text)
    open_breaking = {
        r["requirement"]
        for t in report["topics"]
        for r in t["rules"]
        if r["state"] == "open" and r["severity"] == "breaking"
    }
    assert open_breaking == {"REQ-ORD-3", "REQ-CRM-6", "REQ-PAY-1"}
    statuses = {t["topic"]: t["status"] for t in report["topics"]}
    assert statuses == {
        "orders": "drifting",
        "payments": "drifting",
        "customers.profile": "drifting",
        "clickstream": "uncovered",
        "inventory": "silent",
        "shipments": "silent",
    }
    assert report["verdict"]["exit_code"] == 1


def test_REQ_ORD_2_REQ_ORD_5_fixed_after_clean_orders_traffic() -> None:
    _, text, _ = _report("json")
    orders = next(t for t in orjson.loads(text)["topics"] if t["topic"] == "orders")
    state = {r["requirement"]: r["state"] for r in orders["rules"] if r["requirement"] in ("REQ-ORD-2", "REQ-ORD-5")}
    assert state == {"REQ-ORD-2": "fixed", "REQ-ORD-5": "fixed"}


def test_a_week_without_the_last_day_has_no_REQ_ORD_3_relapse() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["report", "--spec", str(SPEC), "--input", str(WEEK), "--format", "json"]
    argv += ["--since", "2026-11-13T10:00:00Z", "--until", "2026-11-20T00:00:00Z", "--now", "2026-11-20T00:00:00Z"]
    assert run(argv, io.BytesIO(), out, err) == 1, err.getvalue()
    orders = next(t for t in orjson.loads(out.getvalue())["topics"] if t["topic"] == "orders")
    [rule] = [r for r in orders["rules"] if r["requirement"] == "REQ-ORD-3"]
    assert rule["state"] == "fixed"  # fixed by the clean orders of 11-16, before it came back on 11-20


def test_the_recorded_week_is_what_the_worker_code_path_publishes() -> None:
    sys.path.insert(0, str(ROOT / "replay"))
    try:
        make_drift_topic = importlib.import_module("make_drift_topic")
    finally:
        sys.path.remove(str(ROOT / "replay"))
    lines = make_drift_topic.record_week()
    assert b"\n".join(lines) + b"\n" == WEEK.read_bytes()


def test_affected_consumers_from_a_file_are_rendered_REQ_ORD_3(tmp_path: Path) -> None:
    consumers = tmp_path / "consumers.json"
    consumers.write_bytes(
        orjson.dumps(
            {
                "orders": [
                    {"group": "billing", "past_first_drift": True, "drifting_messages": 3},
                    {"group": "search-indexer", "past_first_drift": False, "drifting_messages": 0},
                ]
            }
        )
    )
    code, text, err = _report("markdown", "--consumers", str(consumers))
    assert code == 1, err
    orders = text.split("**orders**", 1)[1].split("**payments**", 1)[0]
    assert "| billing | yes | 3 |" in orders
    assert "| search-indexer | no | 0 |" in orders
    assert "No consumer group reads this topic." in text.split("**customers.profile**", 1)[1].split("**orders**")[0]
    bad = tmp_path / "bad.json"
    bad.write_text('{"orders": [{"past_first_drift": true}]}')
    code, _, err = _report("json", "--consumers", str(bad))
    assert code == 2
    assert "expected a list of" in err


def test_a_recording_is_read_as_of_its_last_record_REQ_ORD_3() -> None:
    """Without --now or --until, a recorded week is reported as of its end, not of today's clock."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["report", "--spec", str(SPEC), "--input", str(WEEK), "--format", "json"]
    assert run(argv, io.BytesIO(), out, err) == 1, err.getvalue()
    assert "reading a recording as of its last record (2026-11-20T09:56:00.001Z" in err.getvalue()
    report = orjson.loads(out.getvalue())
    orders = next(t for t in report["topics"] if t["topic"] == "orders")
    assert orders["status"] == "drifting"
