"""Behavioural rules in the worker against a real broker: repartitioned state, deadlines, crash recovery.

Each test copies the example spec with unique names for orders, payments and shipments (the
rules refer to topics by name), so its rules topic, table changelog and drift topic are its own.
Messages are valid ones from the example captures, re-keyed or given a chosen order id.
"""

from __future__ import annotations

import asyncio
import functools
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream_sentinel.core.capture import read_capture
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.testing import create_topics
from tests.integration.conftest import PARTITIONS, ROOT, SPEC, Harness, unique, wait_for

pytestmark = pytest.mark.integration
CAPTURES = ROOT / "replay" / "captures"
Record = tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]  # key, value, headers


def rules_topics(h: Harness, within: str | None = None) -> dict[str, str]:
    """Give payments and shipments unique names in the harness's spec copy (orders has one already)."""
    names = {"orders": h.topic, "payments": unique("payments"), "shipments": unique("shipments")}
    catalog = (h.spec / "catalog.yaml").read_text()
    head, rules = catalog.split("\nrules:\n", 1)
    for old in ("payments", "shipments"):
        head = head.replace(f"\n  {old}:\n", f"\n  {names[old]}:\n", 1)
    rules = re.sub(r"(?<=[{ ])(orders|payments|shipments)(?=:)", lambda m: names[m.group(1)], rules)
    if within is not None:
        rules = rules.replace("within: 30m", f"within: {within}")
    (h.spec / "catalog.yaml").write_text(head + "\nrules:\n" + rules)
    asyncio.run(create_topics(h.bootstrap, [names["payments"], names["shipments"]], PARTITIONS))
    return names


def valid(capture: str, topic: str, event_type: str) -> Iterator[tuple[Record, Any]]:
    """Valid messages of one event type from an example capture, with their decoded payloads."""
    check = Engine.from_spec_dir(str(SPEC)).keeping_check(topic, lambda _: True)
    with (CAPTURES / capture).open("rb") as lines:
        for m in read_capture(lines):
            outcome = check(m.value, m.headers)
            if not outcome.violations and outcome.event_type == event_type and m.value is not None:
                yield (str(m.key or "").encode(), m.value, m.headers), outcome.payload


@functools.cache
def template(event_type: str) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
    (_, value, headers), _ = next(valid("orders-mixed.jsonl", "orders", event_type))
    return value, headers


def order(event_type: str, order_id: str) -> Record:
    """A valid orders message of ``event_type`` for ``order_id`` (a capture's, with the id replaced)."""
    value, headers = template(event_type)
    payload = orjson.loads(value)
    payload["order_id"] = order_id
    return order_id.encode(), orjson.dumps(payload), headers


def produce(h: Harness, topic: str, records: list[Record]) -> list[tuple[int, int]]:
    async def send() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=h.bootstrap, linger_ms=0)
        await producer.start()
        try:
            out = []
            for key, value, headers in records:
                meta = await producer.send_and_wait(topic, value, key=key, headers=list(headers))
                out.append((meta.partition, meta.offset))
            return out
        finally:
            await producer.stop()

    return asyncio.run(send())


def of_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("type") == "drift" and r["kind"] == kind]


def test_an_illegal_transition_across_two_topics_is_reported_with_its_rule_REQ_ORD_10(harness: Harness) -> None:
    names = rules_topics(harness)
    (shipment, payload) = next(valid("shipments-confluent.jsonl", "shipments", "ShipmentDispatched"))
    order_id = payload["order_id"]
    harness.start_worker(alert_mode="every", rules_enabled="true")
    [(o_partition, o_offset)] = produce(harness, names["orders"], [order("OrderCreated", order_id)])
    time.sleep(2.0)  # the OrderCreated fact is applied first (the rule judges late deliveries by reachability)
    [(s_partition, s_offset)] = produce(harness, names["shipments"], [(order_id.encode(), shipment[1], shipment[2])])
    records = harness.drift(expect=1, until=lambda r: bool(of_kind(r, "illegal_transition")))
    [found] = of_kind(records, "illegal_transition")
    assert found["rule_path"] == "rule:order-lifecycle", harness.logs()
    assert found["requirement"] == "REQ-ORD-10"
    assert found["source"]["topic"] == names["shipments"]
    assert (found["source"]["partition"], found["source"]["offset"]) == (s_partition, s_offset)
    assert found["actual"]["value"] == "OrderCreated -> ShipmentDispatched"
    assert found["rule"] == "order-lifecycle"
    related = found["related"]  # the earlier message: the OrderCreated on the other topic
    assert (related["topic"], related["partition"], related["offset"]) == (names["orders"], o_partition, o_offset)


def test_a_payment_id_authorised_twice_is_a_duplicate_REQ_PAY_10(harness: Harness) -> None:
    names = rules_topics(harness)
    payment, payload = next(valid("payments-avro.jsonl", "payments", "PaymentAuthorized"))
    harness.start_worker(alert_mode="every", rules_enabled="true")
    coords = produce(harness, names["payments"], [payment, payment])
    records = harness.drift(expect=1, until=lambda r: bool(of_kind(r, "duplicate")))
    [found] = of_kind(records, "duplicate")
    assert found["rule_path"] == "rule:payment-once", harness.logs()
    assert (found["source"]["partition"], found["source"]["offset"]) == coords[1]
    assert (found["related"]["partition"], found["related"]["offset"]) == coords[0]  # the first occurrence
    assert payload["payment_id"]  # the rule's id field is there in the message


def test_a_missing_follow_up_fires_on_an_idle_lane_once_its_deadline_passed_REQ_PAY_11(harness: Harness) -> None:
    names = rules_topics(harness, within="2s")
    harness.start_worker(alert_mode="every", tumbling_window="4", rules_enabled="true")  # ticks every second
    [(partition, offset)] = produce(harness, names["orders"], [order("OrderCreated", "ord_000000000001")])
    started = time.monotonic()
    records = harness.drift(expect=1, timeout=60, until=lambda r: bool(of_kind(r, "missing_followup")))
    [found] = of_kind(records, "missing_followup")
    assert found["rule_path"] == "rule:payment-after-order", harness.logs()
    assert (found["source"]["topic"], found["source"]["partition"], found["source"]["offset"]) == (
        names["orders"],
        partition,
        offset,
    )
    assert time.monotonic() - started < 45


def test_kill_9_mid_stream_then_restart_reports_no_false_rule_drift_and_keeps_state_REQ_ORD_10(
    harness: Harness,
) -> None:
    names = rules_topics(harness)
    ids = [f"ord_{i:012d}" for i in range(120)]
    stream = [r for i in ids for r in (order("OrderCreated", i), order("OrderCancelled", i))]
    first, port = harness.start_worker("a", alert_mode="every", batch_size="20", rules_enabled="true")
    produce(harness, names["orders"], stream[: len(stream) // 2])

    def rule_entities() -> float:
        _, body = harness.http(port, "/metrics")
        found = re.search(rb"^sentinel_rule_entities (\S+)$", body, re.M)
        return float(found.group(1)) if found else 0.0

    wait_for(lambda: rule_entities() >= 20, 60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    produce(harness, names["orders"], stream[len(stream) // 2 :])
    # Another data dir: worker "b" has the rule state only through the table's changelog.
    harness.start_worker("b", alert_mode="every", batch_size="20", rules_enabled="true")
    # A second OrderCreated for an order cancelled before the crash: illegal only if the state survived.
    [again] = produce(harness, names["orders"], [order("OrderCreated", ids[0])])
    records = harness.drift(expect=1, timeout=90, settle=3.0, until=lambda r: bool(of_kind(r, "illegal_transition")))
    false = [
        r for r in records if r.get("type") == "drift" and (r["source"]["partition"], r["source"]["offset"]) != again
    ]
    assert not false, ([(r["kind"], r["source"]) for r in false][:5], harness.logs())
    kinds = {r["kind"] for r in of_kind(records, "illegal_transition")}
    assert kinds == {"illegal_transition"}
    assert {r["actual"]["value"] for r in of_kind(records, "illegal_transition")} == {"OrderCancelled -> OrderCreated"}
