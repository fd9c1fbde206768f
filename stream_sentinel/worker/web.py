"""The worker's HTTP surface: the sentinel's five pages (``/`` the dashboard) and nothing else, bounded.

Faust's aiohttp web driver would also serve Faust's own blueprints: ``/table/...`` (table
*data*), ``/router/...`` (the cluster's topology) and, depending on settings, ``/`` (statistics
or an index), ``/graph/``, ``/assignment/`` and ``/performance/``. The sentinel serves none of
them. They are switched off with Faust's own settings (``web_<blueprint>_enabled``), and a
middleware answers 404 for any path that is not one of :data:`SERVED`, so a blueprint a later
Faust release adds stays closed too (deny by default).

Everything else is plain aiohttp configuration, passed through Faust's documented
``web_application_options`` (keyword arguments of ``aiohttp.web.Application``; its
``handler_args`` reach the per-connection request handler):

- ``keepalive_timeout``: aiohttp arms it when a connection is made and re-arms it after each
  response, and it closes the connection if no complete request arrived by then. So it closes
  idle keep-alive connections, connections that never send anything and half-sent requests
  alike (aiohttp's default is 3630 s).
- the request line, each header and the header count are bounded by the parser; no page reads a
  body, and a request that carries one is refused (413) before anything reads it. Whatever of
  the body is already on its way is read and dropped for at most :data:`LINGER` seconds, then
  the connection is closed.
- one response (computing it and sending it) gets ``web_response_timeout`` seconds; a client
  that stops reading is disconnected, so it cannot pin a response in memory.
- aiohttp logs a malformed request as an ERROR with a traceback, each time. Its request handler
  takes a ``logger``: :class:`ServerLog` turns those into one line per cause per interval with
  a count, no traceback, nothing of the request echoed; ``sentinel_http_errors_total`` counts
  every one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger("stream_sentinel.web")

#: The only paths the worker answers.
SERVED: Final = frozenset({"/", "/health", "/ready", "/metrics", "/drift"})
METHODS: Final = frozenset({"GET", "HEAD"})
#: Faust's settings for its own blueprints (faust.web.base.BLUEPRINT_FLAGS): all off.
FAUST_BLUEPRINTS_OFF: Final[Mapping[str, bool]] = {
    "web_router_enabled": False,
    "web_tables_enabled": False,
    "web_stats_enabled": False,
    "web_graph_enabled": False,
    "web_metrics_enabled": False,
}
#: Request line and header field limits (bytes) and header count: aiohttp's defaults, pinned.
MAX_LINE: Final = 8190
MAX_FIELD: Final = 8190
MAX_HEADERS: Final = 128
#: Largest request body aiohttp would read (none of the pages reads one).
MAX_BODY: Final = 1024
#: Seconds an unread request body is read and dropped before the connection is closed.
LINGER: Final = 2.0
#: Most distinct causes remembered by the log limiter; more fold into one.
MAX_CAUSES: Final = 64
_DETAIL: Final = 200


def _field(value: object) -> str:
    text = str(value)
    return orjson.dumps(text).decode() if not text or any(c in text for c in ' "=') or not text.isprintable() else text


class RateLimitedLog:
    """Log lines of one cause at most once per ``interval`` seconds, each with its count.

    The first occurrence of a cause is written at once; later ones within the interval are
    counted, and the next one after it is written with ``count=`` how many there were since the
    last line (itself included). Every occurrence goes to ``on_event`` (a metric), so none is
    lost when a burst ends inside an interval.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        on_event: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.on_event = on_event
        self.clock = clock
        self._last: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def report(self, level: int, event: str, cause: str, **fields: object) -> None:
        """Count one occurrence; write it (with the count) unless its cause was written lately."""
        if cause not in self._last and len(self._last) >= MAX_CAUSES:
            cause = "other"
        self.on_event(cause)
        now = self.clock()
        last = self._last.get(cause)
        if last is not None and now - last < self.interval:
            self._unlogged[cause] += 1
            return
        self._last[cause] = now
        count = self._unlogged.pop(cause, 0) + 1
        parts = {"event": event, "cause": cause, **fields, "count": count}
        if count > 1:
            parts["since_s"] = round(now - last if last is not None else 0.0)
        self.logger.log(level, " ".join(f"{k}={_field(v)}" for k, v in parts.items()))


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg] # generic only in typeshed, not at runtime on 3.11
    """The ``logger`` of aiohttp's request handler: its error lines, rate-limited, without traceback.

    aiohttp writes ``logger.exception("Error handling request from %s", ..., exc_info=exc)``
    for every malformed request and every page that raised, and ``logger.debug(...)`` for junk
    that is the first thing on a connection. Malformed requests become one ``http_bad_request``
    warning per cause (the parser's exception class) and interval; a page that raised becomes an
    ``http_page_error`` error with the exception's class and the start of its message. The
    request itself (which may be anything a client sent) is never echoed.
    """

    def __init__(self, limiter: RateLimitedLog) -> None:
        super().__init__(limiter.logger, {})
        self.limiter = limiter

    def log(self, level: int, msg: object, *_args: object, **kwargs: Any) -> None:
        """Route one aiohttp log call to the limiter; aiohttp's own debug chatter is dropped."""
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            self.limiter.report(logging.WARNING, "http_bad_request", type(exc).__name__, status=exc.code)
        elif isinstance(exc, BaseException):
            detail = " ".join(str(exc).split())[:_DETAIL]
            self.limiter.report(logging.ERROR, "http_page_error", type(exc).__name__, detail=detail)
        elif level > logging.DEBUG:
            # A fixed message of aiohttp's (e.g. a handler that returned no response).
            text = msg if isinstance(msg, str) else type(msg).__name__
            self.limiter.report(level, "http_server_error", text[:_DETAIL])


def guard(response_timeout: float, limiter: RateLimitedLog) -> Middleware:
    """The middleware: serve only :data:`SERVED`, no request bodies, bounded response time."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in SERVED:
            raise web.HTTPNotFound
        if request.method not in METHODS:
            raise web.HTTPMethodNotAllowed(request.method, sorted(METHODS))
        if request.body_exists:
            raise web.HTTPRequestEntityTooLarge(max_size=0, actual_size=request.content_length or 0)
        response: web.StreamResponse | None = None
        try:
            async with asyncio.timeout(response_timeout):
                response = await handler(request)
                # Send it here, under the timeout: aiohttp's own send (after the middleware)
                # finds it sent and does nothing.
                await response.prepare(request)
                await response.write_eof()
        except TimeoutError:
            if response is None:  # the page did not answer in time: say so
                limiter.report(logging.WARNING, "http_response_timeout", "page_timeout", path=request.path)
                return web.Response(status=503, text="the page took too long")
            # The client stopped reading: drop the connection and what is buffered for it.
            limiter.report(logging.WARNING, "http_response_timeout", "response_timeout", path=request.path)
            if request.transport is not None:
                request.transport.abort()
        return response

    return middleware


def faust_options(
    *,
    idle_timeout: float,
    response_timeout: float,
    error_log_interval: float,
    on_error: Callable[[str], None],
) -> MutableMapping[str, Any]:
    """Keyword arguments of ``faust.App`` for the web server (see the module docstring)."""
    limiter = RateLimitedLog(log, error_log_interval, on_error)
    return {
        **FAUST_BLUEPRINTS_OFF,
        "web_application_options": {
            "client_max_size": MAX_BODY,
            "middlewares": [guard(response_timeout, limiter)],
            "handler_args": {
                "keepalive_timeout": idle_timeout,
                "lingering_time": LINGER,
                "max_line_size": MAX_LINE,
                "max_field_size": MAX_FIELD,
                "max_headers": MAX_HEADERS,
                "logger": ServerLog(limiter),
            },
        },
    }
