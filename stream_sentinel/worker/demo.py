"""``stream-sentinel demo``: broker, producer with drift, worker and a live drift table, in one command.

Everything runs on the embedded Tansu broker. The producer replays the example captures in
``replay/captures/`` (realistic orders, payments, shipments, inventory and customer events,
most valid, some drifting) with fresh timestamps, round and round. The worker is a real
``stream-sentinel worker`` subprocess, configured for the embedded broker. The drift topic
is read without a consumer group into a drift table (``demo_table``): one row per rule, updated
in place; a live ``rich`` table on a terminal, plain text snapshots otherwise.

Ctrl-C (or ``--duration``) stops the producer, then the worker (SIGTERM: it flushes and
commits), then the broker. Both children also get a parent-death signal, so even ``kill -9``
of the demo leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from stream_sentinel.core.capture import CapturedMessage, read_capture
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.errors import BrokerError, SentinelError, UsageError
from stream_sentinel.core.exits import EXIT_OK
from stream_sentinel.embedded import EmbeddedBroker, broker_binary, free_port
from stream_sentinel.testing import PARTITIONS, create_topics, start_worker, stop_process, wait_ready, worker_env
from stream_sentinel.worker.demo_table import DriftTable

CAPTURES = Path("replay/captures")
DRIFT_TOPIC = "sentinel.drift"
#: Seconds between redraws of the live table (rows changed in between are marked in the next one).
REFRESH: Final = 1.0
#: Without a terminal: seconds without a new rule before the table is printed again.
PLAIN_SETTLE: Final = 3.0
#: Without a terminal: the table's width unless $COLUMNS says otherwise.
PLAIN_WIDTH: Final = 200


def sample_messages(spec_topics: set[str]) -> list[CapturedMessage]:
    """The example captures, for topics the spec knows."""
    out: list[CapturedMessage] = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        with path.open("rb") as lines:
            out.extend(m for m in read_capture(lines) if m.topic in spec_topics)
    return out


def _cycle(messages: list[CapturedMessage]) -> Iterator[CapturedMessage]:
    # A record needs a key or a value: a captured delete without a key cannot be produced again.
    sendable = [m for m in messages if m.key is not None or m.value is not None]
    while sendable:
        yield from sendable


@dataclass
class _Progress:
    """Messages the producer has sent so far (shown under the table)."""

    produced: int = 0


async def _produce(
    bootstrap: str, messages: list[CapturedMessage], rate: float, stop: asyncio.Event, progress: _Progress
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=16384, linger_ms=0)
    await producer.start()
    sent = 0
    try:
        interval = 1.0 / rate if rate > 0 else 0.0
        for message in _cycle(messages):
            if stop.is_set():
                break
            assert message.topic is not None
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode() if message.key is not None else None,
                headers=list(message.headers),
            )
            sent += 1
            progress.produced = sent
            await asyncio.sleep(interval)
    finally:
        await producer.stop()
    return sent


def _plain_console() -> tuple[Console, io.StringIO]:
    """A console rendering into a buffer, without colour, as wide as ``$COLUMNS`` (default 200)."""
    buffer = io.StringIO()
    return Console(file=buffer, width=_columns(), color_system=None, force_terminal=False, highlight=False), buffer


def _columns() -> int:
    with contextlib.suppress(ValueError):
        return max(40, int(os.environ.get("COLUMNS", "")))
    return PLAIN_WIDTH


def _snapshot(table: DriftTable, stdout: TextIO, title: str, produced: int) -> None:
    """The table once, as plain aligned text (trailing blanks removed) under a title line."""
    console, buffer = _plain_console()
    marked = table.refresh()
    console.print(table.table(marked, console.width, caption=table.status(produced)))
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    stdout.write(f"{title}\n" + "\n".join(lines) + "\n\n")
    stdout.flush()


async def _read(consumer: AIOKafkaConsumer, table: DriftTable) -> bool:
    """Fold the records of one fetch into the table; True if any arrived."""
    batches = await consumer.getmany(timeout_ms=200)
    now = time.time()
    got = False
    for records in batches.values():
        for record in records:
            if record.value is None:
                continue
            with contextlib.suppress(orjson.JSONDecodeError):
                data = orjson.loads(record.value)
                if isinstance(data, dict):
                    table.add(data, now)
                    got = True
    return got


async def _show(bootstrap: str, stdout: TextIO, stop: asyncio.Event, table: DriftTable, progress: _Progress) -> None:
    """Read the drift topic (no consumer group) into ``table`` and show it until ``stop``.

    On a terminal: a rich ``Live`` table redrawn in place every :data:`REFRESH` seconds. Otherwise
    (a pipe, a file, CI): the table as plain text when new rules appeared and none followed for
    :data:`PLAIN_SETTLE` seconds, and once more at the end, so the output grows with the number of
    rules, not with time.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(DRIFT_TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        if stdout.isatty():
            await _live(consumer, stdout, stop, table, progress)
        else:
            await _plain(consumer, stdout, stop, table, progress)
    finally:
        await consumer.stop()


async def _live(
    consumer: AIOKafkaConsumer, stdout: TextIO, stop: asyncio.Event, table: DriftTable, progress: _Progress
) -> None:
    console = Console(file=stdout)

    def render() -> Table:
        return table.table(table.refresh(), console.width, caption=table.status(progress.produced))

    with Live(render(), console=console, auto_refresh=False, vertical_overflow="ellipsis") as live:
        due = time.monotonic() + REFRESH
        while not stop.is_set():
            await _read(consumer, table)
            if time.monotonic() >= due:
                live.update(render(), refresh=True)
                due = time.monotonic() + REFRESH
        live.update(render(), refresh=True)


async def _plain(
    consumer: AIOKafkaConsumer, stdout: TextIO, stop: asyncio.Event, table: DriftTable, progress: _Progress
) -> None:
    shown = 0  # rules in the last snapshot
    quiet_since = time.monotonic()
    while not stop.is_set():
        known = len(table.rows)
        if await _read(consumer, table) and len(table.rows) != known:
            quiet_since = time.monotonic()  # a new rule: wait for the burst to settle
        if len(table.rows) != shown and time.monotonic() - quiet_since >= PLAIN_SETTLE:
            shown = len(table.rows)
            _snapshot(table, stdout, f"drift table at {time.strftime('%H:%M:%S')} ({shown} rules)", progress.produced)
    await _read(consumer, table)
    _snapshot(table, stdout, f"drift table at stop, {time.strftime('%H:%M:%S')}", progress.produced)


async def _demo(
    bootstrap: str, topics: list[str], duration: float, rate: float, stdout: TextIO
) -> tuple[int, DriftTable]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    messages = sample_messages(set(topics))
    table = DriftTable()
    progress = _Progress()
    producer = asyncio.create_task(_produce(bootstrap, messages, rate, stop, progress))
    shower = asyncio.create_task(_show(bootstrap, stdout, stop, table, progress))
    try:
        if duration > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
    finally:
        stop.set()
        sent = await producer
        await shower
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return sent, table


def run_demo(
    spec_dir: str, duration: float, rate: float, alert_mode: str, window: float, stdout: TextIO, stderr: TextIO
) -> int:
    """Run the demo; returns the exit code (0 after a clean stop).

    The work dir (``/tmp/sentinel-demo-*``) keeps ``worker.log`` and ``broker.log`` after the
    demo, for a look at what happened; the worker's state (``data/``) is removed on a clean stop.
    """
    broker_binary()  # no embedded extra: one line and exit 2 before anything starts
    engine = load_engine(spec_dir)  # a bad spec stops the demo before anything starts
    topics = [t for t in engine.catalog.topics if t != DRIFT_TOPIC]
    workdir = Path(tempfile.mkdtemp(prefix="sentinel-demo-"))
    worker: subprocess.Popen[bytes] | None = None
    try:
        with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
            stdout.write(f"embedded broker (Tansu) on {broker.bootstrap}\n")
            asyncio.run(create_topics(broker.bootstrap, topics, PARTITIONS))
            web_port = free_port()
            env = worker_env(
                broker.bootstrap,
                workdir / "data",
                web_port,
                SENTINEL_SPEC_DIR=spec_dir,
                SENTINEL_APP_ID="sentinel-demo",
                SENTINEL_ALERT_MODE=alert_mode,
                SENTINEL_TUMBLING_WINDOW=str(window),
                SENTINEL_HOPPING_WINDOW=str(window * 6),
                SENTINEL_HOPPING_STEP=str(window),
                SENTINEL_LOG_LEVEL="warning",
                # The dashboard reloads as often as the demo's windows close, and covers the last hour.
                SENTINEL_DASHBOARD_REFRESH=str(max(5, round(window))),
                SENTINEL_DASHBOARD_LOOKBACK="3600",
            )
            worker = start_worker(env, workdir / "worker.log")
            ready = wait_ready(web_port, worker)
            stdout.write(
                f"worker ready in {ready:.1f} s  (pid {worker.pid}; http://127.0.0.1:{web_port}/metrics, /drift)\n"
                f"dashboard: http://127.0.0.1:{web_port}/  (the drift dashboard: open it in a browser)\n"
                f"logs: {workdir}/worker.log, broker.log (kept after the demo)\n"
                f"producing {rate:g} msg/s from {CAPTURES}/ on {len(topics)} topics; alert mode {alert_mode}; "
                f"{window:g} s windows; Ctrl-C to stop\n\n"
            )
            stdout.flush()
            sent, table = asyncio.run(_demo(broker.bootstrap, topics, duration, rate, stdout))
            stop_process(worker)
            stdout.write(
                f"\nstopped: {sent} messages produced, {table.drift_events} drift events and "
                f"{table.summaries} window summaries received, {len(table.rows)} rules; logs kept in {workdir}\n"
            )
    except SentinelError as exc:
        stderr.write(f"stream-sentinel demo: {exc} (logs in {workdir})\n")
        return exc.exit_code
    finally:
        if worker is not None:
            stop_process(worker)
    shutil.rmtree(workdir / "data", ignore_errors=True)
    return EXIT_OK


async def _existing_topics(bootstrap: str, timeout: float) -> set[str]:
    """Every topic on the cluster (a metadata request for all topics: creates none)."""
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=round(timeout * 1000))
    try:
        await asyncio.wait_for(client.start(), timeout)
        return set(await asyncio.wait_for(client.topics(), timeout))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 5)


async def _produce_for(bootstrap: str, messages: list[CapturedMessage], rate: float, duration: float) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    producer = asyncio.create_task(_produce(bootstrap, messages, rate, stop, _Progress()))
    stopped = asyncio.create_task(stop.wait())
    try:  # until the duration, a signal, or the producer fails
        await asyncio.wait({producer, stopped}, timeout=duration if duration > 0 else None)
    finally:
        stop.set()
        stopped.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return await producer


def run_producer(
    spec_dir: str, bootstrap: str, duration: float, rate: float, stdout: TextIO, timeout: float = 15.0
) -> int:
    """``demo --produce-to``: only the demo's producer, against a running cluster (compose's sample profile).

    It produces the example captures to the catalog's topics, which must already exist: it never
    creates a topic and stops with exit 2 naming the missing ones (a cluster without auto-create
    would otherwise make every send wait for its timeout). Exit 3 if the brokers do not answer.
    """
    engine = load_engine(spec_dir)
    topics = sorted(t for t in engine.catalog.topics if t != DRIFT_TOPIC)
    messages = sample_messages(set(topics))
    if not messages:
        raise UsageError(f"no sample messages for the catalog's topics in {CAPTURES}/ (run from the repository root)")
    wanted = sorted({m.topic for m in messages if m.topic is not None})
    try:
        existing = asyncio.run(_existing_topics(bootstrap, timeout))
    except (TimeoutError, KafkaError, OSError) as exc:
        raise BrokerError(
            f"cannot reach the brokers at {bootstrap}: {' '.join(str(exc).split()) or type(exc).__name__}"
        ) from exc
    missing = [t for t in wanted if t not in existing]
    if missing:
        raise UsageError(f"topics missing on the cluster at {bootstrap}: {', '.join(missing)} (create them first)")
    stdout.write(f"producing {rate:g} msg/s from {CAPTURES}/ to {len(wanted)} topics at {bootstrap}; Ctrl-C to stop\n")
    stdout.flush()
    try:
        sent = asyncio.run(_produce_for(bootstrap, messages, rate, duration))
    except KafkaError as exc:
        raise BrokerError(
            f"producing to {bootstrap} failed: {' '.join(str(exc).split()) or type(exc).__name__}"
        ) from exc
    stdout.write(f"stopped: {sent} messages produced\n")
    return EXIT_OK
