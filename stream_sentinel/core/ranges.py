"""Replay arithmetic, pure: times, per-partition ranges, readiness, and current-vs-candidate diffs.

The replay shell (``stream_sentinel/replay``) asks the broker for offsets; everything decided
from those offsets lives here so it is tested without a broker or a clock:

- :func:`parse_time` turns ``--from-time``/``--to-time`` text into epoch milliseconds;
- :func:`plan_partition` turns what the user asked for and what the partition holds into the
  exact range to read, and says how much of the request retention already deleted;
- :class:`Comparison` folds each message's verdicts under the current and the candidate
  contracts into "newly broken", "fixed" and "unchanged", per event type and kind.

Offsets follow Kafka's convention throughout: ``start`` is the first offset read and ``end``
is exclusive (the next offset to be written, as ``end_offsets`` reports it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from stream_sentinel.core.errors import UsageError

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_RELATIVE = re.compile(r"^-\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")


def parse_time(text: str, now_ms: int) -> int:
    """Epoch milliseconds for ``now``, a relative time (``-2h``, ``-30m``, ``-1.5d``) or ISO-8601.

    An ISO time without an offset is UTC: a replay must mean the same range on every
    developer's machine, whatever its local zone. Raises :class:`UsageError` (exit 2) otherwise.
    """
    value = text.strip()
    if value == "now":
        return now_ms
    relative = _RELATIVE.match(value)
    if relative:
        ms = now_ms - round(float(relative.group(1)) * _UNITS_MS[relative.group(2)])
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise UsageError(
                f"unparsable time {text!r}: use ISO-8601 (2026-11-21T14:00:00Z), a relative time (-2h, -30m, -7d) "
                "or 'now'"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ms = round(moment.timestamp() * 1000)
    if ms < 0:  # Kafka timestamps start at the epoch; brokers refuse earlier lookups
        raise UsageError(f"time {text!r} is before 1970-01-01T00:00:00Z, where Kafka timestamps start")
    return ms


StartKind = Literal["earliest", "offset", "time", "last"]
EndKind = Literal["end", "offset", "time"]


@dataclass(frozen=True, slots=True)
class Start:
    """Where a replay starts in every selected partition."""

    kind: StartKind = "earliest"
    value: int = 0  # offset, epoch ms or message count, by kind

    def describe(self) -> str:
        """How the start reads in reports."""
        return {
            "earliest": "earliest",
            "offset": f"offset {self.value}",
            "time": f"time {_iso(self.value)}",
            "last": f"last {self.value}",
        }[self.kind]


@dataclass(frozen=True, slots=True)
class End:
    """Where a replay stops (exclusive); ``end`` = the end offsets captured when it starts."""

    kind: EndKind = "end"
    value: int = 0

    def describe(self) -> str:
        """How the end reads in reports."""
        return {
            "end": "end offsets at start",
            "offset": f"before offset {self.value}",
            "time": f"time {_iso(self.value)}",
        }[self.kind]


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds (``2026-11-21T14:00:00.000Z``)."""
    return _iso(ms)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_range(start: Start, end: End) -> None:
    """Refuse ranges that are empty by construction, before anything is read."""
    if start.kind == "last" and start.value < 0:
        raise UsageError("--last must be a positive count of messages")
    if start.kind == "offset" and start.value < 0:
        raise UsageError("--from-offset must be 0 or more")
    if end.kind == "offset" and end.value < 0:
        raise UsageError("--to-offset must be 0 or more")
    if start.kind == end.kind == "offset" and start.value > end.value:
        raise UsageError(f"the start (offset {start.value}) is after the end (before offset {end.value})")
    if start.kind == end.kind == "time" and start.value > end.value:
        raise UsageError(f"the start ({_iso(start.value)}) is after the end ({_iso(end.value)})")


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """What one partition will give: the range read and what was asked but is gone.

    ``earliest``/``latest`` are the partition's log start and end offsets when the replay
    began; ``lost`` counts requested offsets below ``earliest`` (already deleted by retention),
    which are reported, never silently skipped.
    """

    topic: str
    partition: int
    earliest: int
    latest: int
    start: int
    end: int
    requested: int | None = None
    lost: int = 0
    beyond_end: bool = False  # the requested start offset lies after the partition's end

    @property
    def count(self) -> int:
        """Offsets in the range (records, minus any gaps from compaction or transactions)."""
        return max(0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape used in reports."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "earliest": self.earliest,
            "latest": self.latest,
            "start": self.start,
            "end": self.end,
            "offsets": self.count,
            "requested_start": self.requested,
            "lost_to_retention": self.lost,
            "start_beyond_end": self.beyond_end,
        }


def plan_partition(
    topic: str,
    partition: int,
    earliest: int,
    latest: int,
    start: Start,
    end: End,
    *,
    start_for_time: int | None = None,
    end_for_time: int | None = None,
) -> PartitionPlan:
    """The exact range of one partition, from the broker's offsets and the user's request.

    ``start_for_time``/``end_for_time`` are the broker's answers to ``offsets_for_times`` for
    the start and end times (``None``: no message at or after that time). A start offset past
    a partition's end plans that partition empty (``beyond_end``): partitions are rarely the
    same length, so ``--from-offset 6`` must still read the longer ones; :func:`check_plans`
    refuses the request when it leaves every partition empty that way.
    """
    if end.kind == "offset":
        stop = min(end.value, latest)
    elif end.kind == "time":
        stop = latest if end_for_time is None else min(max(end_for_time, earliest), latest)
    else:
        stop = latest
    requested: int | None
    if start.kind == "offset":
        requested = start.value
    elif start.kind == "time":
        requested = stop if start_for_time is None else start_for_time
    elif start.kind == "last":
        requested = max(0, stop - start.value)
    else:
        requested = None
    begin = earliest if requested is None else min(max(requested, earliest), stop)
    lost = 0
    if requested is not None and requested < earliest and start.kind in ("offset", "last"):
        lost = min(earliest, stop) - requested
    beyond = start.kind == "offset" and requested is not None and requested > stop
    return PartitionPlan(
        topic, partition, earliest, latest, begin, max(begin, stop), requested, max(0, lost), beyond_end=beyond
    )


def check_plans(plans: Sequence[PartitionPlan]) -> None:
    """Refuse a request whose start offset lies after the end of every selected partition."""
    if plans and all(p.beyond_end for p in plans):
        ends = ", ".join(f"{p.topic}[{p.partition}] ends at {p.end}" for p in plans)
        raise UsageError(f"the start (offset {plans[0].requested}) is after the end of every partition: {ends}")


def time_answer_problem(ms: int, at: tuple[int, int] | None, before: tuple[int, int] | None) -> str | None:
    """Why the broker's ``offsets_for_times`` answer for ``ms`` cannot be right, or None.

    Kafka answers the first offset whose record timestamp is at or after ``ms`` (the log end
    when there is none). That holds for CreateTime and LogAppendTime topics alike, and also
    when CreateTime timestamps go back and forth: every record before the answer is earlier
    than ``ms``. So the record at the answer (``at``: its offset and timestamp; None at the log
    end) must not be earlier than ``ms``, and the record just before it (``before``; None at the
    log start, or when a gap hides it) must be. Records without a timestamp (-1, pre-0.10
    formats) prove nothing and are not judged.
    """
    if at is not None and 0 <= at[1] < ms:
        return f"the record at offset {at[0]} has timestamp {_iso(at[1])}, before {_iso(ms)}"
    if before is not None and before[1] >= ms:
        where = "the last record" if at is None else "the record before it"
        return f"{where} (offset {before[0]}) has timestamp {_iso(before[1])}, not before {_iso(ms)}"
    return None
