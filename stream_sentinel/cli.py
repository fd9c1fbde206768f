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
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

import orjson

from stream_sentinel import __version__
from stream_sentinel.core import drift as d
from stream_sentinel.core.capture import problem_outcome, read_capture
from stream_sentinel.core.errors import OutputClosed, SentinelError, UsageError, output_closed_means
from stream_sentinel.core.report import DriftReport
from stream_sentinel.core.spec import COMPATIBILITY_MODES, DEFAULT_DIALECT, DIALECT_URIS, EventContract
from stream_sentinel.core.validate import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_VIOLATIONS, Engine, load_engine
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    parser.set_defaults(subparsers=sub)
    spec_default = os.environ.get("SENTINEL_SPEC_DIR", DEFAULT_SPEC_DIR)
    spec_source = spec_default_text()

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
        help=f"contracts dir (default {spec_source})",
    )
    check.add_argument(
        "--topic",
        help="check every line against this topic's contract (required for raw payload lines)",
    )
    check.add_argument(
        "--event-type",
        metavar="NAME",
        help="event type of lines that do not carry one (raw payloads, envelopes without the topic's "
        "event-type header); needs --topic",
    )
    check.add_argument(
        "--version",
        dest="schema_version",
        type=int,
        metavar="N",
        help="schema version of lines that do not declare one (default: the newest); needs --topic",
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
        "--max-payload-bytes",
        type=_positive,
        default=DEFAULT_MAX_PAYLOAD_BYTES,
        metavar="N",
        help="larger payloads are reported as 'oversized', not decoded (default "
        f"{DEFAULT_MAX_PAYLOAD_BYTES}, the max_payload_bytes setting's default)",
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
        description="Load the catalog and every schema exactly as the worker does (every $ref resolved, every "
        "pattern compiled), then list each topic with its format and owner and each event type with its versions, "
        "requirement and compatibility mode. Exit 0: the spec loads, 2: the first problem as file#/pointer: cause. "
        "Use it in CI.",
        stdout=stdout,
    )
    spec.add_argument("--spec", default=spec_default, help=f"contracts dir (default {spec_source})")

    sub.add_parser(
        "kinds",
        help="list the drift kinds, their severity and what each means",
        description="Print every drift kind a drift event can carry: its severity (breaking, warning or info; "
        "unknown_version, tombstone and the like are fixed, type and constraint violations are breaking) and what "
        "it means. Exit 0.",
        stdout=stdout,
    )

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
    diff.add_argument("--spec", default=spec_default, help=f"contracts dir for --against (default {spec_source})")
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
    diff.add_argument(
        "--format",
        choices=("table", "json", "markdown", "github"),
        default="table",
        help="table (default: one line per change), json (every change with kind, path, verdict and reason), "
        "markdown (a PR comment) or github (::error/::warning workflow annotations)",
    )
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
    demo.add_argument("--spec", default=spec_default, help=f"contracts dir (default {spec_source})")
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
    broker = sub.add_parser(
        "broker",
        help="run the embedded dev broker (Tansu) in the foreground and print its address",
        description="Start the embedded Kafka-protocol broker the demo and the tests use (Tansu, in memory) on "
        "127.0.0.1 and keep it running until Ctrl-C or SIGTERM. The first line on stdout is bootstrap=HOST:PORT; "
        "stderr says how to run a worker against it. For trying things by hand, not for production. "
        "Exit 0 after Ctrl-C/SIGTERM, 3 if it cannot start (e.g. the port is taken).",
        stdout=stdout,
    )
    broker.add_argument("--port", type=_port, help="port to listen on (default: a free one)")
    broker.add_argument(
        "--log", type=Path, metavar="FILE", help="append the broker's own output to FILE (default: discarded)"
    )
    replay_cli.add_parsers(sub, stdout, spec_source)
    return parser


def run(argv: Sequence[str], stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:
    """Run the CLI with explicit streams; returns the exit code."""
    try:
        parser = _build_parser(stdout)
        try:
            args, extras = parser.parse_known_args(replay_cli.join_time_values(argv))
            if extras:  # argparse blames the main parser; the subcommand's usage is what helps
                args.subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(extras)}")
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        if args.command == "check":
            return _check(args, stdin, stdout, stderr)
        if args.command == "spec":
            return _spec(args, stdout)
        if args.command == "worker":
            return _worker(args, stdout, stderr)
        if args.command == "diff":
            from stream_sentinel.diffcli import run_diff

            return run_diff(args, stdout)
        if args.command == "demo":
            from stream_sentinel.worker.demo import run_demo, run_producer

            if args.produce_to:
                return run_producer(args.spec, args.produce_to, args.duration, args.rate, stdout)
            return run_demo(args.spec, args.duration, args.rate, args.alert_mode, args.window, stdout, stderr)
        if args.command == "broker":
            from stream_sentinel.embedded import serve

            return serve(args.port, args.log, stdout, stderr)
        if args.command in replay_cli.COMMANDS:
            return replay_cli.run(args, stdout, stderr, os.environ.get("SENTINEL_SPEC_DIR", DEFAULT_SPEC_DIR))
        if args.command == "kinds":
            width = max(len(k) for k in d.KINDS)
            level = max(len(s) for s in d.KIND_SEVERITY.values())
            for kind, meaning in d.KINDS.items():
                stdout.write(f"{kind.ljust(width)}  {d.KIND_SEVERITY[kind].ljust(level)}  {meaning}\n")
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


def spec_default_text() -> str:
    """The ``--spec`` default as help shows it: the effective value, and where it comes from."""
    env = os.environ.get("SENTINEL_SPEC_DIR")
    if env:
        return f"{env}, from $SENTINEL_SPEC_DIR"
    return f"{DEFAULT_SPEC_DIR}; $SENTINEL_SPEC_DIR overrides it"


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


def _port(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {text!r}")
    return value


def _check(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:
    engine = load_engine(
        args.spec, max_violations_per_message=args.max_violations, max_payload_bytes=args.max_payload_bytes
    )
    if args.topic is not None and engine.checker(args.topic) is None:
        raise UsageError(f"topic {args.topic!r} has no contract in {args.spec} (known: {_known(engine)})")
    declared = _declared_headers(args, engine)
    hint = args.event_type is None
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
            raw = message.topic is None and not message.headers and message.problem is None
            if hint and raw and checker.topic.event_type.kind == "header":
                hint = False  # once: raw lines have no headers, so nothing names their event type
                stderr.write(
                    f"stream-sentinel: note: topic {topic!r} reads the event type from header "
                    f"{checker.topic.event_type.value!r}, which raw payload lines lack: give --event-type "
                    f"(one of {', '.join(checker.topic.events)})\n"
                )
            if message.problem is not None:  # a broken envelope line: reported, and the run goes on
                outcome = problem_outcome(message, checker.topic)
            else:
                headers: tuple[tuple[str, bytes], ...] = message.headers
                if declared:
                    present = {name for name, _ in headers}
                    headers += tuple(h for h in declared if h[0] not in present)
                outcome = checker.check(message.value, headers)
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


def _declared_headers(args: argparse.Namespace, engine: Engine) -> tuple[tuple[str, bytes], ...]:
    """The headers ``--event-type``/``--version`` stand for, checked against the topic's catalog entry.

    They are added to a line only where the line lacks that header, so a capture's own headers win.
    A topic that reads its event type or version from the payload (a JSON pointer) or the schema id
    has nothing to add: naming one there is a usage error, not a silent no-op.
    """
    name, version = args.event_type, args.schema_version
    if name is None and version is None:
        return ()
    if args.topic is None:
        raise UsageError("--event-type and --version name the contract of --topic: give --topic")
    topic = engine.catalog.topics[args.topic]
    known = ", ".join(topic.events)
    out: list[tuple[str, bytes]] = []
    locator = topic.event_type
    if name is not None:
        if name not in topic.events:
            raise UsageError(f"--event-type {name!r}: topic {topic.name!r} has no such event type (known: {known})")
        if locator.kind == "fixed" and name != locator.value:
            raise UsageError(f"--event-type {name!r}: every message of topic {topic.name!r} is {locator.value}")
        if locator.kind in ("pointer", "schema_id"):
            where = f"field {locator.value}" if locator.kind == "pointer" else "the schema id"
            raise UsageError(f"--event-type: topic {topic.name!r} reads the event type from {where} of each message")
        if locator.kind == "header":
            out.append((locator.value, name.encode()))
    if version is not None:
        if name is None and locator.kind != "fixed":
            raise UsageError(f"--version needs --event-type for topic {topic.name!r} (known: {known})")
        event = topic.events[name if name is not None else locator.value]
        versions = ", ".join(str(v.version) for v in event.versions)
        if version not in {v.version for v in event.versions}:
            raise UsageError(f"--version {version}: {event.name} has no such version (known: {versions})")
        ver = topic.version
        if ver is None or ver.kind != "header":
            where = "declares no version" if ver is None else f"reads the version from field {ver.value}"
            raise UsageError(f"--version: topic {topic.name!r} {where}; messages are checked against the newest")
        out.append((ver.value, str(version).encode()))
    return tuple(out)


def _known(engine: Engine) -> str:
    return ", ".join(sorted(engine.catalog.topics))


def _spec(args: argparse.Namespace, stdout: TextIO) -> int:
    engine = load_engine(args.spec)
    for name, topic in sorted(engine.catalog.topics.items()):
        requirement = f", requirement {topic.requirement}" if topic.requirement else ""
        owner = topic.owner or "-"
        stdout.write(f"{name}  ({topic.format}, owner {owner}{requirement}, sample {topic.sample_rate:g})\n")
        for event in topic.events.values():
            versions = ", ".join(
                f"v{v.version}" + (f"#{v.schema_id}" if v.schema_id is not None else "") for v in event.versions
            )
            stdout.write(f"  {event.name}: {versions}  [{_requirement_text(event)}; {event.compatibility}]\n")
    return EXIT_OK


def _requirement_text(event: EventContract) -> str:
    """The event type's catalog requirement, and where a schema root's ``x-requirement`` shadows it.

    Inside a payload the nearest annotation wins, so a requirement named at the root of a schema
    is what its drift carries; the catalog's then shows only on ``unknown_version``.
    """
    named = event.requirement or "-"
    shadows: list[str] = []
    for version in event.versions:
        mine = version.requirement or event.requirement
        root = version.document.get("x-requirement") if isinstance(version.document, dict) else None
        if mine is not None and isinstance(root, str) and root != mine:
            shadows.append(f"{version.ref}#/x-requirement ({root})")
    if shadows:
        named += f", shadowed by schema annotations at {', '.join(shadows)}"
    return named


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
