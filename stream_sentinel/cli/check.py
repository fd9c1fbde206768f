"""``stream-sentinel check``: validate captured messages offline, with no broker.

Reads kcat -J lines or raw payload lines, checks each against the contracts with the same core as
the worker, and reports drift as a table, a JSON report or streamed JSON lines.
"""

from __future__ import annotations

import argparse
from base64 import b64decode
from collections.abc import Callable
from typing import IO, Any, TextIO

import orjson

from stream_sentinel.cli.common import open_input, positive, spec_default, spec_default_text
from stream_sentinel.config import Settings
from stream_sentinel.core.aggregate.report import DriftReport
from stream_sentinel.core.assess import Assessor, Policy, Ref, no_contract, severities_of, write_jsonl
from stream_sentinel.core.capture import CapturedMessage, problem_outcome, read_capture
from stream_sentinel.core.check.outcome import Headers, Outcome
from stream_sentinel.core.check.validate import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_MAX_VIOLATIONS,
    Engine,
    TopicChecker,
    load_engine,
)
from stream_sentinel.core.errors import UsageError, output_closed_means
from stream_sentinel.core.exits import EXIT_DRIFT, EXIT_OK
from stream_sentinel.core.rules.engine import Finding
from stream_sentinel.core.rules.session import RuleSession, open_session, reach_for, wants
from stream_sentinel.registry import inline

Check = Callable[[bytes | None, Headers], Outcome]


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``check``."""
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
        default=spec_default(),
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
        "--no-rules",
        action="store_true",
        help="contracts only: do not judge the catalog's behavioural rules (rules:)",
    )
    offline = "offline: never ask the catalog's schema registry about unmapped schema ids (unknown_schema_id)"
    check.add_argument("--no-registry", action="store_true", help=offline)
    _limit_options(check)
    check.set_defaults(run=run)


def _limit_options(check: argparse.ArgumentParser) -> None:
    """The per-message caps and the report's example budget (the worker's settings, as options)."""
    check.add_argument(
        "--max-violations",
        type=positive,
        default=DEFAULT_MAX_VIOLATIONS,
        metavar="N",
        help=f"violations listed per message, the rest counted in one overflow (default {DEFAULT_MAX_VIOLATIONS})",
    )
    check.add_argument(
        "--max-payload-bytes",
        type=positive,
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


def _keyhead(engine: Engine, topic: str, outcome: Outcome, message: CapturedMessage, headers: Headers) -> Outcome:
    """The outcome with the key and header violations (core/check/keyhead.py) of a topic with such contracts."""
    keyhead = engine.keyheads.get(topic)
    if keyhead is None:
        return outcome
    key = b64decode(message.key) if message.key_base64 and message.key else message.key
    return keyhead.judge(outcome, key, headers, message.value)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:
    """Check every record of the input; exit 1 when any drifts."""
    engine = load_engine(
        args.spec, max_violations_per_message=args.max_violations, max_payload_bytes=args.max_payload_bytes
    )
    if args.topic is not None and engine.checker(args.topic) is None:
        raise UsageError(no_contract(args.topic, engine.catalog.topics, args.spec))
    if engine.catalog.registry is not None and not args.no_registry:
        inline(engine, Settings.load())  # unmapped schema ids: fetched when first seen (registry.py)
    declared = _declared_headers(args, engine)
    hint = args.event_type is None
    assessor = _assessor(args, engine)
    report = DriftReport(max_examples=max(args.examples, 0))
    jsonl = args.format == "jsonl"
    rules = None if args.no_rules else _Rules.open(engine, args.topic, assessor, report, stdout if jsonl else None)
    stream = open_input(args.input, stdin)
    # Only drift events are written while reading: output cut short there means drift was found,
    # and the report below is written once the exit code is known.
    try:
        for line_no, message in enumerate(read_capture(stream), start=1):
            topic, checker = _checker(args, engine, line_no, message)
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
                outcome = (rules.check(topic, checker) if rules else checker.check)(message.value, headers)
                outcome = _keyhead(engine, topic, outcome, message, headers)
            if rules is not None:
                outcome = rules.message(topic, outcome, message)
            drift = None
            if outcome.violations:
                ref = Ref(
                    topic, message.partition, message.offset, message.timestamp, message.key, checker.topic.format
                )
                drift = assessor.assess(outcome, ref)
            report.add((topic, outcome, 0, drift))
            if jsonl and drift is not None:
                write_jsonl(drift.events(), stdout)
    finally:
        if stream is not stdin:
            stream.close()
    if rules is not None:
        rules.finish()
    code = EXIT_DRIFT if report.drift_events else EXIT_OK
    with output_closed_means(code):
        if args.format == "table":
            report.render_table(stdout)
        elif args.format == "json":
            stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return code


def _assessor(args: argparse.Namespace, engine: Engine) -> Assessor:
    """The run's one assessor: the options' floor and raw prefix, the catalog's severity settings."""
    policy = Policy(
        min_severity=args.min_severity,
        raw_prefix=args.raw_prefix,
        origin="check",
        severity=severities_of(engine.catalog),
    )
    return Assessor(policy)


class _Rules:
    """The catalog's behavioural rules over the capture: one :class:`RuleSession`, findings into the report."""

    def __init__(
        self, session: RuleSession, engine: Engine, assessor: Assessor, report: DriftReport, out: TextIO | None
    ) -> None:
        self.session, self.engine, self.assessor, self.report, self.out = session, engine, assessor, report, out
        self._checks: dict[str, Check] = {}

    @classmethod
    def open(
        cls, engine: Engine, topic: str | None, assessor: Assessor, report: DriftReport, out: TextIO | None
    ) -> _Rules | None:
        """Rules for the capture, or None when the catalog has none for its topic(s): the plain path."""
        session = open_session(engine.catalog, engine.shows, None if topic is None else (topic,))
        return cls(session, engine, assessor, report, out) if session is not None else None

    def check(self, topic: str, checker: TopicChecker) -> Check:
        """The topic's check; valid messages of event types a rule reads keep their payload."""
        found = self._checks.get(topic)
        if found is None:
            rules = self.session.rules
            found = (
                self.engine.keeping_check(topic, wants(rules, topic), reach_for(rules, topic))
                if topic in rules.topics
                else checker.check
            )
            self._checks[topic] = found
        return found

    def message(self, topic: str, outcome: Outcome, message: CapturedMessage) -> Outcome:
        """The outcome with its expression violations; the findings judged meanwhile go in as drift.

        They may be about this message or earlier ones (facts are judged in event-time order);
        order does not matter to the report, and a message with findings has no contract drift.
        """
        outcome, findings = self.session.message(
            topic, outcome, message.key, message.partition, message.offset, message.timestamp
        )
        self.drift(findings)
        return outcome

    def drift(self, findings: list[Finding]) -> None:
        """Assess findings and add them to the report as drift that is not a new message."""
        for finding in findings:
            checker = self.engine.checker(finding.source.topic)
            drift = self.assessor.finding(finding, checker.topic.format if checker is not None else "json")
            if drift is not None:
                self.report.add_drift(drift)
                if self.out is not None:
                    write_jsonl(drift.events(), self.out)

    def finish(self) -> None:
        """The missing follow-ups the capture's last event time decides."""
        self.drift(self.session.finish())


def _checker(
    args: argparse.Namespace, engine: Engine, line_no: int, message: CapturedMessage
) -> tuple[str, TopicChecker]:
    """The topic a line is checked as (``--topic`` or the line's own) and its checker; usage errors say why not."""
    topic = args.topic or message.topic
    if topic is None and message.problem is not None:
        raise UsageError(f"record {line_no} ({message.problem}) names no topic: give --topic")
    if topic is None:
        raise UsageError(f"record {line_no} is a raw payload line: give --topic to name its contract")
    checker = engine.checker(topic)
    if checker is None:
        raise UsageError(
            f"record {line_no}: {no_contract(topic, engine.catalog.topics)}; use --topic to check it against one"
        )
    return topic, checker


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
