"""Judging facts against per-entity state: the stateful rules, pure and clock-free.

A :class:`RuleRuntime` owns one *lane* of entities (the worker: one partition of its internal
rules topic; replay and check: the whole run). It reads and writes entity state through a
:class:`StateStore` (a Faust table in the worker, a dict otherwise) and keeps an in-memory timer
heap for what time alone decides: follow-up deadlines, the ``unique`` horizon and the idle TTL.

Time is event time. The lane's *watermark* is the newest event time it has seen (the worker
moves an idle lane with wall-clock ticks, like the windows); a deadline fires once the
watermark has passed it by the grace period, so a follow-up delivered a little late (another
partition, another topic) still counts.

Redelivery is never drift: every entity state records, per source partition, the highest
offset it has applied (``hw``); a fact at or below it is a record seen before (a restart after
a crash re-reads what was not committed) and is ignored.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final, NamedTuple, Protocol

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.rules.model import AFTER, Compiled, Fact, RuleSet

#: Idle entities are forgotten after this much event time by default (``rules_entity_ttl``).
DEFAULT_TTL_MS: Final = 7 * 86_400_000
#: Entities kept per lane by default (``rules_max_entities``): over it the soonest due go.
DEFAULT_MAX_ENTITIES: Final = 200_000
_SEP: Final = "\x1f"


class StateStore(Protocol):
    """Where entity states live: ``get``/``set``/``delete`` by string key, values plain JSON."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The state under ``key``, or None."""

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``."""

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""


class DictStore:
    """An in-memory :class:`StateStore` (replay, check, tests)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The state under ``key``, or None."""
        return self.data.get(key)

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``."""
        self.data[key] = value

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self.data.pop(key, None)


class Finding(NamedTuple):
    """A rule violation with the message it is reported on (for a missing follow-up: the earlier one)."""

    violation: d.Violation
    source: d.Source
    event_type: str


def state_key(rule: str, entity: str) -> str:
    """The store key of one rule's state of one entity."""
    return f"{rule}{_SEP}{entity}"


def _coords(fact: Fact) -> list[Any]:
    return [fact.topic, fact.partition, fact.offset, fact.ts, fact.event_type]


def _source(at: list[Any]) -> d.Source:
    return d.Source(at[0], at[1], at[2], at[3])


class RuleRuntime:
    """One lane of entity states: facts in, findings out; timers for deadlines, horizons and the TTL."""

    def __init__(
        self,
        rules: RuleSet,
        store: StateStore,
        *,
        grace_ms: int = 2000,
        ttl_ms: int = DEFAULT_TTL_MS,
        max_entities: int = DEFAULT_MAX_ENTITIES,
        lane: int = 0,
    ) -> None:
        self.rules = rules
        self.store = store
        self.grace_ms = grace_ms
        self.ttl_ms = ttl_ms
        self.max_entities = max_entities
        self.lane = lane
        self.watermark = 0
        #: Entities dropped by reason (``ttl``, ``cap``); follow-ups pending on them in ``dropped_pending``.
        self.evicted: Counter[str] = Counter()
        self.dropped_pending = 0
        #: Facts ignored as redelivered (coordinates at or below the entity's high-water mark).
        self.redelivered = 0
        self._due: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._due)

    # -- facts -------------------------------------------------------------------------------

    def process(self, fact: Fact) -> list[Finding]:
        """Judge one fact; returns its findings plus those of deadlines its event time passed."""
        rule = self.rules.rules.get(fact.rule)
        findings: list[Finding] = []
        if rule is not None:
            key = state_key(fact.rule, fact.entity)
            state = self.store.get(key)
            tp = f"{fact.topic}/{fact.partition}"
            if state is not None and state["hw"].get(tp, -1) >= fact.offset:
                self.redelivered += 1
            else:
                state = self._judge(rule, fact, state, findings)
                state["hw"][tp] = fact.offset
                state["ts"] = max(state.get("ts", fact.ts), fact.ts)
                state["p"] = self.lane
                self.store.set(key, state)
                self._schedule(key, rule, state)
        if fact.ts > self.watermark:
            self.watermark = fact.ts
            findings.extend(self.expire())
        return findings

    def tick(self, watermark: int) -> list[Finding]:
        """Move the watermark (an idle lane's wall-clock tick) and fire what it passed."""
        if watermark > self.watermark:
            self.watermark = watermark
        return self.expire()

    def rebuild(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Re-create the timers of this lane's states (after a restart or a rebalance)."""
        self._due.clear()
        self._heap.clear()
        for key, state in items:
            if state.get("p") != self.lane:
                continue
            rule = self.rules.rules.get(key.split(_SEP, 1)[0])
            if rule is None:
                self.store.delete(key)  # a rule removed from the catalog: its state goes
                continue
            self._schedule(key, rule, state)

    # -- time --------------------------------------------------------------------------------

    def expire(self) -> list[Finding]:
        """Fire every timer the watermark passed: missing follow-ups, horizons, idle entities."""
        findings: list[Finding] = []
        heap, due_of, horizon = self._heap, self._due, self.watermark
        while heap and heap[0][0] <= horizon:
            due, key = heapq.heappop(heap)
            if due_of.get(key) != due:
                continue  # superseded by a later schedule
            del due_of[key]
            state = self.store.get(key)
            rule = self.rules.rules.get(key.split(_SEP, 1)[0])
            if state is None or rule is None:
                continue
            pending = state.get("pending")
            if pending is not None and pending[0] + self.grace_ms <= horizon:
                findings.append(_missing(rule, pending))
                state["pending"] = None
            if rule.spec.kind == "unique" and state["at"][3] + rule.spec.horizon_ms <= horizon:
                self.store.delete(key)  # the horizon passed: the id may be used again
                continue
            if state["ts"] + self.ttl_ms <= horizon:
                self.evicted["ttl"] += 1
                self.store.delete(key)
                continue
            self.store.set(key, state)
            self._schedule(key, rule, state)
        return findings

    def _schedule(self, key: str, rule: Compiled, state: dict[str, Any]) -> None:
        due = state["ts"] + self.ttl_ms
        pending = state.get("pending")
        if pending is not None:
            due = min(due, pending[0] + self.grace_ms)
        if rule.spec.kind == "unique":
            due = min(due, state["at"][3] + rule.spec.horizon_ms)
        new = key not in self._due
        if self._due.get(key) == due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._heap = [(v, k) for k, v in self._due.items()]
            heapq.heapify(self._heap)
        if new and len(self._due) > self.max_entities:
            self._evict_one()

    def _evict_one(self) -> None:
        while self._heap:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) != due:
                continue
            del self._due[key]
            state = self.store.get(key)
            if state is not None and state.get("pending") is not None:
                self.dropped_pending += 1
            self.store.delete(key)
            self.evicted["cap"] += 1
            return

    # -- the four kinds ----------------------------------------------------------------------

    def _judge(self, rule: Compiled, fact: Fact, state: dict[str, Any] | None, out: list[Finding]) -> dict[str, Any]:
        kind = rule.spec.kind
        if state is None:
            state = {"hw": {}, "ts": fact.ts}
            return _start(rule, fact, state, out)
        if kind == "transitions":
            return _transition(rule, fact, state, out)
        if kind == "unique":
            return _unique(rule, fact, state, out)
        if kind == "ordered":
            return _ordered(rule, fact, state, out)
        return _follows(rule, fact, state)


def _start(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> dict[str, Any]:
    """An entity seen for the first time (or again after its state was forgotten)."""
    spec = rule.spec
    state["at"] = _coords(fact)
    if spec.kind == "transitions":
        state["s"] = fact.value
        if fact.value not in rule.states:
            out.append(_violation(rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, None), f"{fact.value}", None))
        elif spec.strict_start and fact.value not in spec.initial:
            # Unknown past is adopted silently unless the rule insists on seeing the start.
            out.append(
                _violation(rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, None), f"(none) -> {fact.value}", None)
            )
    elif spec.kind == "ordered":
        state["v"] = fact.value
    elif spec.kind == "follows":
        state["pending"] = None
        state["expect_ts"] = None
        return _follows(rule, fact, state)
    return state


def _transition(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> dict[str, Any]:
    spec, current, new = rule.spec, state["s"], fact.value
    # ``related`` (the earlier message) is built only for a finding: most facts are legal moves.
    if new not in rule.states:
        out.append(
            _violation(
                rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, current), f"{current} -> {new}", _source(state["at"])
            )
        )
        return state
    if fact.ts < state["at"][3]:
        # Delivered out of event-time order (another partition or topic ran ahead): a history
        # in which this state came first is fine; one in which it cannot have is not.
        if current not in rule.reaches.get(new, frozenset()) and current != new:
            out.append(
                _violation(
                    rule,
                    fact,
                    d.ILLEGAL_TRANSITION,
                    _expected(rule, new),
                    f"{new} -> {current}",
                    _source(state["at"]),
                    late=True,
                )
            )
        return state
    allowed = current not in spec.terminal and new in spec.transitions.get(current, frozenset())
    if not allowed:
        out.append(
            _violation(
                rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, current), f"{current} -> {new}", _source(state["at"])
            )
        )
    # The state follows what was written, legal or not: one wrong move is one finding, not a
    # finding for every later event of the entity.
    state["s"] = new
    state["at"] = _coords(fact)
    return state


def _unique(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> dict[str, Any]:
    first = state["at"]
    if abs(fact.ts - first[3]) <= rule.spec.horizon_ms:
        out.append(
            _violation(
                rule,
                fact,
                d.DUPLICATE,
                f"each id once within {_human(rule.spec.horizon_ms)}",
                "seen before",
                _source(first),
            )
        )
        return state
    state["at"] = _coords(fact)  # an old first occurrence past the horizon: this is the new first
    return state


def _ordered(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> dict[str, Any]:
    spec, last, value = rule.spec, state["v"], fact.value
    if type(value) is not type(last):
        state["v"], state["at"] = value, _coords(fact)  # the sequence changed type: start again
        return state
    by_time = spec.by is None
    backwards = value < last if by_time else value <= last
    if backwards:
        expected = (
            "event time not before the previous event's" if by_time else f"a value after {_shown(rule, fact, last)}"
        )
        out.append(_violation(rule, fact, d.OUT_OF_ORDER, expected, _shown(rule, fact, value), _source(state["at"])))
        return state  # the high point stays: later events are compared with it
    if spec.gaps and not by_time and type(value) is int and value > last + 1:
        out.append(
            _violation(
                rule,
                fact,
                d.SEQUENCE_GAP,
                f"{_shown(rule, fact, last + 1)}",
                _shown(rule, fact, value),
                _source(state["at"]),
                severity=d.INFO,
            )
        )
    state["v"], state["at"] = value, _coords(fact)
    return state


def _follows(rule: Compiled, fact: Fact, state: dict[str, Any]) -> dict[str, Any]:
    spec = rule.spec
    if fact.value == AFTER:
        expect_ts = state.get("expect_ts")
        if expect_ts is not None and fact.ts <= expect_ts <= fact.ts + spec.within_ms:
            return state  # the follow-up was delivered first (another topic ran ahead)
        if state.get("pending") is None:
            state["pending"] = [fact.ts + spec.within_ms, *_coords(fact)]
        return state
    state["expect_ts"] = max(fact.ts, state.get("expect_ts") or fact.ts)
    pending = state.get("pending")
    if pending is not None and fact.ts >= pending[4]:
        state["pending"] = None
    return state


def _missing(rule: Compiled, pending: list[Any]) -> Finding:
    spec = rule.spec
    _, topic, partition, offset, ts, event_type = pending
    assert spec.expect is not None
    source = d.Source(topic, partition, offset, ts)
    violation = d.Violation(
        d.MISSING_FOLLOWUP,
        spec.severity,
        rule.path(topic),
        f"rule:{spec.id}",
        f"{spec.expect[1]} within {_human(spec.within_ms)} ({spec.message})",
        "missing",
        None,
        False,
        spec.requirement,
        rule.owner(topic),
        d.MISSING_FOLLOWUP,
        f"no {spec.expect[1]} on {spec.expect[0]} for this entity by the deadline",
        rule=spec.id,
        related=source,
    )
    return Finding(violation, source, event_type)


def _violation(
    rule: Compiled,
    fact: Fact,
    kind: str,
    expected: str,
    actual: str,
    related: d.Source | None,
    *,
    severity: str | None = None,
    late: bool = False,
) -> Finding:
    spec = rule.spec
    shows_value = rule.shows_value.get((fact.topic, fact.event_type), False)
    shows_entity = rule.shows_entity.get((fact.topic, fact.event_type), False)
    entity = f"entity {fact.entity}" if shows_entity else "entity (id withheld: not proven free of PII)"
    detail = f"{entity}; {spec.message}" + ("; delivered after a later event" if late else "")
    # Event types are catalog words; a state, sequence or id read from the payload is a value.
    value_is_catalog_word = spec.kind == "transitions" and spec.state is None
    shown = actual if (value_is_catalog_word or shows_value or kind == d.DUPLICATE) else None
    violation = d.Violation(
        kind,
        severity or spec.severity,
        rule.path(fact.topic),
        f"rule:{spec.id}",
        expected,
        kind.replace("_", " "),
        shown,
        shown is None,
        spec.requirement,
        rule.owner(fact.topic),
        kind,
        detail,
        rule=spec.id,
        related=related,
    )
    return Finding(violation, fact.source(), fact.event_type)


def _expected(rule: Compiled, current: str | None) -> str:
    spec = rule.spec
    if current is None:
        return f"a start in {', '.join(sorted(spec.initial)) or 'a state the rule names'}"
    if current in spec.terminal:
        return f"nothing after {current} (terminal)"
    targets = sorted(spec.transitions.get(current, frozenset()))
    return f"{current} -> {' | '.join(targets)}" if targets else f"nothing after {current}"


def _shown(rule: Compiled, fact: Fact, value: Any) -> str:
    if rule.spec.by is None:
        return f"event time {value}"
    return str(value) if rule.shows_value.get((fact.topic, fact.event_type), False) else "[REDACTED]"


def _human(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
