"""The one per-message assessment every shell calls: outcome + policy -> kept drift.

The worker, ``replay`` and ``check`` each adapt their record to a :class:`Ref`, check it with
``TopicChecker.check`` and hand the outcome to :meth:`Assessor.assess`. What is decided here, and
nowhere else: which messages a sampled topic validates (:meth:`Policy.skips`), which violations
are kept and at what severity (the topic's ``severity:`` overrides, then the severity floor), the
fingerprint of each (one bounded memo), and how the drift events of a message are built (origin,
run id, raw prefix, observed time). Drift events are built lazily, on the first call to
:meth:`Assessment.events`: a drifting producer repeats the same few rules, so most invalid
messages are only counted, and a valid message never gets here at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NamedTuple, TextIO, TypeAlias

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.contracts.topic_settings import OFF
from stream_sentinel.core.errors import output_closed_means
from stream_sentinel.core.exits import EXIT_DRIFT

if TYPE_CHECKING:
    from stream_sentinel.core.check.validate import Outcome
    from stream_sentinel.core.contracts.catalog import Catalog
    from stream_sentinel.core.rules.engine import Finding

#: Fingerprints memoised per assessor (entries); a drifting producer repeats the same few rules.
MAX_MEMO: Final = 10_000
#: Longest rule path whose fingerprint is memoised: a producer's field names can be arbitrarily long.
MAX_MEMO_PATH: Final = 1024
_MASK64: Final = (1 << 64) - 1


def sampled(partition: int, offset: int, rate: float) -> bool:
    """Whether the message at (partition, offset) is validated under ``rate`` (0..1).

    Deterministic (a splitmix64 hash of the coordinates, not a random draw), so the worker, a
    replay and a re-run after a crash all pick the same messages.
    """
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    h = ((partition + 1) * 0x9E3779B97F4A7C15 + offset) & _MASK64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
    h ^= h >> 31
    return h < int(rate * 2.0**64)


@dataclass(frozen=True, slots=True)
class Policy:
    """How a shell wants messages assessed, decided once per run (or per worker).

    ``sample``: apply the catalog's per-topic ``sample_rate`` (the worker always does, replay
    with ``--sample``, check never). ``clock``: stamps ``observed_at`` when a drift event is
    built (replay); without it the ref's ``observed_at`` is used (the worker's batch time, or
    none for check). ``severity``: per topic, drift kind -> level or ``off`` (the catalog's
    ``severity:`` topic setting, :func:`severities_of`), applied before the floor.
    """

    min_severity: str = d.INFO
    raw_prefix: int = 0
    origin: str = "live"
    run_id: str | None = None
    sample: bool = False
    clock: Callable[[], float] | None = None
    severity: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Content hash of the spec the worker judges by (drift events carry it); check and replay leave it unset.
    catalog_revision: str | None = None
    floor: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "floor", d.SEVERITY_RANK[self.min_severity])

    def skips(self, partition: int, offset: int, rate: float) -> bool:
        """True when sampling leaves the message at (partition, offset) unvalidated."""
        return self.sample and rate < 1.0 and not sampled(partition, offset, rate)


class Ref(NamedTuple):
    """Where a message came from, as every shell adapts its record (built for drifting messages only)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | str | None
    topic_format: str
    observed_at: int | None = None

    @classmethod
    def of(cls, source: d.Source, topic_format: str) -> Ref:
        """The ref of a message known by its coordinates only (a behavioural rule's finding)."""
        return cls(source.topic, source.partition, source.offset, source.timestamp, source.key, topic_format)

    def source(self) -> d.Source:
        """The drift events' source: a bytes key decoded leniently (it is only shown)."""
        key = self.key
        text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        return d.Source(self.topic, self.partition, self.offset, self.timestamp, text)


class Assessment:
    """A drifting message: its kept violations, their fingerprints and (lazily) its drift events."""

    __slots__ = ("_events", "_policy", "fingerprints", "internal", "outcome", "ref", "violations")

    def __init__(
        self,
        ref: Ref,
        outcome: Outcome | None,
        violations: tuple[d.Violation, ...],
        fingerprints: tuple[str, ...],
        policy: Policy,
        *,
        internal: bool = False,
    ) -> None:
        self.ref = ref
        self.outcome = outcome
        self.violations = violations
        self.fingerprints = fingerprints
        self.internal = internal  # the sentinel failed on the message (no outcome): always alerted
        self._policy = policy
        self._events: list[d.DriftEvent] | None = None

    @property
    def event_type(self) -> str | None:
        """The message's event type as the checker resolved it (None when it failed)."""
        return self.outcome.event_type if self.outcome is not None else None

    def events(self) -> list[d.DriftEvent]:
        """One drift event per kept violation, built on the first call (sample redacted once)."""
        if self._events is None:
            policy, ref, outcome = self._policy, self.ref, self.outcome
            observed = round(policy.clock() * 1000) if policy.clock is not None else ref.observed_at
            if outcome is None:
                subject = d.Subject(None, None, None, None, "unknown")
                self._events = d.build_drift_events(
                    self.violations,
                    subject,
                    ref.source(),
                    None,
                    observed_at=observed,
                    fingerprints=self.fingerprints,
                    catalog_revision=policy.catalog_revision,
                )
            else:
                self._events = d.build_drift_events(
                    self.violations,
                    outcome.subject(ref.topic_format),
                    ref.source(),
                    outcome.sample(policy.raw_prefix),
                    origin=policy.origin,
                    run_id=policy.run_id,
                    observed_at=observed,
                    fingerprints=self.fingerprints,
                    catalog_revision=policy.catalog_revision,
                )
        return self._events


#: One checked message as the aggregators take it: (topic, outcome, event time in ms, assessment).
#: ``outcome`` is None when the sentinel failed before it had one (``Assessor.failure``); the
#: assessment is None for a message with no drift kept. A plain tuple: cheap on the hot path.
Checked: TypeAlias = "tuple[str, Outcome | None, int, Assessment | None]"


def severities_of(catalog: Catalog) -> dict[str, Mapping[str, str]]:
    """The catalog's ``severity:`` overrides of every topic that has some (``Policy.severity``)."""
    return {name: topic.severity for name, topic in catalog.topics.items() if topic.severity}


class Assessor:
    """Applies one :class:`Policy` to checked messages; holds the one bounded fingerprint memo."""

    __slots__ = ("_memo", "_overrides", "policy")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._memo: dict[tuple[str, str | None, str, str], str] = {}
        # Precomputed per topic: a topic without overrides costs one dict miss per drifting message.
        self._overrides: dict[str, dict[str, str]] = {t: dict(m) for t, m in policy.severity.items() if m}

    def keep(self, topic: str, violations: tuple[d.Violation, ...]) -> tuple[d.Violation, ...]:
        """The violations a topic reports: its ``severity:`` overrides applied, then the floor.

        An ``off`` kind is dropped; an overridden one carries the topic's level (the drift event,
        the counts and the exit code all see that level). Behavioural rules' violations go
        through here too, so one setting governs every kind on the topic.
        """
        overrides = self._overrides.get(topic) if self._overrides else None
        if overrides is not None:
            violations = _override(violations, overrides)
        floor = self.policy.floor
        if floor:
            rank = d.SEVERITY_RANK
            return tuple(v for v in violations if rank[v.severity] >= floor)
        return violations

    def assess(self, outcome: Outcome, ref: Ref) -> Assessment | None:
        """The message's drift kept by :meth:`keep`; None when nothing is kept.

        Call it for invalid outcomes only (``outcome.violations``): a valid message has nothing
        to assess, and the shells skip even this call on their hot path.
        """
        kept = self.keep(ref.topic, outcome.violations) if self._overrides or self.policy.floor else outcome.violations
        if not kept:
            return None
        topic, event_type = ref.topic, outcome.event_type
        memo, fps = self._memo, []
        for v in kept:
            fp = memo.get((topic, event_type, v.kind, v.rule_path))
            fps.append(fp if fp is not None else self.fingerprint(topic, event_type, v.kind, v.rule_path))
        return Assessment(ref, outcome, kept, tuple(fps), self.policy)

    def finding(self, finding: Finding, topic_format: str) -> Assessment | None:
        """A behavioural rule's finding, assessed like a message's violations (same floor, memo, events).

        It is reported on the message it is about (for a missing follow-up, the earlier one),
        known by its coordinates only: no payload, so no sample.
        """
        from stream_sentinel.core.check.outcome import Outcome

        outcome = Outcome(finding.event_type, None, (finding.violation,))
        return self.assess(outcome, Ref.of(finding.source, topic_format))

    def failure(self, ref: Ref, exc: BaseException) -> Assessment:
        """The sentinel itself failed on a message: an ``internal_error`` drift (type and place, no text)."""
        violation = d.internal_error(exc)
        fp = self.fingerprint(ref.topic, None, violation.kind, violation.rule_path)
        return Assessment(ref, None, (violation,), (fp,), self.policy, internal=True)

    def fingerprint(self, topic: str, event_type: str | None, kind: str, rule_path: str) -> str:
        """Memoised ``drift.fingerprint``, bounded in entries and in key size."""
        key = (topic, event_type, kind, rule_path)
        found = self._memo.get(key)
        if found is None:
            found = d.fingerprint(topic, event_type, kind, rule_path)
            if len(self._memo) < MAX_MEMO and len(rule_path) <= MAX_MEMO_PATH:
                self._memo[key] = found
        return found


def _override(violations: tuple[d.Violation, ...], overrides: Mapping[str, str]) -> tuple[d.Violation, ...]:
    out = []
    for v in violations:
        level = overrides.get(v.kind)
        if level is None:
            out.append(v)
        elif level != OFF:
            out.append(v if v.severity == level else v._replace(severity=level))
    return tuple(out)


def no_contract(topic: str, known: Iterable[str], where: str | None = None) -> str:
    """The one wording of "this topic has no contract" (``known``: the catalog's topics)."""
    place = f" in {where}" if where is not None else ""
    return f"topic {topic!r} has no contract{place} (known: {', '.join(sorted(known))})"


def publish_record(event: d.DriftEvent) -> tuple[bytes, bytes]:
    """A drift event as a Kafka record: keyed by fingerprint, so one rule's events stay ordered."""
    return event.fingerprint.encode(), event.to_json()


def write_jsonl(events: Sequence[d.DriftEvent], out: TextIO) -> None:
    """Stream drift events as JSON lines; output cut short while writing drift exits as drift."""
    if events:
        with output_closed_means(EXIT_DRIFT):
            for event in events:
                out.write(event.to_json().decode() + "\n")


__all__ = [
    "Assessment",
    "Assessor",
    "Checked",
    "Policy",
    "Ref",
    "no_contract",
    "publish_record",
    "sampled",
    "severities_of",
    "write_jsonl",
]
