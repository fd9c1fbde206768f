"""``replay`` and ``capture``: read a planned range with aiokafka and hand it to the core.

The shell does I/O only (broker, files, terminal); per record it does what every shell does:
check with ``TopicChecker``, assess with ``core.assess`` (severity floor, sampling, fingerprints,
lazy drift events), and add to the aggregators ``core.aggregate.report.DriftReport`` and, for a
candidate, ``core.aggregate.comparison.Comparison``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any, TextIO

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from stream_sentinel import kafkaio
from stream_sentinel.core.aggregate.comparison import Comparison
from stream_sentinel.core.aggregate.report import DriftReport
from stream_sentinel.core.assess import (
    Assessor,
    Checked,
    Policy,
    Ref,
    no_contract,
    publish_record,
    severities_of,
    write_jsonl,
)
from stream_sentinel.core.capture import CapturedMessage, key_text, to_envelope
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.keyhead import KeyHeadChecker
from stream_sentinel.core.check.outcome import Headers, Outcome
from stream_sentinel.core.check.validate import Engine, TopicChecker
from stream_sentinel.core.errors import BrokerError, UsageError, output_closed_means
from stream_sentinel.core.exits import EXIT_DRIFT, EXIT_OK
from stream_sentinel.core.ranges import End, PartitionPlan, Start, check_range
from stream_sentinel.core.rules.engine import DEFAULT_MAX_ENTITIES, Finding
from stream_sentinel.core.rules.session import RuleSession, open_session, reach_for, wants
from stream_sentinel.replay import kafka
from stream_sentinel.replay.render import ReplayResult, WarmUp, render

Check = Callable[[bytes | None, Headers], Outcome]


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
    rules: bool = True  # judge the catalog's behavioural rules (not with a candidate: see _start)
    warm_up: Start | None = None  # read from here up to the range's start first: rules' state only
    rules_max_entities: int = DEFAULT_MAX_ENTITIES  # the rule state cap (the worker's setting)


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
            raise UsageError(no_contract(topic, engine.catalog.topics, where))
        found[topic] = checker
    return found


@dataclass(slots=True)
class _Run:
    """One replay's per-message path: check -> assess -> add, under the current (and candidate) contracts."""

    current: dict[str, TopicChecker]
    candidate: dict[str, TopicChecker] | None
    assessor: Assessor
    report: DriftReport
    comparison: Comparison | None
    jsonl: bool
    every_event: bool  # every drift event is needed (JSON lines, publishing), not only examples
    rates: dict[str, float]  # --sample: the catalog's per-topic rate, decided as the worker does
    sampled_out: int = 0
    rules: RuleSession | None = None
    checks: dict[str, Check] = field(default_factory=dict)  # topics rules read: payload-keeping checks
    #: The candidate's verdicts under its own catalog's ``severity:`` settings (None: no candidate).
    candidate_assessor: Assessor | None = None
    #: Topics with a key/header contract (``Engine.keyheads``), current and candidate contracts.
    keyed: Mapping[str, KeyHeadChecker] = field(default_factory=dict)
    candidate_keyed: Mapping[str, KeyHeadChecker] = field(default_factory=dict)

    def batch(self, records: Sequence[ConsumerRecord[bytes, bytes]], out: TextIO) -> list[d.DriftEvent]:
        """Fold a batch of records in; the drift events to publish (when publishing)."""
        to_publish: list[d.DriftEvent] = []
        skips, assess, add = self.assessor.policy.skips, self.assessor.assess, self.report.add
        current, rates, every_event = self.current, self.rates, self.every_event
        rules, checks, keyed = self.rules, self.checks, self.keyed
        compare = self.comparison is not None
        for record in records:
            topic = record.topic
            rate = rates.get(topic, 1.0)
            if rate < 1.0 and skips(record.partition, record.offset, rate):  # the policy decides
                self.sampled_out += 1
                continue
            checker = current[topic]
            findings: list[Finding] = []
            if rules is None:
                outcome = checker.check(record.value, record.headers)
            else:
                outcome = (checks.get(topic) or checker.check)(record.value, record.headers)
            if keyed and topic in keyed:
                outcome = keyed[topic].judge(outcome, record.key, record.headers, record.value)
            if rules is not None:
                outcome, findings = rules.message(
                    topic, outcome, record.key, record.partition, record.offset, record.timestamp
                )
            drift = assess(outcome, _ref(record, checker)) if outcome.violations else None
            add((topic, outcome, 0, drift))
            if every_event and drift is not None:
                self._emit(drift.events(), out, to_publish)
            if compare:
                self._compare(record, (topic, outcome, 0, drift))
            if findings:
                self.findings(findings, out, to_publish)
        return to_publish

    def warm(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Feed the warm-up range to the rules only: state, no report, no drift events."""
        rules, checks = self.rules, self.checks
        if rules is None:
            return
        for record in records:
            check = checks.get(record.topic)
            if check is not None:
                outcome = check(record.value, record.headers)
                rules.message(
                    record.topic, outcome, record.key, record.partition, record.offset, record.timestamp, warm_up=True
                )

    def findings(self, findings: Sequence[Finding], out: TextIO, to_publish: list[d.DriftEvent]) -> None:
        """Behavioural findings: assessed like any drift, added as drift that is not a new message."""
        for finding in findings:
            drift = self.assessor.finding(finding, self.current[finding.source.topic].topic.format)
            if drift is not None:
                self.report.add_drift(drift)
                if self.every_event:
                    self._emit(drift.events(), out, to_publish)

    def _emit(self, events: list[d.DriftEvent], out: TextIO, to_publish: list[d.DriftEvent]) -> None:
        if self.jsonl:
            write_jsonl(events, out)
        to_publish.extend(events)

    def _compare(self, record: ConsumerRecord[bytes, bytes], current: Checked) -> None:
        """Check and assess the record under the candidate contracts too, and fold both verdicts."""
        if self.comparison is None or self.candidate is None:
            return
        checker = self.candidate[record.topic]
        other = checker.check(record.value, record.headers)
        keyhead = self.candidate_keyed.get(record.topic)
        if keyhead is not None:
            other = keyhead.judge(other, record.key, record.headers, record.value)
        assessor = self.candidate_assessor or self.assessor
        drift = assessor.assess(other, _ref(record, checker)) if other.violations else None
        self.comparison.add((current, (record.topic, other, 0, drift)))


def _ref(record: ConsumerRecord[bytes, bytes], checker: TopicChecker) -> Ref:
    return Ref(record.topic, record.partition, record.offset, record.timestamp, record.key, checker.topic.format)


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
    started = time.time()
    rid = run_id(started)
    run = _start(options, engines, what.topics, rid)
    async with kafkaio.consumer(connection.kwargs, connection.timeout) as client:
        tps = await kafka.partitions(client, what.topics, what.partitions, connection.timeout)
        plans = await kafka.plan(client, tps, what.start, what.end, connection.timeout)
        for p in plans:
            if p.lost:
                err.write(
                    f"stream-sentinel: {p.topic}[{p.partition}]: {p.lost:,} requested messages are gone "
                    f"(retention): the log starts at offset {p.earliest}\n"
                )
        warm = await _warm_up(client, run, plans, options.warm_up, connection, err)
        publisher = await _publisher(connection) if options.publish_topic else None
        run.every_event = run.jsonl or publisher is not None
        bar = Progress(err, sum(p.count for p in plans), progress)
        published = 0
        try:
            async for batch in kafka.read(client, plans, connection.stall_timeout):
                published += await _send(publisher, options, run.batch(batch, out))
                bar.advance(len(batch))
            if run.rules is not None:  # the deadlines the range's last event time decides
                to_publish: list[d.DriftEvent] = []
                run.findings(run.rules.finish(), out, to_publish)
                published += await _send(publisher, options, to_publish)
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
        report=run.report.result(),
        comparison=run.comparison.result() if run.comparison is not None else None,
        published=published,
        publish_topic=options.publish_topic,
        sampled_out=run.sampled_out if options.sample else None,
        warm_up=warm,
    )
    return _finish(result, options, out)


async def _send(publisher: AIOKafkaProducer | None, options: ReplayOptions, events: list[d.DriftEvent]) -> int:
    """Publish a batch's drift events when publishing; how many."""
    if publisher is None or not events:
        return 0
    await _publish(publisher, options.publish_topic or "", events)
    return len(events)


async def _warm_up(
    client: Any, run: _Run, plans: Sequence[PartitionPlan], start: Start | None, connection: Connection, err: TextIO
) -> WarmUp | None:
    """Read ``start`` up to each partition's range start into the rules' state (nothing reported)."""
    if start is None:
        return None
    if run.rules is None:
        err.write(
            "stream-sentinel: note: --warm-up-from reads nothing: no behavioural rule is judged in this run "
            "(none reads these topics, or --no-rules, --against or --sample)\n"
        )
        return WarmUp(start, 0)
    warm = await kafka.plan_before(client, plans, start, connection.timeout)
    for p in warm:
        if p.lost:
            err.write(
                f"stream-sentinel: {p.topic}[{p.partition}]: {p.lost:,} warm-up messages are gone (retention): "
                f"the log starts at offset {p.earliest}\n"
            )
    read = 0
    async for batch in kafka.read(client, warm, connection.stall_timeout):
        run.warm(batch)
        read += len(batch)
    return WarmUp(start, read)


def _start(options: ReplayOptions, engines: tuple[Engine, Engine | None], topics: Sequence[str], rid: str) -> _Run:
    """The run's checkers, policy and aggregators (a topic without a contract is a usage error)."""
    current = _checkers(engines[0], topics, options.spec)
    candidate = _checkers(engines[1], topics, options.against or "") if engines[1] is not None else None
    examples = max(options.examples, 0)
    policy = Policy(
        min_severity=options.min_severity,
        raw_prefix=options.raw_prefix,
        origin="replay",
        run_id=rid,
        sample=options.sample,
        clock=time.time,
        severity=severities_of(engines[0].catalog),
    )
    # A candidate catalog may change the severity settings too: its verdicts are judged by them.
    other = engines[1]
    candidate_assessor = Assessor(replace(policy, severity=severities_of(other.catalog))) if other else None
    jsonl = options.output_format == "jsonl"
    # Rules judge the current contracts' run only: a comparison with a candidate is about
    # contracts. Nor with --sample: a lifecycle or a follow-up judged on a sample would miss the
    # skipped messages and report moves and payments that did happen.
    engine = engines[0]
    judged = options.rules and candidate is None and not options.sample
    session = open_session(engine.catalog, engine.shows, topics, options.rules_max_entities) if judged else None
    checks = {}
    if session is not None:
        session.topics_read.update(topics)
        checks = {
            t: engine.keeping_check(t, wants(session.rules, t), reach_for(session.rules, t))
            for t in topics
            if t in session.rules.topics
        }
    return _Run(
        current=current,
        candidate=candidate,
        assessor=Assessor(policy),
        report=DriftReport(max_examples=examples),
        comparison=Comparison(max_examples=examples) if candidate is not None else None,
        jsonl=jsonl,
        every_event=jsonl,
        rates={t: c.topic.sample_rate for t, c in current.items()} if options.sample else {},
        rules=session,
        checks=checks,
        candidate_assessor=candidate_assessor,
        keyed=engine.keyheads,
        candidate_keyed=other.keyheads if other is not None else {},
    )


def _finish(result: ReplayResult, options: ReplayOptions, out: TextIO) -> int:
    """The exit code (drift, or with a candidate: anything newly broken); the report unless streamed."""
    if result.comparison is not None:
        code = EXIT_DRIFT if result.comparison.breaks_anything_new else EXIT_OK
    else:
        code = EXIT_DRIFT if result.report.drift_events else EXIT_OK
    if options.output_format != "jsonl":
        with output_closed_means(code):
            render(result, options.output_format, out)
    return code


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
        sends = []
        for event in events:
            key, value = publish_record(event)
            sends.append(await producer.send(topic, value, key=key))
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
