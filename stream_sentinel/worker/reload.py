"""Reload without restart: a changed spec dir is loaded in the background and swapped in between batches.

Two triggers: ``SIGHUP`` (always), and with ``spec_watch: N`` a check every N seconds. A check
hashes the spec dir (``core.contracts.revision``); a revision other than the running one is
loaded and compiled in a worker thread (``run_in_executor``: the event loop keeps consuming and
serving ``/ready`` meanwhile) exactly as at start (``run.engine_for``: same caps, same
``SpecError`` checks). Then:

- a good spec is swapped in on the event loop as soon as it is loaded (:meth:`Reloader.between_batches`):
  new checkers map, key/header checkers and assessor. The validate stage checks a batch in one
  synchronous call (``BatchAssessor.run`` has no ``await``), so a swap always falls between two
  batches and a batch is judged by one catalog revision from its first message to its last (an
  idle topic is no reason to wait); ``sentinel_spec_reload_total{result="loaded"}``;
- a bad spec is refused: one log line ``event=spec_reload result=refused error="file#/pointer:
  cause"``, ``sentinel_spec_reload_total{result="refused"}``, and the running contracts stay. The
  watch does not load the same bad revision again (a SIGHUP does, and counts it again);
- a SIGHUP with nothing changed counts ``result="unchanged"``.

What a reload swaps: the contracts (schemas, versions, event types, formats, sampling rates,
``severity:`` settings, key/header contracts) of the topics the worker consumes. What needs a
restart (logged as a note when it changed): new topics (they are subscribed at start), the
``rules:`` section (rule state lives in tables built at start; rule topics get checkers of the new
contracts but the old rules), ``quarantine:`` targets and the ``registry:`` connection (its
fetcher is pointed at the new engine's writer table, which starts empty).

Drift events carry the revision they were judged by (``catalog_revision``), as do window
summaries (the revision when the window closed) and ``/drift``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Protocol

from stream_sentinel.config import Settings
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.assess import Assessor, Policy, severities_of
from stream_sentinel.core.check.validate import Engine, load_engine
from stream_sentinel.core.contracts.revision import catalog_revision
from stream_sentinel.core.errors import SpecError
from stream_sentinel.core.rules.session import reach_for, wants
from stream_sentinel.worker import bounds
from stream_sentinel.worker.batch import BatchAssessor, Checkers
from stream_sentinel.worker.logs import kv
from stream_sentinel.worker.metrics import Metrics
from stream_sentinel.worker.rules import KeepingChecker, RulesStage

log = logging.getLogger("stream_sentinel.worker")

LOADED: Final = "loaded"
REFUSED: Final = "refused"
UNCHANGED: Final = "unchanged"
#: Longest error text logged for a refused spec (it names file, pointer and cause).
_MAX_ERROR: Final = 500


class Swappable(Protocol):
    """What a swap changes on the ``Sentinel`` (a protocol: sentinel.py imports this module)."""

    engine: Engine
    checkers: Checkers
    batches: BatchAssessor
    rules: RulesStage | None
    known_keys: set[str]
    event_types: bounds.EventTypeCap
    settings: Settings


class Reloader:
    """Watches the spec dir, loads a changed one off the event loop, hands it over between batches."""

    def __init__(self, spec_dir: Path, load: Callable[[], Engine], metrics: Metrics, watch: float) -> None:
        self.spec_dir = spec_dir
        self._load = load
        self._metrics = metrics
        self.watch = watch
        try:
            #: The revision the running contracts were loaded from (drift events and /drift name it).
            self.revision: str | None = catalog_revision(spec_dir)
        except OSError:
            self.revision = None  # a spec dir we cannot hash (tests build engines in memory): no revision
        self.pending: tuple[Engine, str] | None = None
        self._refused: str | None = None
        self._forced = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: What a loaded spec is swapped into (the Sentinel sets itself here).
        self.target: Swappable | None = None

    def request(self) -> None:
        """SIGHUP: check now, and load even a revision refused before."""
        self._forced = True
        if self._wake is not None:
            self._wake.set()

    def install(self) -> None:
        """Catch SIGHUP from now on (main thread, before the app starts).

        The reload task starts with the app's other tasks, possibly after the worker reports
        ready: a SIGHUP in between would otherwise end the process (its default action). A
        signal that comes before the task runs is remembered and handled when it starts.
        """
        signal.signal(signal.SIGHUP, self._on_signal)

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self._forced = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    async def run(self) -> None:
        """The reload task (``app.task``): SIGHUP handler, then wait for a signal or the watch interval."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._loop = loop
        if self._forced:  # a SIGHUP before this task ran
            self._wake.set()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # no signals off the main thread
            loop.add_signal_handler(signal.SIGHUP, self.request)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.watch or None)
            forced, self._forced = self._forced, False
            self._wake.clear()
            if await self.check(forced=forced) == LOADED and self.target is not None:
                self.between_batches(self.target)  # no await since the load: between two batches

    async def check(self, *, forced: bool = False) -> str | None:
        """Hash the spec dir; load a new revision in a thread. The result, or None when there was nothing to do."""
        loop = asyncio.get_running_loop()
        try:
            revision = await loop.run_in_executor(None, catalog_revision, self.spec_dir)
        except OSError as exc:
            return self._refuse(None, f"{self.spec_dir}: cannot read the spec dir: {type(exc).__name__}")
        known = self.pending[1] if self.pending is not None else self.revision
        if revision == known or (revision == self._refused and not forced):
            if forced:
                self._metrics.spec_reloads.labels(UNCHANGED).inc()
                log.info(kv(event="spec_reload", result=UNCHANGED, revision=revision))
                return UNCHANGED
            return None
        try:
            engine = await loop.run_in_executor(None, self._load)
            after = await loop.run_in_executor(None, catalog_revision, self.spec_dir)
        except SpecError as exc:
            return self._refuse(revision, str(exc))
        except Exception as exc:  # noqa: BLE001 - a reload never stops the worker; the old contracts stay
            return self._refuse(revision, f"cannot load the spec: {type(exc).__name__}")
        if after != revision:
            return None  # edited while loading: the next check loads what is there then
        self.pending = (engine, revision)
        return LOADED

    def _refuse(self, revision: str | None, error: str) -> str:
        self._refused = revision
        self._metrics.spec_reloads.labels(REFUSED).inc()
        log.error(
            kv(
                event="spec_reload",
                result=REFUSED,
                revision=revision,
                running=self.revision,
                error=error.replace("\n", " ")[:_MAX_ERROR],
                note="the running contracts stay",
            )
        )
        return REFUSED

    def between_batches(self, sentinel: Swappable) -> None:
        """Swap a pending spec in (call it on the event loop, never inside a batch's check)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        engine, revision = pending
        notes = swap(sentinel, engine, revision)
        previous, self.revision = self.revision, revision
        self._metrics.spec_reloads.labels(LOADED).inc()
        log.warning(kv(event="spec_reload", result=LOADED, revision=revision, previous=previous, notes=notes))


def engine_of(settings: Settings) -> Engine:
    """The validation engine these settings ask for (spec dir, per-message caps), at start and on reload."""
    return load_engine(
        str(settings.spec_dir),
        max_violations_per_message=settings.max_violations_per_message,
        max_payload_bytes=settings.max_payload_bytes,
    )


def worker_policy(settings: Settings, engine: Engine, revision: str | None) -> Policy:
    """How the worker assesses messages: its floor and raw prefix, the catalog's severities, the revision."""
    return Policy(
        settings.min_severity,
        settings.raw_prefix,
        sample=True,
        severity=severities_of(engine.catalog),
        catalog_revision=revision,
    )


def swap(sentinel: Swappable, engine: Engine, revision: str) -> str:
    """Point the validate stage at ``engine``'s contracts; returns what needs a restart, in words."""
    old = sentinel.engine
    consumed = list(sentinel.checkers)
    checkers: Checkers = {}
    for name in consumed:
        checker = engine.checker(name)
        if checker is not None:  # a topic dropped from the catalog is counted as uncovered from now on
            contract = engine.catalog.topics[name]
            checkers[name] = (checker, contract.sample_rate, contract.format)
    if sentinel.rules is not None:
        rules = sentinel.rules.rules
        for topic in rules.topics:
            if topic in checkers:
                _, rate, fmt = checkers[topic]
                keeping = engine.keeping_check(topic, wants(rules, topic), reach_for(rules, topic))
                checkers[topic] = (KeepingChecker(keeping), rate, fmt)
    batches = sentinel.batches
    policy = replace(batches.assessor.policy, severity=severities_of(engine.catalog), catalog_revision=revision)
    batches.checkers = checkers
    batches.keyed = {n: k for n, k in engine.keyheads.items() if n in checkers}
    batches.assessor = Assessor(policy)
    sentinel.checkers = checkers
    sentinel.engine = engine
    stage = getattr(sentinel, "registry", None)
    if stage is not None:  # the Schema Registry fetcher (worker/registry.py) fills the new engine's table now
        engine.writers.on_miss = stage.fetcher.want  # ids are fetched again on demand (a fresh cache)
        stage.fetcher.table = engine.writers
    sentinel.event_types = bounds.EventTypeCap(
        {name: engine.catalog.topics[name].events for name in checkers}, sentinel.settings.max_event_types_per_topic
    )
    sentinel.known_keys |= {
        w.window_key(name, event) for name in checkers for event in engine.catalog.topics[name].events
    }
    return _restart_notes(old, engine, consumed)


def _restart_notes(old: Engine, new: Engine, consumed: list[str]) -> str:
    notes = []
    added = sorted(set(new.catalog.topics) - set(consumed) - set(old.catalog.topics))
    if added:
        notes.append(f"new topics {', '.join(added)} are consumed after a restart")
    if new.catalog.rules != old.catalog.rules:
        notes.append("changed rules take effect after a restart")
    if _quarantines(new) != _quarantines(old):
        notes.append("changed quarantine targets take effect after a restart")
    return "; ".join(notes) or "none"


def _quarantines(engine: Engine) -> Mapping[str, Any]:
    return {name: topic.quarantine for name, topic in engine.catalog.topics.items()}


__all__ = ["LOADED", "REFUSED", "UNCHANGED", "Reloader", "swap"]
