"""``stream-sentinel replay``, ``capture`` and ``rewind``: the commands that read a live cluster.

The aiokafka shell (``stream_sentinel.replay``) is imported only when one of them runs, so
``check`` and ``diff`` never import aiokafka. Broker
connection settings (bootstrap servers, SSL/SASL) come from the same ``Settings`` as the
worker: ``SENTINEL_*`` variables and ``--config FILE``, with ``--bootstrap`` on top.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TextIO, cast

import yaml

from stream_sentinel.cli.common import spec_default as spec_default_dir
from stream_sentinel.cli.common import spec_default_text
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.contracts import yamlsafe
from stream_sentinel.core.errors import UsageError
from stream_sentinel.core.ranges import End, Start, parse_time

COMMANDS = ("replay", "capture", "rewind")
FORMATS = ("table", "json", "markdown", "jsonl")
_JOB_KEYS = {
    "topics",
    "partitions",
    "from",
    "to",
    "spec",
    "against",
    "format",
    "output",
    "examples",
    "min_severity",
    "rules",
    "warm_up_from",
}


#: Options whose value may start with "-" (relative times like -2h), which argparse would take
#: for an option; ``join_time_values`` turns ``--from-time -2h`` into ``--from-time=-2h``.
_TIME_OPTIONS = ("--from-time", "--to-time", "--to-datetime", "--warm-up-from", "--since", "--until", "--now")


def join_time_values(argv: Sequence[str]) -> list[str]:
    """Let ``--from-time -2h`` parse: join a time option with a following value that starts with "-"."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _TIME_OPTIONS and i + 1 < len(args) and args[i + 1].startswith("-") and args[i + 1][1:2].isdigit():
            out.append(f"{arg}={args[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``replay``, ``capture`` and ``rewind``."""
    spec_source = spec_default_text()
    for command in (
        _add_replay(sub, stdout, spec_source),
        _add_capture(sub, stdout),
        _add_rewind(sub, stdout, spec_source),
    ):
        command.set_defaults(run=run)


def _add_replay(sub: Any, stdout: TextIO, spec_source: str) -> argparse.ArgumentParser:
    replay: argparse.ArgumentParser = sub.add_parser(
        "replay",
        help="re-validate a topic range against the contracts (and a candidate set with --against)",
        description="Read a range of a topic with assign+seek (no consumer group, no commits) and validate every "
        "message with the same core as the worker. With --against, validate against both contract sets and report "
        "what the candidate newly breaks, fixes and leaves unchanged. Exit 0 no drift (with --against: nothing newly "
        "broken), 1 drift, 2 usage or spec error, 3 broker error.",
        stdout=stdout,
    )
    replay.add_argument("--job", metavar="FILE", help="a replay job (YAML); options given here override it")
    _range_options(replay)
    replay.add_argument("--spec", help=f"contracts to check against (default: the --job's spec, else {spec_source})")
    replay.add_argument("--against", metavar="DIR2", help="candidate contracts: report what they newly break or fix")
    replay.add_argument("--format", choices=FORMATS, help="report format (default table)")
    replay.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    replay.add_argument(
        "--publish", action="store_true", help="also publish the drift events (origin replay, with a run id)"
    )
    replay.add_argument("--drift-topic", help="topic for --publish (default: the drift_topic setting)")
    replay.add_argument("--examples", type=int, help="examples kept per rule (default 3)")
    replay.add_argument("--min-severity", choices=tuple(d.SEVERITY_RANK), help="ignore drift below this severity")
    replay.add_argument("--raw-prefix", type=int, default=0, help="show N leading bytes of undecodable messages")
    replay.add_argument(
        "--max-violations",
        type=int,
        metavar="N",
        help="violations listed per message, the rest counted in one overflow (default: the "
        "max_violations_per_message setting, 100)",
    )
    replay.add_argument(
        "--max-payload-bytes",
        type=int,
        metavar="N",
        help="larger payloads are reported as 'oversized', not decoded (default: the max_payload_bytes setting, "
        "16 MiB)",
    )
    replay.add_argument(
        "--sample",
        action="store_true",
        help="apply the catalog's sample_rate per topic, by partition/offset exactly as the worker does "
        "(to compare with live drift); default: check every message",
    )
    replay.add_argument(
        "--warm-up-from",
        metavar="START",
        help="read from START (earliest, an offset N, or a TIME like --from-time) up to the range's start first, "
        "feeding the behavioural rules only (no report, no drift events): entities then have a known past",
    )
    replay.add_argument(
        "--no-rules",
        action="store_true",
        help="contracts only: do not judge the catalog's behavioural rules (rules:)",
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    return replay


def _add_capture(sub: Any, stdout: TextIO) -> argparse.ArgumentParser:
    capture: argparse.ArgumentParser = sub.add_parser(
        "capture",
        help="write a topic range as kcat -J JSON lines (tomorrow's golden test)",
        description="Read a range like replay does and write each record as a kcat -J compatible JSON line "
        "(binary payloads base64 with payload_encoding). Exit 0, 2 usage error, 3 broker error.",
        stdout=stdout,
    )
    _range_options(capture)
    capture.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    capture.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    return capture


def _add_rewind(sub: Any, stdout: TextIO, spec_source: str) -> argparse.ArgumentParser:
    rewind: argparse.ArgumentParser = sub.add_parser(
        "rewind",
        help="reset the worker's consumer group offsets: plan by default, apply with --execute",
        description="Move the committed offsets of the worker's consumer group, like kafka-consumer-groups "
        "--reset-offsets: the plan is printed and nothing changes unless --execute is given. --execute is refused "
        "(exit 2) while the group has active members. Exit 0 planned or done, 2 usage error or active group, 3 broker "
        "error (including a time lookup the record timestamps contradict).",
        stdout=stdout,
    )
    _connection_options(rewind)
    rewind.add_argument("--group", help="consumer group (default: the app_id setting, i.e. the worker's group)")
    rewind.add_argument(
        "--topic", action="append", default=[], help="topic to move (repeatable; default: the catalog's topics)"
    )
    rewind.add_argument("--spec", help=f"contracts dir whose topics are moved by default (default {spec_source})")
    to = rewind.add_mutually_exclusive_group(required=True)
    to.add_argument(
        "--to-time",
        "--to-datetime",
        dest="to_time",
        metavar="TIME",
        help="first offset at or after TIME: ISO-8601 (2026-11-21T14:00:00.000; UTC without an offset) or -2h",
    )
    to.add_argument("--to-offset", type=int, metavar="N", help="offset N in every partition (clamped to the log)")
    to.add_argument("--to-earliest", action="store_true", help="the log start")
    to.add_argument("--to-latest", action="store_true", help="the log end (skip everything)")
    to.add_argument(
        "--by",
        "--shift-by",
        dest="by",
        type=int,
        metavar="N",
        help="shift by N (negative: re-read N messages per partition)",
    )
    mode = rewind.add_mutually_exclusive_group()
    mode.add_argument("--execute", action="store_true", help="apply the plan (default: print it only)")
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (the default; kept for scripts)")
    return rewind


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", dest="bootstrap_servers", help="Kafka bootstrap servers, host:port[,...]")
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (connection and security settings)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the brokers before exit 3 (default 10)"
    )


def _range_options(parser: argparse.ArgumentParser) -> None:
    _connection_options(parser)
    parser.add_argument("--topic", action="append", default=[], help="topic to read (repeatable)")
    parser.add_argument(
        "--partition", action="append", type=int, default=[], help="partition (repeatable; default all)"
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-offset", type=int, metavar="N", help="start at offset N in each partition")
    start.add_argument("--from-time", metavar="TIME", help="start at TIME: ISO-8601 or relative (-2h, -30m, -7d)")
    start.add_argument("--last", type=int, metavar="N", help="the last N messages of each partition")
    end = parser.add_mutually_exclusive_group()
    end.add_argument("--to-offset", type=int, metavar="N", help="stop before offset N (exclusive)")
    end.add_argument("--to-time", metavar="TIME", help="stop before the first message at or after TIME")


def _job(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            loaded = yamlsafe.load(handle.read())
    except OSError as exc:
        raise UsageError(f"cannot read job {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(loaded, dict):
        raise UsageError(f"{path}: a replay job is a mapping (topics, from, to, spec, against, ...)")
    unknown = sorted(set(loaded) - _JOB_KEYS)
    if unknown:
        raise UsageError(f"{path}#/{unknown[0]}: unknown key (known: {', '.join(sorted(_JOB_KEYS))})")
    return loaded


def _bound(value: Any, where: str, now_ms: int, allowed: tuple[str, ...]) -> tuple[str, int] | None:
    """A job's ``from``/``to``: ``earliest``/``end`` or a one-key mapping like ``{time: -2h}``."""
    if value is None or value in ("earliest", "end"):
        return None
    if not (isinstance(value, dict) and len(value) == 1):
        raise UsageError(f"{where}: expected one of {', '.join(allowed)} as a one-key mapping, e.g. {{time: -2h}}")
    [(kind, raw)] = value.items()
    if kind not in allowed:
        raise UsageError(f"{where}/{kind}: unknown bound (use {', '.join(allowed)})")
    if kind == "time":
        return kind, parse_time(str(raw), now_ms)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise UsageError(f"{where}/{kind}: must be an integer")
    return kind, raw


def _range(args: argparse.Namespace, job: dict[str, Any], job_path: str, now_ms: int) -> tuple[Any, ...]:
    from stream_sentinel.replay.run import Range

    topics = tuple(args.topic) or tuple(_strings(job.get("topics"), f"{job_path}#/topics"))
    if not topics:
        raise UsageError("give at least one --topic (or topics: in the job)")
    partitions = tuple(args.partition) or tuple(_ints(job.get("partitions"), f"{job_path}#/partitions"))
    start, end = Start(), End()
    if args.from_offset is not None:
        start = Start("offset", args.from_offset)
    elif args.from_time is not None:
        start = Start("time", parse_time(args.from_time, now_ms))
    elif args.last is not None:
        start = Start("last", args.last)
    elif (found := _bound(job.get("from"), f"{job_path}#/from", now_ms, ("offset", "time", "last"))) is not None:
        start = Start(found[0], found[1])  # type: ignore[arg-type]
    if args.to_offset is not None:
        end = End("offset", args.to_offset)
    elif args.to_time is not None:
        end = End("time", parse_time(args.to_time, now_ms))
    elif (found := _bound(job.get("to"), f"{job_path}#/to", now_ms, ("offset", "time"))) is not None:
        end = End(found[0], found[1])  # type: ignore[arg-type]
    return (Range(topics, partitions, start, end),)


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise UsageError(f"{where}: expected a topic name or a list of them")


def _ints(value: Any, where: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    raise UsageError(f"{where}: expected a list of partition numbers")


def _settings(args: argparse.Namespace) -> Any:
    from stream_sentinel.config import Settings

    overrides = {"bootstrap_servers": args.bootstrap_servers} if args.bootstrap_servers else {}
    return Settings.load(args.config, **overrides)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Run one of the three commands; SentinelErrors propagate to the main CLI (one line, exit code)."""
    spec_default = spec_default_dir()
    from stream_sentinel.replay.run import Connection

    now_ms = round(time.time() * 1000)
    # aiokafka logs connection failures with tracebacks; ours is the one line the user needs.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    settings = _settings(args)
    # --timeout bounds every wait on the brokers, including a broker lost in the middle of a read.
    connection = Connection(settings.aiokafka_kwargs(), timeout=args.timeout, stall_timeout=args.timeout)
    if args.command == "rewind":
        return _rewind(args, settings, connection, stdout, now_ms, spec_default)
    job_path = getattr(args, "job", None) or ""
    job = _job(job_path) if job_path else {}
    (what,) = _range(args, job, job_path, now_ms)
    if args.command == "capture":
        return _capture(args, what, connection, stdout, stderr)
    return _replay(args, job, what, connection, settings, stdout, stderr, spec_default)


def _interactive(stream: TextIO, args: argparse.Namespace) -> bool:
    return not args.no_progress and stream.isatty()


@contextlib.contextmanager
def _output(path: str | None, binary: bool) -> Iterator[IO[Any] | None]:
    """The ``--output`` file, written so that a failed run never destroys anything.

    A regular (or new) file is written to a temporary sibling and renamed into place only when
    the command succeeds, so an earlier report survives a failed replay. Anything else that
    exists at the path (``/dev/null``, a FIFO, a terminal) is written to directly and never
    removed. Write failures (a full disk) become one-line usage errors, exit 2.
    """
    if path is None:
        yield None
        return
    target = Path(path)
    direct = target.exists() and not target.is_file()
    staging = target if direct else target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        handle = open(staging, "wb" if binary else "w", encoding=None if binary else "utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        try:
            yield handle
        finally:
            handle.close()
        if not direct:
            os.replace(staging, target)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if not direct:
            staging.unlink(missing_ok=True)


def _capture(args: argparse.Namespace, what: Any, connection: Any, stdout: TextIO, stderr: TextIO) -> int:
    from stream_sentinel.replay.run import capture

    with _output(args.output, binary=True) as handle:
        out: Any = handle if handle is not None else getattr(stdout, "buffer", None)
        if out is None:  # an in-process text stream (tests): encode through it
            out = _TextSink(stdout)
        code = asyncio.run(capture(what, connection, out, stderr, progress=_interactive(stderr, args)))
    _written(args.output, "capture", stderr)
    return code


def _written(path: str | None, what: str, stderr: TextIO) -> None:
    """One stderr line saying where ``--output`` went (stdout carries nothing to say it)."""
    if path is not None:
        stderr.write(f"stream-sentinel: {what} written to {path}\n")


class _TextSink:
    """Bytes-to-text adapter for in-process callers whose stdout has no ``buffer``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, data: bytes) -> int:
        return self.out.write(data.decode("utf-8"))


def job_label(args: argparse.Namespace) -> str:
    """``job.yaml#/`` when the job file may be the source of a bad value (for error messages)."""
    return f"{args.job}#/" if getattr(args, "job", None) else ""


def _replay(
    args: argparse.Namespace,
    job: dict[str, Any],
    what: Any,
    connection: Any,
    settings: Any,
    stdout: TextIO,
    stderr: TextIO,
    spec_default: str,
) -> int:
    from stream_sentinel.core.check.validate import load_engine
    from stream_sentinel.registry import inline
    from stream_sentinel.replay.run import ReplayOptions, replay

    spec, against, fmt, examples, min_severity = _job_options(args, job, spec_default)
    # Load (and fully check) both contract sets before touching the broker: a bad spec is exit 2.
    limits = _limits(args, settings)
    engines = (
        load_engine(str(spec), **limits),
        load_engine(str(against), **limits) if against else None,
    )
    for engine in engines:
        if engine is not None:
            inline(engine, settings)  # unmapped schema ids: fetched when first seen (registry.py)
    options = ReplayOptions(
        spec=str(spec),
        against=str(against) if against else None,
        output_format=fmt,
        examples=int(examples),
        min_severity=min_severity,
        raw_prefix=args.raw_prefix,
        publish_topic=(args.drift_topic or settings.drift_topic) if args.publish else None,
        sample=args.sample,
        rules_max_entities=settings.rules_max_entities,
        rules=not args.no_rules and _job_flag(job, "rules", getattr(args, "job", None) or "job.yaml"),
        warm_up=warm_up_start(
            args.warm_up_from
            if args.warm_up_from is not None
            else _job_text(job, "warm_up_from", getattr(args, "job", None) or "job.yaml"),
            what.start,
            round(time.time() * 1000),
        ),
    )
    output = args.output or job.get("output")
    with _output(str(output) if output else None, binary=False) as handle:
        code = asyncio.run(
            replay(
                what,
                connection,
                options,
                engines,
                cast("TextIO", handle) if handle is not None else stdout,
                stderr,
                progress=_interactive(stderr, args),
            )
        )
    _written(str(output) if output else None, f"{fmt} report", stderr)
    return code


def _job_flag(job: dict[str, Any], key: str, where: str) -> bool:
    """A true/false key of the job (default true)."""
    value = job.get(key, True)
    if not isinstance(value, bool):
        raise UsageError(f"{where}#/{key}: must be true or false")
    return value


def _job_text(job: dict[str, Any], key: str, where: str) -> str | None:
    """A bound given as text or an integer in the job (``warm_up_from: -2h`` / ``earliest`` / ``120``)."""
    value = job.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UsageError(f"{where}#/{key}: must be earliest, an offset or a time")
    return str(value)


def warm_up_start(text: str | None, start: Start, now_ms: int) -> Start | None:
    """``--warm-up-from``: ``earliest``, an offset or a time; it must lie before the range's start."""
    if text is None:
        return None
    value = text.strip()
    warm = Start() if value == "earliest" else Start("offset", int(value)) if value.isdigit() else None
    if warm is None:
        warm = Start("time", parse_time(value, now_ms))
    if start.kind == "earliest":
        raise UsageError(
            "--warm-up-from: the range starts at the earliest offset already; give --from-offset, --from-time or --last"
        )
    if warm.kind == start.kind and warm.kind in ("offset", "time") and warm.value >= start.value:
        raise UsageError(f"--warm-up-from {text}: must be before the range's start ({start.describe()})")
    return warm


def _job_options(args: argparse.Namespace, job: dict[str, Any], spec_default: str) -> tuple[Any, Any, str, Any, str]:
    """Spec, candidate spec, format, examples and severity floor: the options first, then the job."""
    spec = args.spec or job.get("spec") or spec_default
    against = args.against or job.get("against")
    fmt = args.format or job.get("format") or "table"
    if fmt not in FORMATS:
        raise UsageError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    examples = args.examples if args.examples is not None else job.get("examples", 3)
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 0:
        raise UsageError(f"{job_label(args)}examples: must be a count of 0 or more, not {examples!r}")
    min_severity = args.min_severity or job.get("min_severity") or d.INFO
    if min_severity not in d.SEVERITY_RANK:
        raise UsageError(f"min_severity {min_severity!r}: use one of {', '.join(d.SEVERITY_RANK)}")
    if fmt == "jsonl" and against:
        raise UsageError(
            "--format jsonl lists drift events of one contract set; use table, json or markdown with --against"
        )
    return spec, against, fmt, examples, min_severity


def _limits(args: argparse.Namespace, settings: Any) -> dict[str, int]:
    """The per-message bounds: the options, else the settings."""
    cap = args.max_violations if args.max_violations is not None else settings.max_violations_per_message
    if cap < 1:
        raise UsageError(f"--max-violations {cap}: must be at least 1")
    size = args.max_payload_bytes if args.max_payload_bytes is not None else settings.max_payload_bytes
    if size < 1:
        raise UsageError(f"--max-payload-bytes {size}: must be at least 1")
    return {"max_violations_per_message": cap, "max_payload_bytes": size}


def _rewind(
    args: argparse.Namespace, settings: Any, connection: Any, stdout: TextIO, now_ms: int, spec_default: str
) -> int:
    from stream_sentinel.replay.rewind import rewind

    target = rewind_target(args, now_ms)
    group = args.group or settings.app_id
    topics, explicit = tuple(args.topic), bool(args.topic)
    if not explicit:
        from stream_sentinel.core.check.validate import load_engine

        catalog = load_engine(args.spec or spec_default).catalog
        topics = tuple(t for t in sorted(catalog.topics) if t != settings.drift_topic)
    return asyncio.run(
        rewind(group, topics, target, connection.kwargs, connection.timeout, args.execute, stdout, explicit=explicit)
    )


def rewind_target(args: argparse.Namespace, now_ms: int) -> Any:
    """The rewind target the options name (``--to-datetime`` and ``--shift-by`` are Kafka's names)."""
    from stream_sentinel.replay.rewind import Target

    if args.to_time is not None:
        return Target("time", parse_time(args.to_time, now_ms))
    if args.to_offset is not None:
        if args.to_offset < 0:
            raise UsageError("--to-offset must be 0 or more")
        return Target("offset", args.to_offset)
    if args.to_earliest:
        return Target("earliest")
    if args.to_latest:
        return Target("latest")
    return Target("by", args.by)


__all__ = ["COMMANDS", "add_parser", "join_time_values", "rewind_target", "run", "warm_up_start"]
