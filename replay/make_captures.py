"""Write the example capture files in ``replay/captures/``: same bytes on every run.

Each line is a kcat ``-J`` envelope (``topic``, ``partition``, ``offset``, ``tstype``, ``ts``,
``broker``, ``headers``, ``key``, ``payload``). JSON values are stored as text; Avro and
Confluent-framed values as base64 with ``"payload_encoding": "base64"``; a tombstone has
``"payload": null``. Records are placed on partitions with Kafka's default partitioner
(murmur2 of the key), offsets count up per partition, timestamps start at
2026-11-20T10:00:00Z and advance 1 s per message.

Most messages are valid against ``spec/events/``; the rest are deliberate drift, each one
commented where it is built and listed on stdout when the script runs. The script checks
itself before writing anything: every valid JSON message passes its schema (jsonschema-rs with
format assertion, as the sentinel runs it, and python-jsonschema), every drifting JSON message
fails the schema it targets, every valid Avro message round-trips through its contract schema
with no bytes left over, and the OrderCreated v2 reference message is 550-650 bytes.

Usage: ``python replay/make_captures.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import jsonschema
import jsonschema_rs
import orjson
import referencing
from referencing.jsonschema import DRAFT202012

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE.parent / "spec" / "events"
DEFAULT_OUT = HERE / "captures"
SPEC_BASE_URI = "file:///spec/"

SEED = 20261120
START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
BROKER = 1
REFERENCE_SIZE = (550, 650)  # bytes of the OrderCreated v2 benchmark reference, orjson-encoded

Headers = list[str]

# -- deterministic fake data ---------------------------------------------------------------------

PRODUCTS: tuple[tuple[str, str, int], ...] = (
    ("KIT-04417", "Chef's knife, 20 cm", 4990),
    ("KIT-10233", "Cast iron skillet, 28 cm", 3995),
    ("HOM-20871", "Linen duvet cover, double", 8900),
    ("HOM-31150", "Scented candle, cedar", 1850),
    ("ELE-55021", "Wireless earbuds", 7999),
    ("ELE-60418", "USB-C charger, 65 W", 3499),
    ("OUT-70302", "Water bottle, 750 ml", 2495),
    ("OUT-71899", "Trekking poles, pair", 11900),
    ("BOO-80014", "The Pragmatic Programmer", 4200),
    ("TOY-90567", "Wooden blocks, 100 pieces", 2999),
)

PEOPLE: tuple[tuple[str, str], ...] = (
    ("Alice Martin", "alice.martin@example.com"),
    ("Bram de Vries", "bram.devries@example.nl"),
    ("Chloé Dubois", "chloe.dubois@example.fr"),
    ("Dmitri Ivanov", "d.ivanov@example.org"),
    ("Emma Schmidt", "emma.schmidt@example.de"),
    ("Fatima Zahra El Amrani", "fz.elamrani@example.com"),
    ("Giulia Rossi", "giulia.rossi@example.it"),
    ("Haruto Sato", "haruto.sato@example.jp"),
)

# (street, city, postcode, country, currency)
ADDRESSES: tuple[tuple[str, str, str, str, str], ...] = (
    ("12 Rue de la Paix", "Paris", "75002", "FR", "EUR"),
    ("Keizersgracht 221", "Amsterdam", "1016 DV", "NL", "EUR"),
    ("Torstraße 109", "Berlin", "10119", "DE", "EUR"),
    ("48 Baker Street", "London", "NW1 6XE", "GB", "GBP"),
    ("350 Fifth Avenue", "New York", "10118", "US", "USD"),
)

TIERS = ("gold", "silver", "bronze")
CHANNELS = ("web", "app", "store")
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


def _rng(seed: int) -> random.Random:
    """Seeded generator: the captures are reproducible test data, nothing secret."""
    return random.Random(seed)  # noqa: S311 - deterministic fixtures, not security


def _ident(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(ALNUM) for _ in range(12))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# -- Kafka's default partitioner -----------------------------------------------------------------


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` as an unsigned 32-bit value."""
    mask, m = 0xFFFFFFFF, 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    tail = length - length % 4
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def partition_for(key: str, partitions: int) -> int:
    """Partition Kafka's default partitioner picks for a non-null key."""
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


# -- schemas and self-checks ---------------------------------------------------------------------


def _load_json(ref: str) -> Any:
    return orjson.loads((SPEC_DIR / ref).read_bytes())


class Contracts:
    """The spec's JSON Schemas and Avro schemas, compiled the way the sentinel compiles them."""

    def __init__(self) -> None:
        docs = {
            path.relative_to(SPEC_DIR).as_posix(): orjson.loads(path.read_bytes())
            for path in sorted(SPEC_DIR.rglob("*.json"))
        }
        self._docs = docs
        self._rs_registry = jsonschema_rs.Registry([(SPEC_BASE_URI + r, d) for r, d in docs.items()])
        self._py_registry: referencing.Registry[Any] = referencing.Registry().with_resources(
            (
                SPEC_BASE_URI + r,
                referencing.Resource.from_contents(d, default_specification=DRAFT202012),
            )
            for r, d in docs.items()
        )
        self._rs: dict[str, jsonschema_rs.Validator] = {}
        self._avro: dict[str, Any] = {}

    def _validator(self, ref: str) -> jsonschema_rs.Validator:
        if ref not in self._rs:
            self._rs[ref] = jsonschema_rs.validator_for(
                self._docs[ref],
                registry=self._rs_registry,
                base_uri=SPEC_BASE_URI + ref,
                validate_formats=True,
            )
        return self._rs[ref]

    def is_valid(self, ref: str, payload: Any) -> bool:
        """Whether a JSON payload passes a schema (formats asserted, as the sentinel does)."""
        return bool(self._validator(ref).is_valid(payload))

    def assert_valid(self, ref: str, payload: Any) -> None:
        """Fail loudly if a message meant to be valid is not."""
        errors = [e.message for e in self._validator(ref).iter_errors(payload)]
        if errors:
            raise AssertionError(f"valid sample fails {ref}: {errors}")
        # python-jsonschema agrees (it does not check date-time without extra packages)
        schema = {"$ref": SPEC_BASE_URI + ref}
        jsonschema.Draft202012Validator(schema, registry=self._py_registry).validate(payload)

    def assert_invalid(self, ref: str, payload: Any) -> None:
        """Fail loudly if a deliberate drift accidentally passes the schema it targets."""
        if self.is_valid(ref, payload):
            raise AssertionError(f"drift sample unexpectedly passes {ref}")

    def avro(self, ref: str, references: Sequence[str] = (), document: Any = None) -> Any:
        """Parse an Avro schema with its named-type references (``document`` overrides the file)."""
        cache_key = ref if document is None else f"{ref}#override"
        if cache_key not in self._avro:
            named: dict[str, Any] = {}
            for reference in references:
                fastavro.parse_schema(_load_json(reference), named_schemas=named)
            doc = _load_json(ref) if document is None else document
            self._avro[cache_key] = fastavro.parse_schema(doc, named_schemas=named)
        return self._avro[cache_key]


def avro_encode(schema: Any, record: Mapping[str, Any]) -> bytes:
    """Schemaless Avro bytes of one record."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, dict(record))
    return out.getvalue()


def avro_roundtrip(schema: Any, data: bytes) -> None:
    """Check that the bytes decode with the schema, use every byte and re-encode identically."""
    buffer = io.BytesIO(data)
    record = fastavro.schemaless_reader(buffer, schema, None)
    if buffer.tell() != len(data):
        raise AssertionError(f"{len(data) - buffer.tell()} bytes left over after decoding")
    if not isinstance(record, dict):
        raise AssertionError("Avro datum is not a record")
    if avro_encode(schema, record) != data:
        raise AssertionError("Avro record does not re-encode to the same bytes")


def avro_fails(schema: Any, data: bytes, start: int = 0) -> str:
    """Describe how decoding fails (error or leftover bytes); AssertionError if it does not."""
    buffer = io.BytesIO(data)
    buffer.seek(start)
    try:
        fastavro.schemaless_reader(buffer, schema, None)
    except Exception as exc:  # noqa: BLE001 - any decoder error is the expected outcome here
        return f"decoder error {type(exc).__name__}"
    left = len(data) - buffer.tell()
    if not left:
        raise AssertionError("drift payload decodes cleanly")
    return f"{left} bytes left over"


def confluent(schema_id: int, body: bytes, magic: int = 0) -> bytes:
    """Confluent wire format: magic byte, 4-byte big-endian schema id, body."""
    return bytes([magic]) + schema_id.to_bytes(4, "big") + body


# -- writing captures ----------------------------------------------------------------------------


@dataclass
class Capture:
    """One capture file being built: records in order, offsets per partition, a 1 s clock."""

    name: str
    topic: str
    partitions: int
    binary: bool
    offset_base: int = 0
    lines: list[bytes] = field(default_factory=list)
    drifts: list[str] = field(default_factory=list)
    _next: dict[int, int] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        """Timestamp of the next record."""
        return START + timedelta(seconds=len(self.lines))

    def add(self, key: str, value: bytes | None, headers: Headers | None = None, *, drift: str = "") -> None:
        """Append one record; ``drift`` describes what is deliberately wrong with it."""
        partition = partition_for(key, self.partitions)
        offset = self._next.get(partition, self.offset_base)
        self._next[partition] = offset + 1
        envelope: dict[str, Any] = {
            "topic": self.topic,
            "partition": partition,
            "offset": offset,
            "tstype": "create",
            "ts": _ms(self.now),
            "broker": BROKER,
        }
        if headers:
            envelope["headers"] = headers
        envelope["key"] = key
        if value is None:
            envelope["payload"] = None
        elif self.binary:
            envelope["payload"] = base64.b64encode(value).decode("ascii")
            envelope["payload_encoding"] = "base64"
        else:
            envelope["payload"] = value.decode("utf-8")
        self.lines.append(orjson.dumps(envelope))
        if drift:
            self.drifts.append(f"{self.name} p{partition} o{offset}: {drift}")

    def write(self, out: Path) -> None:
        """Write the JSON-lines file."""
        (out / self.name).write_bytes(b"".join(line + b"\n" for line in self.lines))


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


# -- orders (json) -------------------------------------------------------------------------------

ORDER_V1 = "orders/order-created.v1.schema.json"
ORDER_V2 = "orders/order-created.v2.schema.json"
CANCEL_V1 = "orders/order-cancelled.v1.schema.json"
CREATED_V2: Headers = ["event-type", "OrderCreated", "schema-version", "2"]
CREATED_V1: Headers = ["event-type", "OrderCreated", "schema-version", "1"]
CANCELLED_V1: Headers = ["event-type", "OrderCancelled", "schema-version", "1"]


def order_created_v2(rng: random.Random, moment: datetime, n_items: int | None = None) -> dict[str, Any]:
    """Build a valid OrderCreated v2 payload."""
    name, email = rng.choice(PEOPLE)
    street, city, postcode, country, currency = rng.choice(ADDRESSES)
    count = n_items if n_items is not None else rng.randint(1, 4)
    items: list[dict[str, Any]] = [
        {"sku": sku, "name": title, "quantity": rng.randint(1, 3), "unit_price_cents": price}
        for sku, title, price in rng.sample(PRODUCTS, count)
    ]
    order: dict[str, Any] = {
        "order_id": _ident(rng, "ord_"),
        "customer": {
            "id": _ident(rng, "cus_"),
            "email": email,
            "name": name,
            "tier": rng.choice(TIERS),
        },
        "items": items,
        "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
        "currency": currency,
        "status": rng.choice(("placed", "placed", "paid", "on_hold")),
        "created_at": _iso(moment),
        "shipping_address": {
            "street": street,
            "city": city,
            "postcode": postcode,
            "country": country,
        },
        "channel": rng.choice(CHANNELS),
    }
    if rng.random() < 0.3:
        order["gift_wrap"] = True
    return order


def reference_order_created_v2() -> bytes:
    """Return the OrderCreated v2 benchmark reference message (record 0 of orders-mixed)."""
    return _json(order_created_v2(_rng(SEED), START, n_items=3))


def as_v1(order: Mapping[str, Any]) -> dict[str, Any]:
    """Return the order as a v1 producer writes it (no channel, no gift_wrap)."""
    return {k: v for k, v in order.items() if k not in ("channel", "gift_wrap")}


def build_orders_mixed(contracts: Contracts) -> Capture:
    """Build ~40 orders on 3 partitions: valid OrderCreated v2/OrderCancelled plus each drift."""
    cap = Capture("orders-mixed.jsonl", "orders", 3, binary=False)
    rng = _rng(SEED)
    created: list[dict[str, Any]] = []

    def valid_created(n_items: int | None = None) -> dict[str, Any]:
        order = order_created_v2(rng, cap.now, n_items)
        contracts.assert_valid(ORDER_V2, order)
        return order

    def emit_valid_created(n_items: int | None = None) -> None:
        order = valid_created(n_items)
        created.append(order)
        cap.add(order["order_id"], _json(order), CREATED_V2)

    def emit_cancel() -> None:
        order = created[rng.randrange(len(created))]
        reason = rng.choice(("customer_request", "payment_failed", "out_of_stock", "fraud_suspected"))
        cancel = {
            "order_id": order["order_id"],
            "reason": reason,
            "cancelled_at": _iso(cap.now),
            "refund_cents": 0 if reason == "payment_failed" else order["total_cents"],
            "currency": order["currency"],
        }
        contracts.assert_valid(CANCEL_V1, cancel)
        cap.add(order["order_id"], _json(cancel), CANCELLED_V1)

    def drift_created(mutate: Callable[[dict[str, Any]], None], what: str, headers: Headers = CREATED_V2) -> None:
        order = valid_created()
        key = order["order_id"]  # the record key stays the order id whatever the value says
        mutate(order)
        contracts.assert_invalid(ORDER_V2, order)
        cap.add(key, _json(order), headers, drift=what)

    # Record 0 is the benchmark reference event (3 items, 550-650 bytes).
    emit_valid_created(n_items=3)

    def d_total_float(o: dict[str, Any]) -> None:
        # DRIFT (REQ-ORD-3): total_cents sent as a fraction; Cents is an integer.
        o["total_cents"] = 10.5

    def d_missing_order_id(o: dict[str, Any]) -> None:
        # DRIFT (REQ-ORD-2): required order_id dropped (the record key still carries it).
        del o["order_id"]

    def d_status(o: dict[str, Any]) -> None:
        # DRIFT (REQ-ORD-5): status value outside the enum.
        o["status"] = "backordered"

    def d_coupon(o: dict[str, Any]) -> None:
        # DRIFT (REQ-ORD-1): undocumented field on a closed object (additionalProperties: false).
        o["coupon_code"] = "WINTER26"

    def d_created_at(o: dict[str, Any]) -> None:
        # DRIFT (REQ-ORD-8): created_at is not an RFC 3339 date-time.
        o["created_at"] = cap.now.strftime("%d/%m/%Y %H:%M:%S")

    def d_email_type(o: dict[str, Any]) -> None:
        # DRIFT (REQ-ORD-6, PII): customer.email is an array instead of a string. email is
        # x-pii, so the drift event must not echo these addresses.
        o["customer"]["email"] = ["secret.person@example.org", "other.secret@example.org"]

    def d_quantity_zero(o: dict[str, Any]) -> None:
        # DRIFT (REQ-ORD-4): an order line with quantity 0 (minimum 1).
        o["items"][-1]["quantity"] = 0

    def emit_v1_producer() -> None:
        # DRIFT (version lag): a producer still on v1 sends no schema-version header and no
        # channel (REQ-ORD-10). It fails v2 (newest) on the missing channel but passes v1.
        order = as_v1(valid_created())
        contracts.assert_invalid(ORDER_V2, order)
        contracts.assert_valid(ORDER_V1, order)
        cap.add(
            order["order_id"],
            _json(order),
            ["event-type", "OrderCreated"],
            drift="version lag: v1 payload (no channel), no schema-version header",
        )

    def emit_declared_v1() -> None:
        # Valid: a v1 message that says it is v1 (schema-version: 1) is checked against v1.
        order = as_v1(valid_created())
        contracts.assert_valid(ORDER_V1, order)
        created.append(order)
        cap.add(order["order_id"], _json(order), CREATED_V1)

    def emit_unknown_event() -> None:
        # DRIFT (unknown event type): event-type header names an event the orders contract lacks.
        order_id = created[rng.randrange(len(created))]["order_id"]
        body = {"order_id": order_id, "carrier": "DHL", "shipped_at": _iso(cap.now)}
        cap.add(
            order_id,
            _json(body),
            ["event-type", "OrderShipped", "schema-version", "1"],
            drift="unknown event type OrderShipped",
        )

    def emit_invalid_json() -> None:
        # DRIFT (undecodable): the producer flushed half a buffer, the value is not JSON.
        text = _json(valid_created())
        cut = text[: len(text) // 2]
        try:
            orjson.loads(cut)
        except orjson.JSONDecodeError:
            pass
        else:
            raise AssertionError("truncated JSON still parses")
        cap.add(
            orjson.loads(text)["order_id"],
            cut,
            CREATED_V2,
            drift="undecodable: JSON cut off mid-value",
        )

    def emit_tombstone() -> None:
        # DRIFT (tombstone): a null value on orders, whose catalog entry says tombstones: drift.
        cap.add(
            created[rng.randrange(len(created))]["order_id"],
            None,
            None,
            drift="tombstone (null value)",
        )

    plan: dict[int, Callable[[], None]] = {
        4: lambda: drift_created(d_total_float, "total_cents is 10.5 (REQ-ORD-3)"),
        7: emit_v1_producer,
        10: lambda: drift_created(d_missing_order_id, "order_id missing (REQ-ORD-2)"),
        12: emit_declared_v1,
        14: lambda: drift_created(d_status, "status 'backordered' not in enum (REQ-ORD-5)"),
        17: lambda: drift_created(d_coupon, "undocumented field coupon_code (closed object)"),
        20: lambda: drift_created(d_created_at, "created_at not a date-time (REQ-ORD-8)"),
        23: emit_unknown_event,
        26: emit_invalid_json,
        29: emit_tombstone,
        32: lambda: drift_created(
            d_email_type, "customer.email is an array (REQ-ORD-6, x-pii: value must not be echoed)"
        ),
        35: lambda: drift_created(d_quantity_zero, "quantity 0 on the last order line (REQ-ORD-4)"),
    }

    for index in range(1, 40):
        if index in plan:
            plan[index]()
        elif index % 5 == 3:
            emit_cancel()
        else:
            emit_valid_created()
    return cap


def build_req_ord_3(contracts: Contracts) -> Capture:
    """REQ-ORD-3 focus set: 5 OrderCreated v2, two with a fractional total_cents."""
    # Offsets start at 1000: a later slice of the orders topic than orders-mixed, so the two
    # captures never share (partition, offset) and their drift ids stay distinct.
    cap = Capture("req-ord-3-total-cents-float.jsonl", "orders", 3, binary=False, offset_base=1000)
    rng = _rng(SEED + 3)
    for index in range(5):
        order = order_created_v2(rng, cap.now)
        while index == 1 and order["total_cents"] % 100 == 0:  # euros must come out fractional
            order = order_created_v2(rng, cap.now)
        contracts.assert_valid(ORDER_V2, order)
        drift = ""
        if index == 1:
            # DRIFT (REQ-ORD-3): total in euros instead of cents (e.g. 129.97).
            order["total_cents"] = order["total_cents"] / 100
            drift = f"total_cents is {order['total_cents']} (euros, not cents; REQ-ORD-3)"
        elif index == 3:
            # DRIFT (REQ-ORD-3): a half-cent total from a float discount calculation.
            order["total_cents"] = order["total_cents"] - 0.5
            drift = f"total_cents is {order['total_cents']} (fractional; REQ-ORD-3)"
        if drift:
            contracts.assert_invalid(ORDER_V2, order)
        cap.add(order["order_id"], _json(order), CREATED_V2, drift=drift)
    return cap


# -- customers.profile (json, open content model) ------------------------------------------------

PROFILE_V1 = "customers/customer-profile-updated.v1.schema.json"


def build_customers_open(contracts: Contracts) -> Capture:
    """~8 profiles: valid, some with undocumented top-level fields (allowed), metadata maps."""
    cap = Capture("customers-open.jsonl", "customers.profile", 2, binary=False)
    rng = _rng(SEED + 5)
    keys: list[str] = []
    for index in range(7):
        name, email = PEOPLE[index]
        profile: dict[str, Any] = {
            "customer_id": _ident(rng, "cus_"),
            "email": email,
            "full_name": name,
            "tier": rng.choice(TIERS),
            "marketing_opt_in": rng.random() < 0.5,
            "updated_at": _iso(cap.now),
        }
        drift = ""
        if index in (0, 3):
            profile["phone"] = "+3361234" + "".join(rng.choice("0123456789") for _ in range(4))
        if index in (1, 3, 5):
            # Documented: metadata is a typed map (any key, string values).
            profile["metadata"] = {
                "utm_source": rng.choice(("newsletter", "google", "instagram")),
                "referrer": "partner_42",
            }
        if index in (2, 5):
            # Undocumented but allowed: the root is an open content model. Reported as
            # undocumented fields (information), not as breaking drift.
            profile["loyalty_points"] = rng.randint(0, 5000)
            drift = "undocumented loyalty_points on the open root (allowed; informational only)"
        if index == 5:
            profile["preferred_store"] = "Amsterdam Centraal"
            drift = "undocumented loyalty_points, preferred_store on the open root (allowed; info only)"
        if index == 6:
            # DRIFT (REQ-CRM-6): a metadata value that is a number; map values must be strings.
            profile["metadata"] = {"utm_source": "newsletter", "visits": 12}
            contracts.assert_invalid(PROFILE_V1, profile)
            drift = "metadata.visits is a number; map values must be strings (REQ-CRM-6)"
        else:
            contracts.assert_valid(PROFILE_V1, profile)
        keys.append(profile["customer_id"])
        cap.add(profile["customer_id"], _json(profile), None, drift=drift)
    # Not drift: a tombstone deletes a profile on this compacted topic (tombstones: ignore).
    cap.add(keys[4], None, None, drift="tombstone on a compacted topic (tombstones: ignore, not drift)")
    return cap


# -- inventory (confluent-json) ------------------------------------------------------------------

STOCK = {
    201: "inventory/stock-adjusted.v1.schema.json",
    202: "inventory/stock-adjusted.v2.schema.json",
}


def build_inventory(contracts: Contracts) -> Capture:
    """~8 framed JSON StockAdjusted (ids 201/202), one with a JSON type error."""
    cap = Capture("inventory-confluent-json.jsonl", "inventory", 2, binary=True)
    rng = _rng(SEED + 7)
    on_hand = {sku: rng.randint(20, 200) for sku, _, _ in PRODUCTS}
    for index in range(8):
        sku = rng.choice(PRODUCTS)[0]
        reason, delta = rng.choice(
            (
                ("sold", -rng.randint(1, 3)),
                ("received", rng.randint(10, 50)),
                ("damaged", -1),
                ("returned", 1),
            )
        )
        on_hand[sku] = max(0, on_hand[sku] + delta)
        schema_id = 201 if index < 3 else 202
        event: dict[str, Any] = {
            "sku": sku,
            "warehouse_id": rng.choice(("WH-AMS1", "WH-BER2", "WH-LON1")),
            "delta": delta,
            "quantity_on_hand": on_hand[sku],
            "reason": reason,
            "adjusted_at": _iso(cap.now),
        }
        if schema_id == 202 and index % 2:
            event["lot_number"] = f"LOT-{rng.randint(0, 999999):06d}"
        drift = ""
        if index == 6:
            # DRIFT (REQ-INV-3): quantity_on_hand as a string.
            event["quantity_on_hand"] = str(event["quantity_on_hand"])
            contracts.assert_invalid(STOCK[schema_id], event)
            drift = "quantity_on_hand is a string (REQ-INV-3), schema id 202"
        else:
            contracts.assert_valid(STOCK[schema_id], event)
        cap.add(sku, confluent(schema_id, _json(event)), None, drift=drift)
    return cap


# -- payments (schemaless avro) ------------------------------------------------------------------

MONEY = ("common/money.avsc",)
PAY_AUTH = {1: "payments/payment-authorized.v1.avsc", 2: "payments/payment-authorized.v2.avsc"}
PAY_REFUND = "payments/payment-refunded.v1.avsc"


def build_payments(contracts: Contracts) -> Capture:
    """~15 schemaless Avro payments: valid v1/v2/refunds plus truncated, newer-writer, no-header."""
    cap = Capture("payments-avro.jsonl", "payments", 2, binary=True)
    rng = _rng(SEED + 11)
    auth = {v: contracts.avro(ref, MONEY) for v, ref in PAY_AUTH.items()}
    refund = contracts.avro(PAY_REFUND, MONEY)
    # An unknown newer writer schema (not in the catalog): v2 plus a trailing field.
    v3_doc = copy.deepcopy(_load_json(PAY_AUTH[2]))
    v3_doc["fields"].append({"name": "risk_score", "type": "double", "default": 0.0})
    newer = contracts.avro(PAY_AUTH[2], MONEY, document=v3_doc)
    authorized: list[dict[str, Any]] = []

    def authorization(version: int) -> dict[str, Any]:
        name, _ = rng.choice(PEOPLE)
        currency = rng.choice(("EUR", "EUR", "GBP", "USD"))
        record: dict[str, Any] = {
            "payment_id": _ident(rng, "pay_"),
            "order_id": _ident(rng, "ord_"),
            "amount": {"amount_cents": rng.randint(999, 45000), "currency": currency},
            "card_brand": rng.choice(("VISA", "MASTERCARD", "AMEX")),
            "card_last4": f"{rng.randint(0, 9999):04d}",
            "cardholder_name": name.upper(),
            "authorized_at": _ms(cap.now),
        }
        if version == 2:
            record["three_ds_verified"] = rng.random() < 0.8
        return record

    def emit_auth(version: int) -> None:
        record = authorization(version)
        data = avro_encode(auth[version], record)
        avro_roundtrip(auth[version], data)
        authorized.append(record)
        cap.add(
            record["order_id"],
            data,
            ["event-type", "PaymentAuthorized", "schema-version", str(version)],
        )

    def emit_refund() -> None:
        paid = authorized[rng.randrange(len(authorized))]
        record = {
            "refund_id": _ident(rng, "ref_"),
            "payment_id": paid["payment_id"],
            "order_id": paid["order_id"],
            "amount": dict(paid["amount"]),
            "reason": rng.choice(("CUSTOMER_REQUEST", "ORDER_CANCELLED", "DUPLICATE")),
            "refunded_at": _ms(cap.now),
        }
        data = avro_encode(refund, record)
        avro_roundtrip(refund, data)
        cap.add(paid["order_id"], data, ["event-type", "PaymentRefunded", "schema-version", "1"])

    def emit_truncated() -> None:
        # DRIFT (undecodable): a valid v2 PaymentAuthorized cut to half its bytes.
        record = authorization(2)
        data = avro_encode(auth[2], record)
        cut = data[: len(data) // 2]
        how = avro_fails(auth[2], cut)
        cap.add(
            record["order_id"],
            cut,
            ["event-type", "PaymentAuthorized", "schema-version", "2"],
            drift=f"truncated Avro ({len(cut)} of {len(data)} bytes; {how})",
        )

    def emit_newer_writer() -> None:
        # DRIFT (schema mismatch): written with an unregistered newer schema (v2 + risk_score
        # double) but labelled schema-version 2; decoding with v2 leaves 8 bytes over.
        record = authorization(2) | {"risk_score": 0.125}
        data = avro_encode(newer, record)
        how = avro_fails(auth[2], data)
        cap.add(
            record["order_id"],
            data,
            ["event-type", "PaymentAuthorized", "schema-version", "2"],
            drift=f"newer writer schema with trailing risk_score ({how} with v2)",
        )

    def emit_no_event_type() -> None:
        # DRIFT (unknown event type): valid v2 bytes but the event-type header is missing.
        record = authorization(2)
        data = avro_encode(auth[2], record)
        avro_roundtrip(auth[2], data)
        cap.add(record["order_id"], data, ["schema-version", "2"], drift="no event-type header")

    sequence: list[Callable[[], None]] = [
        lambda: emit_auth(2),
        lambda: emit_auth(2),
        lambda: emit_auth(1),
        emit_refund,
        lambda: emit_auth(2),
        emit_truncated,
        lambda: emit_auth(1),
        lambda: emit_auth(2),
        emit_newer_writer,
        emit_refund,
        lambda: emit_auth(2),
        emit_no_event_type,
        lambda: emit_auth(1),
        emit_refund,
        lambda: emit_auth(2),
    ]
    for step in sequence:
        step()
    return cap


# -- shipments (confluent-avro) ------------------------------------------------------------------

ADDRESS = ("common/address.avsc",)
DISPATCHED = {
    301: "shipments/shipment-dispatched.v1.avsc",
    302: "shipments/shipment-dispatched.v2.avsc",
}
DELIVERED = {311: "shipments/shipment-delivered.v1.avsc"}


def build_shipments(contracts: Contracts) -> Capture:
    """~12 Confluent-framed Avro shipments: valid 301/302/311 plus framing drifts."""
    cap = Capture("shipments-confluent.jsonl", "shipments", 2, binary=True)
    rng = _rng(SEED + 13)
    schemas = {sid: contracts.avro(ref, ADDRESS) for sid, ref in (DISPATCHED | DELIVERED).items()}
    dispatched: list[dict[str, Any]] = []

    def dispatch(schema_id: int) -> dict[str, Any]:
        street, city, postcode, country, _ = rng.choice(ADDRESSES)
        carrier = rng.choice(("DHL", "UPS", "DPD", "POSTNL"))
        record: dict[str, Any] = {
            "shipment_id": _ident(rng, "shp_"),
            "order_id": _ident(rng, "ord_"),
            "carrier": carrier,
            "tracking_number": f"{carrier[:2]}{rng.randint(10**9, 10**10 - 1)}",
            "destination": {
                "street": street,
                "city": city,
                "postcode": postcode,
                "country": country,
            },
            "parcel_count": rng.randint(1, 3),
            "dispatched_at": _ms(cap.now),
        }
        if schema_id == 302:
            record["estimated_delivery"] = (
                (cap.now + timedelta(days=rng.randint(1, 4))).date() if rng.random() < 0.7 else None
            )
        return record

    def emit_dispatched(schema_id: int) -> None:
        record = dispatch(schema_id)
        body = avro_encode(schemas[schema_id], record)
        avro_roundtrip(schemas[schema_id], body)
        dispatched.append(record)
        cap.add(record["order_id"], confluent(schema_id, body))

    def emit_delivered() -> None:
        shipped = dispatched[rng.randrange(len(dispatched))]
        name, _ = rng.choice(PEOPLE)
        record = {
            "shipment_id": shipped["shipment_id"],
            "order_id": shipped["order_id"],
            "destination": shipped["destination"],
            "recipient_name": name,
            "signature_captured": rng.random() < 0.5,
            "delivered_at": _ms(cap.now),
        }
        body = avro_encode(schemas[311], record)
        avro_roundtrip(schemas[311], body)
        cap.add(record["order_id"], confluent(311, body))

    def emit_magic_one() -> None:
        # DRIFT (undecodable): magic byte 0x01 instead of 0x00 (not the Confluent wire format).
        record = dispatch(302)
        cap.add(
            record["shipment_id"],
            confluent(302, avro_encode(schemas[302], record), magic=1),
            drift="magic byte 0x01",
        )

    def emit_unknown_id() -> None:
        # DRIFT (unknown schema id): well-formed frame naming schema id 999, not in the catalog.
        record = dispatch(302)
        cap.add(
            record["shipment_id"],
            confluent(999, avro_encode(schemas[302], record)),
            drift="unknown schema id 999",
        )

    def emit_short() -> None:
        # DRIFT (undecodable): 3-byte value, too short for magic byte + 4-byte schema id.
        cap.add(
            _ident(rng, "ord_"),
            b"\x00\x00\x01",
            None,
            drift="3-byte payload (shorter than the 5-byte Confluent header)",
        )

    def emit_wrong_id() -> None:
        # DRIFT (schema mismatch): body written with v2 (302) but framed with v1's id 301;
        # decoding with v1 leaves the estimated_delivery union bytes over.
        record = dispatch(302)
        framed = confluent(301, avro_encode(schemas[302], record))
        how = avro_fails(schemas[301], framed, start=5)
        dispatched.append(record)
        cap.add(record["order_id"], framed, None, drift=f"v2 body framed with v1 id 301 ({how})")

    sequence: list[Callable[[], None]] = [
        lambda: emit_dispatched(301),
        lambda: emit_dispatched(302),
        emit_delivered,
        lambda: emit_dispatched(302),
        emit_magic_one,
        emit_delivered,
        lambda: emit_dispatched(301),
        emit_unknown_id,
        lambda: emit_dispatched(302),
        emit_short,
        emit_delivered,
        emit_wrong_id,
    ]
    for step in sequence:
        step()
    return cap


# -- main ----------------------------------------------------------------------------------------

BUILDERS: tuple[Callable[[Contracts], Capture], ...] = (
    build_orders_mixed,
    build_req_ord_3,
    build_payments,
    build_shipments,
    build_customers_open,
    build_inventory,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Build every capture, check it, then write the files and list the deliberate drifts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: replay/captures)")
    args = parser.parse_args(argv)

    reference = reference_order_created_v2()
    low, high = REFERENCE_SIZE
    if not low <= len(reference) <= high:
        raise AssertionError(f"OrderCreated v2 reference is {len(reference)} bytes, want {low}-{high}")

    contracts = Contracts()
    captures = [build(contracts) for build in BUILDERS]
    first = orjson.loads(captures[0].lines[0])["payload"].encode("utf-8")
    if first != reference:
        raise AssertionError("orders-mixed record 0 is not the OrderCreated v2 reference")

    args.out.mkdir(parents=True, exist_ok=True)
    report = sys.stdout
    report.write(f"OrderCreated v2 reference: {len(reference)} bytes\n")
    for cap in captures:
        cap.write(args.out)
        report.write(f"{cap.name}: {len(cap.lines)} records, {len(cap.drifts)} flagged\n")
        for line in cap.drifts:
            report.write(f"  {line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
