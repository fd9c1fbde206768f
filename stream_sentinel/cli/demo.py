"""``stream-sentinel demo``: the embedded broker, a producer with drift and the worker, on one machine."""

from __future__ import annotations

import argparse
from typing import IO, Any, TextIO

from stream_sentinel.cli.common import spec_default, spec_default_text


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``demo``."""
    spec_source = spec_default_text()
    demo = sub.add_parser(
        "demo",
        help="the whole thing on an embedded broker: producer with drift, worker, live drift table",
        description="Start the embedded Kafka-protocol broker (Tansu), a producer replaying the example captures "
        "(realistic events with some drift), and the worker; print drift events as they arrive. Ctrl-C stops "
        "everything.",
        stdout=stdout,
    )
    demo.add_argument("--spec", default=spec_default(), help=f"contracts dir (default {spec_source})")
    demo.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (default: run until Ctrl-C)"
    )
    demo.add_argument("--rate", type=float, default=25.0, help="messages per second to produce (default 25)")
    demo.add_argument("--alert-mode", choices=("every", "first", "summary"), default="first")
    demo.add_argument(
        "--window", type=float, default=10.0, help="tumbling window in seconds (default 10, to see summaries)"
    )
    demo.add_argument(
        "--produce-to",
        metavar="HOST:PORT",
        help="only produce the sample traffic to this running cluster's existing topics (no embedded broker, "
        "worker or table; what compose's `sample` profile runs)",
    )
    demo.set_defaults(run=run)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Run the demo until Ctrl-C or ``--duration``."""
    from stream_sentinel.worker.demo import run_demo, run_producer

    if args.produce_to:
        return run_producer(args.spec, args.produce_to, args.duration, args.rate, stdout)
    return run_demo(args.spec, args.duration, args.rate, args.alert_mode, args.window, stdout, stderr)
