"""Benchmark: the worker's memory and throughput under an event-type storm (issue #11 2.2).

Workload on one 4-partition ``orders`` topic of the embedded broker, produced before the worker
starts: first N normal messages (bench/validate.py's reference OrderCreated v2 mix, 10% invalid),
then a storm of M messages each with an event type never seen before (the orders catalog reads
the event type from the ``event-type`` header; the payload is a valid order).

One ``stream-sentinel worker`` subprocess (default settings: alert mode ``first``,
``max_event_types_per_topic`` 100) consumes it all. Sampled every 0.25 s: the worker's RSS
(psutil if installed, else /proc/<pid>/status VmRSS) and its consumed-message count (/metrics);
every 2 s the size of its /drift answer. Printed: peak RSS on the normal part and during the
storm, the largest /drift, msg/s on each part, the event-type folds counted; the last line is
``ratio=<storm msg/s / normal msg/s>``.

Run: make bench-storm   (or .venv/bin/python bench/storm.py [--normal N] [--storm M])
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not installed
from bench.validate import HEADERS, workload
from stream_sentinel.embedded import CLIENT_SETTINGS, EmbeddedBroker, free_port
from stream_sentinel.testing import create_topics, start_worker, stop_process, wait_ready, worker_env

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "orders"
PARTITIONS = 4
CONSUMED = re.compile(rb'^sentinel_messages_total\{covered="true",topic="orders"\} ([0-9.e+]+)$', re.MULTILINE)
FOLDED = re.compile(rb'^sentinel_bound_hits_total\{bound="event_types"\} ([0-9.e+]+)$', re.MULTILINE)
MIB = 1024 * 1024


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]  # optional: /proc is the fallback

        return float(psutil.Process(pid).memory_info().rss) / MIB
    except ImportError:
        pass
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def produce(bootstrap: str, normal: int, storm: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        pending = []
        valid = workload(1)[0]
        messages = [(value, HEADERS) for value in workload(normal)]
        messages += [
            (valid, [("event-type", f"Storm{i:07d}".encode()), ("schema-version", b"2")]) for i in range(storm)
        ]
        for i, (value, headers) in enumerate(messages):
            pending.append(await producer.send(TOPIC, value, key=str(i).encode(), headers=headers))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return bytes(response.read())


def number(pattern: re.Pattern[bytes], text: bytes) -> float:
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--normal", type=int, default=100_000, help="normal messages first (default 100k)")
    parser.add_argument("--storm", type=int, default=200_000, help="then messages with a new event type each")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    args = parser.parse_args()
    total = args.normal + args.storm
    workdir = Path(tempfile.mkdtemp(prefix="bench-storm-"))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        asyncio.run(create_topics(broker.bootstrap, [TOPIC], PARTITIONS))
        started = time.perf_counter()
        asyncio.run(produce(broker.bootstrap, args.normal, args.storm))
        print(f"produced {args.normal} normal + {args.storm} storm messages in {time.perf_counter() - started:.1f} s")
        port = free_port()
        env = worker_env(
            broker.bootstrap,
            workdir / "worker",
            port,
            SENTINEL_SPEC_DIR=str(ROOT / "spec" / "events"),
            SENTINEL_APP_ID="bench-storm",
            SENTINEL_LOG_LEVEL="warning",
            SENTINEL_PRODUCER_MAX_BATCH_SIZE=str(CLIENT_SETTINGS["producer_max_batch_size"]),
        )
        process = start_worker(env, workdir / "worker.log")
        try:
            wait_ready(port, process, timeout=120)
            idle_rss = rss_mib(process.pid)
            first = normal_done = storm_done = 0.0
            normal_peak = storm_peak = drift_bytes = 0.0
            next_drift = 0.0
            deadline = time.monotonic() + args.timeout
            seen = 0.0
            metrics = b""
            timeline: list[str] = []
            next_mark = 0.0
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise SystemExit(f"the worker exited with {process.returncode}; log: {workdir / 'worker.log'}")
                metrics = get(port, "/metrics")
                seen = number(CONSUMED, metrics)
                now = time.monotonic()
                rss = rss_mib(process.pid)
                if seen and not first:
                    first = now
                if seen < args.normal:
                    normal_peak = max(normal_peak, rss)
                else:
                    normal_done = normal_done or now
                    storm_peak = max(storm_peak, rss)
                if now >= next_mark:
                    timeline.append(f"{seen / 1000:.0f}k:{rss:.0f}")
                    next_mark = now + 10.0
                if now >= next_drift:
                    drift_bytes = max(drift_bytes, len(get(port, "/drift")))
                    next_drift = now + 2.0
                if seen >= total:
                    storm_done = now
                    break
                time.sleep(0.25)
            drift_bytes = max(drift_bytes, len(get(port, "/drift")))
        finally:
            stop_process(process)
    print(f"RSS every 10 s (messages consumed:MiB): {' '.join(timeline)}")
    print(f"worker RSS when ready:             {idle_rss:>10.0f} MiB")
    print(f"peak RSS, normal traffic:          {normal_peak:>10.0f} MiB")
    print(f"peak RSS, event-type storm:        {storm_peak:>10.0f} MiB")
    print(f"largest /drift answer:             {drift_bytes / 1024:>10.1f} KiB")
    if not storm_done:
        raise SystemExit(f"the worker consumed {seen:.0f} of {total} messages in {args.timeout:.0f} s")
    normal_rate = args.normal / max(normal_done - first, 1e-9)
    storm_rate = args.storm / max(storm_done - normal_done, 1e-9)
    print(f"normal traffic:                    {normal_rate:>10,.0f} msg/s")
    print(f"event-type storm:                  {storm_rate:>10,.0f} msg/s")
    print(f"messages folded into ~other:       {number(FOLDED, metrics):>10,.0f}")
    print(f"ratio={storm_rate / normal_rate:.3f}")


if __name__ == "__main__":
    main()
