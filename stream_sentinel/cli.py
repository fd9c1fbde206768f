"""The ``stream-sentinel`` command.

``run(argv, stdin, stdout, stderr)`` is the whole CLI, so tests drive it in-process; ``main`` is
the console-script shim. Operational errors (``SentinelError``) become one line on stderr and
their exit code, never a traceback.

Exit codes (documented in the README):
  0  no drift                      1  drift found
  2  usage or spec error           3  broker or connection error
  10 diff: additive changes only   20 diff: breaking changes
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

import orjson

from stream_sentinel import __version__
from stream_sentinel.core import drift as d
from stream_sentinel.core.capture import problem_outcome, read_capture
from stream_sentinel.core.errors import OutputClosed, SentinelError, UsageError, output_closed_means
from stream_sentinel.core.report import DriftReport
from stream_sentinel.core.spec import COMPATIBILITY_MODES, DEFAULT_DIALECT, DIALECT_URIS
from stream_sentinel.core.validate import DEFAULT_MAX_VIOLATIONS, Engine, load_engine
from stream_sentinel.replay import cli as replay_cli

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_BROKER = 3
EXIT_DIFF_COMPATIBLE = 10
EXIT_DIFF_BREAKING = 20

DEFAULT_SPEC_DIR = "spec/events"


class _Parser(argparse.ArgumentParser):
    """argparse that reports through our streams and exit codes instead of ``sys.exit``."""

    def __init__(self, *args: Any, stdout: TextIO, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stdout = stdout

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:  # noqa: ARG002 - ours
        if message:
            self._stdout.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._stdout.write(message)
        raise SystemExit(status)


def _build_parser(stdout: TextIO) -> _Parser:
    parser = _Parser(
        prog="stream-sentinel",
        description="Kafka contract-drift sentinel: validate events against the contracts in spec/events/.",
        stdout=stdout,
    )
    parser.add_argument("--version", action="version", version=f"stream-sentinel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    spec_default = os.environ.get("SENTINEL_SPEC_DIR", DEFAULT_SPEC_DIR)

    check = sub.add_parser(
        "check",
        help="validate captured messages offline (no broker)",
        description="Validate captured messages (kcat -J lines or raw payload lines) against the contracts. "
        "Exit 0: no drift, 1: drift found, 2: usage or spec error.",
        stdout=stdout,
    )
    check.add_argument("input", nargs="?", default="-", help="capture file, or - for stdin (default)")
    check.add_argument(
        "--spec",
        default=spec_default,
        help=f"contracts dir (default: $SENTINEL_SPEC_DIR or {DEFAULT_SPEC_DIR})",
    )
    check.add_argument(
        "--topic",
        help="check every line against this topic's contract (required for raw payload lines)",
    )
    check.add_argument(
        "--format",
        choices=("table", "jsonl", "json"),
        default="table",
        help="table (default), jsonl (one drift event per line, streamed) or json (the report)",
    )
    check.add_argument(
        "--min-severity",
        choices=("info", "warning", "breaking"),
        default="info",
        help="report only drift at or above this severity (default: info, everything)",
    )
    check.add_argument(
        "--raw-prefix",
        type=int,
        default=0,
        metavar="N",
        help="show the first N bytes (hex) of undecodable messages in drift events (default 0: raw bytes may hold PII)",
    )
    check.add_argument(
        "--max-violations",
        type=_positive,
        default=DEFAULT_MAX_VIOLATIONS,
        metavar="N",
        help=f"violations listed per message, the rest counted in one overflow (default {DEFAULT_MAX_VIOLATIONS})",
    )
    check.add_argument(
        "--examples",
        type=int,
        default=3,
        help="examples kept per rule in table/json output (default 3)",
    )

    spec = sub.add_parser(
        "spec",
        help="load and check a spec dir, then list its contracts (exit 2 on any problem)",
        stdout=stdout,
    )
    spec.add_argument("--spec", default=spec_default, help="contracts dir")

    sub.add_parser("kinds", help="list the drift kinds and what each means", stdout=stdout)

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

    diff = sub.add_parser(
        "diff",
        help="classify contract changes: exit 0 none/cosmetic, 10 compatible, 20 breaking",
        description="Compare two schema files (.json JSON Schema, .avsc Avro), two spec dirs, or the spec dir "
        "against a git ref, and classify every change under the compatibility mode (per event type from the "
        "catalog, or --mode). Exit 0: no change or only cosmetic ones, 10: compatible changes only, "
        "20: at least one breaking change, 2: usage or load error.",
        stdout=stdout,
    )
    diff.add_argument("old", nargs="?", help="old schema file or spec dir")
    diff.add_argument("new", nargs="?", help="new schema file or spec dir")
    diff.add_argument("--against", metavar="GIT_REF", help="compare --spec with the same dir at this git ref")
    diff.add_argument("--spec", default=spec_default, help="contracts dir for --against (default: as for check)")
    diff.add_argument(
        "--mode",
        type=str.upper,
        choices=COMPATIBILITY_MODES,
        help="mode for every comparison (default: each event type's from the catalog; BACKWARD for two files)",
    )
    diff.add_argument(
        "--dialect",
        choices=tuple(DIALECT_URIS),
        help="JSON Schema dialect of a schema FILE without $schema (default: its catalog's default_dialect, "
        f"else {DEFAULT_DIALECT}); spec dirs use their catalog's",
    )
    diff.add_argument("--format", choices=("table", "json", "markdown", "github"), default="table")
    diff.add_argument(
        "--fail-on",
        choices=("compatible", "breaking"),
        default="compatible",
        help="lowest verdict with a non-zero exit: compatible (default: 10 and 20) or breaking (compatible exits 0)",
    )
    diff.add_argument("--kinds", action="store_true", help="list the change kinds and exit")

    demo = sub.add_parser(
        "demo",
        help="the whole thing on an embedded broker: producer with drift, worker, live drift table",
        description="Start the embedded Kafka-protocol broker (Tansu), a producer replaying the example captures "
        "(realistic events with some drift), and the worker; print drift events as they arrive. Ctrl-C stops "
        "everything.",
        stdout=stdout,
    )
    demo.add_argument("--spec", default=spec_default, help="contracts dir")
    demo.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (default: run until Ctrl-C)"
    )
    demo.add_argument("--rate", type=float, default=25.0, help="messages per second to produce (default 25)")
    demo.add_argument("--alert-mode", choices=("every", "first", "summary"), default="first")
    demo.add_argument(
        "--window", type=float, default=10.0, help="tumbling window in seconds (default 10, to see summaries)"
    )
    replay_cli.add_parsers(sub, stdout, spec_default)
    return parser


def run(argv: Sequence[str], stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:
    """Run the CLI with explicit streams; returns the exit code."""
    try:
        parser = _build_parser(stdout)
        try:
            args = parser.parse_args(replay_cli.join_time_values(argv))
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        if args.command == "check":
            return _check(args, stdin, stdout)
        if args.command == "spec":
            return _spec(args, stdout)
        if args.command == "worker":
            return _worker(args, stdout, stderr)
        if args.command == "diff":
            from stream_sentinel.diffcli import run_diff

            return run_diff(args, stdout)
        if args.command == "demo":
            from stream_sentinel.worker.demo import run_demo

            return run_demo(args.spec, args.duration, args.rate, args.alert_mode, args.window, stdout, stderr)
        if args.command in replay_cli.COMMANDS:
            return replay_cli.run(args, stdout, stderr, os.environ.get("SENTINEL_SPEC_DIR", DEFAULT_SPEC_DIR))
        if args.command == "kinds":
            width = max(len(k) for k in d.KINDS)
            for kind, meaning in d.KINDS.items():
                stdout.write(f"{kind.ljust(width)}  {meaning}\n")
            return EXIT_OK
        raise UsageError(f"unknown command {args.command}")  # pragma: no cover - argparse prevents it
    except SentinelError as exc:
        stderr.write(f"stream-sentinel: {exc}\n")
        return exc.exit_code
    except OutputClosed as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        stderr.write("stream-sentinel: interrupted\n")
        return 130


def _open_input(path: str, stdin: IO[bytes]) -> IO[bytes]:
    if path == "-":
        return stdin
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _check(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO) -> int:
    engine = load_engine(args.spec, max_violations_per_message=args.max_violations)
    if args.topic is not None and engine.checker(args.topic) is None:
        raise UsageError(f"topic {args.topic!r} has no contract in {args.spec} (known: {_known(engine)})")
    report = DriftReport(max_examples=max(args.examples, 0))
    stream = _open_input(args.input, stdin)
    # Only drift events are written while reading: output cut short there means drift was found,
    # and the report below is written once the exit code is known.
    try:
        for line_no, message in enumerate(read_capture(stream), start=1):
            topic = args.topic or message.topic
            if topic is None and message.problem is not None:
                raise UsageError(f"record {line_no} ({message.problem}) names no topic: give --topic")
            if topic is None:
                raise UsageError(f"record {line_no} is a raw payload line: give --topic to name its contract")
            checker = engine.checker(topic)
            if checker is None:
                raise UsageError(
                    f"record {line_no}: topic {topic!r} has no contract (known: {_known(engine)}); "
                    "use --topic to check it against one"
                )
            if message.problem is not None:  # a broken envelope line: reported, and the run goes on
                outcome = problem_outcome(message, checker.topic)
            else:
                outcome = checker.check(message.value, message.headers)
            source = d.Source(topic, message.partition, message.offset, message.timestamp, message.key)
            events = outcome.drift_events(
                source, checker.topic.format, origin="check", min_severity=args.min_severity, raw_prefix=args.raw_prefix
            )
            report.add(topic, outcome.event_type, events, outcome.tombstone)
            if args.format == "jsonl" and events:
                with output_closed_means(EXIT_DRIFT):
                    for event in events:
                        stdout.write(event.to_json().decode() + "\n")
    finally:
        if stream is not stdin:
            stream.close()
    code = EXIT_DRIFT if report.drift_events else EXIT_OK
    with output_closed_means(code):
        if args.format == "table":
            report.render_table(stdout)
        elif args.format == "json":
            stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return code


def _known(engine: Engine) -> str:
    return ", ".join(sorted(engine.catalog.topics))


def _spec(args: argparse.Namespace, stdout: TextIO) -> int:
    engine = load_engine(args.spec)
    for name, topic in sorted(engine.catalog.topics.items()):
        stdout.write(f"{name}  ({topic.format}, owner {topic.owner or '-'}, sample {topic.sample_rate:g})\n")
        for event in topic.events.values():
            versions = ", ".join(
                f"v{v.version}" + (f"#{v.schema_id}" if v.schema_id is not None else "") for v in event.versions
            )
            stdout.write(f"  {event.name}: {versions}  [{event.requirement or '-'}; {event.compatibility}]\n")
    return EXIT_OK


def _worker(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from stream_sentinel.config import Settings

    names = ("spec_dir", "bootstrap_servers", "alert_mode", "web_port", "web_enabled")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    settings = Settings.load(args.config, **overrides)
    if args.print_settings:
        stdout.write(orjson.dumps(settings.describe(), option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
        return EXIT_OK
    from stream_sentinel.worker.run import run_worker

    return run_worker(settings, stderr)


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
