"""Does the worker reach its brokers? A start-up check and a periodic probe for ``/ready``.

Nothing in Faust's own state notices a broker that stops answering: a frozen broker keeps its
TCP connections open, the consumer just fetches nothing, and an idle worker sends nothing that
could fail. So the worker asks, through the producer's own client (the one that carries the
drift events): every ``heartbeat_interval`` seconds one Metadata request for *no* topics, the
smallest request a Kafka broker answers. No answer for ``session_timeout`` seconds (the time
after which the group would drop a silent member too) makes the broker *unreachable*: ``/ready``
says 503 with that reason until an answer comes again. Nothing of this runs per message.

``preflight`` runs once before Faust starts, so a worker without a broker exits 3 with one line
within ``connect_timeout`` seconds instead of a Faust traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka.protocol.metadata import MetadataRequest

from stream_sentinel.config import Settings
from stream_sentinel.kafkaio import consumer, describe

log = logging.getLogger("stream_sentinel.worker")

BROKER_UNREACHABLE = "broker unreachable"
PUBLISHING_FAILING = "publishing failing"
NOT_ASSIGNED = "not assigned"


def preflight(settings: Settings) -> None:
    """Raise BrokerError (exit 3, one line) unless a broker answers within ``connect_timeout``.

    aiokafka's own lines about the failed connection are muted meanwhile: the BrokerError says it once.
    """

    async def check() -> None:
        async with consumer(settings.aiokafka_kwargs(), settings.connect_timeout):
            pass

    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL + 1)
    try:
        asyncio.run(check())
    finally:
        client_log.setLevel(level)


@dataclass(frozen=True)
class Readiness:
    """What ``/ready`` reports: ready only when every reason is absent."""

    assigned: bool
    publishing: bool
    broker: bool
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the worker holds partitions, publishes and reaches the brokers."""
        return not self.reasons

    def body(self) -> dict[str, Any]:
        """The JSON body of ``/ready``."""
        return {
            "ready": self.ok,
            "assigned": self.assigned,
            "publishing": self.publishing,
            "broker": self.broker,
            "reasons": list(self.reasons),
        }


def readiness(*, assigned: bool, publishing: bool, broker: bool, broker_detail: str = "") -> Readiness:
    """Combine the three conditions into a verdict with one reason per failing condition."""
    reasons = []
    if not broker:
        reasons.append(f"{BROKER_UNREACHABLE}: {broker_detail}" if broker_detail else BROKER_UNREACHABLE)
    if not publishing:
        reasons.append(PUBLISHING_FAILING)
    if not assigned:
        reasons.append(NOT_ASSIGNED)
    return Readiness(assigned, publishing, broker, tuple(reasons))


class BrokerProbe:
    """Time since the brokers last answered, kept fresh by :meth:`run`.

    ``get_client`` returns the producer's ``AIOKafkaClient`` (None while it is not started);
    ``on_change`` is called with the new reachability when it flips.
    """

    def __init__(
        self,
        *,
        interval: float,
        timeout: float,
        get_client: Callable[[], Any],
        on_change: Callable[[bool], None] = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.timeout = timeout
        self.get_client = get_client
        self.on_change = on_change
        self.clock = clock
        self.last_ok = clock()
        self.last_error = ""
        self.was_reachable = True

    def reachable(self) -> bool:
        """True while the last answer is at most ``timeout`` seconds old."""
        return self.clock() - self.last_ok <= self.timeout

    def detail(self) -> str:
        """Why the broker counts as unreachable (for ``/ready`` and the log)."""
        silent = self.clock() - self.last_ok
        why = f"; last error: {self.last_error}" if self.last_error else ""
        return f"no answer for {silent:.0f} s{why}"

    async def probe(self) -> bool:
        """One Metadata request for no topics, bounded by ``timeout``; True if it was answered."""
        client = self.get_client()
        if client is None:
            return False
        try:
            node = client.get_random_node()
            request = client.send("bootstrap" if node is None else node, MetadataRequest([]))
            await asyncio.wait_for(request, self.timeout)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.last_error = f"no answer within {self.timeout:g} s"
            return False
        except Exception as exc:  # noqa: BLE001 - any failure to get an answer means the same thing here
            self.last_error = describe(exc)
            return False
        self.last_ok = self.clock()
        self.last_error = ""
        return True

    def check(self) -> None:
        """Tell ``on_change`` (once) when reachability flipped."""
        now_reachable = self.reachable()
        if now_reachable != self.was_reachable:
            self.was_reachable = now_reachable
            self.on_change(now_reachable)

    async def run(self) -> None:
        """Probe every ``interval`` seconds until cancelled (a Faust app task).

        One probe at a time: while one waits for a frozen broker, the flip to unreachable is
        still noticed on time, and no second request piles up behind it.
        """
        self.last_ok = self.clock()  # the producer has just bootstrapped: it answered
        probing: asyncio.Task[bool] | None = None
        try:
            while True:
                if probing is None or probing.done():
                    probing = asyncio.ensure_future(self.probe())
                await asyncio.wait([probing], timeout=self.interval)
                self.check()
                if probing.done():
                    await asyncio.sleep(self.interval)
        finally:
            if probing is not None:
                probing.cancel()


__all__ = [
    "BROKER_UNREACHABLE",
    "NOT_ASSIGNED",
    "PUBLISHING_FAILING",
    "BrokerProbe",
    "Readiness",
    "preflight",
    "readiness",
]
