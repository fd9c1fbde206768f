"""Current vs candidate contracts over the same messages: newly broken, fixed and unchanged rules.

``replay --against`` folds each message's verdicts under both contract sets into a
:class:`Comparison`, per event type and kind, so a developer sees what a contract change would do
to real traffic before it ships.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stream_sentinel.core.assess import Assessment, Checked
from stream_sentinel.core.check.drift import Violation

Rule = tuple[str, str | None, str, str]  # topic, event type, kind, rule path


@dataclass(slots=True)
class RuleChange:
    """How one rule fared under the candidate: messages newly breaking it, fixed, or unchanged."""

    topic: str
    event_type: str | None
    kind: str
    path: str
    severity: str
    requirement: str | None
    new: int = 0
    fixed: int = 0
    same: int = 0
    examples: list[tuple[str, int, int, str]] = field(default_factory=list)  # (verdict, partition, offset, message)


@dataclass(slots=True)
class SideStats:
    """Messages of one (topic, event type) and how many drift under each contract set."""

    messages: int = 0
    current: int = 0
    candidate: int = 0
    newly_failing: int = 0
    newly_passing: int = 0


class Comparison:
    """Per-message verdicts under the current and the candidate contracts, folded per rule.

    A rule is (topic, event type, kind, rule path), i.e. what a fingerprint identifies, so a
    candidate that renames nothing compares like for like. ``new`` counts messages whose
    candidate verdict has a rule the current one lacks, ``fixed`` the reverse, ``same`` both.
    An :class:`~stream_sentinel.core.aggregate.protocol.Aggregator` of (current, candidate)
    checked pairs; the severity floor is the assessment's (``Policy``), the same on both sides.
    """

    def __init__(self, max_examples: int = 3) -> None:
        self.max_examples = max_examples
        self.initialize()

    def initialize(self) -> None:
        """Start an empty comparison (same example budget)."""
        self.messages = 0
        self.rules: dict[Rule, RuleChange] = {}
        self.by_event_type: dict[tuple[str, str], SideStats] = {}

    def add(self, item: tuple[Checked, Checked]) -> None:
        """Fold one message: as the current and as the candidate contracts checked and assessed it."""
        current, candidate = item
        topic = current[0]
        self.messages += 1
        now_type = current[1].event_type if current[1] is not None else None
        then_type = candidate[1].event_type if candidate[1] is not None else None
        key = (topic, then_type or now_type or "?")
        stats = self.by_event_type.get(key)
        if stats is None:
            stats = self.by_event_type[key] = SideStats()
        stats.messages += 1
        now_drift, then_drift = current[3], candidate[3]
        shown = then_drift or now_drift
        if shown is None:
            return
        now = _rules(topic, now_type, now_drift)
        then = _rules(topic, then_type, then_drift)
        partition, offset = shown.ref.partition, shown.ref.offset
        stats.current += bool(now)
        stats.candidate += bool(then)
        stats.newly_failing += bool(then) and not now
        stats.newly_passing += bool(now) and not then
        for rule, violation in then.items():
            self._count(rule, violation, "same" if rule in now else "new", partition, offset)
        for rule, violation in now.items():
            if rule not in then:
                self._count(rule, violation, "fixed", partition, offset)

    def result(self) -> Comparison:
        """The comparison itself: rendered by ``to_dict`` and the replay report."""
        return self

    def _count(self, rule: Rule, violation: Violation, how: str, partition: int, offset: int) -> None:
        change = self.rules.get(rule)
        if change is None:
            change = self.rules[rule] = RuleChange(*rule, violation.severity, violation.requirement)
        setattr(change, how, getattr(change, how) + 1)
        if how != "same" and sum(1 for e in change.examples if e[0] == how) < self.max_examples:
            change.examples.append(
                (how, partition, offset, f"expected {violation.expected}, got {violation.actual_type}")
            )

    @property
    def newly_broken(self) -> int:
        """Messages that pass the current contracts and fail the candidate."""
        return sum(s.newly_failing for s in self.by_event_type.values())

    @property
    def newly_passing(self) -> int:
        """Messages that fail the current contracts and pass the candidate."""
        return sum(s.newly_passing for s in self.by_event_type.values())

    @property
    def breaks_anything_new(self) -> bool:
        """True when the candidate reports a rule on some message that the current one does not."""
        return any(c.new for c in self.rules.values())

    def ranked(self) -> list[RuleChange]:
        """Newly broken rules first (most messages first), then fixed, then unchanged."""
        return sorted(
            self.rules.values(),
            key=lambda c: (
                not c.new,
                -c.new,
                not c.fixed,
                -c.fixed,
                -c.same,
                c.topic,
                c.event_type or "",
                c.kind,
                c.path,
            ),
        )

    def by_kind(self) -> dict[str, Counter[str]]:
        """Totals per verdict (new, fixed, same) and kind."""
        totals: dict[str, Counter[str]] = {"new": Counter(), "fixed": Counter(), "same": Counter()}
        for change in self.rules.values():
            for how in totals:
                if getattr(change, how):
                    totals[how][change.kind] += getattr(change, how)
        return totals

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON shape (documented in the README under replay --against)."""
        return {
            "messages": self.messages,
            "newly_failing_messages": self.newly_broken,
            "newly_passing_messages": self.newly_passing,
            "by_kind": {how: dict(sorted(c.items())) for how, c in self.by_kind().items()},
            "event_types": [
                {
                    "topic": topic,
                    "event_type": event_type,
                    "messages": s.messages,
                    "drifting_current": s.current,
                    "drifting_candidate": s.candidate,
                    "drift_pct_current": _pct(s.current, s.messages),
                    "drift_pct_candidate": _pct(s.candidate, s.messages),
                    "newly_failing": s.newly_failing,
                    "newly_passing": s.newly_passing,
                }
                for (topic, event_type), s in sorted(self.by_event_type.items())
            ],
            "rules": [
                {
                    "verdict": "new" if c.new else ("fixed" if c.fixed else "same"),
                    "topic": c.topic,
                    "event_type": c.event_type,
                    "kind": c.kind,
                    "path": c.path,
                    "severity": c.severity,
                    "requirement": c.requirement,
                    "new": c.new,
                    "fixed": c.fixed,
                    "same": c.same,
                    "examples": [
                        {"verdict": how, "partition": p, "offset": o, "message": m} for how, p, o, m in c.examples
                    ],
                }
                for c in self.ranked()
            ],
        }


def _rules(topic: str, event_type: str | None, drift: Assessment | None) -> dict[Rule, Violation]:
    if drift is None:
        return {}
    return {(topic, event_type, v.kind, v.rule_path): v for v in drift.violations}


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0
