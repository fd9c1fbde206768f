"""Operational failures.

Validation failures are data (``Violation`` values), never exceptions. Exceptions are reserved
for things an operator must fix: a broken spec, an unreachable broker, a bad command line. They all
derive from ``SentinelError`` so shells can turn them into one-line messages and exit codes
without ever printing a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stream_sentinel.core.exits import EXIT_BROKER, EXIT_DRIFT, EXIT_USAGE


class SentinelError(Exception):
    """Root of every operational error stream-sentinel raises on purpose."""

    exit_code = EXIT_DRIFT


class SpecError(SentinelError):
    """The catalog or a schema is unusable; nothing is started.

    Carries the file (relative to the spec dir) and a JSON pointer into it so the message points
    at the exact place to fix, as ``file#/pointer: cause``.
    """

    exit_code = EXIT_USAGE

    def __init__(self, file: str, pointer: str, cause: str) -> None:
        self.file = file
        self.pointer = pointer
        self.cause = cause
        super().__init__(f"{file}#{pointer}: {cause}")


class UsageError(SentinelError):
    """The command line or an input file is not usable as given."""

    exit_code = EXIT_USAGE


class BrokerError(SentinelError):
    """The Kafka cluster cannot be reached or refused the request."""

    exit_code = EXIT_BROKER


class OutputClosed(Exception):  # noqa: N818 - a condition, not a fault: the reader went away
    """The reader of the output went away (``... | head``) after the command knew its result.

    Not a ``SentinelError``: nothing is wrong and nothing is printed. It carries the exit code
    the command had earned when its output was cut, so ``set -o pipefail`` pipelines still see
    drift: a streamed drift event that could not be written is drift all the same.
    """

    def __init__(self, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(f"output closed (exit {exit_code})")


@contextmanager
def output_closed_means(exit_code: int) -> Iterator[None]:
    """Turn a ``BrokenPipeError`` raised by writes in the block into ``OutputClosed(exit_code)``."""
    try:
        yield
    except BrokenPipeError as exc:
        raise OutputClosed(exit_code) from exc
