"""What the worker owes the broker: records being sent with retries, and the shutdown summary.

Split from ``worker/sentinel.py`` (module size): ``_Owed`` is one topic's records a retried send
still owes (no commit may pass them), ``Outstanding`` what a stopping worker left unsettled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)  # identity: two sends of equal counts are two debts
class _Owed:
    """Records of one topic being sent with retries (``Sentinel._deliver``).

    ``count``: the records the current attempt sends; ``in_flight``: the deliveries of those
    handed over so far. The rest of ``count`` is not handed over yet, so it is owed in full.
    """

    topic: str
    count: int
    in_flight: list[asyncio.Future[Any]] = field(default_factory=list)

    def failed(self) -> int:
        """Records that failed or are not handed over yet: no commit may pass them."""
        return sum(map(_failed, self.in_flight)) + self.count - len(self.in_flight)

    def unsettled(self) -> int:
        """Records the broker has not acknowledged (the shutdown summary)."""
        return sum(not _confirmed(f) for f in self.in_flight) + self.count - len(self.in_flight)


def _failed(future: asyncio.Future[Any]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


def _confirmed(future: Awaitable[Any]) -> bool:
    return isinstance(future, asyncio.Future) and future.done() and not _failed(future)


@dataclass(frozen=True)
class Outstanding:
    """What a stopping worker has not settled with the broker (the shutdown summary)."""

    drift: int
    tallies: int
    messages: int
    partitions: int
    quarantined: int = 0  # copies for quarantine topics

    def line(self) -> str:
        """One line for stderr: what stayed unpublished and uncommitted."""
        copies = f", {self.quarantined} quarantine copies" if self.quarantined else ""
        return (
            f"{self.drift} drift records and {self.tallies} tally records{copies} unpublished; "
            f"{self.messages} messages on {self.partitions} partitions uncommitted (checked again on restart)"
        )


__all__ = ["Outstanding", "_Owed", "_confirmed", "_failed"]
