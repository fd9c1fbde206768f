"""Fold the drift topic into the cluster health model: an ``initialize`` / ``add`` / ``result`` aggregator.

Input: the decoded records of the drift topic, in any order, as every worker publishes them:

- ``drift`` events (spec/events/sentinel/drift-event.v1): the latest one of each fingerprint gives
  the redacted sample and the suggested fix; in ``every`` alert mode they are also what is counted
  for windows whose summary is not out yet. Only ``origin: live`` events count: ``replay
  --publish`` re-reports old messages, which would count them twice.
- ``summary`` records (drift-summary.v1): one fingerprint's exact count in one closed tumbling
  window, with the messages of its event type in that window.
- ``traffic`` records (drift-traffic.v1): the messages of one topic and event type in one closed
  window, drift or not. They are what tells an ``ok`` topic from a ``silent`` one and what finds
  uncovered topics; without any (a worker older than them) the model says ``unknown``.

Definitions (README "stream-sentinel report"):

- **open / fixed**: a rule (fingerprint) is *fixed* when, after the last window it was seen in,
  its topic and event type had traffic in at least ``Period.open_windows`` windows without it
  (the messages that would have broken it kept coming and did not). Otherwise it is *open*: it
  was seen recently, or nothing since proves it stopped. A rule seen again after a clean stretch
  is open again: only the stretch after its last occurrence counts.
- **now**: the latest tumbling window with traffic records (closed, so its counts are complete);
  without traffic records, the latest window any record of the period covers.
- **rate**: violations / messages of the rule's topic and event type (a topic's rate adds all its
  rules, so a message breaking two rules counts twice).

Pure: no clock (the period and ``generated_at`` are passed in), no I/O. Memory is bounded by
the fingerprints kept (``max_rules``; the rest are counted in ``rules_dropped``) and by one
counter per (topic, event type, window) of the period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stream_sentinel.core.health import model as m

#: Fingerprints kept by default (the worker's own cap per window is 500).
MAX_RULES: Final = 5_000
#: Distinct drift ids remembered to drop redelivered drift events (past it: counted as they come).
MAX_DRIFT_IDS: Final = 100_000
#: Drifting offsets remembered per partition for the affected-consumers count (past it: the first ones kept).
MAX_OFFSETS: Final = 10_000
_SEVERITIES: Final = ("info", "warning", "breaking")
_ALARMING: Final = frozenset({"warning", "breaking"})


@dataclass(frozen=True, slots=True)
class TopicContracts:
    """What the catalog says of one topic: its owner and event types with their versions."""

    owner: str | None
    event_types: Mapping[str, tuple[int, ...]]


def contracts_of(catalog: Any, exclude: Iterable[str] = ()) -> dict[str, TopicContracts]:
    """The coverage view of a loaded catalog (``core.contracts.catalog.Catalog``), minus ``exclude``.

    The drift topic itself is usually excluded: its traffic is the sentinel's own output.
    """
    skip = set(exclude)
    return {
        name: TopicContracts(
            topic.owner,
            {et: tuple(sorted(v.version for v in event.versions)) for et, event in sorted(topic.events.items())},
        )
        for name, topic in sorted(catalog.topics.items())
        if name not in skip
    }


@dataclass(slots=True)
class _Rule:
    """One fingerprint's bookkeeping over the period."""

    topic: str
    event_type: str | None
    kind: str
    severity: str
    requirement: str | None
    owner: str | None
    rule_path: str
    rule: str | None
    summarized: dict[int, int] = field(default_factory=dict)  # window start -> summary count
    events: Counter[int] = field(default_factory=Counter)  # window start -> live drift events
    first: int | None = None
    last: int | None = None
    latest: dict[str, Any] | None = None
    latest_at: int = -1

    def seen(self, at: int) -> None:
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)

    def windows(self) -> dict[int, int]:
        """Count per window: the summary's where one is out, else the drift events seen."""
        out = {w: n for w, n in self.events.items() if n}
        out.update(self.summarized)
        return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class HealthAggregator:
    """Builds a :class:`~stream_sentinel.core.health.model.HealthReport` from drift-topic records.

    ``contracts``: the catalog's topics (:func:`contracts_of`); ``consumers``: per topic, the
    consumer groups the Kafka admin side found (optional; rendered when given).
    """

    def __init__(
        self,
        period: m.Period,
        contracts: Mapping[str, TopicContracts],
        *,
        generated_at: int,
        consumers: Mapping[str, Sequence[m.ConsumerImpact]] | None = None,
        max_rules: int = MAX_RULES,
    ) -> None:
        self.period, self.contracts, self.generated_at = period, contracts, generated_at
        self.consumers, self.max_rules = consumers, max_rules
        self.initialize()

    def initialize(self) -> None:
        """Forget every record added."""
        self._traffic: dict[tuple[str, str | None], dict[int, int]] = {}
        # Keyed by fingerprint *and* topic and event type: the windows' overflow slot has the same
        # fingerprint ("overflow") on every key, and must not lump topics together.
        self._rules: dict[tuple[str, str, str | None], _Rule] = {}
        self._ids: set[str] = set()
        self._first_offsets: dict[str, dict[int, int]] = {}
        self._offsets: dict[str, dict[int, set[int]]] = {}
        self._versions: dict[str, dict[str, set[int]]] = {}
        self._records: Counter[str] = Counter()
        self._traffic_seen = False
        self._dropped: set[str] = set()

    # -- adding ---------------------------------------------------------------------------------

    def add(self, record: Any) -> None:
        """Fold one decoded drift-topic record in; anything unreadable is counted, never raised."""
        kind = record.get("type") if isinstance(record, dict) else None
        if kind == "summary":
            handled = self._summary(record)
        elif kind == "drift":
            handled = self._drift(record)
        elif kind == "traffic":
            handled = self._traffic_record(record)
        else:
            handled = "ignored"
        self._records[handled] += 1

    def _in_period(self, at: int) -> bool:
        return self.period.since <= at < self.period.until

    def _window(self, record: Mapping[str, Any]) -> int | None:
        window = record.get("window")
        start = _int(window.get("start")) if isinstance(window, dict) else None
        return start if start is not None and self._in_period(start) else None

    def _count_traffic(self, topic: str, event_type: str | None, window: int, messages: int) -> None:
        counts = self._traffic.setdefault((topic, event_type), {})
        counts[window] = max(counts.get(window, 0), messages)

    def _traffic_record(self, record: Mapping[str, Any]) -> str:
        topic, messages, window = _text(record.get("topic")), _int(record.get("messages")), self._window(record)
        if topic is None or messages is None:
            return "ignored"
        self._traffic_seen = True
        if window is None:
            return "outside_period"
        self._count_traffic(topic, _text(record.get("event_type")), window, messages)
        return "traffic"

    def _rule(self, record: Mapping[str, Any]) -> _Rule | None:
        fp, topic, kind = _text(record.get("fingerprint")), _text(record.get("topic")), _text(record.get("kind"))
        if fp is None or topic is None or kind is None:
            return None
        key = (fp, topic, _text(record.get("event_type")))
        found = self._rules.get(key)
        if found is not None:
            return found
        if len(self._rules) >= self.max_rules:
            if len(self._dropped) < MAX_DRIFT_IDS:
                self._dropped.add(fp)
            return None
        severity = _text(record.get("severity"))
        found = self._rules[key] = _Rule(
            topic=topic,
            event_type=_text(record.get("event_type")),
            kind=kind,
            severity=severity if severity in _SEVERITIES else "breaking",
            requirement=_text(record.get("requirement")),
            owner=_text(record.get("owner")),
            rule_path=_text(record.get("rule_path")) or "",
            rule=_text(record.get("rule")),
        )
        return found

    def _summary(self, record: Mapping[str, Any]) -> str:
        window, count = self._window(record), _int(record.get("count"))
        if count is None or not isinstance(record.get("window"), dict):
            return "ignored"
        if window is None:
            return "outside_period"
        rule = self._rule(record)
        if rule is None:
            return "ignored" if _text(record.get("fingerprint")) is None else "dropped"
        # One windows key owns a (fingerprint, window): a redelivered summary repeats the count.
        rule.summarized[window] = max(rule.summarized.get(window, 0), count)
        rule.seen(window)
        messages = _int(record.get("messages"))
        if messages is not None:
            self._count_traffic(rule.topic, rule.event_type, window, messages)
        first = record.get("first")
        if isinstance(first, dict):
            self._offset(rule.topic, _int(first.get("partition")), _int(first.get("offset")))
        last = record.get("last")
        if isinstance(last, dict):
            self._offset(rule.topic, _int(last.get("partition")), _int(last.get("offset")))
        return "summary"

    def _offset(self, topic: str, partition: int | None, offset: int | None) -> None:
        """Remember a drifting message's offset: the first per partition, and the known ones (bounded)."""
        if partition is None or offset is None:
            return
        offsets = self._first_offsets.setdefault(topic, {})
        offsets[partition] = min(offsets.get(partition, offset), offset)
        known = self._offsets.setdefault(topic, {}).setdefault(partition, set())
        if len(known) < MAX_OFFSETS:
            known.add(offset)

    def drifting_offsets(self, topic: str) -> dict[int, list[int]]:
        """The offsets of the topic's drifting messages known from the drift topic, per partition.

        Exact in ``every`` alert mode (each drifting message has its drift event); otherwise the
        first drift event of each rule and window plus each summary's first and last offsets: a
        lower bound. The affected-consumers count (``core.consumers.impacts``) is made from these.
        """
        return {p: sorted(offsets) for p, offsets in sorted(self._offsets.get(topic, {}).items())}

    def set_consumers(self, consumers: Mapping[str, Sequence[m.ConsumerImpact]] | None) -> None:
        """Give the affected consumers found after the records were added (they need the offsets)."""
        self.consumers = consumers

    def _drift(self, record: Mapping[str, Any]) -> str:
        source = record.get("source")
        if not isinstance(source, dict):
            return "ignored"
        if record.get("origin", "live") != "live":
            return "other_origin"
        at = _int(source.get("timestamp")) or _int(record.get("observed_at"))
        if at is None:
            return "ignored"
        if not self._in_period(at):
            return "outside_period"
        record = {**record, "topic": source.get("topic")}
        rule = self._rule(record)
        if rule is None:
            return "ignored" if _text(record.get("fingerprint")) is None else "dropped"
        self._offset(rule.topic, _int(source.get("partition")), _int(source.get("offset")))
        self._version(rule, record.get("schema"))
        drift_id = _text(record.get("drift_id")) or ""
        if drift_id in self._ids:
            return "duplicate"
        if len(self._ids) < MAX_DRIFT_IDS:
            self._ids.add(drift_id)
        window = at - at % self.period.window_ms
        rule.events[window] += 1
        rule.seen(at)
        if at >= rule.latest_at:
            rule.latest, rule.latest_at = dict(record), at
        return "drift"

    def _version(self, rule: _Rule, schema: Any) -> None:
        version = _int(schema.get("version")) if isinstance(schema, dict) else None
        if version is not None and rule.event_type is not None:
            self._versions.setdefault(rule.topic, {}).setdefault(rule.event_type, set()).add(version)

    # -- the result -----------------------------------------------------------------------------

    def result(self) -> m.HealthReport:
        """The health report of everything added so far."""
        now = self._now_window()
        by_topic: dict[str, list[tuple[str, _Rule]]] = {}
        for (fp, _, _), rule in self._rules.items():
            by_topic.setdefault(rule.topic, []).append((fp, rule))
        topics = sorted({t for t, _ in self._traffic} | set(by_topic) | set(self.contracts))
        built = [self._topic(topic, by_topic.get(topic, []), now) for topic in topics]
        order = {status: i for i, status in enumerate(m.STATUSES)}
        built.sort(key=lambda t: (order[t.status], t.topic))
        return m.HealthReport(
            period=self.period,
            generated_at=self.generated_at,
            now_window=now,
            topics=tuple(built),
            coverage=self._coverage(built),
            records=dict(self._records),
            rules_dropped=len(self._dropped),
        )

    def _now_window(self) -> int | None:
        """The latest window with traffic records (closed: its counts are complete), else with any record.

        Drift events of a window still open arrive before its traffic record; counting that window
        as *now* would show every topic without messages now (the live dashboard, ``first`` mode).
        """
        starts = [w for counts in self._traffic.values() for w in counts]
        if starts:
            return max(starts)
        for rule in self._rules.values():
            starts.extend(rule.windows())
        return max(starts, default=None)

    def _topic_windows(self, topic: str) -> dict[int, int]:
        """Messages of a topic per window: its topic-wide count, or its event types' sum if larger."""
        typed: Counter[int] = Counter()
        wide: dict[int, int] = {}
        for (name, event_type), counts in self._traffic.items():
            if name != topic:
                continue
            if event_type is None:
                wide = counts
            else:
                typed.update(counts)
        return {w: max(wide.get(w, 0), typed.get(w, 0)) for w in set(wide) | set(typed)}

    def _topic(self, topic: str, own: Sequence[tuple[str, _Rule]], now: int | None) -> m.TopicHealth:
        rules = sorted((self._rule_health(fp, rule, now) for fp, rule in own), key=_rule_order)
        windows = self._topic_windows(topic)
        drift_windows: Counter[int] = Counter()
        for _, rule in own:
            drift_windows.update(rule.windows())
        messages, drift = sum(windows.values()), sum(drift_windows.values())
        messages_now = windows.get(now, 0) if now is not None else 0
        drift_now = drift_windows.get(now, 0) if now is not None else 0
        trend = self._trend(windows, drift_windows)
        contract = self.contracts.get(topic)
        consumers = self.consumers.get(topic) if self.consumers is not None else None
        return m.TopicHealth(
            topic=topic,
            status=self._status(contract is not None, messages + drift > 0, rules),
            owner=contract.owner if contract is not None and contract.owner else _common_owner(rules),
            covered=contract is not None,
            messages=messages,
            drift=drift,
            rate=_rate(drift, messages),
            messages_now=messages_now,
            drift_now=drift_now,
            rate_now=_rate(drift_now, messages_now),
            arrow=arrow(trend),
            trend=trend,
            rules=tuple(rules),
            first_drift_offsets=dict(sorted(self._first_offsets.get(topic, {}).items())),
            consumers=None if self.consumers is None else tuple(consumers or ()),
        )

    def _status(self, covered: bool, traffic: bool, rules: Sequence[m.RuleHealth]) -> str:
        if any(r.state == m.OPEN and r.severity in _ALARMING for r in rules):
            return m.DRIFTING
        if not covered:
            return m.UNCOVERED
        if traffic:
            return m.OK
        return m.SILENT if self._traffic_seen else m.UNKNOWN

    def _rule_health(self, fp: str, rule: _Rule, now: int | None) -> m.RuleHealth:
        windows = rule.windows()
        traffic = self._traffic.get((rule.topic, rule.event_type), {})
        messages = sum(traffic.values())
        count = sum(windows.values())
        last_window = max(windows, default=self.period.since)
        clean = sum(1 for w, n in traffic.items() if w > last_window and n > 0)
        count_now = windows.get(now, 0) if now is not None else 0
        messages_now = traffic.get(now, 0) if now is not None else 0
        return m.RuleHealth(
            fingerprint=fp,
            topic=rule.topic,
            event_type=rule.event_type,
            kind=rule.kind,
            severity=rule.severity,
            requirement=rule.requirement,
            owner=rule.owner,
            rule_path=rule.rule_path,
            rule=rule.rule,
            state=m.FIXED if clean >= self.period.open_windows else m.OPEN,
            count=count,
            messages=messages,
            rate=_rate(count, messages),
            count_now=count_now,
            rate_now=_rate(count_now, messages_now),
            first_seen=rule.first if rule.first is not None else self.period.since,
            last_seen=rule.last if rule.last is not None else self.period.since,
            clean_windows=clean,
            latest=_latest(rule.latest, rule.latest_at),
        )

    def _trend(self, messages: Mapping[int, int], drift: Mapping[int, int]) -> tuple[m.Bucket, ...]:
        width, since = self.period.bucket_ms, self.period.since
        count = -(-(self.period.until - since) // width)
        msgs, drifts = [0] * count, [0] * count
        # A window that began before the period (it straddles ``since``) goes to the first bucket.
        for window, n in messages.items():
            msgs[max(0, min((window - since) // width, count - 1))] += n
        for window, n in drift.items():
            drifts[max(0, min((window - since) // width, count - 1))] += n
        return tuple(m.Bucket(since + i * width, msgs[i], drifts[i]) for i in range(count))

    def _coverage(self, topics: Sequence[m.TopicHealth]) -> m.Coverage:
        uncovered = tuple(t.topic for t in topics if not t.covered and t.messages + t.drift > 0)
        silent = tuple(t.topic for t in topics if t.status == m.SILENT)
        unused: list[m.UnusedContract] = []
        if self._traffic_seen:
            for topic, contract in sorted(self.contracts.items()):
                if topic in silent:
                    continue
                for event_type, versions in contract.event_types.items():
                    if not sum(self._traffic.get((topic, event_type), {}).values()):
                        unused.append(m.UnusedContract(topic, event_type, versions))
        in_drift = {
            topic: {et: tuple(sorted(vs)) for et, vs in sorted(types.items())}
            for topic, types in sorted(self._versions.items())
        }
        return m.Coverage(tuple(sorted(uncovered)), silent, tuple(unused), in_drift, self._traffic_seen)


def _rate(count: int, messages: int) -> float | None:
    return round(count / messages, 6) if messages else None


def _rule_order(rule: m.RuleHealth) -> tuple[Any, ...]:
    return (rule.state != m.OPEN, -_SEVERITIES.index(rule.severity), -rule.count, rule.fingerprint)


def _common_owner(rules: Sequence[m.RuleHealth]) -> str | None:
    owners = Counter(r.owner for r in rules if r.owner)
    return min(owners, key=lambda o: (-owners[o], o)) if owners else None


def arrow(trend: Sequence[m.Bucket]) -> str:
    """The trend arrow: the drift rate of the period's later half against its earlier half.

    ``up`` when the later rate is over 1.25 times the earlier one, or drift appears in a later
    half after an earlier half without traffic; ``down`` under 0.8 times; ``flat`` otherwise,
    whenever the two differ by less than 0.001 (noise), and when the later half has no traffic
    (nothing says where the rate went). Without message counts the drift counts are compared.
    """
    half = len(trend) // 2
    if half == 0:
        return m.FLAT
    early, late = _half_rate(trend[:half]), _half_rate(trend[half:])
    if late is None:
        return m.FLAT
    if early is None:
        return m.UP if late > 0 else m.FLAT
    if abs(late - early) < 0.001:
        return m.FLAT
    if late > early * 1.25:
        return m.UP
    if late < early * 0.8:
        return m.DOWN
    return m.FLAT


def _half_rate(buckets: Sequence[m.Bucket]) -> float | None:
    drift = sum(b.drift for b in buckets)
    messages = sum(b.messages for b in buckets)
    if not messages and not drift:
        return None
    return drift / messages if messages else float(drift)


def _latest(record: Mapping[str, Any] | None, at: int) -> m.Latest | None:
    """The fields of a rule's latest drift event a person reads (already redacted at the source)."""
    if record is None:
        return None
    source, schema = record.get("source"), record.get("schema")
    source = source if isinstance(source, dict) else {}
    schema = schema if isinstance(schema, dict) else {}
    actual = record.get("actual")
    return m.Latest(
        drift_id=_text(record.get("drift_id")) or "",
        at=at,
        path=_text(record.get("path")) or "",
        expected=_text(record.get("expected")) or "",
        actual=actual if isinstance(actual, dict) else {},
        message=_text(record.get("message")) or "",
        suggested_fix=_text(record.get("suggested_fix")) or "",
        sample=record.get("sample"),
        partition=_int(source.get("partition")),
        offset=_int(source.get("offset")),
        schema_version=_int(schema.get("version")),
    )
