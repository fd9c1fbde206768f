"""The worker's rules stage without a broker: facts from the validate stage, findings before state, ticks.

The table is a dict here (Faust's needs an agent's current event); the order that matters —
drift handed to the broker and acknowledged before the entity's state is written — is checked
by looking at the table at the moment the drift record is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import Any

import orjson

from stream_sentinel.config import Settings
from stream_sentinel.core.capture import read_capture
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.rules.engine import state_key
from stream_sentinel.core.rules.model import Fact
from stream_sentinel.worker.rules import TableStore, decode, encode_facts
from stream_sentinel.worker.sentinel import Sentinel
from tests.shell.test_worker_batch import HEADERS, NOW, SPEC, Published, event

NOW_MS = round(NOW * 1000)
ENTITY = "ord_0123456789ab"
CAPTURE = SPEC.parents[1] / "replay" / "captures" / "orders-mixed.jsonl"


def valid_order() -> dict[str, Any]:
    """A valid OrderCreated v2 payload from the example capture."""
    checker = Engine.from_spec_dir(str(SPEC)).checker("orders")
    assert checker is not None
    with CAPTURE.open("rb") as lines:
        for m in read_capture(lines):
            if dict(m.headers) == dict(HEADERS) and m.value and not checker.check(m.value, list(HEADERS)).violations:
                payload: dict[str, Any] = orjson.loads(m.value)
                return payload
    raise AssertionError("no valid OrderCreated v2 in the capture")


def with_rules(tmp_path: Path, publisher: Published, extra_rules: str = "", **settings: Any) -> Sentinel:
    spec = tmp_path / "spec"
    shutil.copytree(SPEC, spec)
    if extra_rules:
        catalog = spec / "catalog.yaml"
        catalog.write_text(catalog.read_text() + extra_rules)
    options = {
        "spec_dir": spec,
        "data_dir": tmp_path,
        "web_enabled": False,
        "alert_mode": "every",
        "rules_enabled": True,
    }
    options.update(settings)
    s = Sentinel(Settings.load(None, **options), Engine.from_spec_dir(str(spec)), clock=lambda: NOW)
    s._enqueue = publisher  # type: ignore[method-assign,assignment]
    s.settings = s.settings.model_copy(update={"publish_retry_backoff_max": 0.01})
    assert s.rules is not None
    s.rules.table = {}
    s.rules.store = TableStore(s.rules.table)
    return s


def fact(topic: str, offset: int, state: str, ts: int, rule: str = "order-lifecycle") -> Fact:
    return Fact(rule, "ord_0123456789ab", state, ts, topic, 0, offset, state)


def encode_fact(one: Fact) -> tuple[bytes, bytes]:
    [record] = encode_facts([one])
    return record


def test_a_valid_orders_message_sends_its_facts_to_the_rules_topic_in_one_record_keyed_by_entity(
    tmp_path: Path,
) -> None:
    published = Published()
    s = with_rules(tmp_path, published)
    order = valid_order()
    asyncio.run(s.handle_batch([event("orders", 7, orjson.dumps(order), HEADERS)]))
    rules_topic = f"{s.settings.app_id}-rules"
    records = [(key, decode(value)) for topic, key, value in published.sent if topic == rules_topic]
    entity = order["order_id"]
    [(key, facts)] = records  # three rules read OrderCreated about one order: one record
    assert key == entity.encode()
    assert isinstance(facts, list)
    assert [f.rule for f in facts] == ["order-lifecycle", "order-events-in-sequence", "payment-after-order"]
    lifecycle = facts[0]
    assert (lifecycle.value, lifecycle.topic, lifecycle.offset, lifecycle.ts) == ("OrderCreated", "orders", 7, NOW_MS)
    assert not [t for t, _, _ in published.sent if t == s.settings.drift_topic]


def test_an_expression_rule_is_published_like_a_contract_violation_of_the_message(tmp_path: Path) -> None:
    rule = """
  - id: total-not-negative
    kind: expression
    requirement: REQ-ORD-12
    message: An order's total is never negative.
    events: {orders: [OrderCreated]}
    expression: self.total_cents > 1000000000
"""
    published = Published()
    s = with_rules(tmp_path, published, rule)
    asyncio.run(s.handle_batch([event("orders", 3, orjson.dumps(valid_order()), HEADERS)]))
    drift = [orjson.loads(v) for t, _, v in published.sent if t == s.settings.drift_topic]
    assert [(d["kind"], d["rule_path"], d["source"]["offset"]) for d in drift] == [
        ("rule_failed", "rule:total-not-negative", 3)
    ]


def test_a_finding_is_acknowledged_before_the_state_is_written_and_a_redelivery_is_no_finding(tmp_path: Path) -> None:
    seen_at_send: list[Any] = []

    class Watching(Published):
        async def __call__(self, topic: Any, records: list[tuple[bytes, bytes]]) -> list[asyncio.Future[None]]:
            assert stage is not None
            seen_at_send.append(dict(stage.table.get(ENTITY, {}).get("order-lifecycle", {})).get("s"))
            return await super().__call__(topic, records)

    published = Watching()
    s = with_rules(tmp_path, published)
    stage = s.rules
    assert stage is not None
    key = state_key("order-lifecycle", "ord_0123456789ab")
    created, shipped = (
        fact("orders", 0, "OrderCreated", NOW_MS - 5000),
        fact("shipments", 4, "ShipmentDispatched", NOW_MS),
    )

    async def run() -> None:
        await stage.apply(0, encode_fact(created)[1])
        await stage.apply(0, encode_fact(shipped)[1])
        await stage.apply(0, encode_fact(shipped)[1])  # redelivered after a crash: same coordinates

    asyncio.run(run())
    drift = [orjson.loads(v) for t, _, v in published.sent if t == s.settings.drift_topic]
    assert [(d["kind"], d["source"]["topic"], d["source"]["offset"]) for d in drift] == [
        ("illegal_transition", "shipments", 4)
    ]
    assert seen_at_send[0] == "OrderCreated"  # the drift went out while the state was still the old one
    assert stage.table[ENTITY]["order-lifecycle"]["s"] == "ShipmentDispatched"
    assert stage.store is not None
    assert dict(stage.store.items())[key]["s"] == "ShipmentDispatched"
    assert stage.lanes[0].redelivered == 1
    metrics = s.metrics.render()
    assert b'sentinel_rule_findings_total{kind="illegal_transition",rule="order-lifecycle"} 1.0' in metrics
    assert b"sentinel_rule_entities 1.0" in metrics


def test_an_idle_lane_fires_a_missing_follow_up_on_a_tick(tmp_path: Path) -> None:
    published = Published()
    s = with_rules(tmp_path, published)
    stage = s.rules
    assert stage is not None
    created = Fact(
        "payment-after-order", "ord_0123456789ab", "after", NOW_MS - 3_600_000, "orders", 1, 9, "OrderCreated"
    )

    async def run() -> None:
        await stage.apply(1, encode_fact(created)[1])
        stage.active[1] = NOW_MS - 60_000  # no fact on this lane for a minute: idle
        await stage.apply(1, orjson.dumps({"k": "tick", "ts": NOW_MS}))

    asyncio.run(run())
    drift = [orjson.loads(v) for t, _, v in published.sent if t == s.settings.drift_topic]
    assert [(d["kind"], d["source"]["offset"]) for d in drift] == [("missing_followup", 9)]
    assert stage.table[ENTITY]["payment-after-order"]["pending"] is None


def test_rules_disabled_keeps_the_plain_checkers(tmp_path: Path) -> None:
    options = {"spec_dir": SPEC, "data_dir": tmp_path, "web_enabled": False, "rules_enabled": False}
    s = Sentinel(Settings.load(None, **options), Engine.from_spec_dir(str(SPEC)), clock=lambda: NOW)
    assert s.rules is None
    assert all(type(checker).__name__ == "TopicChecker" for checker, _, _ in s.checkers.values())


def test_facts_travel_grouped_by_entity_in_order_and_the_old_one_fact_records_still_decode() -> None:
    a1 = Fact("order-lifecycle", "ord_a", "OrderCreated", 1, "orders", 0, 1, "OrderCreated")
    b1 = Fact("payment-once", "pay_b", None, 2, "payments", 0, 1, "PaymentAuthorized")
    a2 = Fact("order-lifecycle", "ord_a", "OrderCancelled", 3, "orders", 0, 2, "OrderCancelled")
    # Only consecutive facts about one entity share a record: a lane applies them in batch order.
    records = encode_facts([a1, b1, a2])
    assert [(k, decode(v)) for k, v in records] == [(b"ord_a", [a1]), (b"pay_b", [b1]), (b"ord_a", [a2])]
    records = encode_facts([a1, a2, b1])
    assert [(k, decode(v)) for k, v in records] == [(b"ord_a", [a1, a2]), (b"pay_b", [b1])]
    # A record stays under the byte bound, however many facts a run holds.
    many = [a1._replace(offset=i) for i in range(300)]
    records = encode_facts(many, max_bytes=2000)
    assert all(len(v) <= 2000 for _, v in records)
    assert [f for _, v in records for f in decode(v)] == many  # type: ignore[union-attr]
    assert decode(orjson.dumps(list(a1))) == [a1]
    assert decode(orjson.dumps({"k": "tick", "ts": 5})) == 5


def test_the_table_store_keeps_one_entry_per_entity_and_writes_only_at_the_flush() -> None:
    table: dict[str, Any] = {"ord_a": {"order-lifecycle": {"s": "OrderCreated", "ts": 1}}}
    store = TableStore(table)
    lifecycle, sequence = state_key("order-lifecycle", "ord_a"), state_key("order-events-in-sequence", "ord_a")
    state = store.get(lifecycle)
    assert state == {"s": "OrderCreated", "ts": 1}
    assert state is not table["ord_a"]["order-lifecycle"]  # a copy: the stored one stays until the flush
    state["s"] = "OrderCancelled"
    store.set(lifecycle, state)
    store.set(sequence, {"v": 3, "ts": 1})
    assert table["ord_a"] == {"order-lifecycle": {"s": "OrderCreated", "ts": 1}}
    store.flush()
    assert table["ord_a"] == {
        "order-lifecycle": {"s": "OrderCancelled", "ts": 1},
        "order-events-in-sequence": {"v": 3, "ts": 1},
    }
    store.delete(lifecycle)
    store.discard()  # a failed record: nothing written
    assert len(table["ord_a"]) == 2
    store.delete(lifecycle)
    store.delete(sequence)
    store.flush()
    assert "ord_a" not in table  # no rule state left: the entity's entry goes


def test_legacy_states_of_the_lane_are_purged_and_a_failed_report_writes_no_state(tmp_path: Path) -> None:
    table: dict[str, Any] = {
        state_key("order-lifecycle", "ord_old"): {"hw": {"orders/0": 5}, "ts": 1, "p": 0, "s": "OrderCreated"},
        state_key("order-lifecycle", "ord_other"): {"hw": {"orders/1": 5}, "ts": 1, "p": 1, "s": "OrderCreated"},
    }
    store = TableStore(table)
    assert store.purge_legacy(0) == 1
    assert list(table) == [state_key("order-lifecycle", "ord_other")]  # another lane's: its own lane purges it

    class Failing(Published):
        async def __call__(self, topic: Any, records: list[tuple[bytes, bytes]]) -> list[asyncio.Future[None]]:
            raise asyncio.CancelledError  # the worker stops while the finding is being published

    s = with_rules(tmp_path, Failing())
    stage = s.rules
    assert stage is not None
    created = fact("orders", 0, "OrderCreated", NOW_MS - 5000)
    shipped = fact("shipments", 4, "ShipmentDispatched", NOW_MS)

    async def run() -> None:
        await stage.apply(0, encode_fact(created)[1])
        with contextlib.suppress(asyncio.CancelledError):
            await stage.apply(0, encode_fact(shipped)[1])  # an illegal transition: its drift is not acknowledged

    asyncio.run(run())
    assert stage.table[ENTITY]["order-lifecycle"]["s"] == "OrderCreated"  # nothing written for the unacknowledged
    assert stage.store is not None
    assert not stage.store.dirty
    assert stage.store.get(state_key("order-lifecycle", ENTITY))["s"] == "OrderCreated"  # type: ignore[index]
