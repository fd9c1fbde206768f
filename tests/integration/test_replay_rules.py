"""Behavioural rules in ``replay`` on a real broker (embedded Tansu, or SENTINEL_TEST_BOOTSTRAP).

Each test has its own orders and payments topics (one partition each, so offsets are simple)
and a spec copy whose catalog and rules name them. Records keep the capture's event times.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from stream_sentinel.cli import run
from stream_sentinel.core.capture import CapturedMessage, read_capture
from stream_sentinel.testing import create_topics

from .conftest import ROOT, SPEC, unique

pytestmark = pytest.mark.integration


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), sys.stdin.buffer, out, err)
    return code, out.getvalue(), err.getvalue()


class Topics:
    """A unique orders/payments pair, created on the broker, and a spec copy naming them."""

    def __init__(self, bootstrap: str, tmp_path: Path, *, strict_start: bool = False) -> None:
        self.bootstrap = bootstrap
        self.orders, self.payments = unique("orders"), unique("payments")
        self.spec = tmp_path / "spec"
        shutil.copytree(SPEC, self.spec)
        catalog = (self.spec / "catalog.yaml").read_text()
        catalog = catalog.replace("\n  orders:\n", f"\n  {self.orders}:\n", 1)
        catalog = catalog.replace("\n  payments:\n", f"\n  {self.payments}:\n", 1)
        catalog = catalog.replace("{orders: ", f"{{{self.orders}: ").replace("payments: ", f"{self.payments}: ")
        if strict_start:  # the order lifecycle must be seen from its start: an unknown past is an alarm
            catalog = catalog.replace(
                "    initial: [OrderCreated]\n", "    initial: [OrderCreated]\n    strict_start: true\n"
            )
        (self.spec / "catalog.yaml").write_text(catalog)
        asyncio.run(create_topics(bootstrap, [self.orders, self.payments], 1))

    def produce(self, messages: list[CapturedMessage]) -> None:
        """Send captured records to our topics, with their keys, headers and event times."""
        asyncio.run(self._produce(messages))

    async def _produce(self, messages: list[CapturedMessage]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0)
        await producer.start()
        try:
            for m in messages:
                topic = self.orders if m.topic == "orders" else self.payments
                key = m.key.encode() if m.key is not None else None
                await producer.send_and_wait(
                    topic, m.value, key=key, headers=list(m.headers), timestamp_ms=m.timestamp, partition=0
                )
        finally:
            await producer.stop()

    def replay(self, *extra: str) -> tuple[int, str, str]:
        return cli(
            "replay",
            "--bootstrap",
            self.bootstrap,
            "--topic",
            self.orders,
            "--topic",
            self.payments,
            "--spec",
            str(self.spec),
            "--no-progress",
            *extra,
        )


def captured(name: str, hours: int = 0) -> list[CapturedMessage]:
    """A capture's records, each once (a redelivered line is the broker's doing, not a second
    record), ``hours`` later: captures follow each other in time on one partition."""
    with (ROOT / "replay" / "captures" / f"{name}.jsonl").open("rb") as lines:
        unique_records = {(m.topic, m.partition, m.offset): m for m in read_capture(lines)}
    shift = hours * 3_600_000
    return [replace(m, timestamp=(m.timestamp or 0) + shift) for m in unique_records.values()]


def test_replay_judges_the_rules_whatever_order_the_topics_are_read_in(bootstrap: str, tmp_path: Path) -> None:
    """Replay reads one topic's partition before the other's: payments arrive after later orders."""
    topics = Topics(bootstrap, tmp_path)
    topics.produce(
        captured("req-pay-10-duplicate-payment")
        + captured("req-pay-11-missing-payment", hours=2)
        + captured("rules-no-false-alarms", hours=4)
    )
    code, out, err = topics.replay("--format", "jsonl")
    assert code == 1, err
    events = [json.loads(line) for line in out.splitlines()]
    found = sorted((e["kind"], e["requirement"], e["event_type"], e["source"]["topic"]) for e in events)
    # The missing-payment capture's last two orders, not judged at its own end, are judged here:
    # the later capture's events pass their deadlines, and no payment came.
    assert found == [
        ("duplicate", "REQ-PAY-10", "PaymentAuthorized", topics.payments),
        *[("missing_followup", "REQ-PAY-11", "OrderCreated", topics.orders)] * 3,
    ]
    assert all(e["origin"] == "replay" and e["run_id"] for e in events)

    code, out, err = topics.replay("--format", "json", "--no-rules")
    assert code == 0, err
    assert json.loads(out)["current"]["drift_events"] == 0


def test_warm_up_from_gives_entities_their_past_and_suppresses_a_false_alarm(bootstrap: str, tmp_path: Path) -> None:
    topics = Topics(bootstrap, tmp_path, strict_start=True)
    x, z = "ord_warmup000001", "ord_warmup000003"
    created = next(m for m in captured("req-pay-11-missing-payment") if m.topic == "orders")
    paid = next(m for m in captured("req-pay-11-missing-payment") if m.topic == "payments")

    def as_order(m: CapturedMessage, order_id: str) -> CapturedMessage:
        """The record about another order (ids have a fixed length, so Avro bytes stay valid)."""
        assert m.value is not None
        assert m.key is not None
        value = m.value.replace(m.key.encode(), order_id.encode())
        value = re.sub(rb"pay_[0-9a-z]{12}", b"pay_" + order_id[4:].encode(), value)  # a payment id per order
        return m.__class__(m.topic, 0, 0, m.timestamp, order_id, m.headers, value)

    # orders: X created (offset 0); payments: Z paid (0), X paid (1).
    topics.produce([as_order(created, x), as_order(paid, z), as_order(paid, x)])
    # From offset 1: X's creation is before the range, so its payment is a strict-start alarm ...
    code, out, err = topics.replay("--from-offset", "1", "--format", "jsonl")
    assert code == 1, err
    events = [json.loads(line) for line in out.splitlines()]
    [event] = events
    assert (event["kind"], event["event_type"], event["actual"]["value"]) == (
        "illegal_transition",
        "PaymentAuthorized",
        "(none) -> PaymentAuthorized",
    )
    # ... which warming the rules up from the earliest offset removes; Z's alarm in the warm-up is not reported.
    code, out, err = topics.replay("--from-offset", "1", "--warm-up-from", "earliest", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["current"]["messages"] == 1
    assert report["current"]["drift_events"] == 0
    assert report["warm_up"] == {"start": "earliest", "records": 2}

    code, out, err = topics.replay("--from-offset", "1", "--warm-up-from", "1")
    assert code == 2
    assert "--warm-up-from 1: must be before the range's start (offset 1)" in err
    # The same from a job file, and ``rules: false`` there turns the rules off.
    job = tmp_path / "warm.yaml"
    job.write_text("from: {offset: 1}\nwarm_up_from: earliest\nformat: json\n")
    code, out, err = topics.replay("--job", str(job))
    assert code == 0, err
    assert json.loads(out)["warm_up"] == {"start": "earliest", "records": 2}
    job.write_text("from: {offset: 1}\nrules: false\nformat: json\n")
    code, out, err = topics.replay("--job", str(job))
    assert code == 0, err
    assert json.loads(out)["current"]["drift_events"] == 0
