"""``stream-sentinel dashboard``: the worker's drift dashboard, served alone (no worker, no Faust).

The same reader and page as the worker's ``/`` (``stream_sentinel.dashboard``) over a small
aiohttp server: for people who only want the page. Exit 2 on a usage or spec error (or a port
that cannot be bound), 3 when the brokers do not answer at start (one line); Ctrl-C stops it
cleanly (exit 0). Once running, a broker failure is shown on the page, never an exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from typing import IO, Any, Final, TextIO

from stream_sentinel.cli.common import spec_default, spec_default_text
from stream_sentinel.core.errors import UsageError
from stream_sentinel.core.exits import EXIT_OK

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, None: 1}


def duration(text: str) -> float:
    """``--lookback``: ``6h``, ``90m``, ``2d``, ``1w`` or seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 6h, 90m, 2d or 3600")
    return float(match.group(1)) * _UNIT[match.group(2)]


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``dashboard``."""
    dashboard: argparse.ArgumentParser = sub.add_parser(
        "dashboard",
        help="serve the live drift dashboard of the whole cluster (the worker's / page) without a worker",
        description="Read the drift topic (no consumer group) from --lookback ago on, follow it, and serve the drift "
        "dashboard at http://HOST:PORT/: per topic status, rates, trend, the rules that fire, coverage and affected "
        "consumers; the page reloads itself. Exit 2 usage or spec error, 3 brokers unreachable at start; Ctrl-C "
        "stops it.",
        stdout=stdout,
    )
    dashboard.add_argument("--bootstrap", dest="bootstrap_servers", help="Kafka bootstrap servers, host:port[,...]")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=6067, help="port to listen on (default 6067)")
    dashboard.add_argument("--spec", help=f"contracts, for coverage and owners (default {spec_default_text()})")
    dashboard.add_argument("--drift-topic", help="the drift topic (default: the drift_topic setting)")
    dashboard.add_argument(
        "--lookback", type=duration, help="how far back the page reaches: 6h, 90m, 2d (default: dashboard_lookback, 6h)"
    )
    dashboard.add_argument("--config", metavar="FILE", help="YAML settings file (connection and dashboard settings)")
    dashboard.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the brokers at start before exit 3 (default 10)",
    )
    dashboard.set_defaults(run=run)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Check the spec and the brokers, then serve until Ctrl-C; SentinelErrors become one line (cli.run)."""
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} is not a port (1-65535)")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    from stream_sentinel.config import Settings
    from stream_sentinel.core.check.validate import load_engine
    from stream_sentinel.core.health.aggregate import contracts_of

    overrides: dict[str, Any] = {"bootstrap_servers": args.bootstrap_servers} if args.bootstrap_servers else {}
    if args.lookback is not None:
        overrides["dashboard_lookback"] = args.lookback
    if args.drift_topic:
        overrides["drift_topic"] = args.drift_topic
    settings = Settings.load(args.config, **overrides)
    catalog = load_engine(args.spec or spec_default()).catalog  # a bad spec is exit 2, before the brokers
    # aiokafka logs connection failures with tracebacks; ours is the one line the user needs.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)
    return asyncio.run(_serve(settings, contracts_of(catalog, exclude=(settings.drift_topic,)), args, stdout))


async def _serve(settings: Any, contracts: Any, args: argparse.Namespace, stdout: TextIO) -> int:
    from stream_sentinel.dashboard.page import Dashboard, DashboardConfig
    from stream_sentinel.dashboard.server import serve
    from stream_sentinel.kafkaio import consumer

    config = DashboardConfig.from_settings(settings, timeout=args.timeout)
    async with consumer(config.kwargs, args.timeout):  # unreachable brokers: BrokerError, exit 3
        pass
    try:
        await serve(Dashboard(config, contracts), args.host, args.port, stdout)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    stdout.write("dashboard stopped\n")
    return EXIT_OK
