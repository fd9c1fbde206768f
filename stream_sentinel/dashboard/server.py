"""``stream-sentinel dashboard``'s web server: the page at ``/`` over plain aiohttp, nothing else.

The worker serves the same page through Faust's web server (``worker/dashboard.py``); this one
is for people who only want the page. It answers ``GET``/``HEAD /`` (and ``/health`` for probes),
404 for any other path, 405 for other methods; responses are bounded in time like the worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Final, TextIO

from aiohttp import web

from stream_sentinel.dashboard.page import Dashboard, run_tasks

#: Seconds one page may take (rendering included) before the server answers 503.
RESPONSE_TIMEOUT: Final = 30.0
HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def application(dashboard: Dashboard) -> web.Application:
    """The aiohttp application: ``/`` (the page) and ``/health``."""

    async def page(request: web.Request) -> web.Response:  # noqa: ARG001 - aiohttp handler signature
        try:
            async with asyncio.timeout(RESPONSE_TIMEOUT):
                html = await dashboard.page()
        except TimeoutError:
            return web.Response(status=503, text="the page took too long")
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def health(request: web.Request) -> web.Response:  # noqa: ARG001
        return web.json_response({"status": "ok", **dashboard.status()})

    app = web.Application(client_max_size=1024)
    app.router.add_get("/", page)
    app.router.add_get("/health", health)
    return app


async def serve(dashboard: Dashboard, host: str, port: int, stdout: TextIO) -> None:
    """Serve until SIGINT/SIGTERM; the reader runs alongside. Binding errors propagate (OSError)."""
    runner = web.AppRunner(application(dashboard), handle_signals=False, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = asyncio.ensure_future(run_tasks(dashboard))
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        stdout.write(f"dashboard: http://{host}:{port}/ (drift topic {dashboard.config.drift_topic}); Ctrl-C to stop\n")
        stdout.flush()
        await stop.wait()
    finally:
        tasks.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await tasks
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
