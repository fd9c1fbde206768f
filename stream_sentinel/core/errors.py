"""Operational failures.

Validation failures are data (``Violation`` values), never exceptions. Exceptions are reserved
for things an operator must fix: a broken spec, an unreachable broker, a bad command line. They all
derive from ``SentinelError`` so shells can turn them into one-line messages and exit codes
without ever printing a traceback.
"""

from __future__ import annotations


class SentinelError(Exception):
    """Root of every operational error stream-sentinel raises on purpose."""

    exit_code = 1


class SpecError(SentinelError):
    """The catalog or a schema is unusable; nothing is started.

    Carries the file (relative to the spec dir) and a JSON pointer into it so the message points
    at the exact place to fix, as ``file#/pointer: cause``.
    """

    exit_code = 2

    def __init__(self, file: str, pointer: str, cause: str) -> None:
        self.file = file
        self.pointer = pointer
        self.cause = cause
        super().__init__(f"{file}#{pointer}: {cause}")


class UsageError(SentinelError):
    """The command line or an input file is not usable as given."""

    exit_code = 2


class BrokerError(SentinelError):
    """The Kafka cluster cannot be reached or refused the request."""

    exit_code = 3
