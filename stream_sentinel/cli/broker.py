"""``stream-sentinel broker``: the embedded dev broker in the foreground, printing its address.

For trying the worker, ``replay`` or ``capture`` by hand without a Kafka install. The broker needs
the ``embedded`` extra; it is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, Any, TextIO


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``broker``."""
    broker = sub.add_parser(
        "broker",
        help="run the embedded dev broker (Tansu) in the foreground and print its address",
        description="Start the embedded Kafka-protocol broker the demo and the tests use (Tansu, in memory) on "
        "127.0.0.1 and keep it running until Ctrl-C or SIGTERM. The first line on stdout is bootstrap=HOST:PORT; "
        "stderr says how to run a worker against it. For trying things by hand, not for production. "
        "Exit 0 after Ctrl-C/SIGTERM, 3 if it cannot start (e.g. the port is taken).",
        stdout=stdout,
    )
    broker.add_argument("--port", type=port, help="port to listen on (default: a free one)")
    broker.add_argument(
        "--log", type=Path, metavar="FILE", help="append the broker's own output to FILE (default: discarded)"
    )
    broker.set_defaults(run=run)


def port(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {text!r}")
    return value


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Serve until Ctrl-C or SIGTERM; exit 0, or 3 when the broker cannot start."""
    from stream_sentinel.embedded import serve

    return serve(args.port, args.log, stdout, stderr)
