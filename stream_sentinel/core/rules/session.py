"""Behavioural rules over one offline range (``check``, ``replay``): in-memory state, pure.

Both shells call the same three steps per run: :meth:`RuleSession.message` for every checked
message (a valid message's CEL violations are merged into its outcome, so they are assessed and
reported like contract violations; its facts go to a :class:`RuleRuntime` over a
:class:`DictStore`), and :meth:`RuleSession.finish` once the range is read. A finding becomes
drift through the shell's one ``Assessor`` (``Assessor.finding``) and is added to the report
as drift that is not a new message (``DriftReport.add_drift``).

An offline range is not read in event-time order: a fetch brings a whole topic or partition
before another, and a capture lists one topic after the other. So the session merges the
source partitions by event time: it holds up to ``reorder`` facts (50,000 by default), each
partition's in delivery order, and judges the earliest partition head once it is full (the
rest at the end). A refund is then judged after the cancellation on another topic that
preceded it, while an event a partition delivered late is still seen late (``ordered``).

Follow-up deadlines are judged only at the end, because a watermark moved by one topic proves
nothing about another not read yet: the runtime is built with deadlines and the idle TTL held
back, and :meth:`RuleSession.finish` judges every deadline the range's last event time has
passed by the grace. A deadline after it is the unknown future and is not judged, nor is a
follow-up expected on a topic the run did not read at all. Memory stays bounded by the
runtime's entity cap and the reorder window. The unknown past (an entity first seen
mid-range) is the runtime's: it adopts its first state silently; ``replay --warm-up-from``
feeds an earlier range through :meth:`RuleSession.message` with ``warm_up=True`` (state only).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from stream_sentinel.core.rules.engine import DEFAULT_MAX_ENTITIES, DictStore, Finding, RuleRuntime
from stream_sentinel.core.rules.model import Fact, RuleSet, Shows, compile_rules, reach_of

if TYPE_CHECKING:
    from stream_sentinel.core.check.outcome import Outcome
    from stream_sentinel.core.contracts.catalog import Catalog

#: Grace after a follow-up deadline, event time (the worker's windows default to 2 s too).
DEFAULT_GRACE_MS: Final = 2000
#: Facts held to be judged in event-time order (see the module doc); about 300 bytes each.
DEFAULT_REORDER: Final = 50_000
#: Held back: no deadline or idle entity is judged while the range is read (see the module doc).
_HELD: Final = 1 << 62


class RuleSession:
    """One run's behavioural rules: facts judged as they come, follow-up deadlines at the end."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        grace_ms: int = DEFAULT_GRACE_MS,
        max_entities: int = DEFAULT_MAX_ENTITIES,
        reorder: int = DEFAULT_REORDER,
    ) -> None:
        self.rules = rules
        self.grace_ms = grace_ms
        self.reorder = reorder
        # Held facts per source partition, in delivery order; a heap of the partitions by the event
        # time of their first held fact. Within a partition delivery order is kept (it is what the
        # ordered rule judges); across partitions and topics the earliest event time goes first.
        self._queues: dict[tuple[str, int], deque[tuple[Fact, bool]]] = {}
        self._heads: list[tuple[int, int, deque[tuple[Fact, bool]]]] = []
        self._count = 0
        self._seq = 0
        self.store = DictStore()
        self.runtime = RuleRuntime(rules, self.store, grace_ms=_HELD, ttl_ms=_HELD, max_entities=max_entities)
        #: Topics the run read: a follow-up expected on any other topic is not judged.
        self.topics_read: set[str] = set()
        #: Messages fed while warming up (their findings are dropped), and missing follow-ups not judged.
        self.warmed = 0
        self.unjudged = 0

    def message(
        self,
        topic: str,
        outcome: Outcome,
        key: bytes | str | None,
        partition: int,
        offset: int,
        ts: int | None,
        *,
        warm_up: bool = False,
    ) -> tuple[Outcome, list[Finding]]:
        """The outcome with its CEL violations merged, and the stateful findings judged now.

        The findings may be about earlier messages (facts are judged in event-time order).

        Only a valid message carrying its payload (``Engine.keeping_check``) feeds rules: an
        invalid one is reported already (the payload carries its schema's walker, so a
        ``rule_failed`` sample is redacted like any other). ``warm_up``: state only (no
        expression is judged, findings are dropped).
        """
        self.topics_read.add(topic)
        payload = outcome.payload
        if outcome.violations or payload is None:
            return outcome, []
        rules, event_type = self.rules, outcome.event_type
        if warm_up:
            self.warmed += 1
        else:
            failed = rules.judge_expressions(topic, event_type, payload)
            if failed:
                outcome = outcome._replace(violations=tuple(failed))
        if not rules.stateful:
            return outcome, []
        facts = rules.facts(topic, event_type, payload, key, partition, offset, ts if ts is not None else 0)
        if not facts:
            return outcome, []
        queue = self._queues.get((topic, partition))
        if queue is None:
            queue = self._queues[topic, partition] = deque()
        if not queue:
            self._seq += 1
            heapq.heappush(self._heads, (facts[0].ts, self._seq, queue))
        queue.extend((fact, warm_up) for fact in facts)
        self._count += len(facts)
        findings: list[Finding] = []
        while self._count > self.reorder:
            findings.extend(self._next())
        return outcome, findings

    def _next(self) -> list[Finding]:
        """Judge the held fact with the earliest event time among the partitions' first ones."""
        _, _, queue = heapq.heappop(self._heads)
        fact, warm_up = queue.popleft()
        self._count -= 1
        if queue:
            self._seq += 1
            heapq.heappush(self._heads, (queue[0][0].ts, self._seq, queue))
        findings = self.runtime.process(fact)
        return [] if warm_up else findings  # a warm-up fact builds state only

    def finish(self) -> list[Finding]:
        """The facts still held, then the missing follow-ups the range's last event time decides."""
        runtime = self.runtime
        if not self.rules.stateful:
            return []
        out: list[Finding] = []
        while self._heads:
            out.extend(self._next())
        runtime.grace_ms = self.grace_ms  # deadlines are judged now, with the real grace
        runtime.rebuild(list(self.store.data.items()))
        for finding in runtime.tick(runtime.watermark):
            if self._judged(finding):
                out.append(finding)
            else:
                self.unjudged += 1
        return out

    def _judged(self, finding: Finding) -> bool:
        rule = self.rules.rules.get(finding.violation.rule or "")
        expect = rule.spec.expect if rule is not None else None
        return expect is None or expect[0] in self.topics_read


def open_session(
    catalog: Catalog, shows: Shows, topics: Iterable[str] | None = None, max_entities: int = DEFAULT_MAX_ENTITIES
) -> RuleSession | None:
    """A session when the catalog has rules reading any of ``topics`` (None: any topic); else None.

    A run with no such rules compiles nothing and keeps no payload: it is exactly the plain path.
    ``max_entities``: the state cap (replay passes the worker's ``rules_max_entities``).
    """
    if not catalog.rules:
        return None
    rules = compile_rules(catalog, shows)
    if topics is not None and not rules.topics.intersection(topics):
        return None
    return RuleSession(rules, max_entities=max_entities)


def wants(rules: RuleSet, topic: str) -> Any:
    """``Engine.keeping_check``'s predicate for ``topic``: event types some rule reads."""
    return lambda event_type: rules.reads(topic, event_type)


def reach_for(rules: RuleSet, topic: str) -> Any:
    """``Engine.keeping_check``'s ``reach`` for ``topic``: what the rules read of each event type."""
    return lambda event_type: reach_of(rules, topic, event_type)


__all__ = ["DEFAULT_GRACE_MS", "DEFAULT_REORDER", "RuleSession", "open_session", "reach_for", "wants"]
