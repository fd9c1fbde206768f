"""aiokafka helpers every shell shares: a group-less consumer, bounded requests, one-line failures.

The worker (broker probe, logs, shutdown), replay, capture and rewind all talk to the broker
through aiokafka outside Faust's own clients; they must fail the same way: within a bounded time,
as one line, with the Kafka error found under whatever wrapped it. Never imports Faust.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stream_sentinel.core.errors import BrokerError


def in_chain(exc: BaseException | None, kinds: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
    """The first exception of ``kinds`` in ``exc``'s cause/context chain, if any (cycle-safe).

    Faust wraps aiokafka's errors (``ProducerSendError(...) from exc``), so the class that says
    what happened is often one or two links down.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def kafka_cause(exc: BaseException | None) -> KafkaError | None:
    """The Kafka client error in ``exc``'s chain, if any."""
    found: KafkaError | None = in_chain(exc, KafkaError)
    return found


def describe(exc: BaseException) -> str:
    """One line for a broker failure: aiokafka's messages are often empty or multi-line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


@asynccontextmanager
async def consumer(kwargs: dict[str, Any], timeout: float) -> AsyncIterator[AIOKafkaConsumer]:
    """A started group-less consumer; unreachable brokers fail within ``timeout`` seconds."""
    client = AIOKafkaConsumer(
        **kwargs,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        request_timeout_ms=max(1000, round(timeout * 1000)),
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        # Replay reads what consumers would read; aborted transactional records are not data.
        isolation_level="read_committed",
    )
    servers = ",".join(kwargs.get("bootstrap_servers", []))
    try:
        await asyncio.wait_for(client.start(), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        await quietly(client.stop())
        why = "no answer" if isinstance(exc, TimeoutError) else describe(exc)
        raise BrokerError(f"cannot reach the Kafka brokers at {servers} within {timeout:g} s: {why}") from exc
    try:
        yield client
    finally:
        await quietly(client.stop())


async def quietly(stopping: Any) -> None:
    """Await a client's stop/close for at most 5 s; its failure must not hide the one that led here."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(stopping, 5)


async def bounded(call: Any, timeout: float, what: str) -> Any:
    """Await a broker request for at most ``timeout`` s; failures become one-line BrokerErrors."""
    try:
        return await asyncio.wait_for(call, timeout)
    except TimeoutError as exc:
        raise BrokerError(f"{what}: no answer from the brokers within {timeout:g} s") from exc
    except KafkaError as exc:
        raise BrokerError(f"{what}: {describe(exc)}") from exc


async def group_offsets(
    kwargs: dict[str, Any], topic: str, timeout: float, skip: Callable[[str], bool] = lambda _group: False
) -> dict[str, dict[int, int]]:
    """Consumer group -> partition -> committed offset, for the groups that read ``topic``.

    Lists the groups (admin ``ListGroups``), then asks each for its offsets on the topic's
    partitions, named explicitly (``OffsetFetch`` for all partitions is not answered by every
    broker; the named form is). A group with no committed offset on the topic does not read it.
    ``skip``: groups to leave out (the sentinel's own). Bounded by ``timeout`` per request;
    failures are one-line ``BrokerError``s.
    """
    admin = AIOKafkaAdminClient(**kwargs, request_timeout_ms=max(1000, round(timeout * 1000)))
    await bounded(admin.start(), timeout, "connect to the brokers")
    try:
        partitions = await bounded(_partitions(admin, topic), timeout, f"read the partitions of {topic}")
        listed = await bounded(admin.list_consumer_groups(), timeout, "list consumer groups")
        out: dict[str, dict[int, int]] = {}
        for group in sorted({str(entry[0]) for entry in listed}):
            if skip(group) or not partitions:
                continue
            offsets = await bounded(
                admin.list_consumer_group_offsets(group, partitions=[TopicPartition(topic, p) for p in partitions]),
                timeout,
                f"read the offsets of consumer group {group}",
            )
            committed = {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            if committed:
                out[group] = committed
        return out
    finally:
        await quietly(admin.close())


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    described = await admin.describe_topics([topic])
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return sorted(p["partition"] for p in entry.get("partitions", []))
    return []
