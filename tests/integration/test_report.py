"""``stream-sentinel report`` on the embedded broker: the drift topic read by time, the verdict as exit code.

The recorded week (replay/drift-topic/week.jsonl, published by the worker's code path) is
re-timed to end now and produced to a unique drift topic; ``report`` runs in-process against the
broker and must find what the golden tests find offline.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream_sentinel.cli import run
from stream_sentinel.core.capture import read_capture
from stream_sentinel.testing import create_topics

from .conftest import SPEC, Harness, order_messages, unique

pytestmark = pytest.mark.integration
WEEK = Path(__file__).resolve().parents[2] / "replay" / "drift-topic" / "week.jsonl"
MINUTE = 60_000


def retimed(delta: int) -> list[tuple[bytes, dict[str, Any]]]:
    """The week's records with every event time moved by ``delta`` ms (window alignment kept)."""
    out = []
    for message in read_capture(WEEK.read_bytes().splitlines()):
        record = orjson.loads(message.value or b"null")
        if "window" in record:
            record["window"] = {**record["window"], "start": record["window"]["start"] + delta}
            record["window"]["end"] += delta
        if record["type"] == "drift" and record["source"]["timestamp"] is not None:
            record["source"] = {**record["source"], "timestamp": record["source"]["timestamp"] + delta}
        if record.get("observed_at") is not None:
            record["observed_at"] += delta
        out.append(((message.key or "").encode(), record))
    return out


async def publish(bootstrap: str, topic: str, records: list[tuple[bytes, dict[str, Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for key, record in records:  # one per request, as the harness produces (batches are not needed here)
            await producer.send_and_wait(topic, orjson.dumps(record), key=key)
    finally:
        await producer.stop()


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), sys.stdin.buffer, out, err)
    return code, out.getvalue(), err.getvalue()


def test_report_reads_the_drift_topic_by_time_REQ_ORD_3_open(bootstrap: str, tmp_path: Path) -> None:
    drift_topic = unique("drift")
    asyncio.run(create_topics(bootstrap, [drift_topic], 4))
    last_window = max(r["window"]["start"] for _, r in retimed(0) if "window" in r)
    now = round(time.time() * 1000)
    delta = (now - now % MINUTE - 5 * MINUTE) - last_window
    asyncio.run(publish(bootstrap, drift_topic, retimed(delta)))

    base = ("report", "--bootstrap", bootstrap, "--drift-topic", drift_topic, "--spec", str(SPEC), "--since", "8d")
    code, out, err = cli(*base, "--format", "json")
    assert code == 1, err
    report = orjson.loads(out)
    statuses = {t["topic"]: t["status"] for t in report["topics"]}
    assert statuses["orders"] == "drifting"
    assert statuses["clickstream"] == "uncovered"
    assert statuses["inventory"] == "silent"
    orders = next(t for t in report["topics"] if t["topic"] == "orders")
    [rule] = [r for r in orders["rules"] if r["requirement"] == "REQ-ORD-3"]
    assert (rule["state"], rule["count"], rule["owner"]) == ("open", 3, "team-orders")
    assert report["records"]["drift"] == 20
    assert report["records"]["summary"] == 20

    output = tmp_path / "report.html"
    code, _, err = cli(*base, "--format", "html", "--output", str(output))
    assert code == 1, err
    page = output.read_text()
    assert 'data-topic="orders" data-status="drifting"' in page
    assert "REQ-ORD-3" in page

    # The last three minutes hold no drift (the recording ends five minutes ago): nothing open, exit 0.
    code, out, err = cli(*base[:-2], "--since", "3m", "--format", "json")
    assert code == 0, err
    assert orjson.loads(out)["verdict"]["open"] == 0


def test_report_on_a_missing_drift_topic_is_a_usage_error(bootstrap: str) -> None:
    code, _, err = cli("report", "--bootstrap", bootstrap, "--drift-topic", unique("nothing"), "--spec", str(SPEC))
    assert code == 2, err
    assert "does not exist" in err
    assert err.count("\n") == 1


def test_report_on_a_live_worker_counts_its_traffic_records_REQ_SEN_5(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = order_messages()
    harness.start_worker(alert_mode="first", tumbling_window="2", hopping_window="4", hopping_step="2")
    harness.produce(messages)

    def all_counted(records: list[dict[str, Any]]) -> bool:
        wide = [r for r in records if r["type"] == "traffic" and r["event_type"] is None]
        return bool(sum(r["messages"] for r in wide) >= len(messages))

    records = harness.drift(expect=1, timeout=60, settle=1.0, until=all_counted)
    group = unique("billing")
    consumed = asyncio.run(consume_all(harness.bootstrap, harness.topic, group, len(messages)))
    assert {r["topic"] for r in records if r["type"] == "traffic"} == {harness.topic}
    monkeypatch.setenv("SENTINEL_TUMBLING_WINDOW", "2")
    monkeypatch.setenv("SENTINEL_APP_ID", harness.app_id)  # the worker's settings: its own group is left out
    code, out, err = cli(
        "report",
        "--bootstrap",
        harness.bootstrap,
        "--drift-topic",
        harness.drift_topic,
        "--spec",
        str(harness.spec),
        "--since",
        "1h",
        "--format",
        "json",
    )
    assert code == 1, err
    report = orjson.loads(out)
    assert report["coverage"]["traffic_known"] is True
    topic = next(t for t in report["topics"] if t["topic"] == harness.topic)
    assert topic["status"] == "drifting"
    assert topic["messages"] == len(messages)
    assert topic["owner"] == "team-orders"
    assert {r["requirement"] for r in topic["rules"] if r["severity"] == "breaking"} >= {"REQ-ORD-3"}
    # Affected consumers, from the admin API: the group read everything, drifting messages included.
    [billing] = [c for c in topic["consumers"] if c["group"] == group]
    assert consumed == len(messages)
    assert billing["past_first_drift"] is True
    assert billing["drifting_messages"] >= 1
    assert billing["pending"] == 0
    assert not [c for c in topic["consumers"] if c["group"].startswith(harness.app_id)]  # the sentinel's own


async def consume_all(bootstrap: str, topic: str, group: str, expect: int) -> int:
    """Read ``topic`` to its end as consumer group ``group`` and commit, as an application would."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        seen = 0
        deadline = time.monotonic() + 30
        while seen < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            seen += sum(len(records) for records in batch.values())
        await consumer.commit()
        return seen
    finally:
        await consumer.stop()
