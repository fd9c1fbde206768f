"""``rewind``: move the worker's consumer group to a time or offset, kafka-consumer-groups style.

Like ``kafka-consumer-groups --reset-offsets``: the plan is printed and nothing changes unless
``--execute`` is given (``--dry-run`` says so explicitly), and applying to a group with active
members is refused (offsets moved under running workers would be overwritten by their next
commit, or worse, half-applied).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.structs import OffsetAndMetadata

from stream_sentinel import kafkaio
from stream_sentinel.core.errors import BrokerError, UsageError
from stream_sentinel.core.exits import EXIT_OK
from stream_sentinel.replay import kafka

TargetKind = Literal["earliest", "latest", "offset", "time", "by"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where to move each partition: an offset, a time (ms), earliest/latest, or a shift."""

    kind: TargetKind
    value: int = 0


@dataclass(frozen=True, slots=True)
class Move:
    """One partition's planned move."""

    tp: TopicPartition
    current: int | None
    target: int

    @property
    def change(self) -> int | None:
        """Offsets moved (negative: back, re-read that many)."""
        return None if self.current is None else self.target - self.current


def target_offset(target: Target, current: int | None, earliest: int, latest: int, for_time: int | None) -> int:
    """The new committed offset of one partition, clamped to what the log holds."""
    if target.kind == "earliest":
        wanted = earliest
    elif target.kind == "latest":
        wanted = latest
    elif target.kind == "offset":
        wanted = target.value
    elif target.kind == "time":
        wanted = latest if for_time is None else for_time
    else:
        # No committed offset: the worker would start at the log start (auto_offset_reset
        # earliest), so that is where a shift counts from.
        wanted = (earliest if current is None else current) + target.value
    return min(max(wanted, earliest), latest)


async def _admin(kwargs: dict[str, Any], timeout: float) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(**kwargs, request_timeout_ms=max(1000, round(timeout * 1000)))
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        await kafkaio.quietly(admin.close())
        why = "no answer" if isinstance(exc, TimeoutError) else kafkaio.describe(exc)
        servers = ",".join(kwargs.get("bootstrap_servers", []))
        raise BrokerError(f"cannot reach the Kafka brokers at {servers} within {timeout:g} s: {why}") from exc
    return admin


async def active_members(admin: AIOKafkaAdminClient, group: str, timeout: float) -> tuple[str, int]:
    """The group's state and its number of members (DescribeGroups)."""
    [response] = await kafkaio.bounded(admin.describe_consumer_groups([group]), timeout, f"describing group {group!r}")
    description = response.groups[0]
    # DescribeGroups v0-v5: (error_code, group_id, group_state, protocol_type, protocol, members, ...)
    if description[0]:
        # An error (not authorised, coordinator loading) must not read as "no members".
        raise BrokerError(f"describing group {group!r}: {for_code(description[0]).__name__}")
    return str(description[2]), len(description[5])


async def rewind(
    group: str,
    topics: Sequence[str],
    target: Target,
    kwargs: dict[str, Any],
    timeout: float,
    execute: bool,
    out: IO[str],
    *,
    explicit: bool = True,
) -> int:
    """Print the plan of the group's new offsets on ``topics``; commit it only when ``execute``.

    Only event topics are moved (the caller passes the catalog's topics by default): Faust's
    own topics (``<app_id>-tallies``, changelogs) are the worker's state and stay where they are.
    """
    async with kafkaio.consumer(kwargs, timeout) as client:
        if not explicit:  # catalog topics that do not exist on this cluster are not an error
            existing = await kafkaio.bounded(client.topics(), timeout, "reading topic metadata")
            topics = [t for t in topics if t in existing]
            if not topics:
                raise UsageError("none of the catalog's topics exists on the brokers: name topics with --topic")
        tps = await kafka.partitions(client, topics, (), timeout)
        admin = await _admin(kwargs, timeout)
        try:
            state, members = await active_members(admin, group, timeout)
            committed = await kafkaio.bounded(
                admin.list_consumer_group_offsets(group, partitions=tps),
                timeout,
                f"reading the offsets of group {group!r}",
            )
        finally:
            await kafkaio.quietly(admin.close())
        earliest = await kafkaio.bounded(client.beginning_offsets(tps), timeout, "reading log start offsets")
        latest = await kafkaio.bounded(client.end_offsets(tps), timeout, "reading end offsets")
        for_time: dict[TopicPartition, int | None] = {}
        if target.kind == "time":
            for_time = await kafka.offsets_for_time(client, tps, target.value, timeout, earliest, latest)
    moves = []
    for tp in tps:
        found = committed.get(tp)
        current = found.offset if found is not None and found.offset >= 0 else None
        moves.append(Move(tp, current, target_offset(target, current, earliest[tp], latest[tp], for_time.get(tp))))
    if execute and members:
        raise UsageError(
            f"group {group!r} has {members} active member(s) (state {state}): stop its workers, then rewind "
            "(nothing changed)"
        )
    _print(group, state, moves, out)
    if not execute:
        if members:
            out.write(f"group {group!r} has {members} active member(s): --execute is refused until its workers stop\n")
        out.write("plan only: no offsets changed (apply it with --execute)\n")
        return EXIT_OK
    await _commit(group, moves, kwargs, timeout)
    out.write(f"group {group!r}: {len(moves)} partition offset(s) committed\n")
    return EXIT_OK


def _print(group: str, state: str, moves: Sequence[Move], out: IO[str]) -> None:
    out.write(f"group {group!r} (state {state})\n")
    rows = [
        (
            f"{m.tp.topic}[{m.tp.partition}]",
            "-" if m.current is None else str(m.current),
            str(m.target),
            "-" if m.change is None else f"{m.change:+d}",
        )
        for m in moves
    ]
    header = ("PARTITION", "CURRENT", "TARGET", "CHANGE")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


async def _commit(group: str, moves: Sequence[Move], kwargs: dict[str, Any], timeout: float) -> None:
    """Commit as a member-less client of the group (what kafka-consumer-groups does)."""
    client = AIOKafkaConsumer(
        **kwargs, group_id=group, enable_auto_commit=False, request_timeout_ms=max(1000, round(timeout * 1000))
    )
    try:
        await asyncio.wait_for(client.start(), timeout)
        client.assign([m.tp for m in moves])
        await asyncio.wait_for(client.commit({m.tp: OffsetAndMetadata(m.target, "") for m in moves}), timeout)
    except TimeoutError as exc:
        raise BrokerError(f"committing offsets of group {group!r}: no answer within {timeout:g} s") from exc
    except KafkaError as exc:
        raise BrokerError(f"committing offsets of group {group!r}: {kafkaio.describe(exc)}") from exc
    finally:
        await kafkaio.quietly(client.stop())
