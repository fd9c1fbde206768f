"""Write the Protobuf example captures in ``replay/captures/``: same bytes on every run.

``inventory-protobuf.jsonl`` (topic ``inventory.reservations``, plain Protobuf, event type in
the ``event-type`` header) and ``inventory-confluent-protobuf.jsonl`` (topic
``inventory.reservations.framed``, Confluent framing with message indexes). Messages are built
with classes made at run time from the spec's own ``.proto`` files (compiled by protoc into a
descriptor pool, as the sentinel does), never from generated code. Every message meant to be
valid is checked against the engine before anything is written, and every drifting one is
checked to drift.

Usage: ``python replay/make_proto_captures.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import message_factory
from make_captures import DEFAULT_OUT, SEED, Capture, _rng, confluent

from stream_sentinel.core.check.proto import encode_indexes
from stream_sentinel.core.check.validate import Engine, load_engine

SPEC = Path(__file__).resolve().parents[1] / "spec" / "events"
RESERVED = "acme.inventory.v1.StockReserved"
RELEASED = "acme.inventory.v1.StockReleased"
SKUS = ("SKU-1001", "SKU-1002", "SKU-2001", "SKU-3005")


def classes(engine: Engine) -> tuple[Any, Any]:
    """The StockReserved and StockReleased message classes, from the compiled spec."""
    protos = engine.catalog.protos
    assert protos is not None
    return (
        message_factory.GetMessageClass(protos.message(RESERVED)),
        message_factory.GetMessageClass(protos.message(RELEASED)),
    )


def reserved(cls: Any, rng: random.Random, index: int) -> Any:
    """One valid StockReserved."""
    msg = cls(
        reservation_id=f"res_{rng.randrange(16**10):010x}",
        warehouse=rng.choice(("WH-AMS1", "WH-BER2", "WH-LON1")),
        reason=1 + index % 2,
        customer_email=f"buyer{index}@example.com",
    )
    for _ in range(1 + index % 3):
        msg.lines.add(sku=rng.choice(SKUS), quantity=rng.randint(1, 5))
    msg.reserved_at.seconds = 1795168800 + index
    if index % 2:
        msg.transfer_id = f"trf_{index}"
    else:
        msg.order_id = f"ord_{rng.randrange(16**10):010x}"
    msg.labels["channel"] = "web"
    msg.value.amount_cents = rng.randint(100, 99999)
    msg.value.currency = "EUR"
    return msg


def _expect(engine: Engine, topic: str, value: bytes, headers: list[tuple[str, bytes]] | None, valid: bool) -> None:
    checker = engine.checker(topic)
    assert checker is not None
    outcome = checker.check(value, headers)
    if outcome.ok != valid:
        raise AssertionError(f"{topic}: expected {'valid' if valid else 'drift'}, got {outcome.violations}")


def build_plain(engine: Engine) -> Capture:
    """~12 plain Protobuf reservations and releases, 6 of them drifting."""
    cap = Capture("inventory-protobuf.jsonl", "inventory.reservations", 2, binary=True)
    topic = cap.topic
    rng = _rng(SEED + 17)
    res_cls, rel_cls = classes(engine)
    res_h = ["event-type", "StockReserved"]
    rel_h = ["event-type", "StockReleased"]

    def add(key: str, value: bytes, headers: list[str], drift: str = "") -> None:
        pairs = [(headers[i], headers[i + 1].encode()) for i in range(0, len(headers), 2)]
        _expect(engine, topic, value, pairs, not drift)
        cap.add(key, value, headers, drift=drift)

    for index in range(5):
        msg = reserved(res_cls, rng, index)
        add(msg.reservation_id, msg.SerializeToString(), res_h)
    release = rel_cls(release_id="rel_1", reservation_id="res_1", cause=1, released_by="ops@example.com")
    add("res_1", release.SerializeToString(), rel_h)

    msg = reserved(res_cls, rng, 5)
    add(
        msg.reservation_id,
        msg.SerializeToString() + b"\x60\x01",
        res_h,
        "field 12 not in v1 (undocumented_field, REQ-INV-10)",
    )
    msg = reserved(res_cls, rng, 6)
    msg.reason = 7
    add(msg.reservation_id, msg.SerializeToString(), res_h, "reason 7 is no Reason value (constraint, REQ-INV-10)")
    msg = reserved(res_cls, rng, 7)
    body = msg.SerializeToString()
    line = b"\x0a\x08SKU-1001\x12\x03two"  # quantity (int32) sent as a string: wire type 2
    add(
        msg.reservation_id,
        body + b"\x1a" + bytes([len(line)]) + line,
        res_h,
        "lines/N/quantity with wire type length-delimited (type_mismatch, REQ-INV-11)",
    )
    partial = rel_cls(release_id="rel_2", cause=2)
    add(
        "rel_2",
        partial.SerializePartialToString(),
        rel_h,
        "required reservation_id missing (missing_required, REQ-INV-12)",
    )
    closed = rel_cls(release_id="rel_3", reservation_id="res_3").SerializeToString() + b"\x18\x09"
    add("rel_3", closed, rel_h, "cause 9 is no Cause value (closed enum: constraint, REQ-INV-12)")
    add("res_cut", reserved(res_cls, rng, 8).SerializeToString()[:-3], res_h, "cut short (undecodable)")
    return cap


def build_framed(engine: Engine) -> Capture:
    """~8 Confluent-framed Protobuf reservations, 3 of them drifting."""
    cap = Capture("inventory-confluent-protobuf.jsonl", "inventory.reservations.framed", 2, binary=True)
    topic = cap.topic
    rng = _rng(SEED + 19)
    res_cls, rel_cls = classes(engine)

    def add(key: str, value: bytes, drift: str = "") -> None:
        _expect(engine, topic, value, None, not drift)
        cap.add(key, value, None, drift=drift)

    for index in range(4):
        msg = reserved(res_cls, rng, index)
        add(msg.reservation_id, confluent(401, encode_indexes((0,)) + msg.SerializeToString()))
    msg = reserved(res_cls, rng, 4)
    add(msg.reservation_id, confluent(401, b"\x02\x00" + msg.SerializeToString()))  # [0] written in full
    release = rel_cls(release_id="rel_9", reservation_id="res_9", cause=2)
    add("res_9", confluent(402, b"\x00" + release.SerializeToString()))
    msg = reserved(res_cls, rng, 5)
    add(
        msg.reservation_id, confluent(401, b"\x02\x02" + msg.SerializeToString()), "message index [1] (schema_mismatch)"
    )
    msg = reserved(res_cls, rng, 6)
    msg.reason = 9
    add(msg.reservation_id, confluent(401, b"\x00" + msg.SerializeToString()), "reason 9 (constraint, REQ-INV-10)")
    add("unknown", confluent(499, b"\x00" + msg.SerializeToString()), "schema id 499 (unknown_schema_id)")
    return cap


def main(argv: Sequence[str] | None = None) -> int:
    """Build both captures, check them, then write the files and list the deliberate drifts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: replay/captures)")
    args = parser.parse_args(argv)
    engine = load_engine(str(SPEC))
    args.out.mkdir(parents=True, exist_ok=True)
    for cap in (build_plain(engine), build_framed(engine)):
        cap.write(args.out)
        sys.stdout.write(f"{cap.name}: {len(cap.lines)} records, {len(cap.drifts)} flagged\n")
        for line in cap.drifts:
            sys.stdout.write(f"  {line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
