"""Alert sinks against a real HTTP receiver on loopback (an aiohttp server in the test): bodies,
retries after 500s, a receiver that is down or hangs, a full queue — and validation never waits.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from stream_sentinel.core import alerts as a
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.embedded import free_port
from stream_sentinel.worker.alerts import Alerts, window_of
from stream_sentinel.worker.sentinel import Sentinel
from tests.shell.test_worker_batch import HEADERS, NOW, Published, event, sentinel

DRIFTING = b'{"not": "an order"}'  # OrderCreated v2 without any of its required fields: breaking drift


class Receiver:
    """A webhook on 127.0.0.1: answers each POST with the next status (then 200), optionally slowly."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0, retry_after: str | None = None) -> None:
        self.statuses = list(statuses or [])
        self.retry_after = retry_after
        self.times: list[float] = []
        self.delay = delay
        self.bodies: list[Any] = []
        self.attempts = 0
        self.content_types: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _hook(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.times.append(time.monotonic())
        self.content_types.append(request.content_type)
        body = orjson.loads(await request.read())
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.bodies.append(body)
        headers = {"Retry-After": self.retry_after} if self.retry_after and status != 200 else {}
        return web.Response(status=status, text="ok" if status == 200 else "no", headers=headers)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def routed_sentinel(tmp_path: Path, url: str, style: str = "json", **settings: Any) -> Sentinel:
    route = {"owner": "team-orders", "url": url, "style": style, "name": "orders"}
    options = {"alert_backoff": 0.01, "alert_retries": 2, "alert_timeout": 2.0, **settings}
    return sentinel(tmp_path, Published(), alert_routes=[route], dashboard_url="https://s.example", **options)


def value(s: Sentinel, name: str, sink: str = "orders") -> float:
    metric = getattr(s.metrics, name)
    return float(metric.labels(sink)._value.get())


async def drain(alerts: Alerts, until: Any, timeout: float = 10.0) -> None:
    """Run the alert task until ``until()`` holds, then stop it as the worker's stop would."""
    task = asyncio.ensure_future(alerts.run())
    try:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "alerts not handled in time"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_drifting_batch_alerts_its_owner_with_a_json_body(tmp_path: Path) -> None:
    async def scenario() -> Receiver:
        async with Receiver() as receiver:
            s = routed_sentinel(tmp_path, receiver.url, min_severity="breaking")
            await s.handle_batch([event("orders", 0, DRIFTING, HEADERS), event("orders", 1, DRIFTING, HEADERS)])
            await drain(s.alerts, lambda: value(s, "alerts_sent") >= 1 and s.alerts.pending() == 0)
            await asyncio.sleep(0.05)  # nothing more arrives: one alert per rule, not per message
            return receiver

    receiver = asyncio.run(scenario())
    assert receiver.content_types
    assert set(receiver.content_types) == {"application/json"}
    kinds = {(b["kind"], b["path"]) for b in receiver.bodies}
    assert ("missing_required", "/order_id") in kinds
    assert len(receiver.bodies) == len(kinds)  # the second message broke the same rules: rate-limited
    body = next(b for b in receiver.bodies if b["path"] == "/order_id")
    assert body["type"] == a.ALERT_TYPE
    assert (body["owner"], body["topic"], body["event_type"]) == ("team-orders", "orders", "OrderCreated")
    assert body["requirement"] == "REQ-ORD-2"
    assert body["window"]["count"] == 2  # every mode: the rule's violations in the batch that found it
    assert body["dashboard"] == "https://s.example/#topic-orders"
    assert body["suggested_fix"]
    assert "sample" not in body


def test_a_slack_route_gets_an_incoming_webhook_body(tmp_path: Path) -> None:
    async def scenario() -> Receiver:
        async with Receiver() as receiver:
            s = routed_sentinel(tmp_path, receiver.url, style="slack")
            await s.handle_batch([event("orders", 0, DRIFTING, HEADERS)])
            await drain(s.alerts, lambda: value(s, "alerts_sent") >= 1 and s.alerts.pending() == 0)
            return receiver

    receiver = asyncio.run(scenario())
    body = receiver.bodies[0]
    assert set(body) == {"text", "blocks"}
    assert "owner: team-orders" in body["text"]
    assert body["blocks"][0]["type"] == "header"


def test_500s_are_retried_with_backoff_until_the_receiver_takes_the_alert(tmp_path: Path) -> None:
    async def scenario() -> tuple[Sentinel, Receiver]:
        async with Receiver(statuses=[500, 503]) as receiver:
            s = routed_sentinel(tmp_path, receiver.url)
            assert s.alerts.offer([drift_dict(s)]) == 1
            await drain(s.alerts, lambda: value(s, "alerts_sent") + value(s, "alert_failures") >= 1)
            return s, receiver

    s, receiver = asyncio.run(scenario())
    assert receiver.attempts == 3
    assert len(receiver.bodies) == 1
    assert (value(s, "alerts_sent"), value(s, "alert_retries"), value(s, "alert_failures")) == (1, 2, 0)


def test_a_429_is_retried_after_the_pause_it_asks_for(tmp_path: Path) -> None:
    async def scenario() -> tuple[Sentinel, Receiver]:
        async with Receiver(statuses=[429], retry_after="1") as receiver:
            s = routed_sentinel(tmp_path, receiver.url)
            s.alerts.offer([drift_dict(s)])
            await drain(s.alerts, lambda: value(s, "alerts_sent") >= 1)
            return s, receiver

    s, receiver = asyncio.run(scenario())
    assert receiver.attempts == 2
    assert receiver.times[1] - receiver.times[0] >= 0.9  # Retry-After: 1, not the 0.01 s backoff
    assert value(s, "alert_retries") == 1


def test_a_4xx_is_not_retried_and_counts_as_a_failure(tmp_path: Path) -> None:
    async def scenario() -> tuple[Sentinel, Receiver]:
        async with Receiver(statuses=[404]) as receiver:
            s = routed_sentinel(tmp_path, receiver.url)
            s.alerts.offer([drift_dict(s)])
            await drain(s.alerts, lambda: value(s, "alert_failures") >= 1)
            return s, receiver

    s, receiver = asyncio.run(scenario())
    assert receiver.attempts == 1
    assert (value(s, "alerts_sent"), value(s, "alert_retries"), value(s, "alert_failures")) == (0, 0, 1)


def test_a_receiver_that_is_down_costs_the_alert_never_the_batch(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there

    async def scenario() -> Sentinel:
        s = routed_sentinel(tmp_path, down, alert_retries=3, alert_backoff=0.01)
        await s.handle_batch([event("orders", n, DRIFTING, HEADERS) for n in range(50)])
        # The batch is done and its drift handed to the producer while every alert still waits in the
        # queue, not one attempt made: validation and the commit never wait for a webhook.
        assert s.alerts.pending() > 1
        assert value(s, "alert_retries") + value(s, "alert_failures") == 0
        await drain(s.alerts, lambda: s.alerts.pending() == 0 and value(s, "alert_failures") >= 1, timeout=30)
        return s

    s = asyncio.run(scenario())
    assert value(s, "alert_failures") >= 1
    assert value(s, "alert_retries") >= 3
    assert value(s, "alerts_sent") == 0
    assert s.metrics.published.labels("drift")._value.get() > 0  # the drift topic got its events anyway


def test_a_hanging_receiver_times_out_and_is_counted(tmp_path: Path) -> None:
    async def scenario() -> tuple[Sentinel, Receiver]:
        async with Receiver(delay=1.0) as receiver:
            s = routed_sentinel(tmp_path, receiver.url, alert_retries=0, alert_timeout=0.2)
            s.alerts.offer([drift_dict(s)])
            await drain(s.alerts, lambda: value(s, "alert_failures") >= 1)
            return s, receiver

    s, receiver = asyncio.run(scenario())
    assert receiver.attempts == 1
    assert value(s, "alert_failures") == 1


def test_a_full_queue_drops_and_counts_and_the_dropped_rule_may_alert_again(tmp_path: Path) -> None:
    s = routed_sentinel(tmp_path, "http://127.0.0.1:9/hook", alert_queue_size=1)
    first, second = drift_dict(s), {**drift_dict(s), "fingerprint": "fedcba9876543210"}
    assert s.alerts.offer([first, second]) == 1
    assert value(s, "alerts_dropped") == 1
    assert s.metrics.alert_queue._value.get() == 1
    s.alerts.queues[0].get_nowait()
    assert s.alerts.offer([second]) == 1  # forgotten by the rate limiter when dropped
    assert s.alerts.offer([first]) == 0  # sent (queued) within the interval: rate-limited
    assert value(s, "alerts_limited") == 1


def test_probe_drift_and_other_owners_do_not_alert(tmp_path: Path) -> None:
    s = routed_sentinel(tmp_path, "http://127.0.0.1:9/hook")
    assert s.alerts.offer([{**drift_dict(s), "origin": "probe"}]) == 0
    assert s.alerts.offer([{**drift_dict(s), "owner": "team-payments"}]) == 0
    assert s.alerts.offer([{**drift_dict(s), "severity": "info"}]) == 0
    probes = routed_sentinel(tmp_path / "p", "http://127.0.0.1:9/hook", alert_probes=True)
    assert probes.alerts.offer([{**drift_dict(probes), "origin": "probe"}]) == 1


def test_no_routes_no_alert_task_and_no_work(tmp_path: Path) -> None:
    s = sentinel(tmp_path, Published())
    assert not s.alerts.enabled
    assert s.alerts.offer([drift_dict(s)]) == 0
    assert "sentinel_alerts_sent_total{" not in s.metrics.render().decode()


def test_first_mode_alerts_carry_the_windows_count_and_rate(tmp_path: Path) -> None:
    s = routed_sentinel(tmp_path, "http://127.0.0.1:9/hook", alert_mode="first")
    other = b'{"order_id": "ord_abcdefghijkl"}'  # drifts too, but its order_id keeps the rule
    batch = [event("orders", n, DRIFTING if n < 3 else other, HEADERS) for n in range(8)]
    tally = s.batches.run(batch, round(NOW * 1000)).tally
    first: list[dict[str, Any]] = []
    for key, record in tally.records():
        state = w.new_state(key)
        result = w.advance(state, record, s.spec, round(NOW * 1000))
        s.alerts.offer(result.first, window_of(result.state, s.spec, int(record["ts"])))
        first += result.first
    queued = [s.alerts.queues[0].get_nowait() for _ in range(s.alerts.pending())]
    order_id = next(alert for alert in queued if alert.path == "/order_id")
    assert order_id.window is not None
    assert (order_id.window.count, order_id.window.messages) == (3, 8)
    assert order_id.window.end is not None
    assert order_id.window.start is not None
    assert order_id.window.end - order_id.window.start == s.spec.tumbling_ms
    assert "3 violations of 8 messages (37.50%)" in a.text(order_id)
    assert window_of({"tumbling": {}}, s.spec, 0)({"fingerprint": "x"}) is None  # closed: late drift


def test_the_alert_metrics_of_each_sink_exist_from_the_start(tmp_path: Path) -> None:
    s = routed_sentinel(tmp_path, "http://127.0.0.1:9/hook")
    rendered = s.metrics.render().decode()
    for name in (
        "sentinel_alerts_sent_total",
        "sentinel_alert_failures_total",
        "sentinel_alert_retries_total",
        "sentinel_alerts_dropped_total",
        "sentinel_alerts_rate_limited_total",
    ):
        assert f'{name}{{sink="orders"}} 0.0' in rendered, name
    assert "sentinel_alert_queue 0.0" in rendered
    assert "127.0.0.1:9" not in rendered  # the URL is never a label


def drift_dict(s: Sentinel) -> dict[str, Any]:
    """One real breaking drift event of the orders contract, owned by team-orders."""
    result = s.batches.run([event("orders", 0, DRIFTING, HEADERS)], round(NOW * 1000))
    return next(e.to_dict() for e in result.publish if e.path == "/order_id")


def test_the_session_the_task_uses_is_closed_when_the_task_stops(tmp_path: Path) -> None:
    closed: list[bool] = []
    real = aiohttp.ClientSession.close

    async def spy(session: aiohttp.ClientSession) -> None:
        closed.append(True)
        await real(session)

    async def scenario() -> None:
        s = routed_sentinel(tmp_path, "http://127.0.0.1:9/hook")
        aiohttp.ClientSession.close = spy  # type: ignore[method-assign,assignment]
        try:
            started = time.monotonic()
            await drain(s.alerts, lambda: time.monotonic() - started > 0.1)  # the task is running by then
        finally:
            aiohttp.ClientSession.close = real  # type: ignore[method-assign]

    asyncio.run(scenario())
    assert closed == [True]


def test_a_dead_route_does_not_hold_up_another_routes_alerts(tmp_path: Path) -> None:
    """One sender per route: alerts to a webhook that is down wait for their retries, not others'."""
    down = f"http://127.0.0.1:{free_port()}/hook"

    async def scenario() -> tuple[Sentinel, Receiver]:
        async with Receiver() as receiver:
            routes = [
                {"owner": "team-x", "url": down, "name": "down"},
                {"owner": "team-orders", "url": receiver.url, "name": "orders"},
            ]
            options = {"alert_backoff": 2.0, "alert_retries": 3, "alert_timeout": 2.0}
            s = sentinel(tmp_path, Published(), alert_routes=routes, **options)
            s.alerts.offer([{**drift_dict(s), "fingerprint": f"{n:016x}", "owner": "team-x"} for n in range(3)])
            s.alerts.offer([drift_dict(s)])  # queued after the dead route's three
            await drain(s.alerts, lambda: value(s, "alerts_sent") >= 1)
            return s, receiver

    s, receiver = asyncio.run(scenario())
    assert receiver.attempts == 1
    # Sent while the dead route was still retrying its first alert (3 retries, 2 s apart): not after it.
    assert value(s, "alert_failures", "down") == 0
    assert s.alerts.queues[0].qsize() == 2
