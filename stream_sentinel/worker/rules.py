"""The worker's behavioural rules stage: expressions in the validate stage, stateful rules behind a repartition.

The validate stage (``worker/batch.py``) checks a rule topic with the engine's *keeping* check,
so a valid message of an event type some rule reads carries its decoded payload. For it
:meth:`RulesStage.judge` merges the CEL expression violations into the outcome (assessed and
published like contract violations) and collects the message's :class:`Fact` records. Those go,
with the batch's tallies and before the batch is acked, to the internal topic
``<app_id>-rules`` keyed by entity (one record per entity per batch): the repartition step (Faust's ``group_by`` idea),
because the entity is usually not the record key, and one entity's state must live in one
partition.

The ``rules`` agent consumes that topic event by event (Faust's current event decides the table
partition and the changelog partition, as in the windows stage). Each assigned partition is one
*lane*: one :class:`RuleRuntime` whose :class:`StateStore` is the ``rules`` table (RocksDB,
changelog-backed), its timers rebuilt from the table the first time the lane is seen after an
assignment. Findings become drift events through the worker's :class:`Assessor`, are published
and tallied like the validate stage's, and only once the broker acknowledged them is the state
written (:class:`TableStore` holds the writes of the record being applied): a crash in between
re-delivers the fact, which the state does not cover yet, so the finding is reported again, never
lost; a fact whose state was written is a redelivery the per-entity high-water offset ignores,
so a restart never reports a false ``duplicate`` or ``illegal_transition``.

Idle lanes: the worker's tick timer sends a tick record to every rules partition; a lane that
had no fact for the windows' grace period moves its watermark to wall-clock minus grace (as an
idle windows key does), so a missing follow-up fires although nothing else arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

import orjson

from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.assess import Ref
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.outcome import Outcome
from stream_sentinel.core.rules.engine import Finding, RuleRuntime, split_key, state_key
from stream_sentinel.core.rules.model import Fact, RuleSet, compile_rules
from stream_sentinel.core.rules.session import reach_for, wants
from stream_sentinel.worker import bounds
from stream_sentinel.worker.logs import kv

if TYPE_CHECKING:
    from faust.types import StreamT

    from stream_sentinel.config import Settings
    from stream_sentinel.core.check.validate import Engine
    from stream_sentinel.worker.batch import Checkers

log = logging.getLogger("stream_sentinel.worker")

#: Key of the tick records (each is sent to one partition explicitly; the key only names it).
TICK_KEY: Final = b"~tick"
_DELETED: Final = None


class Sentinel(Protocol):
    """What the stage uses of the worker (``worker/sentinel.py``; a Protocol: no import cycle)."""

    app: Any
    spec: w.WindowSpec
    clock: Callable[[], float]
    metrics: Any
    batches: Any
    mode: Any
    drift_topic: Any
    tallies: Any
    record_limit: int

    def _may_alert(self, topic: str, event_type: str | None, ts: int) -> bool: ...

    def _drift_record(self, event: dict[str, Any]) -> bounds.Record: ...

    def _tally_records(self, tally: w.Tally) -> list[bounds.Record]: ...

    async def _deliver(self, topic: Any, records: Sequence[bounds.Record], what: str) -> None: ...


class KeepingChecker(NamedTuple):
    """A rule topic's check as the validate stage calls it (``checker.check``); rule-read outcomes keep the payload."""

    check: Callable[[bytes | None, Any], Outcome]


class TableStore:
    """The ``rules`` table as a :class:`StateStore` whose writes wait for :meth:`flush`.

    The runtime writes while it judges a record; those writes reach the table (RocksDB and its
    changelog) only once the record's findings are with the broker, so state never runs ahead
    of the drift it implies. Reads see the pending writes first.

    One table entry per *entity* holds every rule's state of it (rule -> state): the facts of a
    message about one entity (an order's lifecycle, sequence and follow-up rules) then cost one
    changelog record, not one per rule, and the embedded broker takes one record per request.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.entries: dict[str, dict[str, dict[str, Any]]] = {}  # entity -> its entry as it will be written
        self.dirty: set[str] = set()

    def _entry(self, entity: str) -> dict[str, dict[str, Any]]:
        entry = self.entries.get(entity)
        if entry is None:
            stored = self.table.get(entity)
            # A copy: the runtime changes states in place, and the stored one must stay as it was
            # until the flush (Faust's RocksDB table decodes afresh anyway; a dict would not). A
            # state is one flat dict of plain values (``core/rules/engine.py``): a shallow copy is
            # a whole one.
            entry = {r: dict(v) for r, v in stored.items() if isinstance(v, dict)} if isinstance(stored, dict) else {}
            self.entries[entity] = entry
        return entry

    def get(self, key: str) -> dict[str, Any] | None:
        """The state under ``key`` (a pending write first), or None."""
        rule, entity = split_key(key)
        return self._entry(entity).get(rule)

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Write ``value`` at the next flush."""
        rule, entity = split_key(key)
        self._entry(entity)[rule] = value
        self.dirty.add(entity)

    def delete(self, key: str) -> None:
        """Forget ``key`` at the next flush."""
        rule, entity = split_key(key)
        if self._entry(entity).pop(rule, None) is not None:
            self.dirty.add(entity)

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored state as ``(state key, state)`` (a lane's timers are rebuilt from them)."""
        return [
            (state_key(rule, entity), state)
            for entity, entry in self.table.items()
            if isinstance(entry, dict)
            for rule, state in entry.items()
            if isinstance(state, dict)
        ]

    def purge_legacy(self, lane: int) -> int:
        """Delete this lane's states stored one per rule and entity (before states were kept per entity).

        Their entities are adopted again, as after an eviction. Runs inside the lane's event, so
        the deletions go to its changelog partition; returns how many went.
        """
        table = self.table
        legacy = [
            k
            for k, v in table.items()
            if isinstance(k, str) and "\x1f" in k and isinstance(v, dict) and v.get("p") == lane
        ]
        for key in legacy:
            del table[key]
        return len(legacy)

    def flush(self) -> None:
        """Apply the pending writes to the table (inside the agent's current event: its partition)."""
        table, entries, dirty = self.table, self.entries, self.dirty
        self.discard()
        for entity in dirty:
            entry = entries[entity]
            if entry:
                table[entity] = entry
            elif entity in table:
                del table[entity]

    def discard(self) -> None:
        """Drop the pending writes (the record failed: the state stays as it was)."""
        self.entries = {}
        self.dirty = set()


#: Bytes of one rules-topic record's value at most, however large the record limit (a fact is at
#: most ~2.5 KB: ids and values are capped at 256 characters).
MAX_RECORD_BYTES: Final = 64 * 1024


def encode_facts(facts: Iterable[Fact], max_bytes: int = MAX_RECORD_BYTES) -> list[tuple[bytes, bytes]]:
    """A batch's facts as rules-topic records keyed by entity: a run of facts about one entity in one record.

    The key partitions the entity (its state lives in that partition's lane); the value is a
    JSON list of facts, each a compact list. Only *consecutive* facts are grouped (the facts of
    one message about one order: three rules, one record), so a lane applies facts in the
    batch's order, which its watermark and timers rely on. A record stays under ``max_bytes``.
    """
    out: list[tuple[bytes, bytes]] = []
    entity: str | None = None
    group: list[bytes] = []
    size = 0
    for fact in facts:
        encoded = orjson.dumps(list(fact))
        if group and (fact.entity != entity or size + len(encoded) + 1 > max_bytes):
            out.append((str(entity).encode(), b"[" + b",".join(group) + b"]"))
            group, size = [], 0
        entity = fact.entity
        group.append(encoded)
        size += len(encoded) + 1
    if group:
        out.append((str(entity).encode(), b"[" + b",".join(group) + b"]"))
    return out


def decode(value: bytes) -> list[Fact] | int:
    """A rules-topic record: its facts, or a tick's wall-clock time (ms)."""
    record = orjson.loads(value)
    if type(record) is list:
        if record and type(record[0]) is list:
            return [Fact(*fact) for fact in record]
        return [Fact(*record)]  # one fact per record (before facts were grouped by entity)
    return int(record["ts"])


class RulesStage:
    """The rules of a catalog in the worker: the validate-stage hook and the ``rules`` agent."""

    def __init__(self, rules: RuleSet, settings: Settings, wire: dict[str, str]) -> None:
        self.rules = rules
        self.settings = settings
        self.wire = wire  # topic -> wire format (drift events' source)
        self.ttl_ms = round(settings.rules_entity_ttl * 1000)
        self.lanes: dict[int, RuleRuntime] = {}
        self.active: dict[int, int] = {}  # lane -> wall clock (ms) of its last fact
        self.sentinel: Sentinel | None = None
        self.store: TableStore | None = None
        self.topic: Any = None

    @classmethod
    def build(cls, settings: Settings, engine: Engine, checkers: Checkers) -> RulesStage | None:
        """The stage for a catalog with rules (its rule topics' checkers swapped for keeping ones); else None."""
        if not settings.rules_enabled or not engine.catalog.rules:
            return None
        rules = compile_rules(engine.catalog, engine.shows)
        wire = {}
        for topic in rules.topics:
            entry = checkers.get(topic)
            if entry is None:
                continue  # the drift topic, or a topic without a checker: nothing to read
            _, rate, fmt = entry
            checkers[topic] = (
                KeepingChecker(engine.keeping_check(topic, wants(rules, topic), reach_for(rules, topic))),
                rate,
                fmt,
            )
            wire[topic] = fmt
        return cls(rules, settings, wire)

    # -- the validate stage's side ---------------------------------------------------------------

    def judge(self, message: Any, outcome: Outcome, ts: int, facts: list[Fact]) -> Outcome:
        """A valid message some rule reads: its facts collected, its expression violations merged in."""
        topic, event_type, payload = message.topic, outcome.event_type, outcome.payload
        rules = self.rules
        if rules.stateful:
            facts.extend(rules.facts(topic, event_type, payload, message.key, message.partition, message.offset, ts))
        violations = rules.judge_expressions(topic, event_type, payload)
        if violations:
            return outcome._replace(violations=tuple(violations))
        return outcome

    def records(self, facts: list[Fact]) -> tuple[Any, list[bounds.Record]]:
        """The batch's facts as (rules topic, records), for the validate stage's hand-over."""
        limit = self.sentinel.record_limit if self.sentinel is not None else MAX_RECORD_BYTES
        records: list[bounds.Record] = list(encode_facts(facts, min(MAX_RECORD_BYTES, limit - 1024)))
        return self.topic, records

    # -- the worker's app ------------------------------------------------------------------------

    def attach(self, sentinel: Sentinel) -> None:
        """Declare the rules topic, its table and agent on the sentinel's app (stateful rules only)."""
        if not self.rules.stateful:
            return
        settings, app = self.settings, sentinel.app
        self.sentinel = sentinel
        self.topic = app.topic(
            f"{settings.app_id}-rules",
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.internal_partitions,
            internal=True,
        )
        self.table = app.Table(
            "rules",
            partitions=settings.internal_partitions,
            options={"driver": "rocksdict"},
            help="Behavioural rule state per rule and entity (worker/rules.py).",
        )
        self.store = TableStore(self.table)
        app.agent(self.topic, name="rules")(self._agent)
        app.on_partitions_revoked.connect(self._on_revoked)

    def _on_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:  # noqa: ARG002 - signal signature
        """Lanes are rebuilt from the table after any rebalance (another worker may have written them)."""
        self.lanes.clear()
        self.active.clear()
        if self.store is not None:
            self.store.discard()

    def _lane(self, partition: int) -> RuleRuntime:
        runtime = self.lanes.get(partition)
        if runtime is None:
            assert self.sentinel is not None
            assert self.store is not None
            runtime = RuleRuntime(
                self.rules,
                self.store,
                grace_ms=self.sentinel.spec.grace_ms,
                ttl_ms=self.ttl_ms,
                max_entities=self.settings.rules_max_entities,
                lane=partition,
            )
            # Inside this lane's event: the table reads this partition's states; a state of a
            # rule removed from the catalog is deleted here, in its own partition.
            self.store.purge_legacy(partition)
            runtime.rebuild(self.store.items())
            self.lanes[partition] = runtime
            log.info(kv(event="rules_lane", partition=partition, entities=len(runtime)))
        return runtime

    async def _agent(self, stream: StreamT[Any]) -> None:
        async for event in stream.events():
            value = event.value
            if not isinstance(value, bytes):
                continue
            await self.apply(event.message.partition, value)

    async def apply(self, partition: int, value: bytes) -> None:
        """Apply one rules-topic record (a fact or a tick) to its lane; findings go out before the state is written."""
        sentinel, store = self.sentinel, self.store
        assert sentinel is not None
        assert store is not None
        now = round(sentinel.clock() * 1000)
        try:
            runtime = self._lane(partition)
            record = decode(value)
            if isinstance(record, list):
                self.active[partition] = now
                findings = [finding for fact in record for finding in runtime.process(fact)]
            elif now - self.active.get(partition, 0) >= runtime.grace_ms:
                findings = runtime.tick(record - runtime.grace_ms)  # an idle lane: wall clock moves it
            else:
                findings = []
        except Exception as exc:  # noqa: BLE001 - no record may stop the agent
            store.discard()
            log.error(kv(event="bad_rule_record", partition=partition, error=type(exc).__name__, at=d.raised_at(exc)))
            return
        if findings:
            try:
                await self._report(findings, now)
            except BaseException:
                store.discard()  # not acknowledged: the state stays as it was (the fact comes again)
                raise
        store.flush()
        self._count(runtime)

    async def _report(self, findings: list[Finding], now: int) -> None:
        """Findings as drift events and tallies, like the validate stage's; returns once the broker has them."""
        sentinel = self.sentinel
        assert sentinel is not None
        metrics, assess = sentinel.metrics, sentinel.batches.assessor.assess
        tally = w.Tally(sentinel.mode, sentinel._may_alert)
        events: list[d.DriftEvent] = []
        for finding in findings:
            v, src = finding.violation, finding.source
            metrics.rule_findings.labels(v.rule or "", v.kind).inc()
            ref = Ref(src.topic, src.partition, src.offset, src.timestamp, None, self.wire.get(src.topic, "json"), now)
            drift = assess(Outcome(finding.event_type, None, (v,)), ref)
            if drift is None:
                continue  # below min_severity
            ts = src.timestamp if src.timestamp is not None else now
            tally.assessed(src.topic, ts, drift)
            metrics.drift.labels(src.topic, finding.event_type, v.kind, v.severity).inc()
            if sentinel.mode == "every":
                events.extend(drift.events())
        sends: list[tuple[Any, list[bounds.Record], str]] = [
            (sentinel.drift_topic, [sentinel._drift_record(e.to_dict()) for e in events], "publish rule drift"),
            (sentinel.tallies, sentinel._tally_records(tally), "send rule tallies"),
        ]
        for topic, records, what in sends:
            if records:
                await sentinel._deliver(topic, records, what)
        if events:
            metrics.published.labels("drift").inc(len(events))

    def _count(self, runtime: RuleRuntime) -> None:
        """Evictions since the last count (the runtime's counter is emptied into the metric), and the states held."""
        assert self.sentinel is not None
        metrics = self.sentinel.metrics
        if runtime.evicted:
            for reason, n in runtime.evicted.items():
                metrics.rule_evictions.labels(reason).inc(n)
            runtime.evicted.clear()
        metrics.rule_entities.set(sum(len(lane) for lane in self.lanes.values()))

    # -- ticks -----------------------------------------------------------------------------------

    async def tick(self, now_ms: int, send: Callable[..., Awaitable[Any]] | None = None) -> None:
        """One tick record to every rules partition (idle lanes move their watermark); a failure waits for the next."""
        if self.topic is None:
            return
        send = send or self.topic.send
        value = orjson.dumps({"k": "tick", "ts": now_ms})
        for partition in range(self.settings.internal_partitions):
            try:
                await send(key=TICK_KEY, value=value, partition=partition)
            except Exception as exc:  # noqa: BLE001 - a lost tick only delays a deadline to the next one
                log.warning(kv(event="rules_tick_failed", partition=partition, error=type(exc).__name__))
                return


__all__ = ["KeepingChecker", "RulesStage", "TableStore", "decode", "encode_facts"]
