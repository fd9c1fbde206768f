"""``stream-sentinel demo``: broker, producer with drift, worker and a live drift table, in one command.

Everything runs on the embedded Tansu broker. The producer replays the example captures in
``replay/captures/`` (realistic orders, payments, shipments, inventory and customer events,
most valid, some drifting) with fresh timestamps, round and round. The worker is a real
``stream-sentinel worker`` subprocess, configured for the embedded broker. The drift topic
is read without a consumer group and printed as a table.

Ctrl-C (or ``--duration``) stops the producer, then the worker (SIGTERM: it flushes and
commits), then the broker. Both children also get a parent-death signal, so even ``kill -9``
of the demo leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_sentinel.core.capture import CapturedMessage, read_capture
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.errors import SentinelError
from stream_sentinel.embedded import EmbeddedBroker, free_port
from stream_sentinel.testing import PARTITIONS, create_topics, start_worker, stop_process, wait_ready, worker_env

CAPTURES = Path("replay/captures")
DRIFT_TOPIC = "sentinel.drift"


def sample_messages(spec_topics: set[str]) -> list[CapturedMessage]:
    """The example captures, for topics the spec knows."""
    out: list[CapturedMessage] = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        with path.open("rb") as lines:
            out.extend(m for m in read_capture(lines) if m.topic in spec_topics)
    return out


def _cycle(messages: list[CapturedMessage]) -> Iterator[CapturedMessage]:
    while True:
        yield from messages


def _row(record: dict[str, Any], width: int) -> str:
    clock = time.strftime("%H:%M:%S")
    if record.get("type") == "summary":
        rate = record.get("rate")
        share = f" ({rate:.1%})" if rate is not None else ""
        where = f"{record['topic']}/{record['event_type'] or '-'}"
        text = (
            f"{clock}  SUMMARY   {where:<22} {record['kind']:<18} {record['requirement'] or '-':<10} "
            f"{record['count']} of {record['messages']} messages{share} at {record['rule_path'] or '/'}"
        )
    else:
        source = record["source"]
        where = f"{source['topic']}[{source['partition']}]@{source['offset']}"
        text = (
            f"{clock}  {record['severity'][:8].upper():<8}  {where:<22} {record['kind']:<18} "
            f"{record['requirement'] or '-':<10} {record['message']}"
        )
    return text[:width]


async def _produce(bootstrap: str, messages: list[CapturedMessage], rate: float, stop: asyncio.Event) -> int:
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
            await asyncio.sleep(interval)
    finally:
        await producer.stop()
    return sent


async def _show(bootstrap: str, stdout: TextIO, stop: asyncio.Event, seen: Counter[str]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(DRIFT_TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        width = max(80, shutil.get_terminal_size((140, 20)).columns)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    data = orjson.loads(record.value)
                    seen[str(data.get("type"))] += 1
                    stdout.write(_row(data, width) + "\n")
            stdout.flush()
    finally:
        await consumer.stop()


async def _demo(
    bootstrap: str, topics: list[str], duration: float, rate: float, stdout: TextIO
) -> tuple[int, Counter[str]]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    messages = sample_messages(set(topics))
    seen: Counter[str] = Counter()
    producer = asyncio.create_task(_produce(bootstrap, messages, rate, stop))
    shower = asyncio.create_task(_show(bootstrap, stdout, stop, seen))
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
    return sent, seen


def run_demo(
    spec_dir: str, duration: float, rate: float, alert_mode: str, window: float, stdout: TextIO, stderr: TextIO
) -> int:
    """Run the demo; returns the exit code (0 after a clean stop)."""
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
            )
            worker = start_worker(env, workdir / "worker.log")
            ready = wait_ready(web_port, worker)
            stdout.write(
                f"worker ready in {ready:.1f} s  (pid {worker.pid}; http://127.0.0.1:{web_port}/metrics, /drift; "
                f"logs in {workdir})\n"
                f"producing {rate:g} msg/s from {CAPTURES}/ on {len(topics)} topics; alert mode {alert_mode}; "
                f"Ctrl-C to stop\n\n"
            )
            stdout.flush()
            sent, seen = asyncio.run(_demo(broker.bootstrap, topics, duration, rate, stdout))
            stop_process(worker)
            stdout.write(
                f"\nstopped: {sent} messages produced, {seen['drift']} drift events and "
                f"{seen['summary']} window summaries received\n"
            )
    except SentinelError as exc:
        stderr.write(f"stream-sentinel demo: {exc} (logs in {workdir})\n")
        return exc.exit_code
    finally:
        if worker is not None:
            stop_process(worker)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0
