"""The ``stream-sentinel`` command.

``run(argv, stdin, stdout, stderr)`` is the whole CLI, so tests drive it in-process; ``main`` is
the console-script shim. Each command lives in its own module with ``add_parser(subparsers,
stdout)`` and ``run(args, stdin, stdout, stderr) -> int``; exit codes are in ``core.exits``.
Operational errors (``SentinelError``) become one line on stderr and their exit code, never a
traceback.

Exit codes (documented in the README):
  0  no drift                      1  drift found
  2  usage or spec error           3  broker or connection error
  10 diff: additive changes only   20 diff: breaking changes
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, TextIO

from stream_sentinel import __version__
from stream_sentinel.cli import broker, check, dashboard, demo, diff, probe, registry, replay, report, spec, worker
from stream_sentinel.cli.common import Parser
from stream_sentinel.core.errors import OutputClosed, SentinelError
from stream_sentinel.core.exits import EXIT_INTERRUPTED, EXIT_OK

#: Registration order is the order ``--help`` lists the commands in.
COMMANDS = (check, spec, worker, diff, demo, broker, replay, report, dashboard, registry, probe)


def build_parser(stdout: TextIO) -> Parser:
    """The ``stream-sentinel`` parser with every command registered."""
    parser = Parser(
        prog="stream-sentinel",
        description="Kafka contract-drift sentinel: validate events against the contracts in spec/events/.",
        stdout=stdout,
    )
    parser.add_argument("--version", action="version", version=f"stream-sentinel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    parser.set_defaults(subparsers=sub)
    for command in COMMANDS:
        command.add_parser(sub, stdout)
    return parser


def run(argv: Sequence[str], stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:
    """Run the CLI with explicit streams; returns the exit code."""
    try:
        parser = build_parser(stdout)
        try:
            args, extras = parser.parse_known_args(replay.join_time_values(argv))
            if extras:  # argparse blames the main parser; the subcommand's usage is what helps
                args.subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(extras)}")
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        code: int = args.run(args, stdin, stdout, stderr)
        return code
    except SentinelError as exc:
        stderr.write(f"stream-sentinel: {exc}\n")
        return exc.exit_code
    except OutputClosed as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        stderr.write("stream-sentinel: interrupted\n")
        return EXIT_INTERRUPTED


def main() -> None:
    """Console-script entry point."""
    code = EXIT_OK
    try:
        code = run(sys.argv[1:], sys.stdin.buffer, sys.stdout, sys.stderr)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error worth a traceback. The exit code the
        # command returned (or carried in OutputClosed) stands; a command that writes no verdict
        # (spec, capture, kinds) exits 0. Point stdout at /dev/null so the interpreter's final
        # flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)
