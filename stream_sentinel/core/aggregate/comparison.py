"""Current vs candidate contracts over the same messages: newly broken, fixed and unchanged rules.

``replay --against`` folds each message's verdicts under both contract sets into a
:class:`Comparison`, per event type and kind, so a developer sees what a contract change would do
to real traffic before it ships.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stream_sentinel.core.check.drift import SEVERITY_RANK, Violation

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
    Violations below ``min_rank`` (severity) are left out on both sides.
    """

    def __init__(self, max_examples: int = 3, min_rank: int = 0) -> None:
        self.max_examples = max_examples
        self.min_rank = min_rank
        self.messages = 0
        self.rules: dict[Rule, RuleChange] = {}
        self.by_event_type: dict[tuple[str, str], SideStats] = {}

    def add(
        self,
        topic: str,
        partition: int,
        offset: int,
        current: tuple[str | None, Iterable[Violation]],
        candidate: tuple[str | None, Iterable[Violation]],
    ) -> None:
        """Fold one message: (event type, violations) as each contract set saw it."""
        self.messages += 1
        key = (topic, candidate[0] or current[0] or "?")
        stats = self.by_event_type.get(key)
        if stats is None:
            stats = self.by_event_type[key] = SideStats()
        stats.messages += 1
        floor, rank = self.min_rank, SEVERITY_RANK
        now = {(topic, current[0], v.kind, v.rule_path): v for v in current[1] if rank[v.severity] >= floor}
        then = {(topic, candidate[0], v.kind, v.rule_path): v for v in candidate[1] if rank[v.severity] >= floor}
        if not now and not then:
            return
        stats.current += bool(now)
        stats.candidate += bool(then)
        stats.newly_failing += bool(then) and not now
        stats.newly_passing += bool(now) and not then
        for rule, violation in then.items():
            self._count(rule, violation, "same" if rule in now else "new", partition, offset)
        for rule, violation in now.items():
            if rule not in then:
                self._count(rule, violation, "fixed", partition, offset)

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


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0
