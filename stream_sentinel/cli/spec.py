"""``stream-sentinel spec`` and ``kinds``: what the contracts hold, and what a drift kind means."""

from __future__ import annotations

import argparse
from typing import IO, Any, TextIO

from stream_sentinel.cli.common import spec_default, spec_default_text
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.contracts.catalog import EventContract
from stream_sentinel.core.exits import EXIT_OK
from stream_sentinel.core.rules.model import compile_rules


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``spec`` and ``kinds``."""
    spec_source = spec_default_text()
    spec = sub.add_parser(
        "spec",
        help="load and check a spec dir, then list its contracts (exit 2 on any problem)",
        description="Load the catalog and every schema exactly as the worker does (every $ref resolved, every "
        "pattern compiled), then list each topic with its format and owner and each event type with its versions, "
        "requirement and compatibility mode, and each behavioural rule with what it reads. Exit 0: the spec loads, "
        "2: the first problem as file#/pointer: cause. "
        "Use it in CI.",
        stdout=stdout,
    )
    spec.add_argument("--spec", default=spec_default(), help=f"contracts dir (default {spec_source})")

    spec.set_defaults(run=run)
    kinds = sub.add_parser(
        "kinds",
        help="list the drift kinds, their severity and what each means",
        description="Print every drift kind a drift event can carry: its severity (breaking, warning or info; "
        "unknown_version, tombstone and the like are fixed, type and constraint violations are breaking) and what "
        "it means. Exit 0.",
        stdout=stdout,
    )

    kinds.set_defaults(run=run_kinds)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Load and check the spec dir, then list its topics and event types."""
    engine = load_engine(args.spec)
    for name, topic in sorted(engine.catalog.topics.items()):
        requirement = f", requirement {topic.requirement}" if topic.requirement else ""
        owner = topic.owner or "-"
        severity = ", ".join(f"{kind} {level}" for kind, level in topic.severity.items())
        severity = f", severity: {severity}" if severity else ""
        stdout.write(f"{name}  ({topic.format}, owner {owner}{requirement}, sample {topic.sample_rate:g}{severity})\n")
        for event in topic.events.values():
            versions = ", ".join(
                f"v{v.version}" + (f"#{v.schema_id}" if v.schema_id is not None else "") for v in event.versions
            )
            stdout.write(f"  {event.name}: {versions}  [{_requirement_text(event)}; {event.compatibility}]\n")
    rules = compile_rules(engine.catalog, engine.shows)  # a CEL expression that does not compile: exit 2
    if rules:
        stdout.write("rules\n")
    for rule in rules.rules.values():
        spec = rule.spec
        reads = "; ".join(f"{t}: {', '.join(sorted(ets))}" for t, ets in sorted(spec.topics.items()))
        owner = spec.owner or ", ".join(sorted({o for o in rule.owners.values() if o})) or "-"
        stdout.write(f"  {spec.id}  ({spec.kind}, {spec.severity}, owner {owner})  [{spec.requirement}]  {reads}\n")
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


def run_kinds(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """List every drift kind with its severity and meaning."""
    width = max(len(k) for k in d.KINDS)
    level = max(len(s) for s in d.KIND_SEVERITY.values())
    for kind, meaning in d.KINDS.items():
        stdout.write(f"{kind.ljust(width)}  {d.KIND_SEVERITY[kind].ljust(level)}  {meaning}\n")
    return EXIT_OK
