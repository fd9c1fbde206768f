"""Which consumer groups a drifting topic hurts, and how much: pure arithmetic over offsets.

A consumer group's committed offset on a partition is the next record it will read, so every
record below it has been consumed. Given the offsets of the drifting messages (from the drift
topic's events, which carry their source coordinates) and each group's committed offsets (the
Kafka admin API: ``kafkaio.group_offsets``), a group is *affected* when it has consumed at
least one drifting message; ``consumed`` counts them, ``pending`` counts those it has yet to
read (it will meet them unless the producer or the contract is fixed first).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Impact:
    """One consumer group's exposure to one topic's drifting messages."""

    group: str
    affected: bool  # consumed past the first drifting offset of at least one partition
    consumed: int  # drifting messages already consumed
    pending: int  # drifting messages not consumed yet
    partitions: int  # partitions of the topic the group has committed offsets on

    def to_dict(self) -> dict[str, object]:
        """Plain JSON (report and dashboard)."""
        return {
            "group": self.group,
            "affected": self.affected,
            "consumed": self.consumed,
            "pending": self.pending,
            "partitions": self.partitions,
        }


def impacts(drifting: Mapping[int, Sequence[int]], committed: Mapping[str, Mapping[int, int]]) -> list[Impact]:
    """Per group, how many of the drifting messages (partition -> offsets) it consumed.

    ``committed``: group -> partition -> committed offset (groups with no offset on the topic
    are left out by the caller). Offsets need not be sorted or distinct; the result is sorted
    with the affected groups first, most consumed first, then by name.
    """
    sorted_offsets = {p: sorted(set(offsets)) for p, offsets in drifting.items()}
    out: list[Impact] = []
    for group, positions in committed.items():
        consumed = pending = 0
        for partition, offsets in sorted_offsets.items():
            position = positions.get(partition)
            below = bisect.bisect_left(offsets, position) if position is not None and position >= 0 else 0
            consumed += below
            pending += len(offsets) - below
        out.append(Impact(group, consumed > 0, consumed, pending, len(positions)))
    out.sort(key=lambda i: (not i.affected, -i.consumed, i.group))
    return out


__all__ = ["Impact", "impacts"]
