"""Alert sinks: the worker's webhooks, fed from a bounded queue so they never hold up validation.

The stages hand their drift events to :meth:`Alerts.offer` — synchronous, a few dict lookups per
event — which drops probe drift (unless ``alert_probes``), routes by owner and severity,
rate-limits per route and fingerprint (``core.alerts``) and puts the alerts on a bounded queue.
When the queue is full the alert is dropped and counted (``sentinel_alerts_dropped_total``):
a dead or slow webhook costs alerts, never throughput, and never delays an offset commit.

One background task (:meth:`Alerts.run`, a Faust app task) drains the queue: it posts each
alert with aiohttp, retries connection errors, timeouts, 408/425/429 and 5xx answers with
exponential backoff, gives up on other answers at once, and counts every outcome per sink
(the route's name; the URL, a secret, never reaches a log line or a label). Alerts are
at-most-once — queued alerts die with the worker — the drift topic stays the durable record.

Which worker alerts: in ``first`` mode the windows stage, partitioned by topic and event type,
so one worker decides a fingerprint's alert (with its window's count and rate so far); in
``every`` mode the validate stage (the count is the batch's). The rate limiter lives in memory:
after a rebalance or a restart a still-drifting rule may alert once more.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import aiohttp

from stream_sentinel import alert_settings
from stream_sentinel.config import Settings
from stream_sentinel.core import alerts as a
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.check import drift as d
from stream_sentinel.worker.logs import kv
from stream_sentinel.worker.metrics import Metrics

log = logging.getLogger("stream_sentinel.worker")

#: Longest pause between two retries of one alert (s).
MAX_BACKOFF: Final = 60.0
#: Most bytes of a webhook's answer read (and ignored): only the status matters.
_MAX_ANSWER: Final = 64 * 1024

WindowOf = Callable[[Mapping[str, Any]], "a.Window | None"]


class Alerts:
    """The configured routes, their rate limiter, and per route a bounded queue and a sender.

    One queue and one sender per route: a webhook that is down or hangs costs its own alerts
    (retries, then drops when its queue is full), never another team's.
    """

    def __init__(self, settings: Settings, metrics: Metrics, clock: Callable[[], float]) -> None:
        self.routes = alert_settings.core_routes(settings.alert_routes)
        self._urls = [route.url for route in settings.alert_routes]
        self.metrics = metrics
        self.clock = clock
        self.limiter = a.RateLimiter(round(settings.alert_interval * 1000))
        self.queues: list[asyncio.Queue[a.Alert]] = [asyncio.Queue(settings.alert_queue_size) for _ in self.routes]
        self.probes = settings.alert_probes
        self.timeout = settings.alert_timeout
        self.delays = a.retry_delays(settings.alert_retries, settings.alert_backoff, MAX_BACKOFF)
        self.dashboard = settings.dashboard_url or (
            f"http://{settings.web_host}:{settings.web_port}" if settings.web_enabled else None
        )
        self._failing: set[int] = set()  # routes whose last alert failed: logged once until one succeeds
        for route in self.routes:  # every series exists from the start, so rate() and alert rules see 0
            for counter in (
                metrics.alerts_sent,
                metrics.alert_failures,
                metrics.alert_retries,
                metrics.alerts_dropped,
                metrics.alerts_limited,
            ):
                counter.labels(route.name)

    @property
    def enabled(self) -> bool:
        """Whether any route is configured (without one the stages skip building alerts)."""
        return bool(self.routes)

    def offer(self, events: Iterable[Mapping[str, Any]], window_of: WindowOf | None = None) -> int:
        """Queue the alerts of drift events (dict form) for the routes that want them; never waits.

        ``window_of`` gives an event's count and rate in its window. Returns the alerts queued.
        A failure here is logged and swallowed: alerting must never fail a batch.
        """
        if not self.routes:
            return 0
        now, queued = round(self.clock() * 1000), 0
        try:
            for event in events:
                if not a.alerts_on(event, probes=self.probes):
                    continue
                topic = str((event.get("source") or {}).get("topic", ""))
                alert = a.Alert.of(event, window_of(event) if window_of else None, a.topic_link(self.dashboard, topic))
                send, limited = a.routed(alert, self.routes, self.limiter, now)
                for index in limited:
                    self.metrics.alerts_limited.labels(self.routes[index].name).inc()
                for index in send:
                    queued += self._put(index, alert)
        except Exception as exc:  # noqa: BLE001 - alerting is best effort; the drift topic has the events
            log.error(kv(event="alert_failed", stage="route", error=type(exc).__name__, at=d.raised_at(exc)))
        self.metrics.alert_queue.set(self.pending())
        return queued

    def pending(self) -> int:
        """Alerts queued over all routes."""
        return sum(q.qsize() for q in self.queues)

    def offer_batch(self, events: Sequence[d.DriftEvent]) -> int:
        """``every`` mode: a batch's drift events, each counted with its fingerprint's share of the batch."""
        if not self.routes or not events:
            return 0
        counts = Counter(event.fingerprint for event in events)
        first: dict[str, d.DriftEvent] = {}
        for event in events:  # one alert per rule and batch at most: only each rule's first event is rendered
            first.setdefault(event.fingerprint, event)
        return self.offer((e.to_dict() for e in first.values()), lambda e: a.Window(counts[str(e["fingerprint"])]))

    def _put(self, index: int, alert: a.Alert) -> int:
        try:
            self.queues[index].put_nowait(alert)
        except asyncio.QueueFull:
            self.metrics.alerts_dropped.labels(self.routes[index].name).inc()
            self.limiter.forget((index, alert.fingerprint))  # may alert again once there is room
            return 0
        return 1

    async def run(self) -> None:
        """Send queued alerts for the worker's whole life, one sender per route (a Faust app task)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
            await asyncio.gather(*(self._send(session, index) for index in range(len(self.routes))))

    async def _send(self, session: aiohttp.ClientSession, index: int) -> None:
        """One route's sender: its alerts one at a time, in order."""
        queue = self.queues[index]
        while True:
            alert = await queue.get()
            self.metrics.alert_queue.set(self.pending())
            try:
                await self.deliver(session, index, alert)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad alert must not end the task
                self.metrics.alert_failures.labels(self.routes[index].name).inc()
                log.error(kv(event="alert_failed", stage="send", error=type(exc).__name__, at=d.raised_at(exc)))

    async def deliver(self, session: aiohttp.ClientSession, index: int, alert: a.Alert) -> bool:
        """Post one alert to its route, retrying with backoff; True once the webhook took it."""
        route = self.routes[index]
        payload = a.body(alert, route.style)
        problem = ""
        for attempt in range(len(self.delays) + 1):
            status, problem, wait = await self._post(session, index, payload)
            if status is not None and 200 <= status < 300:
                self.metrics.alerts_sent.labels(route.name).inc()
                if index in self._failing:
                    self._failing.discard(index)
                    log.info(kv(event="alert_recovered", sink=route.name))
                return True
            if (status is not None and not a.retryable(status)) or attempt == len(self.delays):
                break
            self.metrics.alert_retries.labels(route.name).inc()
            await asyncio.sleep(max(self.delays[attempt], wait or 0.0))  # a 429's Retry-After, if longer
        self.metrics.alert_failures.labels(route.name).inc()
        if index not in self._failing:
            self._failing.add(index)
            log.error(
                kv(
                    event="alert_failed",
                    sink=route.name,
                    fingerprint=alert.fingerprint,
                    error=problem,
                    note="counted in sentinel_alert_failures_total; logged again only after one succeeds",
                )
            )
        return False

    async def _post(
        self, session: aiohttp.ClientSession, index: int, payload: bytes
    ) -> tuple[int | None, str, float | None]:
        """One attempt: the HTTP status (None: no answer), what went wrong (URL-free), the Retry-After asked for."""
        url = self._urls[index].get_secret_value()
        try:
            async with session.post(
                url, data=payload, headers={"Content-Type": "application/json"}, allow_redirects=False
            ) as response:
                await response.content.read(_MAX_ANSWER)
                status = response.status
                wait = a.retry_after(response.headers.get("Retry-After"), MAX_BACKOFF)
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, type(exc).__name__, None  # never str(exc): aiohttp's messages quote the URL
        return status, "" if 200 <= status < 300 else f"HTTP {status}", wait


def window_of(state: Mapping[str, Any], spec: w.WindowSpec, ts: int) -> WindowOf:
    """``first`` mode: a drift event's count and rate in the tumbling window of ``ts`` (None once it closed)."""
    start = spec.tumbling(ts)
    window = (state.get("tumbling") or {}).get(str(start))

    def lookup(event: Mapping[str, Any]) -> a.Window | None:
        if window is None:
            return None  # late: the window's summary is out
        stats = (window.get("drift") or {}).get(str(event.get("fingerprint")))
        if stats is None:
            return None  # counted under overflow
        return a.Window(int(stats["count"]), int(window.get("messages", 0)) or None, start, start + spec.tumbling_ms)

    return lookup


__all__ = ["MAX_BACKOFF", "Alerts", "window_of"]
