"""``stream-sentinel report``: the drift health report of the whole cluster over a period.

Reads the drift topic (every worker's drift events, window summaries and traffic records) for
``--since``/``--until`` and writes the health model (``core.health``) as Markdown (an issue
body), HTML (one self-contained page) or JSON (documented in the README). ``--input`` reads a
recorded drift topic (a ``capture`` file or JSON lines) instead of the brokers. Exit 0 without
open breaking drift, 1 with it, 2 usage or spec error, 3 broker error: a weekly CI job files the
report as an issue on exit 1 (README).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time
from typing import IO, Any, TextIO

import orjson

from stream_sentinel.cli.common import open_input, positive, spec_default, spec_default_text
from stream_sentinel.core.capture import read_capture
from stream_sentinel.core.errors import UsageError
from stream_sentinel.core.health import model as m
from stream_sentinel.core.health.aggregate import HealthAggregator, contracts_of
from stream_sentinel.core.health.render import FORMATS, render
from stream_sentinel.core.ranges import iso, parse_time

#: Records are published after the windows they describe: read this much past both ends.
SLACK_MS = 10 * 60_000
_BARE_DURATION = re.compile(r"^\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)$")


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``report``."""
    report: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="the drift health report of the cluster over a period (Markdown, HTML or JSON)",
        description="Read the drift topic for a period and write the drift health report: per topic status, "
        "rate and trend, open drift by requirement and owner, drift fixed in the period, coverage, affected "
        "consumers. Exit 0 no open breaking drift, 1 open breaking drift, 2 usage or spec error, 3 broker error.",
        stdout=stdout,
    )
    report.add_argument("--since", default="7d", help="period start: 7d, 24h (ago), -2h or ISO-8601 (default 7d)")
    report.add_argument("--until", default="now", help="period end (exclusive): now, -1d or ISO-8601 (default now)")
    report.add_argument(
        "--now", help="generate the report as of this ISO-8601 time (reproducible reports; default: the clock)"
    )
    report.add_argument("--format", choices=FORMATS, default="markdown", help="report format (default markdown)")
    report.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    report.add_argument("--spec", help=f"contracts, for coverage and owners (default {spec_default_text()})")
    report.add_argument("--drift-topic", help="the drift topic (default: the drift_topic setting)")
    report.add_argument(
        "--input", metavar="FILE", help="read a recorded drift topic (capture file or JSON lines; - for stdin)"
    )
    consumers = report.add_mutually_exclusive_group()
    consumers.add_argument(
        "--consumers",
        metavar="FILE",
        help="affected consumers per topic as JSON: {topic: [{group, past_first_drift, drifting_messages}]} "
        "(default: asked of the brokers' admin API for every topic with open drift)",
    )
    consumers.add_argument(
        "--no-consumers", action="store_true", help="do not ask the brokers which consumer groups read drifting topics"
    )
    report.add_argument(
        "--buckets",
        type=_buckets,
        default=24,
        help=f"trend buckets over the period (default 24, at most {MAX_BUCKETS})",
    )
    report.add_argument(
        "--open-windows",
        type=positive,
        default=3,
        metavar="N",
        help="a rule is fixed after N windows with traffic of its event type and without it (default 3)",
    )
    report.add_argument("--bootstrap", dest="bootstrap_servers", help="Kafka bootstrap servers, host:port[,...]")
    report.add_argument("--config", metavar="FILE", help="YAML settings file (connection and security settings)")
    report.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the brokers before exit 3 (default 10)"
    )
    report.set_defaults(run=run)


def moment(text: str, now_ms: int) -> int:
    """``--since``/``--until``: a bare duration (``7d``) means that long ago, else :func:`parse_time`."""
    value = text.strip()
    return parse_time(f"-{value}" if _BARE_DURATION.match(value) else value, now_ms)


#: Trend buckets at most: a sparkline of more columns than this shows nothing more.
MAX_BUCKETS = 1000


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:
    """Build the report; SentinelErrors propagate to the main CLI (one line, exit code)."""
    now_ms = round(time.time() * 1000)
    recorded = _read_file(args.input, stdin) if args.input else None
    if args.now is not None:
        now_ms = parse_time(args.now, now_ms)
    elif recorded and args.until == "now":
        # A recording is read as of its last record, not of today: a week recorded a month ago
        # would otherwise fall outside the default period and report nothing.
        latest = max((_latest(r) for r in recorded), default=0)
        if latest:
            now_ms = latest + 1
            stderr.write(
                f"stream-sentinel: reading a recording as of its last record ({iso(now_ms)}; --now to change)\n"
            )
    since, until = moment(args.since, now_ms), moment(args.until, now_ms)
    if until <= since:
        raise UsageError(f"--until {args.until} must be after --since {args.since}")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    settings = _settings(args)
    from stream_sentinel.core.check.validate import load_engine

    catalog = load_engine(args.spec or spec_default()).catalog  # a bad spec is exit 2, before the brokers
    drift_topic = args.drift_topic or settings.drift_topic
    period = m.Period(
        since,
        until,
        window_ms=round(settings.tumbling_window * 1000),
        buckets=args.buckets,
        open_windows=args.open_windows,
    )
    aggregator = HealthAggregator(
        period,
        contracts_of(catalog, exclude=(drift_topic,)),
        generated_at=now_ms,
        consumers=_consumers(args.consumers),
    )
    if recorded is not None:
        for record in recorded:
            aggregator.add(record)
    else:
        _read_broker(args, settings, drift_topic, period, aggregator.add)
        if args.consumers is None and not args.no_consumers:
            aggregator.set_consumers(_ask_consumers(args, settings, aggregator, stderr))
    report = aggregator.result()
    _write(render(report, args.format), args.output, stdout, stderr)
    return report.exit_code


def _settings(args: argparse.Namespace) -> Any:
    from stream_sentinel.config import Settings

    overrides = {"bootstrap_servers": args.bootstrap_servers} if args.bootstrap_servers else {}
    return Settings.load(args.config, **overrides)


def _read_broker(args: argparse.Namespace, settings: Any, topic: str, period: m.Period, add: Any) -> None:
    from stream_sentinel.replay.health import read_drift_topic
    from stream_sentinel.replay.run import Connection

    # aiokafka logs connection failures with tracebacks; ours is the one line the user needs.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)
    connection = Connection(settings.aiokafka_kwargs(), timeout=args.timeout, stall_timeout=args.timeout)
    asyncio.run(read_drift_topic(connection, topic, period.since, period.until, add, SLACK_MS))


def _ask_consumers(
    args: argparse.Namespace, settings: Any, aggregator: HealthAggregator, stderr: TextIO
) -> dict[str, list[m.ConsumerImpact]] | None:
    """Per topic with open drift, the consumer groups that read it and the drifting messages they consumed.

    The admin API may be denied where reading the drift topic is allowed (ACLs): the report is
    still worth having, so a failure here is one stderr line and "not collected", never exit 3.
    """
    from stream_sentinel.core.consumers import impacts
    from stream_sentinel.core.errors import BrokerError
    from stream_sentinel.kafkaio import group_offsets

    drifting = [t.topic for t in aggregator.result().topics if t.open_rules]
    own = settings.app_id

    async def ask() -> dict[str, list[m.ConsumerImpact]]:
        committed = await group_offsets(
            settings.aiokafka_kwargs(), drifting, args.timeout, skip=lambda group: group.startswith(own)
        )
        return {
            topic: [m.from_impact(i) for i in impacts(aggregator.drifting_offsets(topic), committed.get(topic, {}))]
            for topic in drifting
        }

    try:
        return asyncio.run(ask())
    except BrokerError as exc:
        stderr.write(f"stream-sentinel: affected consumers not collected: {exc}\n")
        return None


def _latest(record: Any) -> int:
    """The latest time a drift-topic record names (window end, message time, observation), or 0."""
    if not isinstance(record, dict):
        return 0
    window, source = record.get("window"), record.get("source")
    times = [record.get("observed_at")]
    if isinstance(window, dict):
        times.append(window.get("end"))
    if isinstance(source, dict):
        times.append(source.get("timestamp"))
    return max((t for t in times if type(t) is int), default=0)


def _read_file(path: str, stdin: IO[bytes]) -> list[Any]:
    """A recorded drift topic: kcat -J envelopes (``capture``) or the records themselves, one a line."""
    handle = open_input(path, stdin)
    try:
        lines = [line for line in handle if line.strip()]
    finally:
        if handle is not stdin:
            handle.close()
    if lines and _is_envelope(lines[0]):
        return [_json(message.value) for message in read_capture(lines)]
    return [_json(line) for line in lines]


def _is_envelope(line: bytes) -> bool:
    record = _json(line)
    return isinstance(record, dict) and "payload" in record and "topic" in record and "type" not in record


def _json(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _consumers(path: str | None) -> dict[str, list[m.ConsumerImpact]] | None:
    """``--consumers``: what the Kafka admin side found, per topic (None: not collected)."""
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            raw = orjson.loads(handle.read())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected an object of topic -> list of consumer groups")
    out: dict[str, list[m.ConsumerImpact]] = {}
    for topic, groups in raw.items():
        if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("group"), str) for g in groups
        ):
            raise UsageError(f"{path}#/{topic}: expected a list of {{group, past_first_drift, drifting_messages}}")
        out[topic] = [
            m.ConsumerImpact(
                g["group"],
                bool(g.get("past_first_drift")),
                _count(g.get("drifting_messages")),
                str(g.get("detail") or ""),
                _count(g.get("pending")),
            )
            for g in groups
        ]
    return out


def _count(value: Any) -> int | None:
    """A count from the consumers file: an integer, not a boolean (JSON ``true`` is not 1 message)."""
    return value if type(value) is int else None


def _buckets(text: str) -> int:
    """``--buckets``: 1 to :data:`MAX_BUCKETS` (each is a column of the trend, kept per topic)."""
    value = positive(text)
    if value > MAX_BUCKETS:
        raise argparse.ArgumentTypeError(f"at most {MAX_BUCKETS}, not {text!r}")
    return value


def _write(text: str, path: str | None, stdout: TextIO, stderr: TextIO) -> None:
    if path is None:
        stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    stderr.write(f"stream-sentinel: report written to {path}\n")
