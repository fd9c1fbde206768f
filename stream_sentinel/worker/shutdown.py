"""The worker process: Faust's Worker with a bounded shutdown and limited client-library logs.

Faust stops by flushing the producer and committing; with the broker gone, the flush waits for
the producer's request timeout (20 min) and the process never ends (measured: still "Flush
producer buffer..." at SIGKILL). Here a stop signal arms a watchdog: if the worker has not
ended ``shutdown_grace`` seconds later, it writes one line saying what stayed unpublished and
uncommitted and exits with code 3 (broker). Nothing is committed on that path, so no commit can
pass a drift event that was not acknowledged; the messages behind it are checked again after
the restart (at-least-once).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import faust

from stream_sentinel.core.exits import EXIT_BROKER
from stream_sentinel.worker import logs

#: Seconds the watchdog waits for the event loop to compute the summary before doing it itself.
SUMMARY_WAIT = 1.0


class Watchdog:
    """After ``grace`` seconds: write ``summary()`` as one line to fd 2 and end the process."""

    def __init__(
        self,
        grace: float,
        summary: Callable[[], str],
        *,
        exit_code: int = EXIT_BROKER,
        end: Callable[[int], Any] = os._exit,
        write: Callable[[str], Any] | None = None,
    ) -> None:
        self.grace = grace
        self.summary = summary
        self.exit_code = exit_code
        self.end = end
        # fd 2 directly: Faust redirects sys.stdout/sys.stderr into its logger.
        self.write = write or (lambda text: os.write(2, text.encode("utf-8", "replace")))
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start the countdown (once)."""
        if self._timer is None:
            self._timer = threading.Timer(self.grace, self.expire)
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        """The worker ended in time."""
        if self._timer is not None:
            self._timer.cancel()

    def expire(self) -> None:
        """The grace period is over: say what is left, then end without committing anything."""
        try:
            text = self.summary()
        except Exception as exc:  # noqa: BLE001 - the process must end whatever the summary does
            text = f"(no summary: {type(exc).__name__})"
        self.write(f"stream-sentinel: worker stopped after {self.grace:g} s grace: {text}\n")
        self.end(self.exit_code)


class SentinelWorker(faust.Worker):
    """faust.Worker whose stop is bounded by a watchdog and whose client logs are rate-limited."""

    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        self.watchdog = watchdog
        super().__init__(*args, **kwargs)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """Faust's set-up, plus one RepeatFilter on the root handlers."""
        super().on_setup_root_logger(logger, level)
        logs.install(logger)

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        """Mode's reaction to SIGTERM/SIGINT (its only entry for both), with the watchdog armed first."""
        self.watchdog.arm()
        super()._schedule_shutdown(signal)


__all__ = ["SentinelWorker", "Watchdog"]
