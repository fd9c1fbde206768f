"""Record a week of the drift topic from the bundled captures, through the worker's own code path.

The health report's golden tests read ``replay/drift-topic/week.jsonl``: what ``stream-sentinel
capture --topic sentinel.drift`` would write after a worker ran for a week over this traffic.
Nothing in it is written by hand: each message of the captures in ``replay/captures/`` goes
through the worker's validate stage (``worker.batch.BatchAssessor``: check, assess, tally, in
``first`` alert mode) and its windows stage (``core.aggregate.windows.advance``, with ticks as
the worker's timer sends them), and every record the worker would publish on the drift topic
(first drift events, window summaries, traffic records) is written as a kcat ``-J`` envelope,
placed by fingerprint (or window key) on 8 partitions like the worker's producer.

The week (2026-11-13T10:00Z to 2026-11-20T10:00Z), each block a capture re-timed:

- 11-14 09:00: ``orders-mixed`` (one message every 20 s): the orders rules break.
- 11-15 10:00: ``payments-avro``: payment drift, and no payment traffic after it (stays open).
- 11-16 12:00: the valid messages of ``orders-mixed`` three times over, one a minute: most
  orders rules are fixed (their event types kept coming without them).
- 11-17 10:00: ``customers-open``: an info rule (open content model) and a breaking one.
- 11-18 10:00: 30 messages on ``clickstream``, a topic without a contract (uncovered).
- 11-20 09:50: ``req-ord-3-total-cents-float`` (one a minute): REQ-ORD-3 is back, open.
- ``inventory`` and ``shipments`` get no traffic (silent).

Usage: ``python replay/make_drift_topic.py [--out FILE]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from make_captures import partition_for

from stream_sentinel import __version__
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.assess import Assessor, Policy, severities_of
from stream_sentinel.core.capture import CapturedMessage, read_capture, to_envelope
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.worker.batch import BatchAssessor

HERE = Path(__file__).resolve().parent
SPEC_DIR = HERE.parent / "spec" / "events"
CAPTURES = HERE / "captures"
DEFAULT_OUT = HERE / "drift-topic" / "week.jsonl"
DRIFT_TOPIC = "sentinel.drift"
PARTITIONS = 8
SPEC = w.WindowSpec(tumbling_ms=60_000, hopping_ms=3_600_000, step_ms=300_000, grace_ms=10_000)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Block:
    """One capture's messages re-timed: from ``start``, one every ``every_ms``."""

    capture: str
    start: str
    every_ms: int
    only_valid: bool = False
    rounds: int = 1


BLOCKS = (
    Block("orders-mixed.jsonl", "2026-11-14T09:00:00", 20_000),
    Block("payments-avro.jsonl", "2026-11-15T10:00:00", 20_000),
    Block("orders-mixed.jsonl", "2026-11-16T12:00:00", 60_000, only_valid=True, rounds=3),
    Block("customers-open.jsonl", "2026-11-17T10:00:00", 20_000),
    Block("req-ord-3-total-cents-float.jsonl", "2026-11-20T09:50:00", 60_000),
)
#: A topic without a contract: counted by the worker, never validated (its payload is not read).
UNCOVERED = ("clickstream", "2026-11-18T10:00:00", 30, 60_000)


class Worker:
    """The worker's two stages without Faust: validate (BatchAssessor) and windows (advance)."""

    def __init__(self) -> None:
        engine = load_engine(str(SPEC_DIR))
        checkers: dict[str, Any] = {
            name: (engine.checker(name), contract.sample_rate, contract.format)
            for name, contract in engine.catalog.topics.items()
            if name != DRIFT_TOPIC
        }
        policy = Policy(sample=True, severity=severities_of(engine.catalog))
        self.validate = BatchAssessor(checkers, Assessor(policy), "first", lambda *_: True)
        self.states: dict[str, dict[str, Any]] = {}
        self.published: list[tuple[bytes, dict[str, Any], int]] = []  # key, value, publish time

    def batch(self, message: Any, now_ms: int) -> None:
        """One message as a batch: validate, then fold its tally records into the windows."""
        result = self.validate.run([message], now_ms)
        for key, record in result.tally.records():
            state = self.states.setdefault(key, w.new_state(key))
            self._publish(key, w.advance(state, record, SPEC, now_ms), now_ms)

    def tick(self, now_ms: int) -> None:
        """The worker's timer: a tick for every key closes the windows of idle ones."""
        for key in sorted(self.states):
            self._publish(key, w.advance(self.states[key], w.tick(now_ms), SPEC, now_ms), now_ms)

    def _publish(self, key: str, result: w.Advance, now_ms: int) -> None:
        stamp = {"observed_at": now_ms, "sentinel_version": __version__}
        for event in result.first:
            self.published.append((event["fingerprint"].encode(), event, now_ms))
        for summary in result.summaries:
            self.published.append((summary["fingerprint"].encode(), {**summary, **stamp}, now_ms))
        for traffic in result.traffic:
            self.published.append((key.encode(), {**traffic, **stamp}, now_ms))


def _messages(block: Block) -> Iterator[SimpleNamespace]:
    captured = list(read_capture((CAPTURES / block.capture).read_bytes().splitlines()))
    if block.only_valid:
        engine = load_engine(str(SPEC_DIR))
        captured = [c for c in captured if _valid(engine, c)]
    at = _ms(block.start)
    for round_no in range(block.rounds):
        for c in captured:
            yield SimpleNamespace(
                topic=c.topic,
                partition=c.partition,
                offset=c.offset + 1000 * round_no,
                timestamp=at / 1000,
                headers=list(c.headers),
                value=c.value,
                key=c.key.encode() if c.key is not None else None,
            )
            at += block.every_ms


def _valid(engine: Any, message: CapturedMessage) -> bool:
    checker = engine.checker(message.topic)
    return checker is not None and not checker.check(message.value, list(message.headers)).violations


def _uncovered() -> Iterator[SimpleNamespace]:
    topic, start, count, every = UNCOVERED
    for i in range(count):
        yield SimpleNamespace(
            topic=topic,
            partition=i % 2,
            offset=i // 2,
            timestamp=(_ms(start) + i * every) / 1000,
            headers=[],
            value=orjson.dumps({"page": f"/p/{i % 5}"}),
            key=None,
        )


def record_week() -> list[bytes]:
    """Every drift-topic record of the week, as kcat -J envelope lines in publish order."""
    worker = Worker()
    streams = [list(_messages(b)) for b in BLOCKS] + [list(_uncovered())]
    for stream in sorted(streams, key=lambda s: s[0].timestamp):
        for message in stream:
            worker.batch(message, round(message.timestamp * 1000))
        worker.tick(round(stream[-1].timestamp * 1000) + 120_000)
    offsets = [0] * PARTITIONS
    lines = []
    for key, value, at in worker.published:
        partition = partition_for(key.decode(), PARTITIONS)
        lines.append(
            to_envelope(
                CapturedMessage(DRIFT_TOPIC, partition, offsets[partition], at, key.decode(), (), orjson.dumps(value))
            )
        )
        offsets[partition] += 1
    return lines


def main() -> None:
    """Write the recorded week."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    out = parser.parse_args().out
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = record_week()
    out.write_bytes(b"\n".join(lines) + b"\n")
    sys.stdout.write(f"{out}: {len(lines)} drift-topic records\n")


if __name__ == "__main__":
    main()
