"""The group floor of bench/worker.py: the worker's per-message work on a plain aiokafka group consumer.

What the sentinel worker's validate stage does per message and per batch, without Faust: a
consumer in its own consumer group ``getmany``s a batch (at most ``batch_size`` records), each
message goes through the same core as worker/batch.py (the spec's ``TopicChecker``, then
``core.assess``'s ``Assessor`` for a drifting one, counted into a windows ``Tally``), the batch's
tally is sent as the same records to a tallies topic (``core.aggregate.windows`` records, split
under the record limit by ``worker.bounds`` and serialised with orjson, keyed ``topic|event_type``,
as worker/sentinel.py does) and, once the broker acknowledged them, the batch is committed. The
worker's windows stage, its table and its web server have no counterpart here: the floor is what
a consumer group doing the same per-message check and the same tallies costs.

Run in its own process by bench/worker.py (``python bench/group_floor.py``), configured by
BENCH_BOOTSTRAP, BENCH_TOPIC, BENCH_COUNT, BENCH_GROUP and BENCH_SPEC. It prints one JSON line
``{"count", "first", "last", "tallies"}`` (wall times of the first and last message) and exits once it
has handled BENCH_COUNT messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not installed
from stream_sentinel.config import Settings
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.assess import Assessor, Policy, Ref
from stream_sentinel.core.check.validate import TopicChecker, load_engine
from stream_sentinel.embedded import CLIENT_SETTINGS
from stream_sentinel.worker import bounds

DEFAULTS = Settings()


def checkers_for(spec: str, topic: str) -> tuple[TopicChecker, float, str]:
    """The topic's checker, sampling rate and wire format, as the worker builds them (Sentinel._contracted)."""
    engine = load_engine(
        spec,
        max_violations_per_message=DEFAULTS.max_violations_per_message,
        max_payload_bytes=DEFAULTS.max_payload_bytes,
    )
    checker = engine.checker(topic)
    if checker is None:
        raise SystemExit(f"no contract for topic {topic} in {spec}")
    contract = engine.catalog.topics[topic]
    return checker, contract.sample_rate, contract.format


def assess_batch(
    records: list[Any], entry: tuple[TopicChecker, float, str], assessor: Assessor, now_ms: int
) -> w.Tally:
    """worker/batch.py's per-message path in ``first`` mode, on aiokafka records."""
    tally = w.Tally(DEFAULTS.alert_mode, lambda _topic, _event_type, _ts: True)
    checker, rate, wire = entry
    skips, assess, add, count = assessor.policy.skips, assessor.assess, tally.add, tally.messages
    for message in records:
        topic, partition, offset = message.topic, message.partition, message.offset
        if rate < 1.0 and skips(partition, offset, rate):
            continue
        ts = message.timestamp or now_ms
        try:
            outcome = checker.check(message.value, message.headers)
            if not outcome.violations:
                count(topic, outcome.event_type, ts)
                continue
            key = message.key
            ref = Ref(topic, partition, offset, ts, key if isinstance(key, bytes) else None, wire, observed_at=now_ms)
            add((topic, outcome, ts, assess(outcome, ref)))
        except Exception as exc:  # noqa: BLE001 - as the worker: a failure is an internal_error drift event
            ref = Ref(topic, partition, offset, ts, None, wire, observed_at=now_ms)
            add((topic, None, ts, assessor.failure(ref, exc)))
    return tally


def tally_records(tally: w.Tally, limit: int) -> list[tuple[bytes, bytes]]:
    """The tally as the worker sends it (Sentinel._tally_records): split under the record limit, orjson."""
    out: list[tuple[bytes, bytes]] = []
    for key, record in tally.records():
        if record["drift"]:
            bounds.bound_tally(record, limit)
        encoded = key.encode()
        out.extend((encoded, part) for part in bounds.split_tally(record, limit))
    return out


async def run(bootstrap: str, topic: str, target: int, group: str, spec: str) -> dict[str, Any]:
    """Consume ``target`` messages as a group; per batch: check, tally, send, await, commit."""
    entry = checkers_for(spec, topic)
    policy = Policy(min_severity=DEFAULTS.min_severity, raw_prefix=DEFAULTS.raw_prefix, sample=True)
    assessor = Assessor(policy)
    limit = bounds.record_limit(DEFAULTS.producer_max_request_size)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=DEFAULTS.fetch_max_bytes,
        session_timeout_ms=round(CLIENT_SETTINGS["broker_session_timeout"] * 1000),
        heartbeat_interval_ms=round(CLIENT_SETTINGS["broker_heartbeat_interval"] * 1000),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        max_batch_size=int(CLIENT_SETTINGS["producer_max_batch_size"]),
        max_request_size=DEFAULTS.producer_max_request_size,
    )
    tallies_topic = f"{group}-tallies"
    await producer.start()
    await consumer.start()
    state: dict[str, Any] = {"count": 0, "first": 0.0, "last": 0.0, "tallies": 0}
    try:
        while state["count"] < target:
            fetched = await consumer.getmany(
                timeout_ms=int(DEFAULTS.batch_within * 1000), max_records=DEFAULTS.batch_size
            )
            batch = [record for records in fetched.values() for record in records]
            if not batch:
                continue
            if not state["count"]:
                state["first"] = time.time()
            tally = assess_batch(batch, entry, assessor, round(time.time() * 1000))
            sends = [await producer.send(tallies_topic, value, key=key) for key, value in tally_records(tally, limit)]
            await asyncio.gather(*sends)  # at-least-once: the tallies land before the offsets are committed
            await consumer.commit()
            state["count"] += len(batch)
            state["tallies"] += len(sends)
        state["last"] = time.time()
    finally:
        await consumer.stop()
        await producer.stop()
    return state


def main() -> None:
    env = os.environ
    state = asyncio.run(
        run(env["BENCH_BOOTSTRAP"], env["BENCH_TOPIC"], int(env["BENCH_COUNT"]), env["BENCH_GROUP"], env["BENCH_SPEC"])
    )
    sys.stdout.write(json.dumps(state) + "\n")


if __name__ == "__main__":
    main()
