"""How the worker reports a Kafka error that Faust wrapped: one line, one cause, exit 3 (issue #11, 2.4-2.5)."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.exceptions import ProducerSendError

from stream_sentinel.config import Settings
from stream_sentinel.worker import run
from stream_sentinel.worker.logs import RepeatFilter
from stream_sentinel.worker.owed import Outstanding


class Clock:
    def __call__(self) -> float:
        return 1000.0


def _wrapped_send_failure(detail: str) -> BaseException:
    """What Faust raises from a failed send: ProducerSendError from aiokafka's error."""
    try:
        try:
            raise KafkaTimeoutError(detail)
        except KafkaTimeoutError as cause:
            raise ProducerSendError(f"Error while sending: {cause!r}") from cause
    except ProducerSendError as wrapped:
        return wrapped


def test_a_kafka_error_wrapped_by_faust_is_one_line_of_one_cause_without_traceback() -> None:
    limit = RepeatFilter(clock=Clock())
    lines = []
    for node in range(50):  # the wrapped error's text varies (a node, a batch): still one cause
        failure = _wrapped_send_failure(f"batch for node {node} expired")
        line = logging.LogRecord("mode.services", logging.ERROR, __file__, 1, "Error: %r", (failure,), None)
        line.exc_info = (type(failure), failure, failure.__traceback__)
        if limit.filter(line):
            lines.append(line)
    assert len(lines) == 1
    assert lines[0].exc_info is None  # no traceback: the broker's failure is the cause
    assert "batch for node 0 expired" in lines[0].getMessage()


def test_a_crash_caused_by_a_wrapped_kafka_error_is_exit_3_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    failure = _wrapped_send_failure("no broker answered")

    class CrashingWorker:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def execute_from_commandline(self) -> None:
            try:
                raise failure
            except ProducerSendError:  # what mode does with a crashed service: exit 1
                raise SystemExit(1) from None

    sentinel = SimpleNamespace(
        app=None, outstanding=lambda: Outstanding(0, 0, 0, 0), reload=SimpleNamespace(install=lambda: None)
    )
    settings = Settings.load(None, spec_dir=str(Path(__file__).resolve().parents[2] / "spec" / "events"))
    stderr = io.StringIO()
    monkeypatch.setattr(run, "build", lambda _settings: sentinel)
    monkeypatch.setattr(run, "SentinelWorker", CrashingWorker)
    code = run.run_worker(settings, stderr)
    assert code == 3
    assert stderr.getvalue() == (
        "stream-sentinel: the Kafka brokers failed the worker: KafkaTimeoutError: no broker answered\n"
    )
