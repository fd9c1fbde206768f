"""What every command shares: the parser that reports through our streams, the --spec default, inputs.

``Parser`` turns argparse's ``sys.exit`` into exit codes and its errors into one ``UsageError``
line naming the subcommand, so ``run`` can be called in-process by tests with their own streams.
"""

from __future__ import annotations

import argparse
import os
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

from stream_sentinel.core.errors import UsageError

DEFAULT_SPEC_DIR = "spec/events"


class Parser(argparse.ArgumentParser):
    """argparse that reports through our streams and exit codes instead of ``sys.exit``."""

    def __init__(self, *args: Any, stdout: TextIO, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stdout = stdout

    def error(self, message: str) -> NoReturn:
        """One line naming the (sub)command and ending with its usage; ``run`` adds ``stream-sentinel:``.

        Errors are one line everywhere (grep-able, one log record), so argparse's wrapped usage is
        joined into it.
        """
        command = self.prog.removeprefix("stream-sentinel").strip()
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        raise UsageError(f"{command + ': ' if command else ''}{message}; usage: {usage}")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:  # noqa: ARG002 - ours
        if message:
            self._stdout.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """``--help``/``--version`` end here: the text goes to our stdout, ``run`` returns the status."""
        if message:
            self._stdout.write(message)
        raise SystemExit(status)


def spec_default() -> str:
    """The ``--spec`` default in effect: ``$SENTINEL_SPEC_DIR``, else ``spec/events``."""
    return os.environ.get("SENTINEL_SPEC_DIR", DEFAULT_SPEC_DIR)


def spec_default_text() -> str:
    """The ``--spec`` default as help shows it: the effective value, and where it comes from."""
    env = os.environ.get("SENTINEL_SPEC_DIR")
    if env:
        return f"{env}, from $SENTINEL_SPEC_DIR"
    return f"{DEFAULT_SPEC_DIR}; $SENTINEL_SPEC_DIR overrides it"


def open_input(path: str, stdin: IO[bytes]) -> IO[bytes]:
    """The input file, or ``stdin`` for ``-``; an unreadable file is a one-line usage error."""
    if path == "-":
        return stdin
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value
