"""Aggregate drift over a stream of messages, in bounded memory, and render it.

An :class:`~stream_sentinel.core.aggregate.protocol.Aggregator` of checked messages, used by
``check`` and replay: counts messages per topic and event type, drift per kind and
per fingerprint, and keeps the first few drift events of each fingerprint as examples. Memory is
bounded by the number of distinct fingerprints (capped) times the examples kept, not by input size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from stream_sentinel.core.assess import Assessment, Checked
from stream_sentinel.core.check.drift import SEVERITY_RANK, DriftEvent, shown_path

MAX_FINGERPRINTS = 10_000


@dataclass(slots=True)
class FingerprintStats:
    """One rule's drift in the report: how often, where first and last, first examples."""

    fingerprint: str
    topic: str
    event_type: str | None
    kind: str
    path: str
    severity: str
    requirement: str | None
    owner: str | None
    count: int = 0
    first: tuple[int, int] = (0, 0)
    last: tuple[int, int] = (0, 0)
    examples: list[DriftEvent] = field(default_factory=list)


@dataclass(slots=True)
class EventTypeStats:
    """Messages and drifting messages of one event type on one topic."""

    messages: int = 0
    drifting: int = 0


class DriftReport:
    """Streaming aggregate of check/replay results."""

    def __init__(self, max_examples: int = 3) -> None:
        self.max_examples = max_examples
        self.initialize()

    def initialize(self) -> None:
        """Start an empty report (same example budget)."""
        self.messages = 0
        self.tombstones = 0
        self.drifting_messages = 0
        self.by_kind: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.by_event_type: dict[tuple[str, str], EventTypeStats] = {}
        self.fingerprints: dict[str, FingerprintStats] = {}
        self.overflow = 0
        self.rule_drift = 0  # drift events added by add_drift (behavioural findings)

    def add(self, item: Checked) -> None:
        """Count one checked message, building its drift events only while a rule wants an example.

        Events (sample redaction, ids, messages: ~35 µs per invalid message) are built only
        while one of the message's rules still wants an example (or were built already, for
        JSON lines or publishing); a replay of a drifting topic repeats the same few rules, so
        nearly every invalid message is just counted.
        """
        topic, outcome, _, assessment = item
        self.messages += 1
        event_type = None
        if outcome is not None:
            event_type = outcome.event_type
            if outcome.tombstone:
                self.tombstones += 1
        key = (topic, event_type or "?")
        stats = self.by_event_type.get(key)
        if stats is None:
            stats = self.by_event_type[key] = EventTypeStats()
        stats.messages += 1
        if assessment is None:
            return
        stats.drifting += 1
        self.drifting_messages += 1
        self._fold(assessment)

    def add_drift(self, assessment: Assessment) -> None:
        """Count drift that is not a new message: a behavioural rule's finding about one already added.

        A duplicate, an illegal transition or a missing follow-up is about a message counted
        when it was read (for a missing follow-up, the earlier one): its drift events count
        and are itemized like any other, the message counts do not move.
        """
        self.rule_drift += len(assessment.violations)
        self._fold(assessment)

    def _fold(self, assessment: Assessment) -> None:
        found = []
        for fp in assessment.fingerprints:
            rule = self.fingerprints.get(fp)
            if rule is None or len(rule.examples) < self.max_examples:
                for event in assessment.events():
                    self._add_event(event)
                return
            found.append(rule)
        ref = assessment.ref
        where = (ref.partition, ref.offset)
        for violation, rule in zip(assessment.violations, found, strict=True):
            self.by_kind[violation.kind] += 1
            self.by_severity[violation.severity] += 1
            rule.count += 1
            rule.last = where

    def result(self) -> DriftReport:
        """The report itself: rendered by ``to_dict`` and ``render_table``."""
        return self

    def _add_event(self, event: DriftEvent) -> None:
        self.by_kind[event.kind] += 1
        self.by_severity[event.severity] += 1
        where = (event.source.partition, event.source.offset)
        stats = self.fingerprints.get(event.fingerprint)
        if stats is None:
            if len(self.fingerprints) >= MAX_FINGERPRINTS:
                self.overflow += 1
                return
            stats = self.fingerprints[event.fingerprint] = FingerprintStats(
                event.fingerprint,
                event.source.topic,
                event.event_type,
                event.kind,
                event.rule_path,
                event.severity,
                event.requirement,
                event.owner,
                first=where,
            )
        stats.count += 1
        stats.last = where
        if len(stats.examples) < self.max_examples:
            stats.examples.append(event)

    @property
    def drift_events(self) -> int:
        """Total drift events counted."""
        return sum(self.by_kind.values())

    def ranked(self) -> list[FingerprintStats]:
        """Fingerprints, most severe first, then most frequent, then by name (deterministic)."""
        return sorted(
            self.fingerprints.values(),
            key=lambda s: (
                -SEVERITY_RANK.get(s.severity, 0),
                -s.count,
                s.topic,
                s.event_type or "",
                s.kind,
                s.path,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON shape of the report (documented in the README)."""
        return {
            "messages": self.messages,
            "drifting_messages": self.drifting_messages,
            "tombstones": self.tombstones,
            "drift_events": self.drift_events,
            "by_severity": dict(sorted(self.by_severity.items())),
            "by_kind": dict(sorted(self.by_kind.items())),
            "event_types": [
                {
                    "topic": topic,
                    "event_type": event_type,
                    "messages": s.messages,
                    "drifting": s.drifting,
                    "drift_pct": round(100.0 * s.drifting / s.messages, 2) if s.messages else 0.0,
                }
                for (topic, event_type), s in sorted(self.by_event_type.items())
            ],
            "fingerprints": [
                {
                    "fingerprint": s.fingerprint,
                    "topic": s.topic,
                    "event_type": s.event_type,
                    "kind": s.kind,
                    "path": s.path,
                    "severity": s.severity,
                    "requirement": s.requirement,
                    "owner": s.owner,
                    "count": s.count,
                    "first": {"partition": s.first[0], "offset": s.first[1]},
                    "last": {"partition": s.last[0], "offset": s.last[1]},
                    "examples": [e.to_dict() for e in s.examples],
                }
                for s in self.ranked()
            ],
            "fingerprints_not_tracked": self.overflow,
        }

    def render_table(self, out: TextIO) -> None:
        """Human-readable report: one line per rule, with the first example's message and fix."""
        ranked = self.ranked()
        out.write(
            f"{self.messages} messages, {self.drifting_messages} with drift, "
            f"{self.drift_events} drift events"
            + (f" ({self.rule_drift} from behavioural rules)" if self.rule_drift else "")
            + f", {len(ranked)} distinct rules"
            + (f", {self.tombstones} tombstones" if self.tombstones else "")
            + "\n"
        )
        if ranked:
            out.write("\n")
            header = (
                "SEVERITY",
                "KIND",
                "REQUIREMENT",
                "TOPIC/EVENT",
                "PATH",
                "COUNT",
                "FIRST",
                "OWNER",
            )
            rows = [
                (
                    s.severity,
                    s.kind,
                    s.requirement or "-",
                    f"{s.topic}/{s.event_type or '?'}",
                    shown_path(s.path),
                    str(s.count),
                    f"p{s.first[0]}@{s.first[1]}",
                    s.owner or "-",
                )
                for s in ranked
            ]
            widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
            out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
            for stats, row in zip(ranked, rows, strict=True):
                out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
                example = stats.examples[0] if stats.examples else None
                if example is not None:
                    out.write(f"    {example.message}\n    fix: {example.suggested_fix}\n")
        if self.by_event_type:
            out.write("\nDRIFT BY EVENT TYPE\n")
            for (topic, event_type), s in sorted(self.by_event_type.items()):
                pct = 100.0 * s.drifting / s.messages if s.messages else 0.0
                out.write(f"  {topic}/{event_type}: {s.drifting}/{s.messages} messages ({pct:.1f}%)\n")
        if self.overflow:
            out.write(f"\n{self.overflow} drift events of further rules were counted but not itemized\n")
