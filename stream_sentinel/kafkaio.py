"""aiokafka helpers every shell shares: a group-less consumer, bounded requests, one-line failures.

The worker (broker probe, logs, shutdown), replay, capture and rewind all talk to the broker
through aiokafka outside Faust's own clients; they must fail the same way: within a bounded time,
as one line, with the Kafka error found under whatever wrapped it. Never imports Faust.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

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


#: Consumer groups asked at most per pass, and at once (one OffsetFetch each).
MAX_GROUPS: Final = 2000
GROUP_CONCURRENCY: Final = 16


async def group_offsets(
    kwargs: dict[str, Any],
    topics: Sequence[str],
    timeout: float,
    skip: Callable[[str], bool] = lambda _group: False,
) -> dict[str, dict[str, dict[int, int]]]:
    """Topic -> consumer group -> partition -> committed offset, for the groups that read each topic.

    One pass for all ``topics``: the groups are listed once (admin ``ListGroups``), then each is
    asked once for its offsets on all the topics' partitions, named explicitly (``OffsetFetch``
    for all partitions is not answered by every broker; the named form is), 16 groups at a time,
    at most :data:`MAX_GROUPS` groups. A group with no committed offset on a topic does not read
    it. A group whose coordinator fails is left out, not the whole answer. ``skip``: groups to
    leave out (the sentinel's own). Each request is bounded by ``timeout``; failures to reach
    the brokers at all are one-line ``BrokerError``s.
    """
    admin = AIOKafkaAdminClient(**kwargs, request_timeout_ms=max(1000, round(timeout * 1000)))
    try:
        await bounded(admin.start(), timeout, "connect to the brokers")
        wanted: list[TopicPartition] = []
        for topic in topics:
            parts = await bounded(_partitions(admin, topic), timeout, f"read the partitions of {topic}")
            wanted.extend(TopicPartition(topic, p) for p in parts)
        out: dict[str, dict[str, dict[int, int]]] = {topic: {} for topic in topics}
        if not wanted:
            return out
        listed = await bounded(admin.list_consumer_groups(), timeout, "list consumer groups")
        groups = sorted({str(entry[0]) for entry in listed if not skip(str(entry[0]))})[:MAX_GROUPS]
        gate = asyncio.Semaphore(GROUP_CONCURRENCY)

        async def ask(group: str) -> None:
            async with gate:
                try:
                    offsets = await bounded(
                        admin.list_consumer_group_offsets(group, partitions=wanted), timeout, f"offsets of {group}"
                    )
                except BrokerError:
                    return  # this group's coordinator did not answer: the others still count
            for tp, meta in offsets.items():
                if meta.offset >= 0 and tp.topic in out:
                    out[tp.topic].setdefault(group, {})[tp.partition] = meta.offset

        await asyncio.gather(*(ask(group) for group in groups))
        return out
    finally:
        await quietly(admin.close())


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    described = await admin.describe_topics([topic])
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return sorted(p["partition"] for p in entry.get("partitions", []))
    return []
