"""The cluster health model: what the report and the dashboard show, as plain frozen values.

Built by :class:`~stream_sentinel.core.health.aggregate.HealthAggregator` from the records of the
drift topic (drift events, window summaries, traffic records), rendered by
:mod:`stream_sentinel.core.health.render` as Markdown, HTML or JSON. One model for every view, so
the weekly report and the dashboard can never disagree about a topic's status.

Every text here comes from a drift-topic record, which the sentinel redacted when it built it (the
sample, ``actual``); the model copies those values and never adds a payload value of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

# -- topic statuses -------------------------------------------------------------------------------
OK: Final = "ok"  # traffic, no open drift (at least warning)
DRIFTING: Final = "drifting"  # at least one open rule of severity warning or breaking
UNCOVERED: Final = "uncovered"  # traffic, but no contract in the catalog
SILENT: Final = "silent"  # a contract, but no traffic in the period
#: Only when the drift topic holds no traffic record at all (a worker older than traffic records):
#: a covered topic without drift cannot be told ok from silent.
UNKNOWN: Final = "unknown"
STATUSES: Final = (DRIFTING, UNCOVERED, SILENT, UNKNOWN, OK)

# -- rule states ----------------------------------------------------------------------------------
OPEN: Final = "open"
FIXED: Final = "fixed"

# -- trend arrows ---------------------------------------------------------------------------------
UP: Final = "up"
DOWN: Final = "down"
FLAT: Final = "flat"

#: Version of the JSON form (``HealthReport.to_dict``); a key's meaning never changes within one.
JSON_VERSION: Final = 1


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO-8601 UTC with a ``Z`` (seconds precision), None for None."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class ConsumerImpact:
    """One consumer group of a drifting topic, as the Kafka admin side found it (optional input).

    ``past_first_drift``: the group's committed offset is past the first drifting offset in at
    least one partition, so it has read drifting messages. ``drifting_messages``: how many of the
    drifting messages it has consumed (None when unknown). Built from ``core.consumers.Impact``
    by :func:`from_impact`.
    """

    group: str
    past_first_drift: bool
    drifting_messages: int | None = None
    detail: str = ""
    #: Drifting messages the group has not consumed yet (it will meet them); None when unknown.
    pending: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "group": self.group,
            "past_first_drift": self.past_first_drift,
            "drifting_messages": self.drifting_messages,
            "pending": self.pending,
            "detail": self.detail,
        }


def from_impact(impact: Any) -> ConsumerImpact:
    """A ``core.consumers.Impact`` (the Kafka admin side's arithmetic) as the model shows it."""
    return ConsumerImpact(
        impact.group,
        impact.affected,
        impact.consumed,
        f"committed offsets on {impact.partitions} partition{'s' if impact.partitions != 1 else ''}",
        impact.pending,
    )


@dataclass(frozen=True, slots=True)
class Latest:
    """The latest drift event of a rule: what a person reads to understand and fix it."""

    drift_id: str
    at: int | None
    path: str
    expected: str
    actual: Mapping[str, Any]
    message: str
    suggested_fix: str
    sample: Any
    partition: int | None
    offset: int | None
    schema_version: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "drift_id": self.drift_id,
            "at": iso(self.at),
            "path": self.path,
            "expected": self.expected,
            "actual": dict(self.actual),
            "message": self.message,
            "suggested_fix": self.suggested_fix,
            "sample": self.sample,
            "partition": self.partition,
            "offset": self.offset,
            "schema_version": self.schema_version,
        }


@dataclass(frozen=True, slots=True)
class RuleHealth:
    """One fingerprint (a broken rule of one event type on one topic) over the period."""

    fingerprint: str
    topic: str
    event_type: str | None
    kind: str
    severity: str
    requirement: str | None
    owner: str | None
    rule_path: str
    rule: str | None
    state: str  # OPEN or FIXED
    count: int
    messages: int  # of the rule's topic and event type, over the period
    rate: float | None
    count_now: int
    rate_now: float | None
    first_seen: int
    last_seen: int
    clean_windows: int  # windows with traffic of its event type after it was last seen
    latest: Latest | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "fingerprint": self.fingerprint,
            "event_type": self.event_type,
            "kind": self.kind,
            "severity": self.severity,
            "requirement": self.requirement,
            "owner": self.owner,
            "rule_path": self.rule_path,
            "rule": self.rule,
            "state": self.state,
            "count": self.count,
            "messages": self.messages,
            "rate": self.rate,
            "count_now": self.count_now,
            "rate_now": self.rate_now,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "clean_windows": self.clean_windows,
            "latest": None if self.latest is None else self.latest.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time bucket of a topic's trend: messages and violations counted in it."""

    start: int
    messages: int
    drift: int

    @property
    def rate(self) -> float | None:
        """Violations per message in the bucket; None without messages."""
        return round(self.drift / self.messages, 6) if self.messages else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"start": iso(self.start), "messages": self.messages, "drift": self.drift, "rate": self.rate}


@dataclass(frozen=True, slots=True)
class TopicHealth:
    """One topic: status, traffic and drift now and over the period, trend, rules, consumers."""

    topic: str
    status: str
    owner: str | None
    covered: bool
    messages: int
    drift: int
    rate: float | None
    messages_now: int
    drift_now: int
    rate_now: float | None
    arrow: str
    trend: tuple[Bucket, ...]
    rules: tuple[RuleHealth, ...]
    #: First drifting offset per partition in the period: where the admin side compares each
    #: consumer group's committed offsets (affected consumers).
    first_drift_offsets: Mapping[int, int]
    #: None: no consumer information was given; () : given, and no group reads the topic.
    consumers: tuple[ConsumerImpact, ...] | None = None

    @property
    def open_rules(self) -> tuple[RuleHealth, ...]:
        """The rules still open at the end of the period."""
        return tuple(r for r in self.rules if r.state == OPEN)

    @property
    def fixed_rules(self) -> tuple[RuleHealth, ...]:
        """The rules that stopped within the period."""
        return tuple(r for r in self.rules if r.state == FIXED)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "topic": self.topic,
            "status": self.status,
            "owner": self.owner,
            "covered": self.covered,
            "messages": self.messages,
            "drift": self.drift,
            "rate": self.rate,
            "messages_now": self.messages_now,
            "drift_now": self.drift_now,
            "rate_now": self.rate_now,
            "trend": {"arrow": self.arrow, "buckets": [b.to_dict() for b in self.trend]},
            "rules": [r.to_dict() for r in self.rules],
            "first_drift_offsets": {str(p): o for p, o in sorted(self.first_drift_offsets.items())},
            "consumers": None if self.consumers is None else [c.to_dict() for c in self.consumers],
        }


@dataclass(frozen=True, slots=True)
class UnusedContract:
    """An event type of a contracted topic that no traffic used in the period."""

    topic: str
    event_type: str
    versions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"topic": self.topic, "event_type": self.event_type, "versions": list(self.versions)}


@dataclass(frozen=True, slots=True)
class Coverage:
    """Topics without contracts, contracts without traffic, and what is known of version use.

    The drift topic counts traffic per event type, not per version: the versions in use are
    known only from drifting messages (``versions_in_drift``), so an unused *version* of a used
    event type cannot be told apart from a version whose messages were all valid.
    """

    uncovered_topics: tuple[str, ...]
    silent_topics: tuple[str, ...]
    unused_event_types: tuple[UnusedContract, ...]
    versions_in_drift: Mapping[str, Mapping[str, tuple[int, ...]]]
    traffic_known: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "traffic_known": self.traffic_known,
            "uncovered_topics": list(self.uncovered_topics),
            "silent_topics": list(self.silent_topics),
            "unused_event_types": [u.to_dict() for u in self.unused_event_types],
            "versions_in_drift": {
                topic: {et: list(vs) for et, vs in sorted(types.items())}
                for topic, types in sorted(self.versions_in_drift.items())
            },
            "version_usage": "not on the drift topic: traffic is counted per event type; versions are known "
            "only from drifting messages (versions_in_drift)",
        }


@dataclass(frozen=True, slots=True)
class Period:
    """The report's time range (event time, ms, ``until`` exclusive) and how it is cut."""

    since: int
    until: int
    window_ms: int = 60_000
    buckets: int = 24
    #: A rule is fixed after this many windows with traffic of its event type and without it.
    open_windows: int = 3

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise ValueError("the period must end after it starts")
        if self.window_ms <= 0 or self.buckets <= 0 or self.open_windows <= 0:
            raise ValueError("window size, bucket count and open windows must be positive")

    @property
    def bucket_ms(self) -> int:
        """Width of one trend bucket (the period split in ``buckets``, rounded up to whole seconds)."""
        span = self.until - self.since
        width = -(-span // self.buckets)
        return -(-width // 1000) * 1000

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "window_ms": self.window_ms,
            "bucket_ms": self.bucket_ms,
            "buckets": self.buckets,
            "open_windows": self.open_windows,
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The whole cluster over a period: one :class:`TopicHealth` per topic, coverage, the verdict."""

    period: Period
    generated_at: int
    now_window: int | None  # start of the latest window any record covers ("now")
    topics: tuple[TopicHealth, ...]
    coverage: Coverage
    records: Mapping[str, int] = field(default_factory=dict)
    #: Rules (fingerprints) past the aggregator's bound: counted, not listed.
    rules_dropped: int = 0

    @property
    def open_breaking(self) -> tuple[RuleHealth, ...]:
        """Open rules of severity breaking: what makes the report's exit code 1."""
        return tuple(r for t in self.topics for r in t.open_rules if r.severity == "breaking")

    @property
    def exit_code(self) -> int:
        """0 without open breaking drift, 1 with it (``core.exits``)."""
        return 1 if self.open_breaking else 0

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (README "stream-sentinel report", ``version`` 1)."""
        return {
            "report": "stream-sentinel drift health",
            "version": JSON_VERSION,
            "generated_at": iso(self.generated_at),
            "period": self.period.to_dict(),
            "now_window": iso(self.now_window),
            "verdict": {
                "exit_code": self.exit_code,
                "open_breaking": len(self.open_breaking),
                "open": sum(len(t.open_rules) for t in self.topics),
                "fixed": sum(len(t.fixed_rules) for t in self.topics),
            },
            "statuses": {s: sum(t.status == s for t in self.topics) for s in STATUSES},
            "topics": [t.to_dict() for t in self.topics],
            "coverage": self.coverage.to_dict(),
            "records": dict(sorted(self.records.items())),
            "rules_dropped": self.rules_dropped,
        }
