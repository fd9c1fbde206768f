"""Benchmark: ``stream-sentinel replay`` versus raw aiokafka ``getmany`` of the same range, same run.

Workload: 200k OrderCreated v2 reference messages (bench/validate.py's: ~660 B, 10% invalid in
10 ways) on a 4-partition topic of the embedded broker, produced once before either side runs.

- raw:    a group-less AIOKafkaConsumer, assign + seek to the start, ``getmany`` until every
          partition reached its end offset; it only counts records
- replay: the replay command's own code path (``stream_sentinel.replay.run.replay``): the same
          reading plus validation of every message, drift counting and the report (table)

Both read the same planned range. Rounds alternate the sides; the best round of each counts.
The last line is ``ratio=<replay msg/s / raw msg/s>``.

Run: make bench-replay   (or .venv/bin/python bench/replay.py [--messages N] [--rounds R])
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not installed
from bench.validate import HEADERS, workload
from stream_sentinel.core.validate import load_engine
from stream_sentinel.embedded import EmbeddedBroker
from stream_sentinel.replay import kafka
from stream_sentinel.replay.run import Connection, Range, ReplayOptions, replay
from stream_sentinel.worker.demo import create_topics

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "spec" / "events")
TOPIC = "orders"
PARTITIONS = 4


async def produce(bootstrap: str, messages: list[bytes]) -> None:
    """Bulk-produce, then one single-record batch per partition.

    The embedded broker reports too low an end offset when a partition's last batch holds
    several records; ending every partition with a one-record batch keeps both sides honest.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        pending = []
        for i, value in enumerate(messages):
            pending.append(await producer.send(TOPIC, value, key=str(i).encode(), headers=HEADERS))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        for partition in range(PARTITIONS):
            await producer.send_and_wait(TOPIC, messages[0], partition=partition, headers=HEADERS)
    finally:
        await producer.stop()


async def raw(bootstrap: str) -> tuple[int, float]:
    """Raw getmany over the whole topic (the same range replay plans by default)."""
    async with kafka.consumer({"bootstrap_servers": [bootstrap]}, 10.0) as client:
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        ends = await client.end_offsets(tps)
        started = time.perf_counter()
        client.assign(tps)
        await client.seek_to_beginning(*tps)
        count = 0
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        while remaining:
            fetched = await client.getmany(timeout_ms=500, max_records=kafka.MAX_RECORDS)
            count += sum(len(records) for records in fetched.values())
            for tp in list(remaining):
                if await client.position(tp) >= remaining[tp]:
                    del remaining[tp]
        return count, time.perf_counter() - started


async def sentinel(bootstrap: str) -> tuple[int, float]:
    """The replay command's code path, report rendered to memory."""
    out = io.StringIO()
    engines = (load_engine(SPEC), None)
    started = time.perf_counter()
    await replay(
        Range((TOPIC,)),
        Connection({"bootstrap_servers": [bootstrap]}),
        ReplayOptions(spec=SPEC),
        engines,
        out,
        io.StringIO(),
        progress=False,
    )
    elapsed = time.perf_counter() - started
    first = out.getvalue().splitlines()[0]  # "replay <id>: ... -> ..., N messages in ..."
    count = int(first.split(", ")[-1].split(" messages")[0].replace(",", ""))
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    messages = workload(args.messages)
    workdir = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        asyncio.run(create_topics(broker.bootstrap, [TOPIC], PARTITIONS))
        started = time.perf_counter()
        asyncio.run(produce(broker.bootstrap, messages))
        took = time.perf_counter() - started
        print(f"produced {len(messages) + PARTITIONS} messages to {PARTITIONS} partitions in {took:.1f} s")
        best_raw = best_replay = 0.0
        for n in range(args.rounds):
            count, seconds = asyncio.run(raw(broker.bootstrap))
            raw_rate = count / seconds
            replayed, replay_seconds = asyncio.run(sentinel(broker.bootstrap))
            replay_rate = replayed / replay_seconds
            if replayed != count:
                raise SystemExit(f"replay read {replayed} messages, raw getmany {count}: the ranges differ")
            best_raw, best_replay = max(best_raw, raw_rate), max(best_replay, replay_rate)
            print(f"round {n + 1}: raw getmany {raw_rate:,.0f} msg/s, replay {replay_rate:,.0f} msg/s ({count:,} msgs)")
    print(f"raw aiokafka getmany (count only):         {best_raw:>10,.0f} msg/s")
    print(f"stream-sentinel replay (validate + report): {best_replay:>10,.0f} msg/s")
    print(f"ratio={best_replay / best_raw:.3f}")


if __name__ == "__main__":
    main()
