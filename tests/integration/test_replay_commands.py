"""replay's time lookups checked against the record timestamps, and --max-payload-bytes, on a real broker.

Records are produced with explicit CreateTime timestamps hours in the past (aiokafka
``timestamp_ms``), as a mirror or a backfill does. A broker that looks times up by append time
(the embedded Tansu) then answers offset 0 for every time in the past: replay must refuse that
answer (exit 3), never read the wrong range. On Apache Kafka (SENTINEL_TEST_BOOTSTRAP) the answer
is right and exactly the records at or after the time are read.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import time

import pytest
from aiokafka import AIOKafkaProducer

from stream_sentinel.cli import run

from .conftest import Harness, order_messages, unique

pytestmark = pytest.mark.integration

MINUTE = 60_000
AGES = (180, 120, 60, 10)  # minutes before now, in offset order, all in partition 0


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), sys.stdin.buffer, out, err)
    return code, out.getvalue(), err.getvalue()


async def produce_aged(bootstrap: str, topic: str, now_ms: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        messages = order_messages()
        for i, age in enumerate(AGES):
            value, headers = messages[i]
            await producer.send_and_wait(
                topic, value, partition=0, headers=list(headers), timestamp_ms=now_ms - age * MINUTE
            )
    finally:
        await producer.stop()


def replay_json(harness: Harness, *extra: str) -> tuple[int, dict[str, object] | None, str]:
    code, out, err = cli(
        "replay",
        "--bootstrap",
        harness.bootstrap,
        "--topic",
        harness.topic,
        "--spec",
        str(harness.spec),
        "--format",
        "json",
        *extra,
    )
    return code, (json.loads(out) if code in (0, 1) else None), err


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        (("--from-time", "-30m"), 1),  # only the 10-minute-old record
        (("--from-time", "-90m"), 2),
        (("--to-time", "-2h"), 1),  # only the 3-hour-old record ("at or after 2 h ago" stops before 120 min)
    ],
)
def test_a_time_lookup_the_record_timestamps_contradict_is_refused_not_replayed(
    harness: Harness, bound: tuple[str, str], expected: int
) -> None:
    asyncio.run(produce_aged(harness.bootstrap, harness.topic, round(time.time() * 1000)))
    code, report, err = replay_json(harness, *bound)
    if report is None:  # the broker's answer was refused (the embedded Tansu)
        assert code == 3, err
        assert err.count("\n") == 1
        assert f"{harness.topic}[0]: the broker's offset for " in err
        assert "time lookup cannot be trusted" in err
    else:  # the broker answered right (Apache Kafka): exactly the records in the range
        assert report["current"]["messages"] == expected, err  # type: ignore[index]


def test_a_time_lookup_the_records_confirm_is_replayed(harness: Harness) -> None:
    asyncio.run(produce_aged(harness.bootstrap, harness.topic, round(time.time() * 1000)))
    # Before every record: offset 0 is right; after every record: no record that late.
    code, report, err = replay_json(harness, "--from-time", "-200m")
    assert code in (0, 1), err
    assert report is not None
    assert report["current"]["messages"] == len(AGES)  # type: ignore[index]
    code, report, err = replay_json(harness, "--from-offset", "0", "--to-time", "now")
    assert code in (0, 1), err
    assert report is not None
    assert report["current"]["messages"] == len(AGES)  # type: ignore[index]


def test_replay_reports_payloads_over_max_payload_bytes_as_oversized(harness: Harness) -> None:
    harness.produce(order_messages()[:3])
    code, report, err = replay_json(harness, "--max-payload-bytes", "10")
    assert code == 1, err
    assert report is not None
    assert report["current"]["by_kind"] == {"oversized": 3}  # type: ignore[index]
    code, report, err = replay_json(harness)
    assert report is not None
    assert "oversized" not in report["current"]["by_kind"]  # type: ignore[index]


def test_rewind_to_a_time_the_record_timestamps_contradict_is_refused(harness: Harness) -> None:
    asyncio.run(produce_aged(harness.bootstrap, harness.topic, round(time.time() * 1000)))
    group = unique("aged")
    code, out, err = cli(
        "rewind", "--bootstrap", harness.bootstrap, "--group", group, "--topic", harness.topic, "--to-time", "-30m"
    )
    if code == 3:  # the embedded Tansu: offset 0 for a time after three of the four records
        assert err.count("\n") == 1
        assert "time lookup cannot be trusted" in err
        assert out == ""
    else:  # Apache Kafka: the 10-minute-old record, offset 3
        assert code == 0, err
        assert re.search(rf"^{re.escape(harness.topic)}\[0\] +- +3 +-$", out, re.MULTILINE)
