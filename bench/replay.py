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

import asyncio
import io
import json
import sys
import time
from pathlib import Path

from aiokafka import TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not installed
from bench.loaded_broker import loaded_broker, options
from stream_sentinel import kafkaio
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.replay import kafka
from stream_sentinel.replay.run import Connection, Range, ReplayOptions, replay

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "spec" / "events")
TOPIC = "orders"
PARTITIONS = 4


async def raw(bootstrap: str) -> tuple[int, float]:
    """Raw getmany over the whole topic (the same range replay plans by default)."""
    async with kafkaio.consumer({"bootstrap_servers": [bootstrap]}, 10.0) as client:
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
        ReplayOptions(spec=SPEC, output_format="json"),
        engines,
        out,
        io.StringIO(),
        progress=False,
    )
    elapsed = time.perf_counter() - started
    return int(json.loads(out.getvalue())["current"]["messages"]), elapsed


def main() -> None:
    args = options(__doc__, rounds=3)
    with loaded_broker("bench-replay-", args.messages, TOPIC, PARTITIONS, single_tail=True) as (broker, _, _):
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
