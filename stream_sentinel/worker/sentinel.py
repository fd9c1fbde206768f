"""The Faust app: two thin stages around the pure core.

``validate`` (every contracted topic, plus an optional regex) takes the consumer's fetches as
batches (``transport.Stage``: no Faust ``Event`` per message); per message it calls the
validation core and nothing else, then per batch it publishes the drift events (``every``
mode), sends one tally record per (topic, event type, second) to the internal
``<app_id>-tallies`` topic, and updates metrics. The consumer acks the batch's offsets as a
range only once that returned, and commits nothing while a record is owed (``unreported``; Faust
flushes the producer before each commit): at-least-once. The ``validate`` agent stays
subscribed to the topics (Faust subscribes what agents consume) and takes over if no stage is set.

``windows`` consumes the tallies, keyed by ``topic|event_type``. It iterates event by event,
so Faust's current event — which decides the table partition and the changelog partition —
is always the record being applied; that is the clean way to write a table from batched
processing (writing inside ``take_events`` would use the last event of a mixed-partition
batch). It folds each record into the key's window state (``core.aggregate.windows``), publishes the
*first* alerts and the summaries of closed windows, then writes the state once.

A timer sends wall-clock *ticks* to every key this worker knows so idle windows still close.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter as Tally_
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, cast

import faust
import orjson
from faust.streams import Stream
from faust.types import Message, StreamT, TopicT
from faust.web import Request, Response, View

from stream_sentinel import __version__
from stream_sentinel.config import Settings
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.assess import Assessor
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.worker import bounds, transport
from stream_sentinel.worker.alerts import Alerts, window_of
from stream_sentinel.worker.batch import BatchAssessor, BatchResult, Checkers
from stream_sentinel.worker.credentials import faust_credentials
from stream_sentinel.worker.dashboard import attach as attach_dashboard
from stream_sentinel.worker.health import BrokerProbe, Readiness, readiness
from stream_sentinel.worker.logs import kv
from stream_sentinel.worker.metrics import Metrics
from stream_sentinel.worker.owed import Outstanding, Owed, delivery_confirmed, delivery_failed
from stream_sentinel.worker.probing import BuiltInProbe
from stream_sentinel.worker.quarantine import Quarantines
from stream_sentinel.worker.registry import RegistryStage
from stream_sentinel.worker.reload import Reloader, engine_of, worker_policy
from stream_sentinel.worker.rules import RulesStage
from stream_sentinel.worker.tables import TableManager
from stream_sentinel.worker.web import faust_options as web_options

log = logging.getLogger("stream_sentinel.worker")

TICK_INTERVAL_MAX: Final = 5.0
#: Seconds the lag gauge waits for a partition's consumer position (per tick, partitions with no message yet).
LAG_POSITION_TIMEOUT: Final = 1.0
#: Keys (topic|event_type) that get ticks; bounded because event types come from producers.
MAX_TICKED_KEYS: Final = 10_000
#: The action ``/ready`` names while a handed-over record failed and is not re-sent yet.
DELIVERY_FAILED: Final = "re-send failed deliveries"


class _App(faust.App):
    """A Faust app without Faust's own ``Monitor`` sensor.

    Faust adds its Monitor to ``app.sensors`` at start; it records every message and stream
    event (times, counters, a dict per event) for Faust's ``/stats`` pages, which the sentinel
    does not serve: its own ``/metrics`` counts what operators need, once per batch. Measured:
    the Monitor's per-event hooks were ~5% of the worker's samples in py-spy. ``sensors`` is
    Faust's public sensor API; other sensors added by users still run.
    """

    #: Records the app owes the broker; the consumer commits nothing while it is non-zero (transport.py).
    unreported: Callable[[], int] | None = None
    #: Where the consumer hands the source topics' fetches (transport.py); None: Faust's agent path.
    batch_stage: transport.Stage | None = None

    def on_init_dependencies(self) -> Iterable[Any]:
        dependencies = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return dependencies


class Sentinel:
    """The Faust app, its topics, table, agents, timer and web views, built from settings."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        extra_topics: Sequence[str] = (),
        missing_topics: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        #: Catalog topics the cluster did not have at start (run.build); logged when the app starts.
        self.missing_topics = tuple(missing_topics)
        self.engine = engine
        self.registry: RegistryStage | None = None  # Schema Registry fetcher (worker/registry.py), set by run.build
        self.clock = clock
        self.metrics = Metrics()
        self.alerts = Alerts(settings, self.metrics, clock)  # webhooks (worker/alerts.py), never waited for
        self.spec = w.WindowSpec(
            tumbling_ms=round(settings.tumbling_window * 1000),
            hopping_ms=round(settings.hopping_window * 1000),
            step_ms=round(settings.hopping_step * 1000),
            grace_ms=round(max(2.0, settings.batch_within * 4) * 1000),
            max_fingerprints=settings.max_fingerprints,
        )
        #: Largest record (bytes) this worker writes: drift events shrink, tally records split.
        self.record_limit = bounds.record_limit(settings.producer_max_request_size)
        self.mode = settings.alert_mode
        self.ready = False
        self.publishing_ok = True
        # Actions (publish, re-publish, ticks...) whose last attempt failed: only an action's own
        # success clears it, so an unrelated successful tick cannot make /ready say 200.
        self._failing: set[str] = set()
        # (record kind, error class) pairs already logged as unwritable: logged once, then counted.
        self._unwritable_logged: set[tuple[str, str]] = set()
        self.broker = BrokerProbe(
            interval=settings.heartbeat_interval,
            timeout=settings.session_timeout,
            get_client=self._producer_client,
            on_change=self._on_broker_change,
        )
        # Reload without restart (worker/reload.py): SIGHUP or spec_watch; swapped in between batches.
        self.reload = Reloader(settings.spec_dir, lambda: engine_of(settings), self.metrics, settings.spec_watch)
        names = self._contracted(settings, engine)
        # Delivery futures of the previous batch's records (see _pipelined).
        self._pending: list[tuple[Awaitable[Any], TopicT, bounds.Record]] = []
        # Records being sent with retries (see _owing), and the last source offset per
        # partition handed to the validate stage (for the shutdown summary).
        self._owed: list[Owed] = []
        self._settling: list[tuple[Awaitable[Any], TopicT, bounds.Record]] = []
        # Records of the batch being handed over that are not yet (see _pipelined), per topic.
        self._unhanded: Tally_[str] = Tally_()
        # Serialises the agent's hand-over with settling between batches (_settle_soon, its task).
        self._settle_lock = asyncio.Lock()
        self._settler: asyncio.Future[None] | None = None
        self.handled: dict[tuple[str, int], int] = {}
        self._declared = False  # the drift topic, before the first batch publishes to it
        self.app = self._app(settings)
        self._streams(settings, names, extra_topics)

    def _contracted(self, settings: Settings, engine: Engine) -> list[str]:
        """The contracted topics' checkers, the validate stage and the bounds on what producers name."""
        # Topic name -> (checker, sampling rate, wire format).
        checkers: Checkers = {}
        names = []
        for name, contract in engine.catalog.topics.items():
            if name == settings.drift_topic:
                continue  # never validate our own output in a loop
            checker = engine.checker(name)
            if checker is not None:
                checkers[name] = (checker, contract.sample_rate, contract.format)
                names.append(name)
        self.known_keys: set[str] = {
            w.window_key(name, event) for name in names for event in engine.catalog.topics[name].events
        }
        self.event_types = bounds.EventTypeCap(
            {name: engine.catalog.topics[name].events for name in names}, settings.max_event_types_per_topic
        )
        self.budget = bounds.FingerprintBudget(settings.max_fingerprints, self.spec.tumbling_ms)
        policy = worker_policy(settings, engine, self.reload.revision)
        self.quarantine = Quarantines.of(engine.catalog, names, self.metrics, self.record_limit, settings)
        self.rules = RulesStage.build(settings, engine, checkers)  # behavioural rules (worker/rules.py)
        judge = self.rules.judge if self.rules is not None else None
        self.batches = BatchAssessor(
            checkers, Assessor(policy), self.mode, self._may_alert, self.quarantine.sources, judge=judge
        )
        self.batches.keyed = {n: k for n, k in engine.keyheads.items() if n in checkers}  # key/header contracts
        self.checkers = checkers
        self.uncovered = self.batches.uncovered
        self.metrics.set_owners({name: engine.catalog.topics[name] for name in names})
        return names

    def _app(self, settings: Settings) -> _App:
        """The Faust app, configured from the settings only."""
        options = settings.faust_settings()
        options.pop("credentials", None)
        credentials = faust_credentials(settings)
        if credentials is not None:
            options["broker_credentials"] = credentials
        transport.register()
        options["broker_consumer"] = ";".join(transport.consumer_urls(settings.bootstrap_list()))
        options.update(
            web_options(
                idle_timeout=settings.web_idle_timeout,
                response_timeout=settings.web_response_timeout,
                error_log_interval=settings.web_error_log_interval,
                on_error=lambda cause: self.metrics.http_errors.labels(cause).inc(),
            )
        )
        app = _App(
            settings.app_id,
            # Faust reads unprefixed variables (WEB_BIND, APP_WEB_TABLES_ENABLED, BROKER_URL, ...)
            # over its keyword settings: a stray WEB_BIND=0.0.0.0 would expose /drift on every
            # interface. The sentinel's settings (SENTINEL_*, file, options) are the only source.
            env={},
            autodiscover=False,
            consumer_auto_offset_reset="earliest",
            table_cleanup_interval=3600.0,  # our windows expire in core.aggregate.windows, not Faust's cleanup
            TableManager=TableManager,  # no fixed 1 s start-up sleep (worker/tables.py)
            **options,
        )
        app.unreported = self.unreported
        return app

    def _streams(self, settings: Settings, names: list[str], extra_topics: Sequence[str]) -> None:
        """Topics, the window table, the two agents, the tick timer, signals and web pages."""
        app = self.app
        # Topics matching subscribe_pattern are resolved to names before start (run.build): Faust
        # does not subscribe pattern topics next to named ones, so a pattern here consumed nothing.
        extra = [t for t in extra_topics if t not in names and t != settings.drift_topic]
        # A catalog topic the cluster lacked at start is not subscribed: the consumer's metadata
        # requests would let a broker with auto-create on create it, typo and all (measured on the
        # embedded broker). It is consumed from the next start on, once it exists.
        subscribed = [t for t in names if t not in self.missing_topics]
        self.source = app.topic(*subscribed, *extra, key_serializer="raw", value_serializer="raw")
        self.tallies = app.topic(
            f"{settings.app_id}-tallies",
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.internal_partitions,
            internal=True,
        )
        self.drift_topic = app.topic(
            settings.drift_topic,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.drift_topic_partitions,
            replicas=settings.replication_factor,
            internal=True,  # declared (created) by the app with the partition count above
        )
        self.table = app.Table(
            "windows",
            partitions=settings.internal_partitions,
            options={"driver": "rocksdict"},
            help="Window state per topic|event_type: tumbling and hopping counts per fingerprint.",
        )
        app.agent(self.source, name="validate")(self._validate)
        app.batch_stage = transport.Stage(frozenset(self.source.topics), self._stage, settings.batch_size)
        app.agent(self.tallies, name="windows")(self._windows)
        if self.rules is not None:
            self.rules.attach(self)
        app.timer(min(TICK_INTERVAL_MAX, settings.tumbling_window / 4), name="ticks")(self._ticks)
        app.task(self.broker.run)
        self.reload.target = self
        app.task(self.reload.run)
        app.task(self._log_missing_topics)
        if self.alerts.enabled:
            app.task(self.alerts.run)
        if settings.probe_interval > 0:  # the built-in drive -> verify probe (worker/probing.py)
            app.task(BuiltInProbe(settings, self.engine, self.metrics, self.clock).run)
        # mode types receivers with a positional-only sender that a bound method cannot spell.
        app.on_rebalance_complete.connect(self._on_rebalance_complete)  # type: ignore[arg-type]
        app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]
        self._pages()
        self.dashboard = attach_dashboard(
            app, settings, self.engine.catalog
        )  # the cluster's drift dashboard at / (worker/dashboard.py)

    async def _log_missing_topics(self) -> None:
        """One line per catalog topic the cluster lacked at start (a typo, or not created yet)."""
        for topic in self.missing_topics:
            log.warning(
                kv(
                    event="missing_topic",
                    topic=topic,
                    note="in the catalog but not on the cluster: not consumed until it exists and the worker "
                    "restarts; check the name (missing_topics: fail refuses to start)",
                )
            )

    # -- stage 1: validate ----------------------------------------------------------------

    async def _validate(self, stream: StreamT[Any]) -> None:
        await self.drift_topic.maybe_declare()
        async for batch in cast("Stream[bytes]", stream).take_events(
            self.settings.batch_size, within=self.settings.batch_within
        ):
            await self.handle_batch([event.message for event in batch])

    async def _stage(self, batch: list[Message]) -> None:
        """The consumer's hand-over (``transport.Stage``): the drift topic is declared before its first batch."""
        if not self._declared:
            await self.drift_topic.maybe_declare()  # as the agent does before its first batch
            self._declared = True
        await self.handle_batch(batch)

    async def handle_batch(self, batch: Sequence[Message]) -> None:
        """Validate a batch of source messages, publish what it found and hand it to the producer.

        Called by the consumer with a fetch's messages (``transport.Stage``), which acks them once
        this returns; the records handed over are settled by the next batch or Faust's flush
        before any commit (``_pipelined``).
        """
        started = time.perf_counter()
        result = self.batches.run(batch, round(self.clock() * 1000))
        elapsed = time.perf_counter() - started
        records = self._tally_records(result.tally)
        self.handled.update(result.last_offsets)
        publish = result.publish
        sends = [
            (self.drift_topic, [self._drift_record(e.to_dict()) for e in publish]),
            (self.tallies, records),
            *(await self.quarantine.sends(self.app, result.quarantine)),
        ]
        if result.facts and self.rules is not None:
            sends.append(self.rules.records(result.facts))  # the repartition step, before the batch is acked
        await self._pipelined(sends)
        if publish:
            self.metrics.published.labels("drift").inc(len(publish))
            self.alerts.offer_batch(publish)  # every mode; queued for the alert task, never awaited
        self._update_metrics(batch, elapsed, result)

    def _tally_records(self, tally: w.Tally) -> list[bounds.Record]:
        """A batch's tally as bounded records.

        Unknown event types past the cap are folded, texts capped, candidates shrunk, and
        records split to stay under the record limit.
        """
        folded_records, folded = self.event_types.fold(record for _, record in tally.records())
        out: list[bounds.Record] = []
        shrunk = split = folded_fps = 0
        limit = self.record_limit
        for record in folded_records:
            key = w.window_key(record["topic"], record["event_type"])
            if len(self.known_keys) < MAX_TICKED_KEYS:
                self.known_keys.add(key)
            if record["drift"]:
                folded_fps += self.budget.apply(key, record)
                shrunk += bounds.bound_tally(record, limit)
            parts = bounds.split_tally(record, limit)
            split += len(parts) - 1
            encoded = key.encode()
            out.extend((encoded, part) for part in parts)
        hits = self.metrics.bound_hits
        if folded:
            hits.labels("event_types").inc(folded)
        if shrunk:
            hits.labels("record_shrunk").inc(shrunk)
        if split:
            hits.labels("record_split").inc(split)
        if folded_fps:
            hits.labels("fingerprints").inc(folded_fps)
        return out

    def _may_alert(self, topic: str, event_type: str | None, ts: int) -> bool:
        """Whether a new fingerprint can still be alerted in this event type's current window (invalid path only)."""
        return not self.budget.full(w.window_key(topic, self.event_types.key(topic, event_type)), ts)

    def _drift_record(self, event: dict[str, Any]) -> bounds.Record:
        """A drift event as a record under the record limit (shrunk if it has to be)."""
        value, shrunk = bounds.fit_drift(event, self.record_limit)
        if shrunk:
            self.metrics.bound_hits.labels("record_shrunk").inc()
        return str(event["fingerprint"]).encode(), value

    def _update_metrics(self, batch: Sequence[Message], elapsed: float, result: BatchResult) -> None:
        m = self.metrics
        for (topic, covered), n in result.counted.items():
            m.messages.labels(topic, "true" if covered else "false").inc(n)
        for topic, n in result.sampled_out.items():
            m.sampled_out.labels(topic).inc(n)
        for (topic, probe_result), n in result.probes.items():
            m.probe_messages.labels(topic, probe_result).inc(n)
        fold = self.event_types.key  # the windows' own bound on producer-set event types (~other past it)
        for (topic, event_type, kind, severity), n in result.drift_kinds.items():
            m.drift.labels(topic, fold(topic, event_type) or "", kind, severity).inc(n)
            if kind == d.INTERNAL_ERROR:  # raised in the core (a violation) or around it (BatchAssessor)
                m.internal_errors.inc(n)
        if batch:
            # The whole batch's wall time, observed as it is: a per-message histogram would need a
            # clock read per message on the hot path. Mean per message: the two histograms' _sum.
            m.batch_seconds.observe(elapsed)
            m.batch.observe(len(batch))
        for (topic, partition), offset in result.last_offsets.items():
            highwater = self._highwater(topic, partition)
            if highwater is not None:
                m.set_lag(topic, partition, highwater - offset - 1)

    def _highwater(self, topic: str, partition: int) -> int | None:
        """The consumer's high watermark of a partition, None before its first fetch answered."""
        try:
            highwater = self.app.consumer.highwater(faust.types.TP(topic, partition))
        except Exception:  # noqa: BLE001 - a gauge is not worth a failed batch (or a log line per batch)
            return None
        return highwater if highwater is not None and highwater >= 0 else None

    async def _update_lag(self) -> None:
        """The lag of every assigned source partition, also those that had no message yet (per tick).

        A partition with a handled message: high watermark minus the next offset to handle; one
        with none since assignment: minus the consumer's position (where it will read from).
        Series of partitions no longer assigned are removed.
        """
        consumer = self.app.consumer
        sources = set(self.source.topics)
        try:
            assigned = [tp for tp in consumer.assignment() if tp.topic in sources]
        except Exception:  # noqa: BLE001 - no consumer yet (starting) or gone (stopping)
            return
        m = self.metrics
        m.keep_lag((tp.topic, tp.partition) for tp in assigned)
        for tp in assigned:
            highwater = self._highwater(tp.topic, tp.partition)
            if highwater is None:
                continue
            handled = self.handled.get((tp.topic, tp.partition))
            if handled is not None:
                m.set_lag(tp.topic, tp.partition, highwater - handled - 1)
                continue
            try:
                # Bounded: aiokafka waits for a position being reset (broker away) before answering.
                position = await asyncio.wait_for(consumer.position(tp), LAG_POSITION_TIMEOUT)
            except Exception:  # noqa: BLE001, S112 - revoked meanwhile, stopping, or no answer in time
                continue
            if position is not None:
                m.set_lag(tp.topic, tp.partition, highwater - position)

    # -- publishing -----------------------------------------------------------------------

    async def _publish(self, records: Sequence[bounds.Record], kind: str) -> None:
        """Publish to the drift topic and wait for the broker's acknowledgement, retrying while it is away.

        While the broker is away the agent stays here: it consumes nothing new and commits
        nothing past the unreported drift (its batch is not acked), which is the promise. A
        record the broker can never accept is not an outage: see ``_deliver``.
        """
        if records:
            await self._deliver(self.drift_topic, records, "publish drift")
            self.metrics.published.labels(kind).inc(len(records))

    async def _pipelined(self, sends: list[tuple[TopicT, list[bounds.Record]]]) -> None:
        """Hand a batch's records to the producer, then make sure the previous batch's landed.

        Waiting for the broker's acknowledgement of each batch before taking the next stalled
        the stage for a round trip per batch (measured: ~20% of the throughput on the embedded
        broker). At-least-once does not need that wait: Faust flushes the producer before every
        offset commit (``Consumer.commit``), so nothing is committed before the records handed
        over earlier are acknowledged. What the wait did give — noticing a record that failed
        for good — is kept one batch later: the previous batch's records are checked here, and
        any that failed are re-sent with retries while the agent consumes nothing new.
        A record that fails while no batch follows is re-sent by ``_settle_soon``.
        Records are handed over one by one, so one the producer refuses is the only one re-sent.
        """
        async with self._settle_lock:
            previous, self._pending = self._pending, []
            self._settling = previous  # still owed until settled: no commit may pass them (unreported)
            # Not handed over yet: in neither _pending nor _owed (the shutdown summary).
            unhanded = self._unhanded = Tally_()
            for topic, records in sends:
                unhanded[topic.get_topic_name()] += len(records)
            on_done = self._on_delivery
            for topic, records in sends:
                name = topic.get_topic_name()
                refused: list[bounds.Record] = []
                for record in records:
                    try:
                        [future] = await self._enqueue(topic, [record])
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # noqa: BLE001 - not even handed over: delivered with retries below
                        refused.append(record)
                        continue
                    self._pending.append((future, topic, record))
                    unhanded[name] -= 1
                    if isinstance(future, asyncio.Future):
                        future.add_done_callback(on_done)
                if refused:
                    unhanded[name] -= len(refused)  # owed by _deliver from its first line on
                    await self._deliver(topic, refused, "publish")
            await self._settle(previous)

    async def _settle(self, previous: list[tuple[Awaitable[Any], TopicT, bounds.Record]]) -> None:
        """Wait for ``previous`` deliveries; re-send, with retries, those that failed (under ``_settle_lock``)."""
        failed: dict[str, tuple[TopicT, list[bounds.Record]]] = {}
        for future, topic, record in previous:
            try:
                await future
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - failed for good inside the client: ours to retry
                failed.setdefault(topic.get_topic_name(), (topic, []))[1].append(record)
        # All owed at once, before the first retry (which the stop may cancel).
        retries = [(topic, records, self._owe(topic, len(records))) for topic, records in failed.values()]
        self._settling = []
        for topic, records, owed in retries:
            await self._deliver(topic, records, "re-publish", owed=owed)

    def _on_delivery(self, future: asyncio.Future[Any]) -> None:
        """A handed-over record's delivery ended: if it failed, publishing is failing until it is re-sent.

        The re-send must not wait for a next batch that may never come (a quiet source): one
        task settles every pending delivery (``_settle_soon``); a later batch may have done it.
        """
        if future.cancelled() or future.exception() is None:
            return  # landed, or cancelled by a stopping client (the summary counts it)
        if DELIVERY_FAILED not in self._failing:
            self._failing.add(DELIVERY_FAILED)
            if self.publishing_ok:
                log.error(
                    kv(event="publish_failed", action="publish", error=repr(future.exception())[:200], retry="yes")
                )
                self.publishing_ok = False
                self._set_ready()
        if self._settler is None:
            self._settler = asyncio.ensure_future(self._settle_soon())

    async def _settle_soon(self) -> None:
        """Settle the pending deliveries now, between batches; publishing recovers when all landed."""
        try:
            async with self._settle_lock:
                previous, self._pending = self._pending, []
                self._settling = previous
                await self._settle(previous)
                if DELIVERY_FAILED in self._failing:
                    self._failing.discard(DELIVERY_FAILED)
                    if not self._failing:
                        log.info(kv(event="publish_recovered", action="re-publish"))
                        self.publishing_ok = True
                        self._set_ready()
        finally:
            self._settler = None

    def _owe(self, topic: TopicT, count: int) -> Owed:
        owed = Owed(topic.get_topic_name(), count)
        self._owed.append(owed)
        return owed

    @contextmanager
    def _owing(self, owed: Owed) -> Iterator[None]:
        """Keep ``owed`` counted until its retried send succeeds.

        A cancelled send (the worker stops) stays counted: by its deliveries if the producer
        held them (Faust's flush at stop may still deliver them), else as unpublished.
        """
        yield
        if owed in self._owed:
            self._owed.remove(owed)

    def unreported(self) -> int:
        """Records handed over that failed, plus records waiting for a retry: no commit may pass them."""
        failed = sum(
            1
            for future, _, _ in self._settling + self._pending
            if isinstance(future, asyncio.Future) and delivery_failed(future)
        )
        return failed + sum(owed.failed() for owed in list(self._owed))

    def outstanding(self) -> Outstanding:
        """Unpublished records and uncommitted source messages, for the shutdown summary."""
        unsettled: Tally_[str] = Tally_()
        for future, target, _ in self._settling + self._pending:
            if not delivery_confirmed(future):
                unsettled[target.get_topic_name()] += 1
        for owed in list(self._owed):
            unsettled[owed.topic] += owed.unsettled()
        unsettled.update(self._unhanded)
        durable: dict[Any, int] = dict(getattr(self.app._consumer, "durable", {}))
        behind = {}
        for (name, partition), offset in list(self.handled.items()):
            done = durable.get(faust.types.TP(name, partition), 0)  # never committed: re-read from the start
            if offset + 1 > done:
                behind[name, partition] = offset + 1 - done
        return Outstanding(
            drift=unsettled[self.drift_topic.get_topic_name()],
            tallies=unsettled[self.tallies.get_topic_name()],
            quarantined=sum(unsettled[name] for name in self.quarantine.names()),
            messages=sum(behind.values()),
            partitions=len(behind),
        )

    async def _enqueue(self, topic: TopicT, records: list[bounds.Record]) -> list[Awaitable[Any]]:
        """Hand records to the producer (a quarantine copy with its headers); returns their delivery futures."""
        return [await topic.send(key=r[0], value=r[1], headers=bounds.headers_of(r)) for r in records]

    async def _deliver(
        self,
        topic: TopicT,
        records: Sequence[bounds.Record],
        what: str,
        *,
        replace: bool = True,
        owed: Owed | None = None,
        holds_commits: bool = True,
    ) -> None:
        """Write records and wait for the broker, until each is acknowledged or can never be.

        Retried while the broker is away (only the records not yet acknowledged are re-sent).
        A record no retry can cure (too large, invalid or unauthorised topic: see
        ``bounds.never_writable``; or over the record limit, the last guard before sending) is
        not an outage: it is counted and logged once, and the agent moves on — see ``_unwritable``.
        Until then the records are owed (``unreported``): no offset commit passes them, unless
        ``holds_commits`` is false (ticks: no source message waits for them).
        Deliveries are awaited with ``asyncio.wait``, which a cancelled stop leaves alone, so
        their outcome still tells the shutdown summary whether they reached the broker.
        """
        remaining = list(records)
        unwritable: list[tuple[bounds.Record, BaseException]] = []
        if owed is None:
            owed = self._owe(topic, len(records)) if holds_commits else Owed(topic.get_topic_name(), len(records))
        current = owed

        async def attempt() -> None:
            await self._attempt(topic, remaining, current, unwritable)

        with self._owing(owed):
            await self._with_retry(attempt, what)
            if unwritable:
                await self._unwritable(topic, unwritable, what, replace=replace)

    async def _attempt(
        self,
        topic: TopicT,
        remaining: list[bounds.Record],
        owed: Owed,
        unwritable: list[tuple[bounds.Record, BaseException]],
    ) -> None:
        """One try of ``_deliver``: hand ``remaining`` over and wait for the deliveries.

        Afterwards ``remaining`` holds the records to retry, ``unwritable`` gained those no retry
        can cure; the last retryable error is raised (``_with_retry`` backs off and tries again).
        """
        retry: list[bounds.Record] = []
        error: BaseException | None = None
        sent: list[tuple[bounds.Record, asyncio.Future[Any]]] = []
        owed.count, owed.in_flight = len(remaining), []
        limit = self.record_limit

        def sort(record: bounds.Record, exc: BaseException) -> None:
            nonlocal error
            if bounds.never_writable(exc) is not None:
                unwritable.append((record, exc))
            else:
                retry.append(record)
                error = exc

        for record in remaining:
            size = bounds.record_size(record)
            if size > limit:
                unwritable.append((record, bounds.too_large(size, limit)))
                owed.count -= 1
                continue
            try:
                [delivery] = await self._enqueue(topic, [record])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - sorted: never writable, or retried
                sort(record, exc)
                continue
            pending: asyncio.Future[Any] = asyncio.ensure_future(delivery)
            owed.in_flight.append(pending)
            sent.append((record, pending))
        if sent:
            await asyncio.wait([done for _, done in sent])
        for record, done in sent:
            if done.cancelled():
                sort(record, ConnectionError("a delivery was cancelled by the client"))
            elif (failure := done.exception()) is not None:
                sort(record, failure)
        remaining[:] = retry
        if error is not None:
            raise error

    async def _unwritable(
        self, topic: TopicT, unwritable: list[tuple[bounds.Record, BaseException]], what: str, *, replace: bool
    ) -> None:
        """Records that can never be written: counted, logged once per kind and cause, replaced or dropped.

        At-least-once for such a record means its stand-in: a drift event is replaced by a small
        ``internal_error`` drift event naming its drift id, kind and source (``bounds.stub_for``),
        written before the offset is committed. Summaries, tallies and ticks are dropped (a
        window undercounts; the count says by how much), as is a stand-in that cannot be written.
        """
        now = round(self.clock() * 1000)
        stand_ins: list[bounds.Record] = []
        on_drift_topic = topic is self.drift_topic
        for record, exc in unwritable:
            cause = bounds.never_writable(exc) or exc
            stub = bounds.stub_for(record[1] or b"", cause, now) if replace and on_drift_topic else None
            if not replace:
                kind = "stand_in"
            elif stub is not None:
                kind = "drift"
            else:
                kind = "summary" if on_drift_topic else "tally" if topic is self.tallies else "quarantine"
            error = type(cause).__name__
            self.metrics.unwritable.labels(kind, error).inc()
            if (kind, error) not in self._unwritable_logged:
                self._unwritable_logged.add((kind, error))
                log.error(
                    kv(
                        event="unwritable_record",
                        action=what,
                        record=kind,
                        bytes=bounds.record_size(record),
                        error=repr(cause)[:300],
                        then="replaced by an internal_error drift event" if stub is not None else "dropped",
                        note="not retried; logged once per record kind and error, counted in "
                        "sentinel_unwritable_records",
                    )
                )
            if stub is not None:
                stand_ins.append((record[0] or b"", stub))
        if stand_ins:
            await self._deliver(topic, stand_ins, what, replace=False)

    async def _with_retry(self, action: Callable[[], Awaitable[None]], what: str) -> None:
        backoff = 0.1
        while True:
            try:
                await action()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any broker failure: report, back off, retry
                self.metrics.publish_failures.inc()
                if self.publishing_ok:
                    log.error(kv(event="publish_failed", action=what, error=repr(exc)[:200], retry="yes"))
                self._failing.add(what)
                self.publishing_ok = False
                self._set_ready()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.publish_retry_backoff_max)
            else:
                self._failing.discard(what)
                if not self.publishing_ok and not self._failing:
                    log.info(kv(event="publish_recovered", action=what))
                    self.publishing_ok = True
                    self._set_ready()
                return

    # -- stage 2: windows -----------------------------------------------------------------

    async def _windows(self, stream: StreamT[Any]) -> None:
        async for event in stream.events():
            key = event.key
            if not isinstance(key, bytes) or not isinstance(event.value, bytes):
                continue
            try:
                record = orjson.loads(event.value)
                text = key.decode()
                state = self.table.get(text)
                if state is None:
                    if record.get("k") != "tally":
                        continue  # a tick for a key with no windows yet
                    state = w.new_state(text)
                result = w.advance(state, record, self.spec, round(self.clock() * 1000))
            except Exception:
                log.exception(kv(event="bad_tally", key=repr(key)[:100]))
                continue
            if result.late:
                self.metrics.late.inc(result.late)
            if result.overflowed:
                self.metrics.bound_hits.labels("fingerprints").inc(result.overflowed)
            if result.first and self.mode == "first":
                self.alerts.offer(result.first, window_of(result.state, self.spec, int(record["ts"])))
                await self._publish([self._drift_record(e) for e in result.first], "drift")
            if result.summaries or result.traffic:
                observed = round(self.clock() * 1000)
                stamp = {"observed_at": observed, "sentinel_version": __version__}
                if result.summaries:
                    revision = {"catalog_revision": self.reload.revision} if self.reload.revision else {}
                    summaries = [
                        (s["fingerprint"].encode(), orjson.dumps({**s, **stamp, **revision})) for s in result.summaries
                    ]
                    await self._publish(summaries, "summary")
                if result.traffic:
                    # Keyed like the windows stage, so one key's traffic records stay in order.
                    await self._publish([(key, orjson.dumps({**t, **stamp})) for t in result.traffic], "traffic")
            trimmed = bounds.trim_state(result.state, self.record_limit)
            if trimmed:
                self.metrics.bound_hits.labels("state_trimmed").inc(trimmed)
            self.table[text] = result.state

    async def _ticks(self) -> None:
        await self._update_lag()
        now = round(self.clock() * 1000)
        keys = self.known_keys
        await self._deliver(
            self.tallies,
            [(k.encode(), orjson.dumps(w.tick(now))) for k in sorted(keys)],
            "send ticks",
            holds_commits=False,
        )
        if self.rules is not None:
            await self.rules.tick(now)  # idle rules lanes move their watermark too

    # -- readiness and web ----------------------------------------------------------------

    def _on_rebalance_complete(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:  # noqa: ARG002 - signal signature
        self.ready = True
        assigned = {(tp.topic, tp.partition) for tp in self.app.consumer.assignment()}
        self.handled = {tp: offset for tp, offset in self.handled.items() if tp in assigned}
        self.metrics.keep_lag(assigned)
        self._set_ready()
        log.info(kv(event="ready", assigned=len(self.app.consumer.assignment())))

    def _on_partitions_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:  # noqa: ARG002
        self.ready = False
        self._set_ready()

    def _set_ready(self) -> None:
        self.metrics.ready.set(1 if self.readiness().ok else 0)

    def readiness(self) -> Readiness:
        """Partitions assigned, publishing working and the brokers answering (``/ready``)."""
        broker = self.broker.reachable()
        return readiness(
            assigned=self.ready,
            publishing=self.publishing_ok,
            broker=broker,
            broker_detail="" if broker else self.broker.detail(),
        )

    def _producer_client(self) -> Any:
        """The producer's aiokafka client, or None before the producer started."""
        producer = getattr(self.app.producer, "_producer", None)  # Faust's aiokafka Producer keeps it there
        return None if producer is None else producer.client

    def _on_broker_change(self, reachable: bool) -> None:
        if reachable:
            log.info(kv(event="broker_reachable"))
        else:
            log.error(kv(event="broker_unreachable", detail=self.broker.detail()))
        self._set_ready()

    def drift_view(self) -> dict[str, Any]:
        """Open windows of the keys this worker owns (at most ``max_drift_view_keys``), plus coverage."""
        shown = self.settings.max_drift_view_keys
        states = list(itertools.islice(self.table.items(), shown))
        left_out = max(0, len(self.table) - shown) if len(states) == shown else 0
        if left_out:
            self.metrics.bound_hits.labels("drift_view_keys").inc(left_out)
        return {
            "worker": {
                "app_id": self.settings.app_id,
                "version": __version__,
                "alert_mode": self.mode,
                "assigned": self._assigned(),
                "catalog_revision": self.reload.revision,
            },
            "windows": w.view(states, self.spec),
            "keys_left_out": left_out,
            "coverage": {
                "contracted": sorted(self.checkers),
                "uncovered": dict(sorted(self.uncovered.items())),
            },
        }

    def _assigned(self) -> list[str]:
        """Contracted source partitions this worker holds (empty before the consumer starts)."""
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # noqa: BLE001 - Faust raises ConsumerNotStarted before startup
            return []
        return sorted(f"{tp.topic}:{tp.partition}" for tp in assignment if tp.topic in self.checkers)

    def _pages(self) -> None:
        sentinel = self

        @self.app.page("/health")
        async def health(web: View, request: Request) -> Response:  # noqa: ARG001 - Faust view signature
            return web.json({"status": "ok"})

        @self.app.page("/ready")
        async def ready(web: View, request: Request) -> Response:  # noqa: ARG001
            verdict = sentinel.readiness()
            body = verdict.body() | ({"registry": sentinel.registry.detail()} if sentinel.registry else {})
            return web.json(body, status=200 if verdict.ok else 503)

        @self.app.page("/metrics")
        async def metrics(web: View, request: Request) -> Response:  # noqa: ARG001
            return web.bytes(sentinel.metrics.render(), content_type="text/plain; version=0.0.4")

        @self.app.page("/drift")
        async def drift(web: View, request: Request) -> Response:  # noqa: ARG001
            return web.json(sentinel.drift_view())


__all__ = ["Outstanding", "Sentinel"]  # Outstanding lives in worker/owed.py; callers import it from here
