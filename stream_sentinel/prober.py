"""The drive -> verify probe against a running sentinel: the shell around ``core.probe``.

``stream-sentinel probe`` and the worker's built-in probe (``probe_interval``) both call
:func:`probe`. The drive produces the two canaries (one record per request, each waited for: its
partition and offset make the expected drift id); the verify steps read the drift topic from its
end as it was before the drive (group-less: no group is disturbed), the worker's ``/metrics`` and
an alert sink's listing. Connecting to the brokers is the only failure that is not a step: it is a
``BrokerError`` (exit 3), because nothing was driven. Never imports Faust.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from stream_sentinel.core import probe as p
from stream_sentinel.core.assess import no_contract
from stream_sentinel.core.capture import CapturedMessage, read_capture
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.errors import UsageError
from stream_sentinel.kafkaio import bounded, consumer, describe, quietly

#: Where example messages come from unless told otherwise (the bundled captures).
EXAMPLES: Final = Path("replay/captures")
#: Seconds the metrics and alert steps wait for their surface to catch up (each answer bounded too).
SURFACE_WAIT: Final = 5.0
#: Largest body read from /metrics or an alert sink's listing.
MAX_BODY: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    """What to probe and where: the topic, the drift topic, connections and the deadline."""

    topic: str
    drift_topic: str
    kafka: dict[str, Any]
    timeout: float = 30.0
    metrics_url: str | None = None
    alert_receiver: str | None = None
    examples: Path = EXAMPLES


def new_run_id() -> str:
    """A fresh probe run id (the canaries' header value, the drift events' ``run_id``)."""
    return "probe-" + uuid.uuid4().hex[:16]


def examples(where: Path) -> list[CapturedMessage]:
    """The example messages of a capture file or of every ``*.jsonl`` in a directory."""
    paths = sorted(where.glob("*.jsonl")) if where.is_dir() else [where]
    out: list[CapturedMessage] = []
    for path in paths:
        try:
            with path.open("rb") as lines:
                out.extend(read_capture(lines))
        except OSError as exc:
            raise UsageError(f"cannot read the probe's examples {path}: {exc.strerror}") from exc
    return out


def canaries(engine: Engine, target: Target, run_id: str) -> tuple[p.Canaries, str]:
    """The topic's canaries and its wire format; a topic without a contract is a usage error."""
    checker = engine.checker(target.topic)
    if checker is None or target.topic not in engine.catalog.topics:
        raise UsageError(no_contract(target.topic, engine.catalog.topics))
    contract = engine.catalog.topics[target.topic]
    return p.build_canaries(checker, examples(target.examples), run_id), contract.format


async def probe(engine: Engine, target: Target, run_id: str | None = None) -> p.Report:
    """One probe run: drive, then every verify step. ``BrokerError`` when the brokers cannot be reached."""
    run = run_id or new_run_id()
    started = time.monotonic()
    built, wire = canaries(engine, target, run)  # a bad topic or spec is exit 2, before the broker
    before, metrics_why = await _metrics(target)
    async with consumer(target.kafka, target.timeout) as reader:
        ends = await _drift_ends(reader, target)
        drive, coordinates = await _drive(target, built)
        if coordinates is None:
            skipped = (drive, *p.skipped_after_drive(drive.reason))
            return p.Report(run, target.topic, skipped, time.monotonic() - started)
        valid_at, drift_at = coordinates
        expected = p.expected_drift(built.outcome, target.topic, drift_at[0], drift_at[1], wire)
        events = await _read_drift(reader, ends, run, expected, target)
    first = p.drift_step(events, expected, run, f"{target.timeout:g} s")
    quiet = p.quiet_step(events, (target.topic, *valid_at), first.status == p.PASS)
    after = await _metrics_after(target, before) if before is not None else None
    metrics = p.metrics_step(before, after, metrics_why)
    alert = await _alert(target, expected)
    steps = (drive, first, quiet, metrics, alert)
    return p.Report(run, target.topic, steps, time.monotonic() - started)


async def _drift_ends(reader: AIOKafkaConsumer, target: Target) -> list[TopicPartition]:
    """Assign every partition of the drift topic at its current end (what is new is the probe's)."""
    await bounded(reader.topics(), target.timeout, "read the cluster's topics")
    partitions = reader.partitions_for_topic(target.drift_topic) or set()
    tps = [TopicPartition(target.drift_topic, n) for n in sorted(partitions)]
    reader.assign(tps)
    if tps:
        await bounded(reader.seek_to_end(*tps), target.timeout, f"read the end offsets of {target.drift_topic}")
        for tp in tps:
            await bounded(reader.position(tp), target.timeout, f"read the end offsets of {target.drift_topic}")
    return tps


async def _drive(target: Target, built: p.Canaries) -> tuple[p.Step, tuple[tuple[int, int], tuple[int, int]] | None]:
    """Produce the valid canary, then the drifting one (same key: same partition, in that order)."""
    producer = AIOKafkaProducer(**target.kafka, acks="all", request_timeout_ms=max(1000, round(target.timeout * 1000)))
    await bounded(producer.start(), target.timeout, "connect to the brokers")
    try:
        placed = []
        for canary in (built.valid, built.drifting):
            meta = await asyncio.wait_for(
                producer.send_and_wait(target.topic, canary.value, key=canary.key, headers=list(canary.headers)),
                target.timeout,
            )
            placed.append((meta.partition, meta.offset))
    except (TimeoutError, KafkaError, OSError) as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else describe(exc)
        step = p.Step(
            p.STEPS[0],
            p.FAIL,
            f"producing the canaries to {target.topic} failed ({why}): check the topic exists "
            "and the probe may write to it",
        )
        return step, None
    finally:
        await quietly(producer.stop())
    (vp, vo), (dp, do) = placed
    step = p.Step(p.STEPS[0], p.PASS, f"produced the valid canary at {vp}:{vo} and the drifting one at {dp}:{do}")
    return step, ((vp, vo), (dp, do))


async def _read_drift(
    reader: AIOKafkaConsumer, tps: Sequence[TopicPartition], run: str, expected: Sequence[p.Expected], target: Target
) -> list[dict[str, Any]]:
    """The drift events of this run that arrive until every expected one did, or the deadline.

    A drift topic that did not exist before the drive (a worker declares it on its first batch)
    is looked for again while waiting, and read from its beginning once it appears.
    """
    events: list[dict[str, Any]] = []
    wanted = {x.drift_id for x in expected}
    deadline = time.monotonic() + target.timeout
    while wanted and time.monotonic() < deadline:
        left = max(0.05, min(0.5, deadline - time.monotonic()))
        if not tps:
            tps = await _appeared(reader, target)
            if not tps:
                await asyncio.sleep(left)
                continue
        batches = await asyncio.wait_for(reader.getmany(timeout_ms=round(left * 1000)), target.timeout)
        for records in batches.values():
            for record in records:
                event = _event(record.value)
                if event is not None and event.get("run_id") == run:
                    events.append(event)
                    wanted.discard(str(event.get("drift_id")))
    return events


async def _appeared(reader: AIOKafkaConsumer, target: Target) -> list[TopicPartition]:
    await bounded(reader.topics(), target.timeout, "read the cluster's topics")
    partitions = reader.partitions_for_topic(target.drift_topic) or set()
    tps = [TopicPartition(target.drift_topic, n) for n in sorted(partitions)]
    if tps:
        reader.assign(tps)
        await bounded(reader.seek_to_beginning(*tps), target.timeout, f"read {target.drift_topic}")
    return tps


def _event(value: bytes | None) -> dict[str, Any] | None:
    try:
        event = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and event.get("type") == "drift" else None


def _get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - an operator-given URL
        body: bytes = answer.read(MAX_BODY)
    return body.decode("utf-8", "replace")


async def _fetch(url: str, timeout: float) -> tuple[str | None, str]:
    """The body at ``url``, or None and why (unreachable is a skip, not a failure)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(_get, url, timeout), timeout + 1), ""
    except (OSError, TimeoutError, ValueError) as exc:
        return None, f"{url} could not be read ({describe(exc)}): check the URL and that the worker serves it"


async def _metrics(target: Target) -> tuple[dict[str, float] | None, str]:
    if target.metrics_url is None:
        return None, ""
    body, why = await _fetch(target.metrics_url, min(target.timeout, SURFACE_WAIT))
    return (p.probe_counts(body, target.topic) if body is not None else None), why


async def _metrics_after(target: Target, before: dict[str, float]) -> dict[str, float] | None:
    """The counts once both canaries show (the worker updates metrics right after publishing), or the last read."""
    deadline = time.monotonic() + SURFACE_WAIT
    after: dict[str, float] | None = None
    while True:
        after, _ = await _metrics(target)
        done = after is not None and all(after.get(r, 0.0) > before.get(r, 0.0) for r in ("valid", "drift"))
        if done or time.monotonic() >= deadline:
            return after
        await asyncio.sleep(0.25)


async def _alert(target: Target, expected: Sequence[p.Expected]) -> p.Step:
    """Step 4: poll the alert sink's listing until it names the drift ids, or the wait ends."""
    if target.alert_receiver is None:
        return p.alert_step(None, expected)
    deadline = time.monotonic() + SURFACE_WAIT
    while True:
        body, why = await _fetch(target.alert_receiver, min(target.timeout, SURFACE_WAIT))
        if body is None:
            return p.alert_step(None, expected, why)
        if all(x.drift_id in body for x in expected) or time.monotonic() >= deadline:
            return p.alert_step(body, expected)
        await asyncio.sleep(0.25)
