"""Benchmark: the sentinel worker end to end versus a bare Faust agent and a group floor, same broker, same run.

Workload: 200k OrderCreated v2 reference messages (bench/validate.py's: ~660 B, 10% invalid in
10 ways) on a 4-partition topic of the embedded broker, produced before any side starts.

- bare:     bench/bare_agent.py, a Faust agent that only counts with take_events(1000)
- floor:    bench/group_floor.py, the group floor: a plain aiokafka consumer in its own consumer
            group doing the worker's per-message work without Faust (the spec's checker,
            core.assess, the windows Tally), sending the same tally records to a tallies topic
            and committing after each ``getmany`` batch once they landed
- sentinel: ``stream-sentinel worker`` (default alert mode ``first``, windows and metrics on)

Each side runs in its own process and consumer group and is timed from its first to its last
message (bare agent and floor report their own times; the worker's come from polling its
/metrics). Rounds alternate the sides; the best round of each counts. Also printed: the worker's
peak RSS (VmHWM) and ``faust_ratio=<sentinel / bare>``. The last line is
``ratio=<sentinel msg/s / floor msg/s>``.

``--variant KEY=VALUE[,KEY=VALUE...]`` (repeatable) adds a worker side per round with those
SENTINEL_* settings (e.g. ``SENTINEL_EVENT_LOOP=uvloop``), printed beside the default worker.

Run: make bench-worker   (or .venv/bin/python bench/worker.py [--messages N] [--rounds R] [--variant ...])
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not installed
from bench.loaded_broker import loaded_broker, options
from stream_sentinel.config import Settings
from stream_sentinel.embedded import CLIENT_SETTINGS, die_with_parent, free_port
from stream_sentinel.testing import create_topics, start_worker, stop_process, wait_ready, worker_env

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "orders"
PARTITIONS = 4
METRIC = re.compile(rb'^sentinel_messages_total\{covered="true",topic="orders"\} ([0-9.e+]+)$', re.MULTILINE)


def bare_round(bootstrap: str, count: int, workdir: Path, n: int) -> float:
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_TOPIC": TOPIC,
        "BENCH_COUNT": str(count),
        "BENCH_APP_ID": f"bench-bare-{n}",
        "BENCH_DATA": str(workdir / f"bare-{n}"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bare_agent.py"), "worker", "--without-web", "-l", "warn"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        preexec_fn=die_with_parent,
    )
    # Faust's worker redirects stdout into its log, so the line may come with a log prefix.
    found = re.findall(r'\{"count".*\}', result.stdout + result.stderr)
    if not found:
        raise SystemExit(f"bare agent failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    times = json.loads(found[-1])
    return float(count / (times["last"] - times["first"]))


def floor_round(bootstrap: str, count: int, n: int) -> float:
    group = f"bench-floor-{n}"
    asyncio.run(create_topics(bootstrap, [f"{group}-tallies"], Settings().internal_partitions))
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_TOPIC": TOPIC,
        "BENCH_COUNT": str(count),
        "BENCH_GROUP": group,
        "BENCH_SPEC": str(ROOT / "spec" / "events"),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "group_floor.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        preexec_fn=die_with_parent,
    )
    found = re.findall(r'\{"count".*\}', result.stdout)
    if result.returncode or not found:
        raise SystemExit(f"group floor failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    times = json.loads(found[-1])
    if not times["tallies"]:
        raise SystemExit("group floor sent no tally records")
    return float(times["count"] / (times["last"] - times["first"]))


def rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sentinel_round(
    bootstrap: str, count: int, workdir: Path, n: int, variant: dict[str, str] | None = None
) -> tuple[float, float]:
    port = free_port()
    name = f"sentinel-{n}" if not variant else f"sentinel-{n}-{abs(hash(tuple(sorted(variant.items()))))}"
    env = worker_env(
        bootstrap,
        workdir / name,
        port,
        SENTINEL_SPEC_DIR=str(ROOT / "spec" / "events"),
        SENTINEL_APP_ID=f"bench-{name}",
        SENTINEL_DRIFT_TOPIC_PARTITIONS=str(PARTITIONS),
        SENTINEL_LOG_LEVEL="warning",
        SENTINEL_PRODUCER_MAX_BATCH_SIZE=str(CLIENT_SETTINGS["producer_max_batch_size"]),
        **(variant or {}),
    )
    process = start_worker(env, workdir / f"{name}.log")
    try:
        wait_ready(port, process, timeout=120)
        first = last = 0.0
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                found = METRIC.search(response.read())
            seen = float(found.group(1)) if found else 0.0
            now = time.time()
            if seen and not first:
                first = now
            if seen >= count:
                last = now
                break
            time.sleep(0.05)
        return count / (last - first), rss_peak_mib(process.pid)
    finally:
        stop_process(process)


def parse_variant(text: str) -> dict[str, str]:
    """``KEY=VALUE[,KEY=VALUE...]`` as worker environment variables."""
    variant = dict(item.split("=", 1) for item in text.split(","))
    if not all(key.startswith("SENTINEL_") for key in variant):
        raise SystemExit(f"--variant {text}: only SENTINEL_* settings")
    return variant


def main() -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--variant", action="append", default=[], type=parse_variant)
    known, rest = extra.parse_known_args()
    sys.argv[1:] = rest
    args = options(__doc__, rounds=2)
    variants: list[dict[str, str]] = known.variant
    loaded = loaded_broker("bench-worker-", args.messages, TOPIC, PARTITIONS, single_tail=False)
    with loaded as (broker, workdir, records):
        bare = floor = sentinel = 0.0
        rss = 0.0
        best = [0.0] * len(variants)
        for n in range(args.rounds):
            bare_rate = bare_round(broker.bootstrap, records, workdir, n)
            floor_rate = floor_round(broker.bootstrap, records, n)
            # Variants run before the default worker on odd rounds, after it on even ones: no side
            # always gets the broker's warmer caches.
            measured = {}
            order = [None, *range(len(variants))] if n % 2 == 0 else [*range(len(variants)), None]
            for i in order:
                measured[i] = sentinel_round(broker.bootstrap, records, workdir, n, None if i is None else variants[i])
            rate, peak = measured[None]
            bare, floor, sentinel = max(bare, bare_rate), max(floor, floor_rate), max(sentinel, rate)
            rss = max(rss, peak)
            line = (
                f"round {n + 1}: bare {bare_rate:,.0f} msg/s, floor {floor_rate:,.0f} msg/s, "
                f"sentinel {rate:,.0f} msg/s (peak RSS {peak:.0f} MiB)"
            )
            for i, variant in enumerate(variants):
                variant_rate, variant_peak = measured[i]
                best[i] = max(best[i], variant_rate)
                line += f", {format_variant(variant)} {variant_rate:,.0f} msg/s ({variant_peak:.0f} MiB)"
            print(line, flush=True)
    print(f"bare Faust agent (take_events 1000, count only):  {bare:>10,.0f} msg/s")
    print(f"group floor (aiokafka group, check, tallies, commit): {floor:>7,.0f} msg/s")
    print(f"sentinel worker (validate, windows, metrics):     {sentinel:>10,.0f} msg/s")
    for variant, rate in zip(variants, best, strict=True):
        print(f"sentinel worker with {format_variant(variant)}: {rate:,.0f} msg/s")
    print(f"sentinel peak RSS: {rss:.0f} MiB")
    print(f"faust_ratio={sentinel / bare:.3f}")
    print(f"ratio={sentinel / floor:.3f}")


def format_variant(variant: dict[str, str]) -> str:
    """``KEY=VALUE,...`` as given."""
    return ",".join(f"{key}={value}" for key, value in variant.items())


if __name__ == "__main__":
    main()
