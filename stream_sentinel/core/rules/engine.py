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
offset it has applied (under ``"<topic>/<partition>"``); a fact at or below it is a record seen
before (a restart after a crash re-reads what was not committed) and is ignored.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Final, NamedTuple, Protocol

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.rules.model import AFTER, Compiled, Fact, RuleSet

#: Idle entities are forgotten after this much event time by default (``rules_entity_ttl``).
DEFAULT_TTL_MS: Final = 7 * 86_400_000
#: Entities kept per lane by default (``rules_max_entities``): over it the soonest due go.
DEFAULT_MAX_ENTITIES: Final = 200_000
_SEP: Final = "\x1f"
#: Kinds whose due time a fact only ever moves later (the idle TTL); any other kind's can come
#: forward (follows: a trigger now pending; unique: an older first occurrence).
_LATER_ONLY: Final = frozenset({"transitions", "ordered"})


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
        # The dict's own methods (no Python-level call per fact): the state under a key or
        # None; store a state under a key.
        self.get: Callable[[str], dict[str, Any] | None] = self.data.get
        self.set: Callable[[str, dict[str, Any]], None] = self.data.__setitem__

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
    return rule + _SEP + entity


def split_key(key: str) -> tuple[str, str]:
    """``(rule, entity)`` of a :func:`state_key` (a store may keep an entity's rules together)."""
    rule, _, entity = key.partition(_SEP)
    return rule, entity


# An entity state is one flat dict of plain values (no nested dict or list): cheap to build and
# copy, plain JSON at the store boundary, and, holding no container, never scanned by the cyclic
# collector (a lane holds up to ``max_entities`` of them). Its keys:
#   "ts"  newest event time applied; "p" the lane;
#   "<topic>/<partition>"  the highest offset applied from that source partition (these keys
#         have a "/", no fixed key has one);
#   "t", "q", "o", "a"  topic, partition, offset, event time of the message the state stands on
#         (transitions, ordered: the last applied; unique: the first occurrence);
#   transitions "s" (the state); ordered "v" (the high point); follows "pending" (the deadline of
#   the trigger waiting for its follow-up, or None) with the trigger at "pt", "pq", "po", "pa",
#   "pe" (event type), and "expect_ts" (the newest follow-up's event time, or None).


def _source(state: dict[str, Any]) -> d.Source:
    return d.Source(state["t"], state["q"], state["o"], state["a"])


class RuleRuntime:
    """One lane of entity states: facts in, findings out; timers for deadlines, horizons and the TTL.

    Timers are lazy: an entity's heap entry is its earliest possible due time, pushed when the
    entity is new or a fact brings its due time forward (a trigger now pending, an older first
    occurrence). A fact that only moves it later (every fact moves the idle TTL) pushes nothing;
    when the entry pops, the real due time is computed from the state and the entry pushed again
    if that is later. Entries pop in (real due time, key) order all the same.
    """

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
        self._tps: dict[str, list[str]] = {}  # topic -> "<topic>/<partition>" by partition
        #: rule id -> (rule, its kind's judge, whether a fact can bring its due time forward)
        self._plans: dict[str, tuple[Compiled, _Judge, bool]] = {
            rule_id: (rule, _JUDGES.get(rule.spec.kind, _follows), rule.spec.kind not in _LATER_ONLY)
            for rule_id, rule in rules.rules.items()
        }

    def __len__(self) -> int:
        return len(self._due)

    # -- facts -------------------------------------------------------------------------------

    def process(self, fact: Fact) -> list[Finding]:
        """Judge one fact; returns its findings plus those of deadlines its event time passed."""
        rule_id, entity, _, ts, topic, partition, offset, _ = fact
        findings: list[Finding] = []
        plan = self._plans.get(rule_id)
        if plan is not None:
            rule, judge, forward = plan
            key = rule_id + _SEP + entity
            state = self.store.get(key)
            names = self._tps.get(topic)
            tp = names[partition] if names is not None and 0 <= partition < len(names) else self._tp(topic, partition)
            if state is None:
                state = {"ts": ts}
                _start(rule, fact, state, findings)
            elif state.get(tp, -1) >= offset:
                self.redelivered += 1
                forward, state = False, None
            else:
                judge(rule, fact, state, findings)
                if ts > state["ts"]:
                    state["ts"] = ts
            if state is not None:
                state[tp] = offset
                state["p"] = self.lane
                self.store.set(key, state)
                # Only a new entity, or a kind whose due time a fact can bring forward, may
                # need a timer pushed (transitions, ordered: the TTL only ever moves later).
                if forward or key not in self._due:
                    self._schedule(key, rule, state)
        if ts > self.watermark:
            self.watermark = ts
            if self._heap and self._heap[0][0] <= ts:
                findings.extend(self.expire())
        return findings

    def _tp(self, topic: str, partition: int) -> str:
        """The high-water key of a source partition (built once per partition, not per fact)."""
        names = self._tps.get(topic)
        if names is not None and 0 <= partition < len(names):
            return names[partition]
        if not 0 <= partition <= 65_535:
            return f"{topic}/{partition}"
        names = self._tps.setdefault(topic, [])
        names.extend(f"{topic}/{p}" for p in range(len(names), partition + 1))
        return names[partition]

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
            if rule is None or "hw" in state:
                # A rule removed from the catalog: its state goes; so does a state in the
                # earlier nested format (its entity is adopted again, as after an eviction).
                self.store.delete(key)
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
                continue  # superseded by an earlier schedule
            state = self.store.get(key)
            rule = self.rules.rules.get(key.split(_SEP, 1)[0])
            if state is None or rule is None:
                del due_of[key]
                continue
            real = self._due_at(rule, state)
            if real > due:  # facts moved it later since it was pushed: wait for the real one
                due_of[key] = real
                heapq.heappush(heap, (real, key))
                continue
            del due_of[key]
            if state.get("pending") is not None and state["pending"] + self.grace_ms <= horizon:
                findings.append(_missing(rule, state))
                state["pending"] = None
            if rule.spec.kind == "unique" and state["a"] + rule.spec.horizon_ms <= horizon:
                self.store.delete(key)  # the horizon passed: the id may be used again
                continue
            if state["ts"] + self.ttl_ms <= horizon:
                self.evicted["ttl"] += 1
                self.store.delete(key)
                continue
            self.store.set(key, state)
            self._schedule(key, rule, state)
        return findings

    def _due_at(self, rule: Compiled, state: dict[str, Any]) -> int:
        """When the entity next needs attention: the idle TTL, a pending deadline, the unique horizon."""
        due: int = state["ts"] + self.ttl_ms
        pending = state.get("pending")
        if pending is not None and pending + self.grace_ms < due:
            due = pending + self.grace_ms
        if rule.spec.kind == "unique" and state["a"] + rule.spec.horizon_ms < due:
            due = state["a"] + rule.spec.horizon_ms
        return due

    def _schedule(self, key: str, rule: Compiled, state: dict[str, Any]) -> None:
        due = self._due_at(rule, state)
        have = self._due.get(key)
        if have is not None and have <= due:
            return  # the entry in the heap comes first; it is pushed again then if need be
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._heap = [(v, k) for k, v in self._due.items()]
            heapq.heapify(self._heap)
        if have is None and len(self._due) > self.max_entities:
            self._evict_one()

    def _evict_one(self) -> None:
        """Drop the entity due soonest (by its real due time, as :meth:`expire` fires them)."""
        heap, due_of = self._heap, self._due
        while heap:
            due, key = heapq.heappop(heap)
            if due_of.get(key) != due:
                continue
            state = self.store.get(key)
            rule = self.rules.rules.get(key.split(_SEP, 1)[0])
            if state is not None and rule is not None:
                real = self._due_at(rule, state)
                if real > due:
                    due_of[key] = real
                    heapq.heappush(heap, (real, key))
                    continue
            del due_of[key]
            if state is not None and state.get("pending") is not None:
                self.dropped_pending += 1
            self.store.delete(key)
            self.evicted["cap"] += 1
            return


# -- the four kinds (each changes the state in place) ------------------------------------------


def _start(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> None:
    """An entity seen for the first time (or again after its state was forgotten)."""
    spec = rule.spec
    kind = spec.kind
    if kind == "follows":
        state["pending"] = None
        state["expect_ts"] = None
        _follows(rule, fact, state, out)
        return
    state["t"], state["q"], state["o"], state["a"] = fact.topic, fact.partition, fact.offset, fact.ts
    if kind == "transitions":
        state["s"] = fact.value
        if fact.value not in rule.states:
            out.append(_violation(rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, None), f"{fact.value}", None))
        elif spec.strict_start and fact.value not in spec.initial:
            # Unknown past is adopted silently unless the rule insists on seeing the start.
            out.append(
                _violation(rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, None), f"(none) -> {fact.value}", None)
            )
    elif kind == "ordered":
        state["v"] = fact.value


def _transition(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> None:
    current, new = state["s"], fact.value
    # ``related`` (the earlier message) is built only for a finding: most facts are legal moves.
    if new not in rule.states:
        out.append(
            _violation(
                rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, current), f"{current} -> {new}", _source(state)
            )
        )
        return
    if fact.ts < state["a"]:
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
                    _source(state),
                    late=True,
                )
            )
        return
    spec = rule.spec
    if current in spec.terminal or new not in spec.transitions.get(current, ()):
        out.append(
            _violation(
                rule, fact, d.ILLEGAL_TRANSITION, _expected(rule, current), f"{current} -> {new}", _source(state)
            )
        )
    # The state follows what was written, legal or not: one wrong move is one finding, not a
    # finding for every later event of the entity.
    state["s"] = new
    state["t"], state["q"], state["o"], state["a"] = fact.topic, fact.partition, fact.offset, fact.ts


def _unique(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> None:
    if abs(fact.ts - state["a"]) <= rule.spec.horizon_ms:
        out.append(
            _violation(
                rule,
                fact,
                d.DUPLICATE,
                f"each id once within {_human(rule.spec.horizon_ms)}",
                "seen before",
                _source(state),
            )
        )
        return
    # An old first occurrence past the horizon: this is the new first.
    state["t"], state["q"], state["o"], state["a"] = fact.topic, fact.partition, fact.offset, fact.ts


def _ordered(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> None:
    spec, last, value = rule.spec, state["v"], fact.value
    if type(value) is type(last):
        by_time = spec.by is None
        if value < last if by_time else value <= last:
            expected = (
                "event time not before the previous event's" if by_time else f"a value after {_shown(rule, fact, last)}"
            )
            out.append(_violation(rule, fact, d.OUT_OF_ORDER, expected, _shown(rule, fact, value), _source(state)))
            return  # the high point stays: later events are compared with it
        if spec.gaps and not by_time and type(value) is int and value > last + 1:
            out.append(
                _violation(
                    rule,
                    fact,
                    d.SEQUENCE_GAP,
                    f"{_shown(rule, fact, last + 1)}",
                    _shown(rule, fact, value),
                    _source(state),
                    severity=d.INFO,
                )
            )
    # else: the sequence changed type: start again
    state["v"] = value
    state["t"], state["q"], state["o"], state["a"] = fact.topic, fact.partition, fact.offset, fact.ts


def _follows(rule: Compiled, fact: Fact, state: dict[str, Any], out: list[Finding]) -> None:  # noqa: ARG001 - one signature
    ts = fact.ts
    if fact.value == AFTER:
        expect_ts = state.get("expect_ts")
        if expect_ts is not None and ts <= expect_ts <= ts + rule.spec.within_ms:
            return  # the follow-up was delivered first (another topic ran ahead)
        if state.get("pending") is None:
            state["pending"] = ts + rule.spec.within_ms
            state["pt"], state["pq"], state["po"], state["pa"] = fact.topic, fact.partition, fact.offset, ts
            state["pe"] = fact.event_type
        return
    state["expect_ts"] = max(ts, state.get("expect_ts") or ts)
    if state.get("pending") is not None and ts >= state["pa"]:
        state["pending"] = None


_Judge = Callable[[Compiled, Fact, dict[str, Any], list[Finding]], None]
_JUDGES: Final[dict[str, _Judge]] = {
    "transitions": _transition,
    "unique": _unique,
    "ordered": _ordered,
    "follows": _follows,
}


def _missing(rule: Compiled, state: dict[str, Any]) -> Finding:
    spec = rule.spec
    topic, partition, offset, ts, event_type = state["pt"], state["pq"], state["po"], state["pa"], state["pe"]
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
