"""Start the worker: load and check everything first, then hand the loop to Faust.

The spec is loaded and compiled before any Faust object exists, so a bad spec exits with
code 2 and a ``file#/pointer: cause`` line and nothing half-started (no consumer has joined a
group, no topic was created). Faust's Worker then owns the loop and the signals: SIGTERM and
Ctrl-C stop the agents, flush the producer, commit what was processed and close.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from typing import IO, Any

import faust

from stream_sentinel.config import Settings
from stream_sentinel.core.errors import SentinelError
from stream_sentinel.core.validate import Engine, load_engine
from stream_sentinel.worker.app import Sentinel

EXIT_OK = 0
EXIT_USAGE = 2


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (``log_format: json``), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        """Render time, level, logger, message and, if any, the exception."""
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _logging_config(settings: Settings) -> dict[str, Any] | None:
    if settings.log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": settings.log_level.upper()},
    }


def build(settings: Settings, engine: Engine | None = None) -> Sentinel:
    """The Sentinel for these settings; raises SentinelError (exit 2) on a bad spec."""
    return Sentinel(settings, engine if engine is not None else load_engine(str(settings.spec_dir)))


def run_worker(settings: Settings, stderr: IO[str] = sys.stderr) -> int:
    """Run the worker until stopped; returns the process exit code."""
    try:
        sentinel = build(settings)
    except SentinelError as exc:
        stderr.write(f"stream-sentinel: {exc}\n")
        return exc.exit_code
    logging_config = _logging_config(settings)
    worker = faust.Worker(
        sentinel.app,
        loglevel=settings.log_level,
        quiet=True,
        logging_config=logging_config,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_OK
    return EXIT_OK  # pragma: no cover - execute_from_commandline always raises SystemExit


@functools.cache
def default_sentinel() -> Sentinel:
    """The Sentinel built from SENTINEL_* (and SENTINEL_CONFIG), for ``faust -A``."""
    try:
        return build(Settings.load())
    except SentinelError as exc:
        sys.stderr.write(f"stream-sentinel: {exc}\n")
        raise SystemExit(exc.exit_code) from exc
