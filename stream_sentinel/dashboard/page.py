"""The dashboard page: the health model of the buffered drift topic, rendered at most every few seconds.

The page is the ``report``'s model and template (``core.health``) over the reader's buffer, with a
meta refresh and what the page must say about itself (reader failing or behind, records dropped
by a bound, consumers not collected). Rendering decodes and folds every buffered record: it runs
in a thread (``asyncio.to_thread``), one at a time, and its result is reused for
:data:`CACHE_SECONDS`, so a page storm costs one rendering per interval and the event loop (the
worker's validation) never waits for one. Affected consumers are asked of the admin API by
:meth:`Dashboard.collect_consumers` in the background, bounded, never by a page request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from stream_sentinel.core import consumers as c
from stream_sentinel.core.health import model as m
from stream_sentinel.core.health.aggregate import HealthAggregator, TopicContracts
from stream_sentinel.core.health.render import render_html
from stream_sentinel.dashboard.buffer import EXPIRED, RecordBuffer
from stream_sentinel.dashboard.reader import DriftReader
from stream_sentinel.kafkaio import group_offsets

log = logging.getLogger("stream_sentinel.dashboard")

#: Seconds a rendering is reused (page storms, several people watching).
CACHE_SECONDS: Final = 5.0
#: Trend buckets over the lookback and windows after which a rule is fixed: the report's defaults.
BUCKETS: Final = 24
OPEN_WINDOWS: Final = 3
TITLE: Final = "Drift dashboard"
DriftingOffsets = dict[str, dict[int, list[int]]]


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """What the dashboard needs of the settings (built by ``from_settings``)."""

    kwargs: dict[str, Any]  # aiokafka connection keyword arguments
    drift_topic: str
    lookback_ms: int
    window_ms: int
    max_records: int
    max_bytes: int
    refresh: int
    consumers_interval: float
    timeout: float
    own_groups: str  # consumer groups starting with this are the sentinel's own (left out)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> DashboardConfig:
        """The dashboard's view of ``config.Settings`` (``overrides``: command-line values)."""
        values = {
            "kwargs": settings.aiokafka_kwargs(),
            "drift_topic": settings.drift_topic,
            "lookback_ms": round(settings.dashboard_lookback * 1000),
            "window_ms": round(settings.tumbling_window * 1000),
            "max_records": settings.dashboard_max_records,
            "max_bytes": settings.dashboard_max_bytes,
            "refresh": settings.dashboard_refresh,
            "consumers_interval": settings.dashboard_consumers_interval,
            "timeout": settings.connect_timeout,
            "own_groups": settings.app_id,
        }
        values.update(overrides)
        return cls(**values)


def build_page(
    records: Sequence[bytes],
    contracts: Mapping[str, TopicContracts],
    period: m.Period,
    consumers: Mapping[str, Sequence[m.ConsumerImpact]] | None,
    notices: Sequence[str],
    refresh: int,
) -> tuple[str, DriftingOffsets]:
    """The page's HTML and the drifting offsets of each topic with open drift (for the consumers' look).

    Pure (no clock, no I/O): the period and every input are given; runs in a worker thread.
    """
    aggregator = HealthAggregator(period, contracts, generated_at=period.until, consumers=consumers)
    for value in records:
        try:
            aggregator.add(orjson.loads(value))
        except orjson.JSONDecodeError:
            aggregator.add(None)
    report = _unasked(aggregator.result(), consumers)
    drifting = {t.topic: aggregator.drifting_offsets(t.topic) for t in report.topics if t.open_rules}
    return render_html(report, refresh=refresh or None, title=TITLE, notices=notices), drifting


def _unasked(report: m.HealthReport, consumers: Mapping[str, Sequence[m.ConsumerImpact]] | None) -> m.HealthReport:
    """Topics the last look at the consumer groups did not cover (drifting since) say "not collected"."""
    if consumers is None:
        return report
    topics = tuple(t if t.topic in consumers else dataclasses.replace(t, consumers=None) for t in report.topics)
    return dataclasses.replace(report, topics=topics)


class Dashboard:
    """The reader, its buffer, the cached page and the affected consumers, for one drift topic."""

    def __init__(
        self,
        config: DashboardConfig,
        contracts: Mapping[str, TopicContracts],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.contracts, self.clock = config, contracts, clock
        self.buffer = RecordBuffer(
            max_records=config.max_records, max_bytes=config.max_bytes, lookback_ms=config.lookback_ms
        )
        self.reader = DriftReader(config.kwargs, config.drift_topic, self.buffer, timeout=config.timeout, clock=clock)
        self.consumers: dict[str, list[m.ConsumerImpact]] | None = None
        self.consumers_note = "not collected yet" if config.consumers_interval else "not collected (switched off)"
        self._drifting: DriftingOffsets = {}
        self._cached: tuple[float, str] | None = None
        self._rendering: asyncio.Future[str] | None = None
        self.renderings = 0

    async def page(self) -> str:
        """The page: the cached one while fresh, else one rendering shared by every waiting request."""
        cached = self._cached
        if cached is not None and self.clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        if self._rendering is None or self._rendering.done():
            self._rendering = asyncio.ensure_future(self._render())
        return await asyncio.shield(self._rendering)

    async def _render(self) -> str:
        now = self.clock()
        now_ms = round(now * 1000)
        self.buffer.trim(now_ms)
        period = m.Period(
            now_ms - self.config.lookback_ms,
            now_ms + 1,
            window_ms=self.config.window_ms,
            buckets=BUCKETS,
            open_windows=OPEN_WINDOWS,
        )
        records, notices = self.buffer.snapshot(), self.notices()
        html, drifting = await asyncio.to_thread(
            build_page, records, self.contracts, period, self.consumers, notices, self.config.refresh
        )
        self._drifting = drifting
        self._cached = (now, html)
        self.renderings += 1
        return html

    def notices(self) -> list[str]:
        """What the page says about itself: reader state, records a bound dropped, consumers."""
        out = []
        reader = self.reader.notice()
        if reader:
            out.append(reader)
        if self.buffer.complete_after is not None:
            dropped = sum(n for reason, n in self.buffer.dropped.items() if reason != EXPIRED)
            out.append(
                f"The dashboard's bounds (dashboard_max_records {self.config.max_records:,}, dashboard_max_bytes "
                f"{self.config.max_bytes:,}) dropped {dropped:,} older records: counts are complete only after "
                f"{m.iso(self.buffer.complete_after)}."
            )
        if self.consumers is None:
            out.append(f"Affected consumers: {self.consumers_note}.")
        return out

    def status(self) -> dict[str, Any]:
        """The reader and buffer in numbers (tests, logs)."""
        return {
            "reader": self.reader.state,
            "detail": self.reader.detail,
            "lag": self.reader.lag,
            "records_read": self.reader.records,
            "buffered": len(self.buffer),
            "buffered_bytes": self.buffer.bytes,
            "dropped": dict(self.buffer.dropped),
        }

    async def collect_consumers(self) -> None:
        """Every ``consumers_interval`` s: the consumer groups of topics with open drift, bounded; until cancelled."""
        interval = self.config.consumers_interval
        if not interval:
            return
        await asyncio.sleep(min(interval, CACHE_SECONDS))
        while True:
            try:
                async with asyncio.timeout(max(self.config.timeout * 4, 10.0)):
                    self.consumers = await self._ask(dict(self._drifting))
                self.consumers_note = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: "not collected" on the page, asked again later
                self.consumers = None
                self.consumers_note = f"not collected ({_why(exc)})"
                log.warning("event=dashboard_consumers_failed detail=%r", self.consumers_note)
            await asyncio.sleep(interval)

    async def _ask(self, drifting: DriftingOffsets) -> dict[str, list[m.ConsumerImpact]]:
        out: dict[str, list[m.ConsumerImpact]] = {}
        own = self.config.own_groups
        committed = await group_offsets(
            self.config.kwargs, sorted(drifting), self.config.timeout, skip=lambda group: group.startswith(own)
        )
        for topic, offsets in sorted(drifting.items()):
            out[topic] = [m.from_impact(i) for i in c.impacts(offsets, committed.get(topic, {}))]
        return out


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the brokers did not answer in time"
    with contextlib.suppress(Exception):
        text = " ".join(str(exc).split())
        if text:
            return text[:200]
    return type(exc).__name__


async def run_tasks(dashboard: Dashboard) -> None:
    """The reader and the consumers' look, together, until cancelled."""
    await asyncio.gather(dashboard.reader.run(), dashboard.collect_consumers())
