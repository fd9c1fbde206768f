"""Benchmark: the validation core versus the raw floor, same data, same run.

Workload (issue #2): OrderCreated v2 JSON events of about 600 bytes (nested customer, 3-5 line
items, enums, date-time, closed objects), 100k messages, 90% valid and 10% invalid in 10
different ways; and PaymentAuthorized Avro events.

Printed figures (msgs/s, best of several interleaved rounds so both sides see the same machine):
  json core      TopicChecker.check(value, headers): decode, locate type/version, validate,
                 and for invalid messages the full Violation detail
  json floor     orjson.loads + the bare jsonschema-rs validator's is_valid (same schema, same
                 format assertion), nothing else
  json +events   core plus building the drift events (with redacted samples) of invalid ones
  json detail floor
                 the floor plus, for each invalid message, ``list(iter_errors(payload))`` on the
                 bare validator: what jsonschema-rs itself charges for the errors of a message,
                 before any of them is interpreted. ``detail_ratio`` (core / this) shows how much
                 of the gap to the floor is ours and how much is the library's error objects.
  avro core / avro floor (fastavro.schemaless_reader on a BytesIO)
  protobuf core / protobuf floor
                 StockReserved (plain ``protobuf`` topic, event type in a header): the raw
                 ``ParseFromString`` into a fresh message of the same class versus
                 ``TopicChecker.check``; ``proto_ratio`` (core / floor, target >= 0.8)
The last line is ``ratio=<json core / json floor>`` (the convention all benchmarks share).

Run: make bench   (or: .venv/bin/python bench/validate.py [--messages N] [--rounds R])
"""

from __future__ import annotations

import argparse
import io
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import jsonschema_rs
import orjson
from google.protobuf import message_factory

from stream_sentinel.core.check.drift import Source
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts.catalog import parse_avro

SPEC = Path(__file__).resolve().parent.parent / "spec" / "events"
HEADERS = [("event-type", b"OrderCreated"), ("schema-version", b"2")]
AVRO_HEADERS = [("event-type", b"PaymentAuthorized"), ("schema-version", b"2")]
PROTO_HEADERS = [("event-type", b"StockReserved")]
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def order(rng: random.Random) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "sku": f"{rng.choice(['ABC', 'KIT', 'MUG', 'TEE'])}-{rng.randrange(10000, 99999)}",
            "name": rng.choice(["Mug 350 ml", "Cotton tee", "Espresso kit", "Notebook"]),
            "quantity": rng.randrange(1, 5),
            "unit_price_cents": rng.randrange(199, 9999),
        }
        for _ in range(rng.randrange(3, 6))
    ]
    return {
        "order_id": "ord_" + "".join(rng.choices(ALNUM, k=12)),
        "customer": {
            "id": "cus_" + "".join(rng.choices(ALNUM, k=12)),
            "email": f"shopper{rng.randrange(10**6)}@example.com",
            "name": rng.choice(["Jane Doe", "Arjun Patel", "Mei Lin", "Tom Berg"]),
            "tier": rng.choice(["gold", "silver", "bronze"]),
        },
        "items": items,
        "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
        "currency": rng.choice(["EUR", "USD", "GBP"]),
        "status": "placed",
        "created_at": f"2026-11-{rng.randrange(10, 28)}T{rng.randrange(10, 23)}:{rng.randrange(10, 59)}:00Z",
        "shipping_address": {
            "street": "1 Long Street",
            "city": "Utrecht",
            "postcode": "3511 AB",
            "country": "NL",
        },
        "channel": rng.choice(["web", "app", "store"]),
    }


def _drop(key: str) -> Callable[[dict[str, Any]], Any]:
    def mutate(o: dict[str, Any]) -> Any:
        del o[key]
        return o

    return mutate


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(o: dict[str, Any]) -> Any:
        node: Any = o
        for token in path[:-1]:
            node = node[token]
        node[path[-1]] = value
        return o

    return mutate


INVALID: list[Callable[[dict[str, Any]], Any]] = [
    _set(("total_cents",), 1050.5),  # type_mismatch, REQ-ORD-3
    _drop("channel"),  # v1 producer: version_lag is checked against declared v2 -> missing_required
    _set(("status",), "shipped"),  # enum
    _set(("coupon_code",), "FREE10"),  # undocumented field
    _set(("created_at",), "yesterday"),  # format
    _set(("items", 0, "quantity"), 0),  # minimum
    _set(("customer", "email"), 42),  # type_mismatch on a PII field
    _set(("order_id",), "ORD-1"),  # pattern
    _set(("items",), []),  # minItems
    lambda o: b'{"order_id": "ord_' + orjson.dumps(o)[15:-3],  # truncated JSON: undecodable
]


def workload(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        body = order(rng)
        if i % 10 == 9:
            mutated = INVALID[(i // 10) % len(INVALID)](body)
            out.append(mutated if isinstance(mutated, bytes) else orjson.dumps(mutated))
        else:
            out.append(orjson.dumps(body))
    return out


def best_rate(fn: Callable[[], None], count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    engine = Engine.from_spec_dir(str(SPEC))
    checker = engine.checker("orders")
    assert checker is not None
    messages = workload(args.messages)
    sizes = sorted(len(m) for m in messages)
    version = engine.catalog.topics["orders"].events["OrderCreated"].newest
    docs = list(engine.catalog.json_documents.items())
    bare = jsonschema_rs.validator_for(
        version.document,
        registry=jsonschema_rs.Registry(docs),
        base_uri=version.uri,
        validate_formats=True,
    )
    is_valid, iter_errors = bare.is_valid, bare.iter_errors
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    check = checker.check

    # Each side as a loop over a given message list: the whole workload, then valid/invalid only.
    def floor_of(subset: list[bytes]) -> Callable[[], None]:
        def floor() -> None:
            for value in subset:
                try:  # noqa: SIM105 - a context manager per message would distort the floor
                    is_valid(loads(value))
                except decode_error:
                    pass

        return floor

    def detail_of(subset: list[bytes]) -> Callable[[], None]:
        def detail_floor() -> None:
            for value in subset:
                try:
                    payload = loads(value)
                except decode_error:
                    continue
                if not is_valid(payload):
                    list(iter_errors(payload))

        return detail_floor

    def core_of(subset: list[bytes]) -> Callable[[], None]:
        def core() -> None:
            for value in subset:
                check(value, HEADERS)

        return core

    floor, detail_floor, core = floor_of(messages), detail_of(messages), core_of(messages)

    def core_with_events() -> None:
        for offset, value in enumerate(messages):
            outcome = check(value, HEADERS)
            if outcome.violations:
                outcome.drift_events(Source("orders", 0, offset), "json")

    invalid_messages = [m for m in messages if not check(m, HEADERS).ok]
    valid_messages = [m for m in messages if check(m, HEADERS).ok]
    invalid = len(invalid_messages)
    # Interleave the sides round by round so drift in machine load hits both equally.
    floor_rate = core_rate = detail_rate = 0.0
    for _ in range(args.rounds):
        floor_rate = max(floor_rate, best_rate(floor, len(messages), 1))
        core_rate = max(core_rate, best_rate(core, len(messages), 1))
        detail_rate = max(detail_rate, best_rate(detail_floor, len(messages), 1))
    events_rate = best_rate(core_with_events, len(messages), max(2, args.rounds // 2))

    def split(subset: list[bytes]) -> tuple[float, float, float]:
        rounds = max(2, args.rounds // 2)
        return (
            1e6 / best_rate(floor_of(subset), len(subset), rounds),
            1e6 / best_rate(detail_of(subset), len(subset), rounds),
            1e6 / best_rate(core_of(subset), len(subset), rounds),
        )

    valid_floor_us, _, valid_core_us = split(valid_messages)
    invalid_floor_us, invalid_detail_us, invalid_core_us = split(invalid_messages)

    avro_version = engine.catalog.topics["payments"].events["PaymentAuthorized"].newest
    parsed = parse_avro(avro_version, engine.catalog.avro_documents)
    rng = random.Random(3)
    records = [
        {
            "payment_id": "pay_" + "".join(rng.choices(ALNUM, k=12)),
            "order_id": "ord_" + "".join(rng.choices(ALNUM, k=12)),
            **_avro_fields(rng),
        }
        for _ in range(args.messages // 2)
    ]
    avro_messages = []
    for record in records:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, record)
        avro_messages.append(buffer.getvalue())
    payments = engine.checker("payments")
    assert payments is not None
    avro_check = payments.check
    reader = fastavro.schemaless_reader

    def avro_floor() -> None:
        for value in avro_messages:
            reader(io.BytesIO(value), parsed, None)

    def avro_core() -> None:
        for value in avro_messages:
            avro_check(value, AVRO_HEADERS)

    assert all(avro_check(v, AVRO_HEADERS).ok for v in avro_messages[:100])
    avro_floor_rate = avro_core_rate = 0.0
    for _ in range(args.rounds):
        avro_floor_rate = max(avro_floor_rate, best_rate(avro_floor, len(avro_messages), 1))
        avro_core_rate = max(avro_core_rate, best_rate(avro_core, len(avro_messages), 1))

    print(
        f"workload: {len(messages)} OrderCreated v2 JSON messages, {invalid} invalid "
        f"({len(INVALID)} ways), size p50={sizes[len(sizes) // 2]} B; "
        f"{len(avro_messages)} PaymentAuthorized v2 Avro messages, {len(avro_messages[0])} B"
    )
    print(f"json floor   (orjson.loads + bare is_valid): {floor_rate:>10,.0f} msg/s  {1e6 / floor_rate:.2f} us/msg")
    print(f"json core    (TopicChecker.check):           {core_rate:>10,.0f} msg/s  {1e6 / core_rate:.2f} us/msg")
    print(f"  valid messages:   floor {valid_floor_us:.2f} us, core {valid_core_us:.2f} us")
    print(
        f"  invalid messages: floor {invalid_floor_us:.2f} us, detail floor {invalid_detail_us:.2f} us, "
        f"core {invalid_core_us:.2f} us (full violation detail)"
    )
    print(f"json detail floor (floor + bare iter_errors):  {detail_rate:>8,.0f} msg/s  {1e6 / detail_rate:.2f} us/msg")
    print(f"json +events (core + drift events):          {events_rate:>10,.0f} msg/s  {1e6 / events_rate:.2f} us/msg")
    print(f"avro floor   (fastavro schemaless_reader):   {avro_floor_rate:>10,.0f} msg/s")
    print(f"avro core    (TopicChecker.check):           {avro_core_rate:>10,.0f} msg/s")
    proto_floor_rate, proto_core_rate, proto_size = protobuf_side(engine, args.messages // 2, args.rounds)
    print(f"protobuf floor (ParseFromString):            {proto_floor_rate:>10,.0f} msg/s  ({proto_size} B)")
    print(f"protobuf core  (TopicChecker.check):         {proto_core_rate:>10,.0f} msg/s")
    print(f"avro_ratio={avro_core_rate / avro_floor_rate:.3f}")
    print(f"proto_ratio={proto_core_rate / proto_floor_rate:.3f}")
    print(f"events_ratio={events_rate / floor_rate:.3f}")
    print(f"detail_ratio={core_rate / detail_rate:.3f}")
    print(f"ratio={core_rate / floor_rate:.3f}")


def protobuf_side(engine: Engine, count: int, rounds: int) -> tuple[float, float, int]:
    """(floor msg/s, core msg/s, message size) over valid StockReserved messages, interleaved rounds."""
    protos = engine.catalog.protos
    assert protos is not None
    cls: Any = message_factory.GetMessageClass(protos.message("acme.inventory.v1.StockReserved"))
    rng = random.Random(11)
    messages = []
    for index in range(count):
        msg = cls(
            reservation_id="res_" + "".join(rng.choices(ALNUM, k=10)),
            warehouse=rng.choice(["WH-AMS1", "WH-BER2"]),
            reason=1 + index % 2,
            customer_email="buyer@example.com",
            order_id="ord_" + "".join(rng.choices(ALNUM, k=12)),
        )
        for _ in range(3):
            msg.lines.add(sku=rng.choice(["SKU-1001", "SKU-2001"]), quantity=rng.randint(1, 5))
        msg.reserved_at.seconds = 1_795_168_800 + index
        msg.value.amount_cents = rng.randrange(100, 100_000)
        msg.value.currency = "EUR"
        messages.append(msg.SerializeToString())
    checker = engine.checker("inventory.reservations")
    assert checker is not None
    check = checker.check
    assert all(check(m, PROTO_HEADERS).ok for m in messages[:100])

    def floor() -> None:
        for value in messages:
            cls().ParseFromString(value)

    def core() -> None:
        for value in messages:
            check(value, PROTO_HEADERS)

    floor_rate = core_rate = 0.0
    for _ in range(rounds):
        floor_rate = max(floor_rate, best_rate(floor, len(messages), 1))
        core_rate = max(core_rate, best_rate(core, len(messages), 1))
    return floor_rate, core_rate, len(messages[0])


def _avro_fields(rng: random.Random) -> dict[str, Any]:
    return {
        "amount": {
            "amount_cents": rng.randrange(100, 100_000),
            "currency": rng.choice(["EUR", "USD"]),
        },
        "card_brand": rng.choice(["VISA", "MASTERCARD", "AMEX"]),
        "card_last4": f"{rng.randrange(10000):04d}",
        "cardholder_name": rng.choice(["Jane Doe", "Arjun Patel"]),
        "authorized_at": 1_763_632_800_000 + rng.randrange(10**8),
        "three_ds_verified": rng.random() < 0.8,
    }


if __name__ == "__main__":
    main()
