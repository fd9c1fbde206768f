"""``replay`` and ``capture``: read a planned range with aiokafka and hand it to the core.

The shell does I/O only (broker, files, terminal); validation is the same ``TopicChecker`` the
worker and ``check`` use, counting is ``core.report.DriftReport`` and the current-vs-candidate
diff is ``core.replay.Comparison``.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, TextIO

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from stream_sentinel import kafkaio
from stream_sentinel.core.aggregate.comparison import Comparison
from stream_sentinel.core.aggregate.report import DriftReport
from stream_sentinel.core.aggregate.windows import sampled
from stream_sentinel.core.capture import CapturedMessage, key_text, to_envelope
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine, Outcome, TopicChecker
from stream_sentinel.core.errors import BrokerError, UsageError, output_closed_means
from stream_sentinel.core.exits import EXIT_DRIFT, EXIT_OK
from stream_sentinel.core.ranges import End, PartitionPlan, Start, check_range
from stream_sentinel.replay import kafka
from stream_sentinel.replay.render import ReplayResult, render


@dataclass(frozen=True, slots=True)
class Range:
    """Which records: topics, partitions (empty = all) and the start/end rule."""

    topics: tuple[str, ...]
    partitions: tuple[int, ...] = ()
    start: Start = field(default_factory=Start)
    end: End = field(default_factory=End)


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach the brokers and how long to wait for them."""

    kwargs: dict[str, Any]
    timeout: float = 10.0
    stall_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """Everything ``replay`` needs besides the range and the connection."""

    spec: str
    against: str | None = None
    output_format: str = "table"
    examples: int = 3
    min_severity: str = d.INFO
    raw_prefix: int = 0
    publish_topic: str | None = None
    sample: bool = False  # apply the catalog's sample_rate like the worker


def run_id(now: float) -> str:
    """A replay run id: sortable by time, unique by a random suffix."""
    return datetime.fromtimestamp(now, tz=UTC).strftime("replay-%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


class Progress:
    """A one-line progress bar on a terminal (msgs, msg/s, ETA); silent otherwise."""

    def __init__(self, out: TextIO, total: int, enabled: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.total, self.enabled, self.clock = out, total, enabled, clock
        self.done = 0
        self.started = self.shown = clock()

    def advance(self, n: int) -> None:
        """Count ``n`` more records; redraw at most 5 times a second."""
        self.done += n
        now = self.clock()
        if self.enabled and now - self.shown >= 0.2:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = max(self.total - self.done, 0) / rate if rate else 0.0
            pct = 100.0 * self.done / self.total if self.total else 100.0
            self.out.write(
                f"\r  {self.done:,}/{self.total:,} records ({pct:.0f}%)  {rate:,.0f} msg/s  ETA {eta:.0f} s "
            )
            self.out.flush()

    def close(self) -> None:
        """Clear the line."""
        if self.enabled:
            self.out.write("\r\x1b[K")
            self.out.flush()


def _checkers(engine: Engine, topics: Sequence[str], where: str) -> dict[str, TopicChecker]:
    found = {}
    for topic in topics:
        checker = engine.checker(topic)
        if checker is None:
            known = ", ".join(sorted(engine.catalog.topics))
            raise UsageError(f"topic {topic!r} has no contract in {where} (known: {known})")
        found[topic] = checker
    return found


def _source(record: ConsumerRecord[bytes, bytes]) -> d.Source:
    key = record.key
    return d.Source(
        record.topic,
        record.partition,
        record.offset,
        record.timestamp,
        key.decode("utf-8", "replace") if key is not None else None,
    )


async def replay(
    what: Range,
    connection: Connection,
    options: ReplayOptions,
    engines: tuple[Engine, Engine | None],
    out: TextIO,
    err: TextIO,
    *,
    progress: bool,
) -> int:
    """Replay a range against the contracts (and a candidate); write the report; exit code."""
    check_range(what.start, what.end)
    current = _checkers(engines[0], what.topics, options.spec)
    candidate = _checkers(engines[1], what.topics, options.against or "") if engines[1] is not None else None
    started = time.time()
    rid = run_id(started)
    floor = d.SEVERITY_RANK[options.min_severity]
    report = DriftReport(max_examples=max(options.examples, 0))
    comparison = Comparison(max_examples=max(options.examples, 0), min_rank=floor) if candidate is not None else None
    jsonl = options.output_format == "jsonl"
    origin = "replay"
    async with kafkaio.consumer(connection.kwargs, connection.timeout) as client:
        tps = await kafka.partitions(client, what.topics, what.partitions, connection.timeout)
        plans = await kafka.plan(client, tps, what.start, what.end, connection.timeout)
        for p in plans:
            if p.lost:
                err.write(
                    f"stream-sentinel: {p.topic}[{p.partition}]: {p.lost:,} requested messages are gone "
                    f"(retention): the log starts at offset {p.earliest}\n"
                )
        publisher = await _publisher(connection) if options.publish_topic else None
        bar = Progress(err, sum(p.count for p in plans), progress)
        published = 0
        # Every drift event is needed for jsonl output and for publishing; otherwise only examples.
        every_event = jsonl or publisher is not None
        add = report.add_outcome
        # --sample: the catalog's per-topic rate, decided by partition/offset exactly as the worker does.
        rates = {t: c.topic.sample_rate for t, c in current.items()} if options.sample else {}
        sampled_out = 0
        try:
            async for batch in kafka.read(client, plans, connection.stall_timeout):
                to_publish: list[d.DriftEvent] = []
                for record in batch:
                    topic = record.topic
                    rate = rates.get(topic, 1.0)
                    if rate < 1.0 and not sampled(record.partition, record.offset, rate):
                        sampled_out += 1
                        continue
                    checker = current[topic]
                    outcome = checker.check(record.value, record.headers)
                    if every_event:
                        wire = checker.topic.format
                        events = _events(outcome, record, wire, options, rid, origin) if outcome.violations else []
                        report.add(topic, outcome.event_type, events, outcome.tombstone)
                        if jsonl and events:
                            with output_closed_means(EXIT_DRIFT):  # cut short while writing drift: drift
                                for event in events:
                                    out.write(event.to_json().decode() + "\n")
                        to_publish.extend(events)
                    elif outcome.violations:
                        wire = checker.topic.format
                        examples = functools.partial(_events, outcome, record, wire, options, rid, origin)
                        add(topic, outcome, record.partition, record.offset, examples, floor)
                    else:
                        add(topic, outcome, record.partition, record.offset, _none, floor)
                    if comparison is not None and candidate is not None:
                        other = candidate[topic].check(record.value, record.headers)
                        comparison.add(
                            topic,
                            record.partition,
                            record.offset,
                            (outcome.event_type, outcome.violations),
                            (other.event_type, other.violations),
                        )
                if publisher is not None and to_publish:
                    await _publish(publisher, options.publish_topic or "", to_publish)
                    published += len(to_publish)
                bar.advance(len(batch))
        finally:
            bar.close()
            if publisher is not None:
                await kafkaio.quietly(publisher.stop())
    result = ReplayResult(
        run_id=rid,
        started_ms=round(started * 1000),
        seconds=time.time() - started,
        start=what.start,
        end=what.end,
        spec=options.spec,
        against=options.against,
        plans=tuple(plans),
        report=report,
        comparison=comparison,
        published=published,
        publish_topic=options.publish_topic,
        sampled_out=sampled_out if options.sample else None,
    )
    if comparison is not None:
        code = EXIT_DRIFT if comparison.breaks_anything_new else EXIT_OK
    else:
        code = EXIT_DRIFT if report.drift_events else EXIT_OK
    if not jsonl:
        with output_closed_means(code):
            render(result, options.output_format, out)
    return code


def _none() -> list[d.DriftEvent]:
    return []


def _events(
    outcome: Outcome,
    record: ConsumerRecord[bytes, bytes],
    wire: str,
    options: ReplayOptions,
    rid: str,
    origin: str,
) -> list[d.DriftEvent]:
    return outcome.drift_events(
        _source(record),
        wire,
        origin=origin,
        run_id=rid,
        observed_at=round(time.time() * 1000),
        min_severity=options.min_severity,
        raw_prefix=options.raw_prefix,
    )


async def _publisher(connection: Connection) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        **connection.kwargs, acks="all", request_timeout_ms=max(1000, round(connection.timeout * 1000))
    )
    try:
        await asyncio.wait_for(producer.start(), connection.timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        await kafkaio.quietly(producer.stop())
        raise BrokerError(f"cannot start the drift publisher: {kafkaio.describe(exc)}") from exc
    return producer


async def _publish(producer: AIOKafkaProducer, topic: str, events: Sequence[d.DriftEvent]) -> None:
    """Send a batch's drift events (keyed by fingerprint, like the worker's) and wait for acks."""
    try:
        sends = [await producer.send(topic, e.to_json(), key=e.fingerprint.encode()) for e in events]
        await asyncio.gather(*sends)
    except KafkaError as exc:
        raise BrokerError(f"publishing drift events to {topic!r}: {kafkaio.describe(exc)}") from exc


async def capture(what: Range, connection: Connection, out: IO[bytes], err: TextIO, *, progress: bool) -> int:
    """Write the range as kcat ``-J`` JSON lines (binary payloads base64, see core.capture)."""
    check_range(what.start, what.end)
    written = 0
    async with kafkaio.consumer(connection.kwargs, connection.timeout) as client:
        tps = await kafka.partitions(client, what.topics, what.partitions, connection.timeout)
        plans: list[PartitionPlan] = await kafka.plan(client, tps, what.start, what.end, connection.timeout)
        for p in plans:
            if p.lost:
                err.write(
                    f"stream-sentinel: {p.topic}[{p.partition}]: {p.lost:,} requested messages are gone (retention)\n"
                )
        bar = Progress(err, sum(p.count for p in plans), progress)
        try:
            async for batch in kafka.read(client, plans, connection.stall_timeout):
                lines = []
                for record in batch:
                    key, key_base64 = key_text(record.key)
                    message = CapturedMessage(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.timestamp,
                        key,
                        # A null header value carries nothing; check treats it as absent anyway.
                        tuple((name, value) for name, value in record.headers if value is not None),
                        record.value,
                        key_base64,
                    )
                    lines.append(to_envelope(message))
                out.write(b"\n".join(lines) + b"\n")
                written += len(lines)
                bar.advance(len(batch))
        finally:
            bar.close()
    err.write(f"stream-sentinel: captured {written:,} records\n")
    return EXIT_OK


__all__ = ["Connection", "Range", "ReplayOptions", "capture", "replay", "run_id"]
