"""What the worker owes the broker: records being sent with retries, and the shutdown summary.

Kept apart from ``sentinel.py`` (the app and its stages) so that module stays one a reader can
hold (tests/unit/test_layout.py). ``Sentinel`` counts its debts with these: no offset commit may
pass a record that failed or is not handed over yet (``Sentinel.unreported``), and a stopping
worker says in one line what it left unsettled (``Outstanding``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)  # identity: two sends of equal counts are two debts
class Owed:
    """Records of one topic being sent with retries (``Sentinel._deliver``).

    ``count``: the records the current attempt sends; ``in_flight``: the deliveries of those
    handed over so far. The rest of ``count`` is not handed over yet, so it is owed in full.
    """

    topic: str
    count: int
    in_flight: list[asyncio.Future[Any]] = field(default_factory=list)

    def failed(self) -> int:
        """Records that failed or are not handed over yet: no commit may pass them."""
        return sum(map(delivery_failed, self.in_flight)) + self.count - len(self.in_flight)

    def unsettled(self) -> int:
        """Records the broker has not acknowledged (the shutdown summary)."""
        return sum(not delivery_confirmed(f) for f in self.in_flight) + self.count - len(self.in_flight)


def delivery_failed(future: asyncio.Future[Any]) -> bool:
    """Whether a delivery ended without the broker's acknowledgement (failed or cancelled)."""
    return future.done() and (future.cancelled() or future.exception() is not None)


def delivery_confirmed(future: Awaitable[Any]) -> bool:
    """Whether a delivery ended with the broker's acknowledgement."""
    return isinstance(future, asyncio.Future) and future.done() and not delivery_failed(future)


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


__all__ = ["Outstanding", "Owed", "delivery_confirmed", "delivery_failed"]
