"""``stream-sentinel worker``: run the Faust worker with settings from the environment, a file and options.

Faust and the settings model are imported only when the command runs, so ``check`` and ``diff``
start without them.
"""

from __future__ import annotations

import argparse
from typing import IO, Any, TextIO

import orjson

from stream_sentinel.core.exits import EXIT_OK


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``worker``."""
    worker = sub.add_parser(
        "worker",
        help="run the sentinel worker (a Faust app) against a Kafka cluster",
        description="Validate live topics, keep windowed drift tables and publish drift events. Settings come "
        "from SENTINEL_* environment variables and an optional YAML file; the options below override both. "
        "Exit 0 after a clean stop, 2 on a bad spec or settings.",
        stdout=stdout,
    )
    worker.add_argument("--config", metavar="FILE", help="YAML settings file (default: $SENTINEL_CONFIG)")
    worker.add_argument("--spec", dest="spec_dir", help="contracts dir (setting spec_dir)")
    worker.add_argument("--bootstrap", dest="bootstrap_servers", help="Kafka bootstrap servers, host:port[,...]")
    worker.add_argument("--alert-mode", choices=("every", "first", "summary"), help="setting alert_mode")
    worker.add_argument("--web-port", type=int, help="HTTP port for /health, /ready, /metrics, /drift")
    worker.add_argument("--without-web", dest="web_enabled", action="store_const", const=False, help="no HTTP server")
    worker.add_argument("--print-settings", action="store_true", help="print the settings (secrets masked) and exit")

    worker.set_defaults(run=run)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Print the settings, or run the worker until it stops; returns its exit code."""
    from stream_sentinel.config import Settings

    names = ("spec_dir", "bootstrap_servers", "alert_mode", "web_port", "web_enabled")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    settings = Settings.load(args.config, **overrides)
    if args.print_settings:
        stdout.write(orjson.dumps(settings.describe(), option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
        return EXIT_OK
    from stream_sentinel.worker.run import run_worker

    return run_worker(settings, stderr)
