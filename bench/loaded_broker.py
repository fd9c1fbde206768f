"""Shared set-up of the broker benchmarks: options, the reference workload on an embedded broker.

bench/worker.py and bench/replay.py measure different consumers of the same thing: 200k
reference messages (bench/validate.py's) on a 4-partition topic of the embedded Tansu broker.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.validate import HEADERS, workload
from stream_sentinel.embedded import EmbeddedBroker
from stream_sentinel.testing import create_topics


def options(doc: str | None, rounds: int) -> argparse.Namespace:
    """``--messages`` (default 200k) and ``--rounds``, with the module docstring as help."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser.parse_args()


async def produce(bootstrap: str, topic: str, messages: list[bytes], partitions: int, single_tail: bool) -> int:
    """Bulk-produce (key = index); with ``single_tail``, then one one-record batch per partition.

    The embedded broker reports too low an end offset when a partition's last batch holds several
    records; ending every partition with a one-record batch makes end offsets exact, which a
    reader that stops at the end offsets needs. Returns the number of records produced.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        pending = []
        for i, value in enumerate(messages):
            pending.append(await producer.send(topic, value, key=str(i).encode(), headers=HEADERS))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        if not single_tail:
            return len(messages)
        for partition in range(partitions):
            await producer.send_and_wait(topic, messages[0], partition=partition, headers=HEADERS)
        return len(messages) + partitions
    finally:
        await producer.stop()


@contextmanager
def loaded_broker(
    prefix: str, count: int, topic: str, partitions: int, *, single_tail: bool
) -> Iterator[tuple[EmbeddedBroker, Path, int]]:
    """An embedded broker holding ``count`` reference messages on ``topic``: (broker, workdir, records)."""
    messages = workload(count)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        asyncio.run(create_topics(broker.bootstrap, [topic], partitions))
        started = time.perf_counter()
        records = asyncio.run(produce(broker.bootstrap, topic, messages, partitions, single_tail))
        took = time.perf_counter() - started
        print(f"produced {records} messages to {partitions} partitions in {took:.1f} s")
        yield broker, workdir, records
