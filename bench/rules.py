"""Benchmark: the core check with behavioural rules on versus the core check alone, same data, same run.

Workload: the acme shop's order lifecycles over the example topics, in event-time order as the
three services would write them: ``orders`` (JSON, OrderCreated v2 as in bench/validate.py,
OrderCancelled), ``payments`` (schemaless Avro: PaymentAuthorized v2, PaymentRefunded) and
``shipments`` (Confluent-framed Avro: ShipmentDispatched v2, ShipmentDelivered). Orders arrive
every few seconds and live for a day or so, so tens of thousands of entities are in flight; about
8% are cancelled after payment and refunded. A few percent of the orders break a rule: a payment
authorised twice (unique + transitions), an order never paid (follows), a parcel dispatched
before payment (transitions), a cancellation stamped before its creation (ordered), a total below
the first line's price (the expression rule this bench adds to its spec copy). About 3% of the
OrderCreated messages are invalid (bench/validate.py's ten ways), as drift on a healthy stream.

Sides, each over the whole list of (topic, key, headers, value, timestamp) records:
  core    ``TopicChecker.check`` per message; invalid ones through ``Assessor.assess``
  rules   ``Engine.keeping_check`` (the rule topics), the same assessment of invalid messages,
          then for each valid message a rule reads: ``RuleSet.judge_expressions``,
          ``RuleSet.facts`` -> ``RuleRuntime.process`` (a fresh ``DictStore`` per round), and
          ``Assessor.assess`` of every rule finding
Breakdown (each part timed alone over precomputed inputs, best of the rounds): the second decode
of ``keeping`` (keeping check minus plain check), facts, runtime, expressions, assessment of
findings. The last line is ``ratio=<rules msg/s / core msg/s>`` (target >= 0.7).

Run: make bench-rules   (or: .venv/bin/python bench/rules.py [--orders N] [--rounds R])
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import fastavro
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not installed
from bench.validate import INVALID, order
from stream_sentinel.core.assess import Assessor, Policy, Ref
from stream_sentinel.core.check.outcome import Outcome
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts.catalog import parse_avro
from stream_sentinel.core.rules.engine import Finding, RuleRuntime
from stream_sentinel.core.rules.model import Fact, RuleSet, compile_rules
from stream_sentinel.core.rules.session import reach_for

SPEC = Path(__file__).resolve().parent.parent / "spec" / "events"
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
EXPRESSION_RULE = """
  - id: order-total-covers-first-line
    kind: expression
    requirement: REQ-ORD-12
    message: An order's total is at least what its first line costs.
    events: {orders: [OrderCreated]}
    expression: "self.total_cents >= self.items[0].quantity * self.items[0].unit_price_cents"
"""
BASE_MS = 1_763_632_800_000
SECOND, MINUTE, HOUR = 1000, 60_000, 3_600_000
FORMATS = {"orders": "json", "payments": "avro", "shipments": "confluent-avro"}


class Record(NamedTuple):
    topic: str
    key: bytes
    headers: list[tuple[str, bytes]] | None
    value: bytes
    ts: int
    partition: int
    offset: int


def spec_copy(workdir: Path) -> Path:
    """The example spec with one expression rule added (the catalog has the four stateful kinds)."""
    target = workdir / "events"
    shutil.copytree(SPEC, target)
    catalog = target / "catalog.yaml"
    if "kind: expression" not in catalog.read_text():
        catalog.write_text(catalog.read_text().rstrip("\n") + "\n" + EXPRESSION_RULE)
    return target


class Writer:
    """Encodes the lifecycle events of the three topics the way their producers do."""

    def __init__(self, engine: Engine) -> None:
        cat = engine.catalog
        self.avro: dict[str, tuple[Any, int | None]] = {}
        for topic, event_type, version_no in (
            ("payments", "PaymentAuthorized", 2),
            ("payments", "PaymentRefunded", 1),
            ("shipments", "ShipmentDispatched", 2),
            ("shipments", "ShipmentDelivered", 1),
        ):
            version = next(v for v in cat.topics[topic].events[event_type].versions if v.version == version_no)
            self.avro[event_type] = (parse_avro(version, cat.avro_documents), version.schema_id)

    def encode(self, event_type: str, record: dict[str, Any]) -> bytes:
        parsed, schema_id = self.avro[event_type]
        buffer = io.BytesIO()
        if schema_id is not None:
            buffer.write(b"\x00" + schema_id.to_bytes(4, "big"))
        fastavro.schemaless_writer(buffer, parsed, record)
        return buffer.getvalue()


def _id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(ALNUM, k=12))


def _address(rng: random.Random) -> dict[str, str]:
    return {"street": "1 Long Street", "city": rng.choice(["Utrecht", "Gent"]), "postcode": "3511 AB", "country": "NL"}


def lifecycle(rng: random.Random, writer: Writer, t0: int, n: int, breaks: Counter[str]) -> list[tuple[Any, ...]]:
    """One order's events as (ts, topic, key, headers, value); ``n`` picks its fate deterministically."""
    body = order(rng)
    oid = body["order_id"]
    pid = _id(rng, "pay_")
    out: list[tuple[Any, ...]] = []
    fate = n % 100

    def emit(ts: int, topic: str, event_type: str, payload: Any, version: int | None = None) -> None:
        headers = [("event-type", event_type.encode()), ("schema-version", str(version).encode())] if version else None
        value = orjson.dumps(payload) if topic == "orders" else writer.encode(event_type, payload)
        out.append((ts, topic, oid.encode(), headers, value))

    created = body
    if fate in (3, 37, 71):  # contract drift on a healthy stream: ~3% of OrderCreated invalid
        mutated = INVALID[(n // 100) % len(INVALID)](dict(body))
        created = mutated
    elif fate == 11:  # expression rule: the total does not cover the first line
        body["total_cents"] = body["items"][0]["quantity"] * body["items"][0]["unit_price_cents"] - 1
        breaks["expression"] += 1
    value = created if isinstance(created, bytes) else orjson.dumps(created)
    out.append((t0, "orders", oid.encode(), [("event-type", b"OrderCreated"), ("schema-version", b"2")], value))
    if fate == 23:  # follows: never paid
        breaks["follows"] += 1
        return out
    amount = {"amount_cents": body["total_cents"] if isinstance(body["total_cents"], int) else 1000, "currency": "EUR"}
    paid = t0 + rng.randrange(5, 90) * SECOND
    payment = {
        "payment_id": pid,
        "order_id": oid,
        "amount": amount,
        "card_brand": rng.choice(["VISA", "MASTERCARD", "AMEX"]),
        "card_last4": f"{rng.randrange(10000):04d}",
        "cardholder_name": "Jane Doe",
        "authorized_at": paid,
        "three_ds_verified": True,
    }
    dispatched = t0 + rng.randrange(2 * HOUR, 6 * HOUR)
    shipment = {
        "shipment_id": _id(rng, "shp_"),
        "order_id": oid,
        "carrier": rng.choice(["DHL", "UPS", "DPD", "POSTNL"]),
        "tracking_number": "JV" + "".join(rng.choices("0123456789", k=16)),
        "destination": _address(rng),
        "parcel_count": 1,
        "dispatched_at": dispatched,
        "estimated_delivery": None,
    }
    if fate == 47:  # transitions: dispatched before the payment was authorised
        breaks["transitions"] += 1
        emit(paid, "shipments", "ShipmentDispatched", {**shipment, "dispatched_at": paid})
        emit(paid + 20 * SECOND, "payments", "PaymentAuthorized", payment, 2)
        return out
    emit(paid, "payments", "PaymentAuthorized", payment, 2)
    if fate == 59:  # unique (+ transitions): the same payment authorised again
        breaks["unique"] += 1
        emit(paid + rng.randrange(2, 30) * SECOND, "payments", "PaymentAuthorized", payment, 2)
    if fate in (5, 17, 29, 41, 53, 65, 77, 89):  # ~8% cancelled after payment, then refunded
        cancelled = paid + rng.randrange(1, 60) * MINUTE
        ts = cancelled
        if fate == 89:  # ordered: the cancellation carries a time before the order's creation
            breaks["ordered"] += 1
            ts = t0 - 5 * SECOND
        cancel = {
            "order_id": oid,
            "reason": "customer_request",
            "cancelled_at": "2026-11-20T10:00:00Z",
            "refund_cents": amount["amount_cents"],
            "currency": "EUR",
        }
        headers = [("event-type", b"OrderCancelled"), ("schema-version", b"1")]
        out.append((cancelled, "orders", oid.encode(), headers, orjson.dumps(cancel), ts))  # written late
        refund = {
            "refund_id": _id(rng, "ref_"),
            "payment_id": pid,
            "order_id": oid,
            "amount": amount,
            "reason": "ORDER_CANCELLED",
            "refunded_at": cancelled + HOUR,
        }
        emit(cancelled + HOUR, "payments", "PaymentRefunded", refund, 1)
        return out
    emit(dispatched, "shipments", "ShipmentDispatched", shipment)
    delivered = dispatched + rng.randrange(12 * HOUR, 36 * HOUR)
    emit(
        delivered,
        "shipments",
        "ShipmentDelivered",
        {
            "shipment_id": shipment["shipment_id"],
            "order_id": oid,
            "destination": shipment["destination"],
            "recipient_name": "Jane Doe",
            "signature_captured": True,
            "delivered_at": delivered,
        },
    )
    return out


def workload(engine: Engine, orders: int, seed: int = 11) -> tuple[list[Record], Counter[str]]:
    """Every order's events in delivery order (by write time), with per-topic offsets (one partition each)."""
    rng = random.Random(seed)
    writer = Writer(engine)
    breaks: Counter[str] = Counter()
    events: list[tuple[Any, ...]] = []
    for n in range(orders):
        events.extend(lifecycle(rng, writer, BASE_MS + n * 4 * SECOND + rng.randrange(4 * SECOND), n, breaks))
    # Delivery follows write time; a record's timestamp is its event time (differs only for the
    # back-dated cancellations, written late with an earlier time).
    events.sort(key=lambda e: e[0])
    offsets: Counter[str] = Counter()
    out = []
    for e in events:
        ts = e[5] if len(e) > 5 else e[0]
        out.append(Record(e[1], e[2], e[3], e[4], ts, 0, offsets[e[1]]))
        offsets[e[1]] += 1
    return out, breaks


def best(fn: Callable[[], Any], rounds: int) -> float:
    """Best wall time of ``rounds`` calls, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=25_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.from_spec_dir(str(spec_copy(Path(tmp))))
    rules = compile_rules(engine.catalog, engine.shows)
    kinds = Counter(r.spec.kind for r in rules.rules.values())
    assert set(kinds) == {"transitions", "unique", "ordered", "follows", "expression"}, kinds
    records, breaks = workload(engine, args.orders)
    # As the worker does once its app is built: what exists before the stream starts is never
    # scanned by the collector again (both sides gain alike; the rule states come later).
    gc.collect()
    gc.freeze()
    n = len(records)
    plain = {t: c.check for t in FORMATS if (c := engine.checker(t)) is not None}
    keeping = {t: engine.keeping_check(t, partial(rules.reads, t), reach_for(rules, t)) for t in FORMATS}
    policy = Policy()

    def core() -> int:
        assessor, drift = Assessor(policy), 0
        for r in records:
            outcome = plain[r.topic](r.value, r.headers)
            if outcome.violations:
                ref = Ref(r.topic, r.partition, r.offset, r.ts, r.key, FORMATS[r.topic])
                drift += assessor.assess(outcome, ref) is not None
        return drift

    def with_rules() -> tuple[int, int]:
        assessor, runtime, drift, found = Assessor(policy), new_runtime(rules), 0, 0
        facts, process, judge = rules.facts, runtime.process, rules.judge_expressions
        for r in records:
            topic = r.topic
            outcome = keeping[topic](r.value, r.headers)
            if outcome.violations:
                ref = Ref(topic, r.partition, r.offset, r.ts, r.key, FORMATS[topic])
                drift += assessor.assess(outcome, ref) is not None
                continue
            payload = outcome.payload
            if payload is None:
                continue
            event_type = outcome.event_type
            failed = judge(topic, event_type, payload)
            if failed:
                ref = Ref(topic, r.partition, r.offset, r.ts, r.key, FORMATS[topic])
                found += assessor.assess(outcome._replace(violations=tuple(failed)), ref) is not None
            for fact in facts(topic, event_type, payload, r.key, r.partition, r.offset, r.ts):
                for finding in process(fact):
                    found += assess_finding(assessor, finding) is not None
        return drift, found

    # Interleave the two sides round by round so drift in machine load hits both equally.
    core_s = rules_s = float("inf")
    for _ in range(args.rounds):
        core_s = min(core_s, best(core, 1))
        rules_s = min(rules_s, best(with_rules, 1))
    with collector_time() as spent:
        start = time.perf_counter()
        drift, found = with_rules()
        whole = time.perf_counter() - start
    assert drift == core()

    parts = breakdown(records, rules, plain, keeping, args.rounds)
    per = Counter(r.topic for r in records)
    print(
        f"workload: {args.orders} orders, {n} messages ({', '.join(f'{t} {c}' for t, c in sorted(per.items()))}); "
        f"{drift} contract drift, {found} rule findings; orders breaking a rule: "
        + ", ".join(f"{k} {v}" for k, v in sorted(breaks.items()))
    )
    print(f"rules: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; facts skipped: {dict(rules.skipped)}")
    print(f"core  (check + assess):             {n / core_s:>10,.0f} msg/s  {1e6 * core_s / n:.2f} us/msg")
    print(f"rules (core + rules + assess):      {n / rules_s:>10,.0f} msg/s  {1e6 * rules_s / n:.2f} us/msg")
    print("rules cost per message of the whole workload (each part alone):")
    for name, seconds in parts.items():
        print(f"  {name:<28} {1e6 * seconds / n:6.2f} us/msg")
    print(f"  {'(whole difference)':<28} {1e6 * (rules_s - core_s) / n:6.2f} us/msg")
    print(f"collector (gc) during one rules round: {100 * spent[0] / whole:.0f}% of it ({spent[1]} collections)")
    print(f"ratio={core_s / rules_s:.3f}")


@contextlib.contextmanager
def collector_time() -> Iterator[list[Any]]:
    """Seconds the cyclic collector ran inside the block, and how many collections ([s, n])."""
    spent: list[Any] = [0.0, 0]
    began = [0.0]

    def callback(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - began[0]
            spent[1] += 1

    gc.callbacks.append(callback)
    try:
        yield spent
    finally:
        gc.callbacks.remove(callback)


def new_runtime(rules: RuleSet) -> RuleRuntime:
    from stream_sentinel.core.rules.engine import DictStore

    return RuleRuntime(rules, DictStore())


def assess_finding(assessor: Assessor, finding: Finding) -> Any:
    source = finding.source
    ref = Ref(source.topic, source.partition, source.offset, source.timestamp, None, FORMATS[source.topic])
    return assessor.assess(Outcome(finding.event_type, None, (finding.violation,)), ref)


def breakdown(
    records: list[Record],
    rules: RuleSet,
    plain: dict[str, Callable[..., Outcome]],
    keeping: dict[str, Callable[..., Outcome]],
    rounds: int,
) -> dict[str, float]:
    """Each part of the rules path timed alone over inputs computed beforehand."""

    def checks(table: dict[str, Callable[..., Outcome]]) -> Callable[[], None]:
        def run() -> None:
            for r in records:
                table[r.topic](r.value, r.headers)

        return run

    kept = [(r, o) for r in records if (o := keeping[r.topic](r.value, r.headers)).payload is not None and o.ok]
    facts_of = rules.facts

    def facts() -> list[Fact]:
        out: list[Fact] = []
        for r, o in kept:
            out.extend(facts_of(r.topic, o.event_type, o.payload, r.key, r.partition, r.offset, r.ts))
        return out

    all_facts = facts()
    findings: list[Finding] = []

    def runtime() -> None:
        process = new_runtime(rules).process
        findings.clear()
        for fact in all_facts:
            findings.extend(process(fact))

    def expressions() -> None:
        judge = rules.judge_expressions
        for r, o in kept:
            judge(r.topic, o.event_type, o.payload)

    def assess() -> None:
        assessor = Assessor(Policy())
        for finding in findings:
            assess_finding(assessor, finding)

    rounds = max(2, rounds // 2)
    plain_s, keeping_s = best(checks(plain), rounds), best(checks(keeping), rounds)
    runtime_s = best(runtime, rounds)
    return {
        f"re-decode ({len(kept)} kept)": max(0.0, keeping_s - plain_s),
        f"facts ({len(all_facts)})": best(facts, rounds),
        "runtime.process": runtime_s,
        "expressions": best(expressions, rounds),
        f"assess findings ({len(findings)})": best(assess, rounds),
    }


if __name__ == "__main__":
    main()
