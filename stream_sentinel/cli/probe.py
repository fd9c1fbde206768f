"""``stream-sentinel probe``: is the sentinel itself working? Drive two canaries, verify every surface.

The drive produces a valid and a drifting canary (built from the topic's contract, marked with the
``sentinel-probe`` header carrying a fresh run id) to a contracted topic; the verify steps check
that the drifting one's drift event arrived on the drift topic with the expected kind, path,
requirement and drift id, that the valid one drew none, that the worker's ``/metrics`` counted
both and that the alert sink got the alert (those two skip when not given). Output: table, JSON
or JUnit XML. Exit 0 every step passed or skipped, 1 a step failed, 2 usage or spec error, 3 the
brokers cannot be reached (one line).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import IO, Any, TextIO

from stream_sentinel.cli.common import spec_default, spec_default_text
from stream_sentinel.core import probe as p
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.errors import UsageError
from stream_sentinel.core.exits import EXIT_DRIFT, EXIT_OK


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``probe``."""
    probe: argparse.ArgumentParser = sub.add_parser(
        "probe",
        help="drive a canary through a running sentinel and verify every surface (drift topic, metrics, alerts)",
        description="Produce a valid and a drifting canary (header sentinel-probe: the run id) to a contracted "
        "topic, then verify: the drift event arrived with the expected kind, path, requirement and drift id; "
        "the valid canary drew none; the worker's /metrics counted both; the alert sink got the alert. Exit 0 "
        "all steps passed or skipped, 1 a step failed, 2 usage or spec error, 3 broker unreachable.",
        stdout=stdout,
    )
    probe.add_argument("--topic", required=True, help="a contracted (json) topic a worker consumes")
    probe.add_argument("--spec", help=f"contracts the worker runs (default {spec_default_text()})")
    probe.add_argument("--bootstrap", dest="bootstrap_servers", help="Kafka bootstrap servers, host:port[,...]")
    probe.add_argument("--config", metavar="FILE", help="YAML settings file (connection and security settings)")
    probe.add_argument("--drift-topic", help="the drift topic (default: the drift_topic setting)")
    probe.add_argument("--metrics-url", help="the worker's /metrics URL (step 3 skips without it)")
    probe.add_argument(
        "--alert-receiver", metavar="URL", help="a URL listing what the alert sink received (step 4 skips without it)"
    )
    probe.add_argument(
        "--examples",
        metavar="PATH",
        help="capture file or dir of example messages the canaries are built from (default replay/captures)",
    )
    probe.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the brokers and the drift event (default 30)"
    )
    probe.add_argument("--format", choices=tuple(p.RENDERERS), default="table", help="output format (default table)")
    probe.set_defaults(run=run)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Run one probe; SentinelErrors (usage, spec, broker) propagate to the main CLI as one line."""
    from stream_sentinel.config import Settings
    from stream_sentinel.prober import EXAMPLES, Target, probe

    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    # aiokafka logs connection failures with tracebacks; ours is the one line the user needs.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)
    overrides = {"bootstrap_servers": args.bootstrap_servers} if args.bootstrap_servers else {}
    settings = Settings.load(args.config, **overrides)
    engine = load_engine(args.spec or spec_default())
    target = Target(
        topic=args.topic,
        drift_topic=args.drift_topic or settings.drift_topic,
        kafka=settings.aiokafka_kwargs(),
        timeout=args.timeout,
        metrics_url=args.metrics_url,
        alert_receiver=args.alert_receiver,
        examples=Path(args.examples) if args.examples else EXAMPLES,
    )
    report = asyncio.run(probe(engine, target))
    stdout.write(p.RENDERERS[args.format](report))
    return EXIT_DRIFT if report.outcome == p.FAIL else EXIT_OK
