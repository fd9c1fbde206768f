"""One line per cause per interval: a logging filter against the client libraries' error storms.

With the broker gone, aiokafka retries its connections every 50 ms and logs every failure, and
Faust and mode log every failed fetch and produce: measured, 2,651 ``NodeNotReadyError`` lines
(1.3 MB) in 84 s, which buries the lines that matter and fills disks. :class:`RepeatFilter`
lets the first warning or error of a cause through, drops the repeats for ``interval`` seconds,
and puts their count on the next line of that cause that gets through
(``... [repeated 312 times in the last 30 s]``).

A cause is (logger, level, message template, exception types): the template is the
unformatted message, so "Unable connect to node with id %s: %s" is one cause whatever the node
and errno. Only records of the client libraries' loggers (``aiokafka``, ``faust``, ``mode``) at
WARNING or above are limited; the sentinel's own lines (already logged once per state change)
and every INFO line pass untouched. A record carrying a Kafka client exception (any logger) is
written as one line, without the traceback. Installed on the root logger's handlers, because a filter on
a logger does not see the records of its child loggers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

import orjson

from stream_sentinel.kafkaio import describe, kafka_cause

#: Loggers whose repeated warnings and errors are limited (and their children).
LIMITED: Final = ("aiokafka", "faust", "mode")
#: Default seconds between two lines of one cause.
INTERVAL: Final = 30.0
#: Causes remembered at once; past it, causes quiet for an interval are forgotten first.
MAX_CAUSES: Final = 1024

#: Record attribute holding the verdict, so a record reaching several handlers is judged once.
VERDICT: Final = "sentinel_repeat_verdict"

Cause = tuple[str, int, str, tuple[str, ...]]


def kv(**fields: object) -> str:
    """logfmt-style structured message: greppable and parseable, one line per event."""
    return " ".join(
        f"{k}={orjson.dumps(v).decode() if isinstance(v, str) and (' ' in v or not v) else v}"
        for k, v in fields.items()
    )


def _cause(record: logging.LogRecord) -> Cause:
    kinds = []
    if record.exc_info and record.exc_info[0] is not None:
        kinds.append(record.exc_info[0].__name__)
    args = record.args if isinstance(record.args, tuple) else ()
    kinds.extend(type(a).__name__ for a in args if isinstance(a, BaseException))
    return (record.name, record.levelno, str(record.msg), tuple(kinds))


class RepeatFilter(logging.Filter):
    """Let a cause's first warning/error through, then at most one per ``interval`` with a count."""

    def __init__(
        self,
        interval: float = INTERVAL,
        loggers: Iterable[str] = LIMITED,
        clock: Callable[[], float] = time.monotonic,
        max_causes: int = MAX_CAUSES,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.prefixes = tuple(loggers)
        self.clock = clock
        self.max_causes = max_causes
        # cause -> (time its last line went out, repeats dropped since)
        self.causes: dict[Cause, tuple[float, int]] = {}

    def _limited(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat inside the interval; the next line out carries the count.

        One verdict per record: installed on several handlers, a record is judged once.
        """
        limited = record.levelno >= logging.WARNING and self._limited(record.name)
        verdict: bool | None = getattr(record, VERDICT, None)
        cause = _cause(record) if limited and verdict is None else None  # before the text changes below
        broker = kafka_cause(record.exc_info[1]) if record.exc_info else None
        if broker is not None:
            # A broker failure (also wrapped by Faust) is one known cause; its stack says nothing
            # to an operator.
            record.msg = f"{record.getMessage()}: {describe(broker)}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        if not limited:
            return True
        if cause is not None:
            verdict = self._judge(record, cause)
            setattr(record, VERDICT, verdict)
        return bool(verdict)

    def _judge(self, record: logging.LogRecord, cause: Cause) -> bool:
        now = self.clock()
        seen = self.causes.get(cause)
        if seen is not None and now - seen[0] < self.interval:
            self.causes[cause] = (seen[0], seen[1] + 1)
            return False
        if seen is None and len(self.causes) >= self.max_causes:
            self._forget(now)
        self.causes[cause] = (now, 0)
        if seen is not None and seen[1]:
            record.msg = f"{record.getMessage()} [repeated {seen[1]} times in the last {now - seen[0]:.0f} s]"
            record.args = ()
        return True

    def _forget(self, now: float) -> None:
        quiet = [cause for cause, (since, _) in self.causes.items() if now - since >= self.interval]
        for cause in quiet or list(self.causes):
            del self.causes[cause]


def install(logger: logging.Logger, interval: float = INTERVAL) -> RepeatFilter:
    """Add one RepeatFilter to every handler of ``logger`` (the root logger, once configured)."""
    repeat = RepeatFilter(interval)
    for handler in logger.handlers:
        handler.addFilter(repeat)
    return repeat


__all__ = ["INTERVAL", "LIMITED", "RepeatFilter", "install"]
