"""The one shape of an aggregator: ``initialize`` / ``add`` / ``result``.

As quix-streams' window aggregators and bytewax's ``ClockLogic`` do it: plain objects that start
empty, fold one item at a time and hand back what they built. Every shell's message path is then
the same: adapt the record -> check -> assess -> ``add`` -> publish or print. The window tally
(per worker batch), the check/replay report and the replay comparison implement it; callers that
only need the shape (tests, a future dashboard) can take any :class:`Aggregator`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

ItemT_contra = TypeVar("ItemT_contra", contravariant=True)
ResultT_co = TypeVar("ResultT_co", covariant=True)


class Aggregator(Protocol[ItemT_contra, ResultT_co]):
    """Folds items into a result, in bounded memory."""

    def initialize(self) -> None:
        """Start over from the empty state (a fresh aggregator is already initialized)."""

    def add(self, item: ItemT_contra) -> None:
        """Fold one item in."""

    def result(self) -> ResultT_co:
        """What has been folded so far (the aggregator may be added to afterwards)."""
