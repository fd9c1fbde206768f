"""Replay reports: table (terminal), json (stable shape), markdown (pull requests).

Pure formatting of a finished :class:`ReplayResult`; no broker, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

import orjson

from stream_sentinel.core.aggregate.comparison import Comparison
from stream_sentinel.core.aggregate.report import DriftReport
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.ranges import End, PartitionPlan, Start

#: Version of the JSON report shape; bumped only on incompatible changes.
REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class WarmUp:
    """``--warm-up-from``: where the rules' warm-up read started and how many records it fed them."""

    start: Start
    records: int

    def describe(self) -> str:
        """One line for the reports."""
        return f"rules warmed up from {self.start.describe()} ({self.records:,} records read, not reported)"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay read and found."""

    run_id: str
    started_ms: int
    seconds: float
    start: Start
    end: End
    spec: str
    against: str | None
    plans: tuple[PartitionPlan, ...]
    report: DriftReport
    comparison: Comparison | None
    published: int = 0
    publish_topic: str | None = None
    sampled_out: int | None = None  # messages skipped by --sample (None: every message checked)
    warm_up: WarmUp | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (documented in the README)."""
        return {
            "version": REPORT_VERSION,
            "run_id": self.run_id,
            "started_at": self.started_ms,
            "seconds": round(self.seconds, 3),
            "range": {"start": self.start.describe(), "end": self.end.describe()},
            "spec": self.spec,
            "against": self.against,
            "partitions": [p.to_dict() for p in self.plans],
            "lost_to_retention": sum(p.lost for p in self.plans),
            "current": self.report.to_dict(),
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
            "published": {"topic": self.publish_topic, "drift_events": self.published} if self.publish_topic else None,
            "sampled_out": self.sampled_out,
        } | (
            {"warm_up": {"start": self.warm_up.start.describe(), "records": self.warm_up.records}}
            if self.warm_up
            else {}
        )


def render(result: ReplayResult, fmt: str, out: TextIO) -> None:
    """Write the report in ``fmt`` (table, json or markdown)."""
    if fmt == "json":
        out.write(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "markdown":
        _markdown(result, out)
    else:
        _table(result, out)


def _rows(header: tuple[str, ...], rows: list[tuple[str, ...]], out: TextIO, indent: str = "") -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        out.write(indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _readiness(plans: tuple[PartitionPlan, ...]) -> list[tuple[str, ...]]:
    return [
        (
            f"{p.topic}[{p.partition}]",
            str(p.earliest),
            str(p.latest),
            str(p.start),
            str(p.end),
            f"{p.count:,}",
            f"{p.lost:,} lost" if p.lost else ("start beyond end" if p.beyond_end else "ok"),
        )
        for p in plans
    ]


_READINESS = ("PARTITION", "LOG START", "LOG END", "FROM", "TO", "OFFSETS", "READINESS")


def _table(result: ReplayResult, out: TextIO) -> None:
    out.write(
        f"replay {result.run_id}: {result.start.describe()} -> {result.end.describe()}, "
        f"{result.report.messages:,} messages in {result.seconds:.1f} s"
        + (f" ({result.sampled_out:,} skipped by the catalog's sample rates)" if result.sampled_out else "")
        + "\n"
        + (f"{result.warm_up.describe()}\n" if result.warm_up else "")
        + "\n"
    )
    _rows(_READINESS, _readiness(result.plans), out)
    out.write("\n")
    if result.comparison is None:
        result.report.render_table(out)
    else:
        _comparison_table(result, result.comparison, out)
    if result.publish_topic:
        out.write(f"\npublished {result.published:,} drift events to {result.publish_topic} (run id {result.run_id})\n")


def _comparison_table(result: ReplayResult, comparison: Comparison, out: TextIO) -> None:
    out.write(
        f"current contracts: {result.spec}\ncandidate contracts: {result.against}\n"
        f"{comparison.messages:,} messages: the candidate newly fails {comparison.newly_broken:,} "
        f"and newly passes {comparison.newly_passing:,}\n\n"
    )
    _rows(
        ("TOPIC/EVENT", "MESSAGES", "DRIFT NOW", "DRIFT CANDIDATE", "NEWLY FAILING", "NEWLY PASSING"),
        [
            (
                f"{topic}/{event_type}",
                f"{s.messages:,}",
                _pct(s.current, s.messages),
                _pct(s.candidate, s.messages),
                f"{s.newly_failing:,}",
                f"{s.newly_passing:,}",
            )
            for (topic, event_type), s in sorted(comparison.by_event_type.items())
        ],
        out,
    )
    ranked = comparison.ranked()
    if ranked:
        out.write("\n")
        _rows(
            ("VERDICT", "KIND", "REQUIREMENT", "TOPIC/EVENT", "PATH", "NEW", "FIXED", "SAME"),
            [
                (
                    "breaks" if c.new else ("fixes" if c.fixed else "same"),
                    c.kind,
                    c.requirement or "-",
                    f"{c.topic}/{c.event_type or '?'}",
                    d.shown_path(c.path),
                    str(c.new),
                    str(c.fixed),
                    str(c.same),
                )
                for c in ranked
            ],
            out,
        )
        for c in ranked:
            for how, partition, offset, message in c.examples[:1]:
                out.write(f"  {c.kind} {d.shown_path(c.path)} ({how}): p{partition}@{offset}: {message}\n")


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _markdown(result: ReplayResult, out: TextIO) -> None:
    report, comparison = result.report, result.comparison
    out.write(f"### stream-sentinel replay `{result.run_id}`\n\n")
    out.write(
        f"Range: {result.start.describe()} → {result.end.describe()}; "
        f"{report.messages:,} messages from {len(result.plans)} partitions.\n\n"
        + (f"{result.warm_up.describe().capitalize()}.\n\n" if result.warm_up else "")
    )
    lost = sum(p.lost for p in result.plans)
    if lost:
        out.write(f"> **{lost:,} requested messages were already deleted by retention** and could not be checked.\n\n")
    out.write("| " + " | ".join(h.lower() for h in _READINESS) + " |\n|---|---:|---:|---:|---:|---:|---|\n")
    for row in _readiness(result.plans):
        out.write(f"| `{row[0]}` | " + " | ".join(row[1:]) + " |\n")
    out.write("\n")
    if comparison is not None:
        out.write(
            f"Candidate `{result.against}` against current `{result.spec}`: newly fails "
            f"**{comparison.newly_broken:,}** messages, newly passes "
            f"**{comparison.newly_passing:,}**.\n\n"
        )
        out.write("| topic/event | messages | drift now | drift candidate | newly failing | newly passing |\n")
        out.write("|---|---:|---:|---:|---:|---:|\n")
        for (topic, event_type), s in sorted(comparison.by_event_type.items()):
            out.write(
                f"| `{topic}/{event_type}` | {s.messages:,} | {_pct(s.current, s.messages)} | "
                f"{_pct(s.candidate, s.messages)} | {s.newly_failing:,} | {s.newly_passing:,} |\n"
            )
        if comparison.rules:
            out.write("\n| verdict | kind | requirement | topic/event | path | new | fixed | same |\n")
            out.write("|---|---|---|---|---|---:|---:|---:|\n")
            for c in comparison.ranked():
                verdict = "❌ breaks" if c.new else ("✅ fixes" if c.fixed else "same")
                out.write(
                    f"| {verdict} | `{c.kind}` | {c.requirement or '-'} | `{c.topic}/{c.event_type or '?'}` | "
                    f"`{d.shown_path(c.path)}` | {c.new} | {c.fixed} | {c.same} |\n"
                )
        return
    out.write(
        f"{report.drifting_messages:,} messages with drift, {report.drift_events:,} drift events, "
        f"{len(report.fingerprints)} distinct rules.\n\n"
    )
    if report.fingerprints:
        out.write("| severity | kind | requirement | topic/event | path | count | first | owner |\n")
        out.write("|---|---|---|---|---|---:|---|---|\n")
        for rule in report.ranked():
            out.write(
                f"| {rule.severity} | `{rule.kind}` | {rule.requirement or '-'} | "
                f"`{rule.topic}/{rule.event_type or '?'}` | `{d.shown_path(rule.path)}` | {rule.count:,} | "
                f"p{rule.first[0]}@{rule.first[1]} | {rule.owner or '-'} |\n"
            )
    out.write("\n| topic/event | messages | drifting | % |\n|---|---:|---:|---:|\n")
    for (topic, event_type), counts in sorted(report.by_event_type.items()):
        pct = _pct(counts.drifting, counts.messages)
        out.write(f"| `{topic}/{event_type}` | {counts.messages:,} | {counts.drifting:,} | {pct} |\n")
