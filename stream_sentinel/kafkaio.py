"""aiokafka helpers every shell shares: a group-less consumer, bounded requests, one-line failures.

The worker (broker probe, logs, shutdown), replay, capture and rewind all talk to the broker
through aiokafka outside Faust's own clients; they must fail the same way: within a bounded time,
as one line, with the Kafka error found under whatever wrapped it. Never imports Faust.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer
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
