"""The validate stage's per-message path: adapt a Faust message -> check -> assess -> add.

Nothing about severity, sampling or fingerprints is decided here: that is ``core.assess``
(the same step replay and check call). This module adapts Faust's messages to a ``Ref``, keeps
the batch's counts for the metrics, and turns a failure of the core on one message into an
``internal_error`` drift event (logged with its type and place, never its text).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.assess import Assessment, Assessor, Ref
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.keyhead import KeyHeadChecker
from stream_sentinel.core.check.outcome import Outcome
from stream_sentinel.core.probe import ORIGIN, probe_run
from stream_sentinel.worker.logs import kv

log = logging.getLogger("stream_sentinel.worker")


class Checks(Protocol):
    """What the stage calls per message: a ``TopicChecker``, or a rule topic's keeping check (worker/rules.py)."""

    def check(self, value: bytes | None, headers: Any) -> Outcome:
        """The message's outcome."""


#: Topic name -> (checker, sampling rate, wire format).
Checkers = dict[str, tuple[Checks, float, str]]
#: The rules stage's hook for a contract-valid outcome that carries its payload (worker/rules.py):
#: (message, outcome, event time, the batch's facts) -> the outcome with expression violations merged.
Judge = Callable[[Any, Outcome, int, list[Any]], Outcome]


@dataclass(slots=True)
class BatchResult:
    """What one batch came to: the tally for the windows stage, drift to publish, counts for metrics."""

    tally: w.Tally
    publish: list[d.DriftEvent] = field(default_factory=list)
    counted: Counter[tuple[str, bool]] = field(default_factory=Counter)
    sampled_out: Counter[str] = field(default_factory=Counter)
    drift_kinds: Counter[tuple[str, str | None, str, str]] = field(default_factory=Counter)
    last_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    facts: list[Any] = field(default_factory=list)  # behavioural rule facts of valid messages (worker/rules.py)
    #: Drifting messages of topics with a quarantine, with their drift (``worker/quarantine.py``).
    quarantine: list[tuple[Any, Assessment]] = field(default_factory=list)
    #: Canaries (probe header) by (topic, result): counted apart, never in ``counted`` or the tally.
    probes: Counter[tuple[str, str]] = field(default_factory=Counter)


class BatchAssessor:
    """Checks and assesses the messages of a batch with the worker's one :class:`Assessor`."""

    def __init__(
        self,
        checkers: Checkers,
        assessor: Assessor,
        mode: str,
        may_alert: Callable[[str, str | None, int], bool],
        quarantined: frozenset[str] = frozenset(),
        judge: Judge | None = None,
        keyed: Mapping[str, KeyHeadChecker] | None = None,
    ) -> None:
        self.checkers = checkers
        #: Topics with a key/header contract (``Engine.keyheads``); empty: not one lookup per message.
        self.keyed: Mapping[str, KeyHeadChecker] = keyed or {}
        #: Topics whose drifting messages are kept for the quarantine action (the valid path never looks).
        self.quarantined = quarantined
        self.assessor = assessor
        self.mode = mode
        self.may_alert = may_alert
        self.judge: Judge = judge or _unjudged  # behavioural rules (worker/rules.py), if any
        #: Messages of topics without a contract, per topic (counted, not validated; ``/drift``).
        self.uncovered: Counter[str] = Counter()
        #: One assessor per probe run id (origin probe, the run id on its events); bounded, rarely used.
        self._probes: dict[str, Assessor] = {}

    def run(self, batch: Sequence[Any], now_ms: int) -> BatchResult:  # noqa: C901 - one loop on purpose (bench/worker.py)
        """Fold a batch of Faust messages (as fetched); ``now_ms``: the batch's wall-clock time (ms)."""
        result = BatchResult(w.Tally(self.mode, self.may_alert))
        tally, counted, last_offsets = result.tally, result.counted, result.last_offsets
        every = self.mode == "every"
        checkers, held, keyed = self.checkers, self.quarantined, self.keyed
        skips, assess = self.assessor.policy.skips, self.assessor.assess
        # Tally.add split in its two steps: every checked message is counted first (a valid one
        # is only counted: no item tuple, no extra call), then a drifting one's assessment is
        # added. A failure after the count therefore never counts the message twice or not at all.
        count, assessed, judge = tally.messages, tally.assessed, self.judge
        for message in batch:
            topic, partition, offset = message.topic, message.partition, message.offset
            last_offsets[topic, partition] = offset
            entry = checkers.get(topic)
            # No contract (counted, not validated), or a canary (probe header: published, counted apart,
            # never in the windows); a message without headers costs one truth test here.
            if (entry is None or message.headers) and self._aside(result, message, entry, now_ms):
                continue
            counted[topic, True] += 1
            checker, rate, wire = entry  # type: ignore[misc]  # not None: _aside took those (no narrowing)
            if rate < 1.0 and skips(partition, offset, rate):  # the policy decides; no call at rate 1
                result.sampled_out[topic] += 1
                continue
            ts = round(message.timestamp * 1000) if message.timestamp else now_ms
            outcome = None
            try:
                headers = message.headers
                if type(headers) is dict:  # Faust may hand headers over as a mapping
                    headers = list(headers.items())
                outcome = checker.check(message.value, headers)
                if keyed and topic in keyed:
                    outcome = keyed[topic].judge(outcome, message.key, headers, message.value)
                count(topic, outcome.event_type, ts)
                if not outcome.violations:
                    if outcome.payload is None:  # only a rule-read event type's valid outcome keeps it
                        continue
                    outcome = judge(message, outcome, ts, result.facts)
                    if not outcome.violations:
                        continue
                drift = assess(outcome, _ref(message, ts, wire, now_ms))
                if drift is None:
                    continue
                assessed(topic, ts, drift)
                if topic in held:
                    result.quarantine.append((message, drift))
                if not every:
                    _count_kinds(result, topic, drift)
                    continue
            except Exception as exc:  # noqa: BLE001 - no message may stop the agent; reported here
                if outcome is None:  # the check itself failed: counted topic-wide, like its drift
                    count(topic, None, ts)
                drift = self._failure(message, ts, wire, now_ms, exc)
                assessed(topic, ts, drift)
            if every or drift.internal:
                _count_kinds(result, topic, drift)
            if every:
                result.publish.extend(drift.events())
        return result

    def _aside(self, result: BatchResult, message: Any, entry: tuple[Checks, float, str] | None, now_ms: int) -> bool:
        """Handle a message of a topic without a contract, or a probe's canary; False for any other message.

        A canary is always checked (no sampling), its drift events are always published (any
        alert mode: they are the proof the pipeline works) with ``origin: probe`` and the run id,
        and it is counted in ``result.probes`` only: rates, summaries, traffic, rules and
        quarantine never see it, so a probe never changes what operators see.
        """
        if entry is None:
            self._uncovered(result, message, now_ms)
            return True
        run = probe_run(message.headers)
        if run is None:
            return False
        checker, _rate, wire = entry
        assessor = self._probes.get(run)
        if assessor is None:
            if len(self._probes) >= 16:
                self._probes.clear()
            assessor = self._probes[run] = Assessor(replace(self.assessor.policy, origin=ORIGIN, run_id=run))
        ts = round(message.timestamp * 1000) if message.timestamp else now_ms
        ref = _ref(message, ts, wire, now_ms)
        try:
            headers = message.headers
            outcome = checker.check(message.value, list(headers.items()) if type(headers) is dict else headers)
            drift = assessor.assess(outcome, ref) if outcome.violations else None
        except Exception as exc:  # noqa: BLE001 - as for any message: reported, never raised
            drift = assessor.failure(ref, exc)
        result.probes[message.topic, "valid" if drift is None else "drift"] += 1
        if drift is not None:
            result.publish.extend(drift.events())
        return True

    def _uncovered(self, result: BatchResult, message: Any, now_ms: int) -> None:
        """A message of a topic without a contract: counted, never validated.

        It is also counted topic-wide in the tally: its window's traffic record tells the health
        report which topics carry traffic without a contract.
        """
        topic = message.topic
        result.counted[topic, False] += 1
        result.tally.messages(topic, None, round(message.timestamp * 1000) if message.timestamp else now_ms)
        if topic not in self.uncovered:
            log.warning(kv(event="uncovered_topic", topic=topic, note="no contract; counted, not validated"))
        self.uncovered[topic] += 1

    def _failure(self, message: Any, ts: int, wire: str, now_ms: int, exc: Exception) -> Assessment:
        # The drift event and the log carry the exception's type and where it was raised, never
        # its text (d.internal_error: it may quote the payload). Counted per batch (metrics).
        log.error(
            kv(
                event="internal_error",
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                error=type(exc).__name__,
                at=d.raised_at(exc),
            )
        )
        return self.assessor.failure(_ref(message, ts, wire, now_ms), exc)


def _unjudged(message: Any, outcome: Outcome, ts: int, facts: list[Any]) -> Outcome:  # noqa: ARG001
    """No rules: a valid outcome stays valid (plain checks keep no payload, so this is not called)."""
    return outcome


def _ref(message: Any, ts: int, wire: str, now_ms: int) -> Ref:
    key = message.key
    return Ref(
        message.topic,
        message.partition,
        message.offset,
        ts,
        key if isinstance(key, bytes) else None,
        wire,
        observed_at=now_ms,
    )


def _count_kinds(result: BatchResult, topic: str, drift: Assessment) -> None:
    kinds, event_type = result.drift_kinds, drift.event_type
    for violation in drift.violations:
        kinds[topic, event_type, violation.kind, violation.severity] += 1
