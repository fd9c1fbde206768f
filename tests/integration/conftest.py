"""Integration fixtures: a real broker (embedded Tansu, or SENTINEL_TEST_BOOTSTRAP) and real workers.

Every test gets its own topics, group (app id) and data dir, so tests never see each other's
records. Producers send one record per request and wait for it: Tansu's end offsets are too
low when a batch holds several records, and waiting also gives each record its offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_sentinel.core.capture import read_capture
from stream_sentinel.embedded import EmbeddedBroker, free_port
from stream_sentinel.testing import create_topics, start_worker, stop_process, wait_ready, worker_env

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
PARTITIONS = 4
Until = Callable[[list[dict[str, Any]]], bool]
Message = tuple[bytes | None, tuple[tuple[str, bytes], ...]]


def order_messages(repeat: int = 1) -> list[Message]:
    """The orders capture (realistic OrderCreated/OrderCancelled, valid and drifting), ``repeat`` times."""
    with (ROOT / "replay" / "captures" / "orders-mixed.jsonl").open("rb") as lines:
        once = [(m.value, m.headers) for m in read_capture(lines)]
    return once * repeat


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("SENTINEL_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log") as broker:
        yield broker.bootstrap


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def rename_topic(catalog: str, old: str, new: str) -> str:
    """The catalog text with topic ``old`` renamed to ``new``: its entry and the rules naming it."""
    catalog = catalog.replace(f"\n  {old}:\n", f"\n  {new}:\n", 1)
    head, found, rules = catalog.partition("\nrules:\n")
    return head + found + re.sub(rf"(?<=[{{ ]){re.escape(old)}(?=: )", new, rules)


def topic_spec(tmp_path: Path, topic: str, drift_topic: str, sample_rate: float = 1.0) -> Path:
    """A spec dir whose catalog maps a uniquely named topic to the example OrderCreated contract."""
    spec = tmp_path / "spec"
    shutil.copytree(SPEC, spec)
    catalog = (spec / "catalog.yaml").read_text()
    catalog = rename_topic(catalog, "orders", topic).replace("sentinel.drift:", f"{drift_topic}:", 1)
    if sample_rate != 1.0:
        catalog = catalog.replace(f"\n  {topic}:\n", f"\n  {topic}:\n    sample_rate: {sample_rate}\n", 1)
    (spec / "catalog.yaml").write_text(catalog)
    return spec


class Harness:
    """Topics, workers and a drift reader for one test."""

    def __init__(self, bootstrap: str, tmp_path: Path) -> None:
        self.bootstrap = bootstrap
        self.tmp = tmp_path
        self.topic = unique("orders")
        self.drift_topic = unique("drift")
        self.app_id = unique("sentinel")
        self.spec = topic_spec(tmp_path, self.topic, self.drift_topic)
        self.workers: list[tuple[subprocess.Popen[bytes], int, Path]] = []
        asyncio.run(create_topics(bootstrap, [self.topic], PARTITIONS))

    def start_worker(self, name: str = "w1", **settings: str) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        env = worker_env(
            self.bootstrap,
            self.tmp / f"data-{name}",
            port,
            SENTINEL_SPEC_DIR=str(self.spec),
            SENTINEL_APP_ID=self.app_id,
            SENTINEL_DRIFT_TOPIC=self.drift_topic,
            SENTINEL_DRIFT_TOPIC_PARTITIONS=str(PARTITIONS),
            SENTINEL_INTERNAL_PARTITIONS=str(PARTITIONS),
            SENTINEL_LOG_LEVEL="info",
            # Contract tests compare drift with what the contract checker says; the example rules
            # would add rule drift on the repeated captures. Rule tests pass rules_enabled="true".
            **{"SENTINEL_RULES_ENABLED": "false", **{f"SENTINEL_{k.upper()}": v for k, v in settings.items()}},
        )
        log = self.tmp / f"worker-{name}-{len(self.workers)}.log"
        process = start_worker(env, log)
        self.workers.append((process, port, log))
        try:
            wait_ready(port, process, timeout=60)
        except Exception:
            print(log.read_text(errors="replace")[-5000:])
            raise
        return process, port

    def logs(self) -> str:
        return "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-4000:]}" for _, _, log in self.workers)

    def close(self) -> None:
        for process, _, _ in self.workers:
            stop_process(process, timeout=10)

    def produce(self, messages: list[Message]) -> list[tuple[int, int]]:
        """Send (value, headers) pairs (key = index) one per request; returns their (partition, offset)."""
        return asyncio.run(produce(self.bootstrap, self.topic, messages))

    def drift(
        self, expect: int, timeout: float = 60.0, settle: float = 1.0, until: Until | None = None
    ) -> list[dict[str, Any]]:
        """Drift-topic records once at least ``expect`` arrived (and ``until`` holds, if given)
        and nothing new came for ``settle`` s."""
        return asyncio.run(read_all(self.bootstrap, self.drift_topic, expect, timeout, settle, until))

    def http(self, port: int, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture
def harness(bootstrap: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(bootstrap, tmp_path)
    try:
        yield h
    finally:
        h.close()


async def produce(bootstrap: str, topic: str, messages: list[Message]) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        out = []
        for i, (value, headers) in enumerate(messages):
            meta = await producer.send_and_wait(topic, value, key=str(i).encode(), headers=list(headers))
            out.append((meta.partition, meta.offset))
        return out
    finally:
        await producer.stop()


async def read_all(
    bootstrap: str, topic: str, expect: int, timeout: float, settle: float, until: Until | None
) -> list[dict[str, Any]]:
    """Every JSON record of ``topic`` (tombstones left out), decoded; see :func:`read_raw`."""
    return await read_raw(
        bootstrap, topic, expect, timeout, settle, keep=lambda r: r.value is not None, until=until, decode=True
    )


async def read_raw(
    bootstrap: str,
    topic: str,
    expect: int,
    timeout: float = 60.0,
    settle: float = 2.0,
    *,
    keep: Callable[[Any], bool] = lambda r: True,
    until: Until | None = None,
    decode: bool = False,
) -> list[Any]:
    """Every record of ``topic`` once ``expect`` arrived, nothing new came for ``settle`` s and ``until`` holds.

    aiokafka's records as they are, or their JSON values with ``decode``.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        assigned = False
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if not assigned:
                partitions = consumer.partitions_for_topic(topic) or set()
                if not partitions:
                    await consumer._client.force_metadata_update()
                    await asyncio.sleep(0.2)
                    continue
                tps = [TopicPartition(topic, p) for p in partitions]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                assigned = True
            batches = await consumer.getmany(timeout_ms=200)
            got = [r for rs in batches.values() for r in rs if keep(r)]
            if got:
                records.extend([orjson.loads(r.value) for r in got] if decode else got)
                quiet_since = time.monotonic()
            elif (
                len(records) >= expect
                and time.monotonic() - quiet_since >= settle
                and (until is None or until(records))
            ):
                break
        return records
    finally:
        await consumer.stop()


def bad_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "bad-spec"
    shutil.copytree(SPEC, spec)
    (spec / "orders" / "order-created.v2.schema.json").write_text(
        textwrap.dedent("""{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"total_cents": {"type": "integr"}}}""")
    )
    return spec


def wait_for(condition: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = condition()
            if value:
                return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
