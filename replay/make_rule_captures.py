"""Write the behavioural-rule example captures in ``replay/captures/``: same bytes on every run.

One capture per rule of ``spec/events/catalog.yaml`` that makes it fire, and one of valid
sequences that must not fire. Every message is valid against its contract (checked here before
anything is written), so whatever ``check`` reports on these files comes from the rules alone.
Lines are kcat ``-J`` envelopes across the orders (JSON, 3 partitions) and payments (schemaless
Avro, 2 partitions) topics, placed by Kafka's default partitioner; event times are given per
message (minutes after 2026-11-20T10:00:00Z), not one per second, because the rules are about time.

Usage: ``python replay/make_rule_captures.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from make_captures import (
    BROKER,
    CANCEL_V1,
    CANCELLED_V1,
    CREATED_V2,
    DEFAULT_OUT,
    MONEY,
    ORDER_V2,
    PAY_AUTH,
    PAY_REFUND,
    START,
    Contracts,
    _ident,
    _iso,
    _ms,
    avro_encode,
    avro_roundtrip,
    order_created_v2,
    partition_for,
)

PARTITIONS = {"orders": 3, "payments": 2}


@dataclass
class RuleCapture:
    """A capture across topics with explicit event times; ``again`` repeats a record (redelivery)."""

    name: str
    contracts: Contracts
    rng: random.Random
    lines: list[bytes] = field(default_factory=list)
    _next: dict[tuple[str, int], int] = field(default_factory=dict)

    def _add(self, topic: str, key: str, value: bytes, headers: list[str], minute: float) -> None:
        partition = partition_for(key, PARTITIONS[topic])
        offset = self._next.get((topic, partition), 0)
        self._next[topic, partition] = offset + 1
        binary = topic == "payments"
        envelope: dict[str, Any] = {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "tstype": "create",
            "ts": _ms(START + timedelta(minutes=minute)),
            "broker": BROKER,
            "headers": headers,
            "key": key,
            "payload": base64.b64encode(value).decode("ascii") if binary else value.decode("utf-8"),
        }
        if binary:
            envelope["payload_encoding"] = "base64"
        self.lines.append(orjson.dumps(envelope))

    def again(self, index: int = -1) -> None:
        """The same record once more (same topic, partition and offset): a redelivery, never drift."""
        self.lines.append(self.lines[index])

    def created(self, minute: float, order_id: str | None = None) -> dict[str, Any]:
        """An OrderCreated v2 (a new order unless ``order_id``)."""
        order = order_created_v2(self.rng, START + timedelta(minutes=minute))
        if order_id is not None:
            order["order_id"] = order_id
        self.contracts.assert_valid(ORDER_V2, order)
        self._add("orders", order["order_id"], orjson.dumps(order), CREATED_V2, minute)
        return order

    def cancelled(self, order: dict[str, Any], minute: float) -> None:
        """An OrderCancelled of ``order``."""
        cancel = {
            "order_id": order["order_id"],
            "reason": "customer_request",
            "cancelled_at": _iso(START + timedelta(minutes=minute)),
            "refund_cents": order["total_cents"],
            "currency": order["currency"],
        }
        self.contracts.assert_valid(CANCEL_V1, cancel)
        self._add("orders", order["order_id"], orjson.dumps(cancel), CANCELLED_V1, minute)

    def authorized(self, order_id: str, minute: float, payment_id: str | None = None) -> str:
        """A PaymentAuthorized v2 for ``order_id``; its payment id."""
        schema = self.contracts.avro(PAY_AUTH[2], MONEY)
        record = {
            "payment_id": payment_id or _ident(self.rng, "pay_"),
            "order_id": order_id,
            "amount": {"amount_cents": self.rng.randint(999, 45000), "currency": "EUR"},
            "card_brand": "VISA",
            "card_last4": f"{self.rng.randint(0, 9999):04d}",
            "cardholder_name": "ALICE MARTIN",
            "authorized_at": _ms(START + timedelta(minutes=minute)),
            "three_ds_verified": True,
        }
        data = avro_encode(schema, record)
        avro_roundtrip(schema, data)
        self._add("payments", order_id, data, ["event-type", "PaymentAuthorized", "schema-version", "2"], minute)
        return str(record["payment_id"])

    def refunded(self, order_id: str, payment_id: str, minute: float) -> None:
        """A PaymentRefunded of ``payment_id``."""
        schema = self.contracts.avro(PAY_REFUND, MONEY)
        record = {
            "refund_id": _ident(self.rng, "ref_"),
            "payment_id": payment_id,
            "order_id": order_id,
            "amount": {"amount_cents": 1999, "currency": "EUR"},
            "reason": "ORDER_CANCELLED",
            "refunded_at": _ms(START + timedelta(minutes=minute)),
        }
        data = avro_encode(schema, record)
        avro_roundtrip(schema, data)
        self._add("payments", order_id, data, ["event-type", "PaymentRefunded", "schema-version", "1"], minute)

    def write(self, out: Path) -> None:
        """Write the JSON-lines file."""
        (out / self.name).write_bytes(b"".join(line + b"\n" for line in self.lines))


def illegal_transition(c: RuleCapture) -> None:
    """REQ-ORD-10: a cancelled order paid afterwards, and one created again after its cancellation."""
    a = c.created(0)
    c.authorized(a["order_id"], 1)  # paid: the follow-up rule is satisfied
    c.cancelled(a, 2)
    c.authorized(a["order_id"], 3)  # RULE: OrderCancelled -> PaymentAuthorized
    b = c.created(4)
    c.authorized(b["order_id"], 5)
    c.cancelled(b, 6)
    c.created(7, order_id=b["order_id"])  # RULE: OrderCancelled -> OrderCreated (back to the start)
    c.authorized(b["order_id"], 8)  # the state followed what was written: Created -> Authorized is legal


def duplicate_payment(c: RuleCapture) -> None:
    """REQ-PAY-10: one payment id authorised for two orders (orders first seen here: unknown past)."""
    first = c.authorized("ord_dup000000001", 0)
    c.authorized("ord_dup000000002", 5, payment_id=first)  # RULE: duplicate payment_id
    c.again()  # the same record redelivered: the duplicate is reported once, not twice


def out_of_order(c: RuleCapture) -> None:
    """REQ-ORD-11: an order's cancellation written with an event time before its creation's."""
    a = c.created(10)
    c.authorized(a["order_id"], 11)
    c.cancelled(a, 5)  # RULE: out of order (and, in event time, a cancellation before the creation)
    b = c.created(12)
    c.authorized(b["order_id"], 13)
    c.cancelled(b, 14)  # in order: nothing


def missing_payment(c: RuleCapture) -> None:
    """REQ-PAY-11: an order never paid; another created too late in the capture to judge."""
    unpaid = c.created(0)  # RULE: no PaymentAuthorized within 30 minutes
    for minute in (5, 20, 40):
        paid = c.created(minute)
        c.authorized(paid["order_id"], minute + 3)
    c.created(42)  # its deadline (72 min) is after the capture's last event time: not judged
    c.created(45)
    del unpaid


def no_false_alarms(c: RuleCapture) -> None:
    """Valid sequences: full lifecycles, redelivery, a follow-up first, entities first seen mid-capture."""
    a = c.created(0)
    c.again()  # redelivered OrderCreated: no duplicate, no illegal transition
    pay = c.authorized(a["order_id"], 10)
    c.cancelled(a, 12)
    c.refunded(a["order_id"], pay, 13)
    c.again()  # redelivered refund after the terminal state: ignored
    b_id = "ord_early0000001"
    c.authorized(b_id, 21)  # the payment is delivered before its order (another topic ran ahead)
    c.created(20, order_id=b_id)  # ... whose event time is earlier: legal history, payment in time
    c.refunded("ord_midway000001", "pay_midway000001", 22)  # an order first seen at its refund: unknown past
    d = c.created(30)
    c.authorized(d["order_id"], 50)
    c.cancelled(d, 55)
    c.created(70)  # the capture ends before its deadline: unknown future


CAPTURES = {
    "req-ord-10-illegal-transition.jsonl": illegal_transition,
    "req-pay-10-duplicate-payment.jsonl": duplicate_payment,
    "req-ord-11-out-of-order.jsonl": out_of_order,
    "req-pay-11-missing-payment.jsonl": missing_payment,
    "rules-no-false-alarms.jsonl": no_false_alarms,
}


def main() -> None:
    """Build and write every rule capture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    contracts = Contracts()
    for n, (name, build) in enumerate(CAPTURES.items()):
        capture = RuleCapture(name, contracts, random.Random(20261206 + n))  # noqa: S311 - fixtures
        build(capture)
        capture.write(out)
        sys.stdout.write(f"{name}: {len(capture.lines)} records\n")


if __name__ == "__main__":
    main()
