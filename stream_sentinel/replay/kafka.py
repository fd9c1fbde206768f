"""Reading a topic range with aiokafka: assign + seek, no group, no commits; never Faust.

Replay must never disturb live consumers, so the consumer here has no ``group_id`` (it joins
nothing and commits nothing) and reads exactly the planned offsets. Every broker failure
becomes a :class:`BrokerError` with one line (exit 3) within a bounded time, never a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from stream_sentinel.core.errors import BrokerError, UsageError
from stream_sentinel.core.ranges import End, PartitionPlan, Start, check_plans, iso, plan_partition, time_answer_problem
from stream_sentinel.kafkaio import bounded, describe

#: Records per ``getmany``: large batches amortise the per-call cost (measured in bench/replay.py).
MAX_RECORDS = 20_000


async def partitions(
    client: AIOKafkaConsumer, topics: Sequence[str], wanted: Sequence[int], timeout: float
) -> list[TopicPartition]:
    """The selected partitions, checked against the cluster's metadata (unknown ones: exit 2)."""
    existing = await bounded(client.topics(), timeout, "reading topic metadata")
    selected: list[TopicPartition] = []
    for topic in topics:
        if topic not in existing:
            raise UsageError(f"topic {topic!r} does not exist on the brokers")
        available = sorted(client.partitions_for_topic(topic) or ())
        chosen = list(wanted) if wanted else available
        missing = sorted(set(chosen) - set(available))
        if missing:
            numbers = ", ".join(map(str, missing))
            raise UsageError(
                f"topic {topic!r} has no partition {numbers} (it has {len(available)}: 0..{len(available) - 1})"
            )
        selected.extend(TopicPartition(topic, p) for p in chosen)
    return selected


async def plan(
    client: AIOKafkaConsumer, tps: Sequence[TopicPartition], start: Start, end: End, timeout: float
) -> list[PartitionPlan]:
    """Ask the brokers for log start/end (and time) offsets and plan each partition's range."""
    earliest = await bounded(client.beginning_offsets(tps), timeout, "reading log start offsets")
    latest = await bounded(client.end_offsets(tps), timeout, "reading end offsets")
    start_times, end_times = {}, {}
    if start.kind == "time":
        start_times = await offsets_for_time(client, tps, start.value, timeout, earliest, latest)
    if end.kind == "time":
        end_times = await offsets_for_time(client, tps, end.value, timeout, earliest, latest)
    plans = [
        plan_partition(
            tp.topic,
            tp.partition,
            earliest[tp],
            latest[tp],
            start,
            end,
            start_for_time=start_times.get(tp),
            end_for_time=end_times.get(tp),
        )
        for tp in tps
    ]
    check_plans(plans)
    return plans


async def plan_before(
    client: AIOKafkaConsumer, plans: Sequence[PartitionPlan], start: Start, timeout: float
) -> list[PartitionPlan]:
    """Each partition from ``start`` up to where its planned range starts (``--warm-up-from``).

    Ending exactly at the range's start offset leaves no record read twice and none skipped.
    """
    tps = [TopicPartition(p.topic, p.partition) for p in plans]
    starts = {}
    if start.kind == "time":
        earliest = {TopicPartition(p.topic, p.partition): p.earliest for p in plans}
        latest = {TopicPartition(p.topic, p.partition): p.latest for p in plans}
        starts = await offsets_for_time(client, tps, start.value, timeout, earliest, latest)
    return [
        plan_partition(
            p.topic,
            p.partition,
            p.earliest,
            p.latest,
            start,
            End("offset", p.start),
            start_for_time=starts.get(tp),
        )
        for p, tp in zip(plans, tps, strict=True)
    ]


async def offsets_for_time(
    client: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    ms: int,
    timeout: float,
    earliest: dict[TopicPartition, int],
    latest: dict[TopicPartition, int],
) -> dict[TopicPartition, int | None]:
    """First offset at or after ``ms`` per partition; ``None`` where no record is that late.

    The broker's answers are checked against the timestamps of the records around them
    (:func:`verify_time_answers`): an answer that cannot be right is a :class:`BrokerError`
    (exit 3), never a silently wrong range.
    """
    found = await bounded(client.offsets_for_times(dict.fromkeys(tps, ms)), timeout, "looking up offsets by time")
    result: dict[TopicPartition, int | None] = {}
    for tp in tps:
        hit = found.get(tp)
        # Kafka answers None when no record is at or after the time. Some Kafka-protocol
        # brokers (Tansu) answer offset 0 with timestamp -1 instead: the same thing. A real hit
        # always carries the found record's timestamp, which is at or after the time asked.
        if hit is None or (hit.timestamp is not None and hit.timestamp < ms):
            result[tp] = None
        else:
            result[tp] = hit.offset
    await verify_time_answers(client, ms, result, earliest, latest, timeout)
    return result


async def verify_time_answers(
    client: AIOKafkaConsumer,
    ms: int,
    answers: dict[TopicPartition, int | None],
    earliest: dict[TopicPartition, int],
    latest: dict[TopicPartition, int],
    timeout: float,
) -> None:
    """Read the record at each answer and the one before it; refuse answers they contradict.

    Costs one small fetch per partition with records. A broker that answers offset 0 for any
    time (the embedded Tansu does) would otherwise make ``--from-time -30m`` read everything
    and ``--to-time -2h`` read nothing.
    """
    wanted: dict[TopicPartition, int] = {}
    for tp, answer in answers.items():
        low, high = earliest[tp], latest[tp]
        if low >= high:
            continue  # an empty partition: nothing to read, nothing to get wrong
        position = high if answer is None else answer
        if not low <= position <= high:
            raise BrokerError(
                f"{tp.topic}[{tp.partition}]: the broker's offset for {iso(ms)} is {position}, outside the log "
                f"({low}..{high}): its time lookup cannot be trusted; use --from-offset/--to-offset or --last"
            )
        wanted[tp] = position
    if not wanted:
        return
    seen: dict[TopicPartition, list[tuple[int, int]]] = {tp: [] for tp in wanted}
    # The record before the answer, and the one at it (the log end has none).
    stops = {tp: min(position + 1, latest[tp]) for tp, position in wanted.items()}
    client.assign(list(wanted))
    for tp, position in wanted.items():
        client.seek(tp, max(earliest[tp], position - 1))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = set(wanted)
    try:
        while pending:
            if loop.time() > deadline:
                where = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(pending))
                raise BrokerError(f"checking the offsets for {iso(ms)} in {where}: no records within {timeout:g} s")
            fetched = await client.getmany(*pending, timeout_ms=200, max_records=2 * len(pending))
            for tp, records in fetched.items():
                seen[tp].extend((r.offset, r.timestamp) for r in records if r.offset < stops[tp])
            for tp in list(pending):
                if await client.position(tp) >= stops[tp]:
                    pending.discard(tp)
                    client.pause(tp)
    except KafkaError as exc:
        raise BrokerError(f"checking the offsets for {iso(ms)}: {describe(exc)}") from exc
    finally:
        client.unsubscribe()
    for tp, position in wanted.items():
        at = next((r for r in seen[tp] if r[0] >= position), None)
        before = next((r for r in reversed(seen[tp]) if r[0] < position), None)
        problem = time_answer_problem(ms, at, before)
        if problem is not None:
            said = "none (no record that late)" if answers[tp] is None else str(position)
            raise BrokerError(
                f"{tp.topic}[{tp.partition}]: the broker's offset for {iso(ms)} is {said}, but {problem}: its "
                "time lookup cannot be trusted; use --from-offset/--to-offset or --last"
            )


async def read(
    client: AIOKafkaConsumer, plans: Iterable[PartitionPlan], stall_timeout: float
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """Yield batches of records of the planned ranges, stopping exactly at each end offset.

    Completion is judged by the consumer's position, not by the last record seen: compacted
    gaps, transaction markers and aborted records never arrive as records, but the position
    moves past them. Raises :class:`BrokerError` when no partition advances for
    ``stall_timeout`` seconds (a broker that went away mid-replay).
    """
    ends = {TopicPartition(p.topic, p.partition): p.end for p in plans if p.count > 0}
    if not ends:
        return
    client.assign(list(ends))
    for p in plans:
        if p.count > 0:
            client.seek(TopicPartition(p.topic, p.partition), p.start)
    loop = asyncio.get_running_loop()
    last_progress = loop.time()
    positions: dict[TopicPartition, int] = {}
    while ends:
        try:
            fetched = await client.getmany(timeout_ms=500, max_records=MAX_RECORDS)
        except KafkaError as exc:
            raise BrokerError(f"reading records: {describe(exc)}") from exc
        batch: list[ConsumerRecord[bytes, bytes]] = []
        for tp, records in fetched.items():
            stop = ends.get(tp)
            if stop is None or not records:
                continue
            if records[-1].offset < stop:
                batch.extend(records)
            else:
                batch.extend(r for r in records if r.offset < stop)
        if batch:
            last_progress = loop.time()
            yield batch
        for tp in list(ends):
            position = await client.position(tp)
            if position != positions.get(tp):  # moving past markers or aborted records is progress too
                positions[tp] = position
                last_progress = loop.time()
            if position >= ends[tp]:
                del ends[tp]
                client.pause(tp)
        if ends and loop.time() - last_progress > stall_timeout:
            where = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(ends))
            raise BrokerError(f"no progress reading {where} for {stall_timeout:g} s: are the brokers up?")
