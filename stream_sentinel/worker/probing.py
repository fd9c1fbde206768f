"""The worker's built-in probe: ``stream-sentinel probe`` every ``probe_interval`` seconds, as a task.

It runs beside validation (a Faust app task on the same loop; every wait in it is bounded and
awaited, so a batch is never held up by it) and exports the outcome: ``sentinel_probe_runs_total
{result}`` and ``sentinel_probe_last_success_timestamp_seconds``, so an alert rule (``SentinelBlind``)
fires when the sentinel stops seeing what it should. Steps 3 and 4 (metrics, alert sink) skip here:
the worker knows its own counters, and canaries do not alert by default.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from stream_sentinel.config import Settings
from stream_sentinel.core import probe as p
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.errors import SentinelError, UsageError
from stream_sentinel.prober import Target, canaries, probe
from stream_sentinel.worker.logs import kv
from stream_sentinel.worker.metrics import Metrics

log = logging.getLogger("stream_sentinel.worker")


class BuiltInProbe:
    """Runs the drive -> verify probe periodically and counts its outcome."""

    def __init__(self, settings: Settings, engine: Engine, metrics: Metrics, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.clock = clock
        self._topic: str | None = settings.probe_topic
        for result in (p.PASS, p.FAIL):  # both series exist from the start: rules compare them
            metrics.probe_runs.labels(result)

    async def run(self) -> None:
        """Probe every ``probe_interval`` seconds until cancelled (the first run after one interval)."""
        while True:
            await asyncio.sleep(self.settings.probe_interval)
            await self.once()

    async def once(self) -> p.Report | None:
        """One probe run, counted; None when it could not run at all (no topic, brokers unreachable)."""
        report: p.Report | None = None
        try:
            report = await probe(self.engine, self._target())
        except SentinelError as exc:
            log.warning(kv(event="probe", outcome=p.FAIL, reason=str(exc)))
        except Exception as exc:  # noqa: BLE001 - a probe must never stop the worker; counted as a failure
            log.error(kv(event="probe", outcome=p.FAIL, error=type(exc).__name__))
        outcome = report.outcome if report is not None else p.FAIL
        self.metrics.probe_runs.labels(outcome).inc()
        if outcome == p.PASS:
            self.metrics.probe_last_success.set(self.clock())
        if report is not None:
            failed = [f"{s.name}: {s.reason}" for s in report.steps if s.status == p.FAIL]
            line = kv(
                event="probe", run_id=report.run_id, topic=report.topic, outcome=outcome, failed="; ".join(failed)
            )
            (log.info if outcome == p.PASS else log.warning)(line)
        return report

    def _target(self, topic: str | None = None) -> Target:
        s = self.settings
        topic = topic or self._topic or self._first_topic()
        return Target(
            topic=topic,
            drift_topic=s.drift_topic,
            kafka=s.aiokafka_kwargs(),
            timeout=s.probe_timeout,
            examples=s.probe_examples,
        )

    def _first_topic(self) -> str:
        """The first catalog topic the examples give canaries for (remembered: probe_topic unset)."""
        for name in self.engine.catalog.topics:
            if name == self.settings.drift_topic:
                continue
            try:
                canaries(self.engine, self._target(name), "probe-pick")
            except UsageError:
                continue
            self._topic = name
            return name
        raise UsageError("no catalog topic has an example the probe can build canaries from: set probe_topic")
