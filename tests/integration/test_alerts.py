"""Alerts routed to owners, end to end: a worker on the embedded broker posts to a webhook on loopback."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson
import pytest
from aiohttp import web

from stream_sentinel.core import alerts as a
from stream_sentinel.embedded import free_port
from tests.integration.conftest import Harness, Message, wait_for
from tests.integration.test_quarantine import DRIFTING, HEADERS, VALID

pytestmark = pytest.mark.integration


class Webhooks:
    """An aiohttp server on 127.0.0.1 in a thread of its own: records each POST's path and JSON body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)

    async def _hook(self, request: web.Request) -> web.Response:
        self.received.append((request.path, orjson.loads(await request.read())))
        return web.Response(text="ok")

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self._hook)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = runner.addresses[0][1]
        self._stop = asyncio.Event()
        self._started.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> Webhooks:
        self._thread.start()
        assert self._started.wait(10), "webhook receiver did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def bodies(self, name: str) -> list[Any]:
        return [body for path, body in list(self.received) if path == f"/{name}"]


def test_a_worker_alerts_the_owning_team_on_slack_and_a_catch_all_as_json(harness: Harness) -> None:
    with Webhooks() as hooks:
        routes = [
            {"owner": "team-orders", "url": hooks.url("slack"), "style": "slack", "name": "orders-slack"},
            {"owner": "*", "url": hooks.url("json"), "min_severity": "warning", "name": "all-json"},
            {"owner": "team-payments", "url": hooks.url("payments"), "name": "payments"},
        ]
        _, port = harness.start_worker(
            alert_routes=orjson.dumps(routes).decode(),
            dashboard_url="https://sentinel.example.com",
            alert_backoff="0.1",
        )
        valid: Message = (VALID, tuple(HEADERS))
        drifting: Message = (DRIFTING, tuple(HEADERS))
        messages = [valid] * 3 + [drifting] * 2
        harness.produce(messages)
        json_bodies = wait_for(lambda: hooks.bodies("json"), timeout=60)
        slack_bodies = wait_for(lambda: hooks.bodies("slack"), timeout=30)
        status, metrics = harness.http(port, "/metrics")

    body = next((b for b in json_bodies if b["path"] == "/status"), None)
    assert body is not None, (json_bodies, harness.logs())
    assert body["type"] == a.ALERT_TYPE
    assert (body["topic"], body["event_type"], body["owner"]) == (harness.topic, "OrderCreated", "team-orders")
    assert (body["kind"], body["severity"], body["requirement"]) == ("missing_required", "breaking", "REQ-ORD-5")
    assert body["expected"]
    assert body["actual"] == {"type": "missing"}
    assert body["suggested_fix"]
    assert body["dashboard"] == f"https://sentinel.example.com/#topic-{harness.topic}"
    window = body["window"]
    assert window["count"] >= 1
    assert window["messages"] >= window["count"]
    assert window["end"] - window["start"] == 60_000  # the default tumbling window
    assert all(b["topic"] == harness.topic for b in json_bodies)
    assert {"text", "blocks"} <= set(slack_bodies[0])
    assert harness.topic in slack_bodies[0]["text"]
    assert hooks.bodies("payments") == []  # another team's route hears nothing of the orders drift
    assert status == 200
    assert b'sentinel_alerts_sent_total{sink="all-json"}' in metrics
    assert b'sentinel_alert_failures_total{sink="payments"} 0.0' in metrics
    assert b"127.0.0.1:" + str(hooks.port).encode() not in metrics  # URLs are secrets, never labels
    logs = "".join(log.read_text(errors="replace") for _, _, log in harness.workers)
    assert f":{hooks.port}/" not in logs  # webhook URLs are secrets: in no log line


def test_a_webhook_that_is_down_costs_alerts_never_drift_events_or_readiness(harness: Harness) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    routes = [{"owner": "*", "url": down, "min_severity": "info", "name": "down"}]
    _, port = harness.start_worker(
        alert_routes=orjson.dumps(routes).decode(), alert_mode="every", alert_retries="1", alert_backoff="0.05"
    )
    drifting: Message = (DRIFTING, tuple(HEADERS))
    harness.produce([drifting] * 3)
    drift = harness.drift(expect=3, until=lambda rs: sum(r["type"] == "drift" for r in rs) >= 3)
    assert sum(r["type"] == "drift" for r in drift) >= 3  # every drift event published, alerts failing or not

    def failed() -> bool:
        _, body = harness.http(port, "/metrics")
        return b'sentinel_alert_failures_total{sink="down"} 0.0' not in body

    wait_for(failed, timeout=30)
    _, metrics = harness.http(port, "/metrics")
    assert b'sentinel_alert_retries_total{sink="down"} 0.0' not in metrics
    assert b'sentinel_alerts_sent_total{sink="down"} 0.0' in metrics
    status, _ = harness.http(port, "/ready")
    assert status == 200  # a dead webhook is not the sentinel's health: /ready stays 200
    logs = "".join(log.read_text(errors="replace") for _, _, log in harness.workers)
    assert "event=alert_failed sink=down" in logs
    assert down not in logs
