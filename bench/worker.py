"""Benchmark: the sentinel worker end to end versus a bare Faust agent, same broker, same run.

Workload: 200k OrderCreated v2 reference messages (bench/validate.py's: ~660 B, 10% invalid in
10 ways) on a 4-partition topic of the embedded broker, produced before either side starts.

- bare:     bench/bare_agent.py, a Faust agent that only counts with take_events(1000)
- sentinel: ``stream-sentinel worker`` (default alert mode ``first``, windows and metrics on)

Each side runs in its own process and consumer group and is timed from its first to its last
message (the bare agent reports its own times; the worker's come from polling its /metrics).
Rounds alternate the sides; the best round of each counts. Also printed: the worker's peak RSS
(VmHWM). The last line is ``ratio=<sentinel msg/s / bare msg/s>``.

Run: make bench-worker   (or .venv/bin/python bench/worker.py [--messages N] [--rounds R])
"""

from __future__ import annotations

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
from stream_sentinel.embedded import CLIENT_SETTINGS, die_with_parent, free_port
from stream_sentinel.testing import start_worker, stop_process, wait_ready, worker_env

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


def rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sentinel_round(bootstrap: str, count: int, workdir: Path, n: int) -> tuple[float, float]:
    port = free_port()
    env = worker_env(
        bootstrap,
        workdir / f"sentinel-{n}",
        port,
        SENTINEL_SPEC_DIR=str(ROOT / "spec" / "events"),
        SENTINEL_APP_ID=f"bench-sentinel-{n}",
        SENTINEL_DRIFT_TOPIC_PARTITIONS=str(PARTITIONS),
        SENTINEL_LOG_LEVEL="warning",
        SENTINEL_PRODUCER_MAX_BATCH_SIZE=str(CLIENT_SETTINGS["producer_max_batch_size"]),
    )
    process = start_worker(env, workdir / f"sentinel-{n}.log")
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


def main() -> None:
    args = options(__doc__, rounds=2)
    loaded = loaded_broker("bench-worker-", args.messages, TOPIC, PARTITIONS, single_tail=False)
    with loaded as (broker, workdir, records):
        bare = sentinel = 0.0
        rss = 0.0
        for n in range(args.rounds):
            bare = max(bare, bare_round(broker.bootstrap, records, workdir, n))
            rate, peak = sentinel_round(broker.bootstrap, records, workdir, n)
            sentinel, rss = max(sentinel, rate), max(rss, peak)
            print(f"round {n + 1}: bare {bare:,.0f} msg/s, sentinel {rate:,.0f} msg/s (peak RSS {peak:.0f} MiB)")
    print(f"bare Faust agent (take_events 1000, count only): {bare:>10,.0f} msg/s")
    print(f"sentinel worker (validate, windows, metrics):    {sentinel:>10,.0f} msg/s")
    print(f"sentinel peak RSS: {rss:.0f} MiB")
    print(f"ratio={sentinel / bare:.3f}")


if __name__ == "__main__":
    main()
