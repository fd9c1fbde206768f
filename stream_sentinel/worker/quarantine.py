"""The quarantine action: a byte-for-byte copy of a drifting record on its topic's quarantine topic.

A catalog topic with ``quarantine: {topic: T, min_severity: S}`` (``core/contracts/quarantine.py``)
asks for what Confluent's DLQ rule action does: each record of the topic with at least one
violation at or above ``S`` is produced to ``T`` once, its key, value and headers exactly as read,
followed by ``__rule.*`` headers naming its most severe violation (:func:`rule_headers`). A
team can then read, fix and re-send the bad records without searching the source topic for them.

Where it sits: the validate stage notes the drifting messages of quarantine topics
(``BatchAssessor``, after the assessment: a valid message, or any message of another topic,
pays nothing), and :meth:`Quarantines.sends` turns them into records that the stage hands to
the producer with the batch's drift events and tallies, before the batch is acknowledged. So
the copy has the drift events' at-least-once: no offset is committed before it landed; after a
crash it may be written twice (deduplicate on ``__rule.drift_id`` or ``__rule.source``).

Bounded like every record the worker writes: a copy over ``bounds.record_limit`` (a quarter of
``producer_max_request_size``) cannot be shrunk without ceasing to be a copy, so it is not
written; it is counted in ``sentinel_unwritable_records_total{record="quarantine"}`` and logged
once per target topic (the drift events still report the message). At most one copy per
source message, so a batch writes at most ``batch_size`` of them.

Violations of behavioural rules take the same path: :func:`rule_headers` names a rule violation
by its rule id, and :meth:`Quarantines.copy` takes any violation and drift id.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from faust.types import AppT, TopicT

from stream_sentinel.core.assess import Assessment
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.contracts.catalog import Catalog
from stream_sentinel.core.contracts.quarantine import Quarantine
from stream_sentinel.worker import bounds
from stream_sentinel.worker.logs import kv
from stream_sentinel.worker.metrics import Metrics

log = logging.getLogger("stream_sentinel.worker")

#: Confluent's DLQ action prefixes its headers so; ``__rule.topic`` and ``__rule.name`` mean what they mean there.
HEADER_PREFIX: Final = "__rule."
KIND: Final = HEADER_PREFIX + "kind"
SEVERITY: Final = HEADER_PREFIX + "severity"
REQUIREMENT: Final = HEADER_PREFIX + "requirement"
DRIFT_ID: Final = HEADER_PREFIX + "drift_id"
NAME: Final = HEADER_PREFIX + "name"
SOURCE: Final = HEADER_PREFIX + "source"
TOPIC: Final = HEADER_PREFIX + "topic"


def worst(violations: Sequence[d.Violation], min_severity: str) -> d.Violation | None:
    """The most severe violation at or above ``min_severity`` (the first of equals), or None."""
    rank = d.SEVERITY_RANK
    found: d.Violation | None = None
    best = rank[min_severity] - 1
    for violation in violations:
        level = rank[violation.severity]
        if level > best:
            found, best = violation, level
    return found


def rule_headers(violation: d.Violation, drift_id: str, topic: str, partition: int, offset: int) -> bounds.Headers:
    """The ``__rule.*`` headers of a copy: why it was quarantined, and where the original is.

    ``__rule.name`` is the rule's id for a behavioural rule, else the violated rule's path in
    the contract (``rule_path``: a JSON pointer, ``""`` for the whole message), capped as in the
    drift event. ``__rule.requirement`` is left out when the violation has none. Texts only:
    kinds, catalog words, pointers and coordinates, never a value of the record.
    """
    name = violation.rule if violation.rule is not None else violation.rule_path
    headers = [
        (KIND, violation.kind.encode()),
        (SEVERITY, violation.severity.encode()),
        (DRIFT_ID, drift_id.encode()),
        (NAME, d.cap_text(name, d.MAX_PATH + 32).encode("utf-8", "surrogatepass")),
        (SOURCE, f"{topic}/{partition}/{offset}".encode()),
        (TOPIC, topic.encode()),
    ]
    if violation.requirement is not None:
        headers.insert(2, (REQUIREMENT, d.cap_text(violation.requirement, d.MAX_TEXT).encode("utf-8", "surrogatepass")))
    return tuple(headers)


def drift_id_of(drift: Assessment, violation: d.Violation) -> str:
    """The drift id the violation's drift event carries (``drift.build_drift_events``), without building it."""
    ref, outcome = drift.ref, drift.outcome
    subject = outcome.subject(ref.topic_format) if outcome is not None else None
    return d.drift_id(
        d.Source(ref.topic, ref.partition, ref.offset),
        subject.event_type if subject is not None else None,
        violation,
        subject.schema_ref if subject is not None else None,
    )


def source_headers(message: Any) -> bounds.Headers:
    """The source record's headers as read, in order, repeats kept (Faust may hand over a mapping)."""
    headers = message.headers
    if not headers:
        return ()
    if isinstance(headers, Mapping):
        return tuple(headers.items())
    return tuple((name, value) for name, value in headers)


class Quarantines:
    """The worker's quarantine topics: which source topics have one, and the copies a batch owes them."""

    def __init__(
        self,
        targets: Mapping[str, Quarantine],
        metrics: Metrics,
        record_limit: int,
        *,
        partitions: int = 1,
        replicas: int = 1,
    ) -> None:
        self.targets = dict(targets)
        #: Source topics whose drifting messages the validate stage notes (``BatchAssessor``).
        self.sources = frozenset(self.targets)
        self.metrics = metrics
        self.record_limit = record_limit
        self.partitions = partitions
        self.replicas = replicas
        self._channels: dict[str, TopicT] = {}
        self._too_large_logged: set[str] = set()

    @classmethod
    def of(
        cls, catalog: Catalog, names: Iterable[str], metrics: Metrics, record_limit: int, settings: Any
    ) -> Quarantines:
        """The quarantines of the contracted topics ``names``; created topics get the drift topic's partitions."""
        targets = {name: q for name in names if (q := catalog.topics[name].quarantine) is not None}
        return cls(
            targets,
            metrics,
            record_limit,
            partitions=settings.drift_topic_partitions,
            replicas=settings.replication_factor,
        )

    def names(self) -> set[str]:
        """The quarantine topics (the shutdown summary counts what is owed to them)."""
        return {quarantine.topic for quarantine in self.targets.values()}

    def copy(self, message: Any, violation: d.Violation, drift_id: str) -> bounds.Record:
        """The record to quarantine: the message's key, value and headers as read, then the ``__rule.*`` headers."""
        extra = rule_headers(violation, drift_id, message.topic, message.partition, message.offset)
        return (message.key, message.value, source_headers(message) + extra)

    def copies(self, drifting: Sequence[tuple[Any, Assessment]]) -> dict[str, list[bounds.Record]]:
        """Quarantine topic -> the copies owed for ``drifting`` (messages of quarantine topics, with their drift).

        One copy per message that has a violation at or above its topic's ``min_severity``,
        named by the most severe; a copy over the record limit is counted and left out.
        """
        out: dict[str, list[bounds.Record]] = {}
        counted: Counter[str] = Counter()
        for message, drift in drifting:
            quarantine = self.targets.get(message.topic)
            if quarantine is None or drift.internal:  # internal_error: the sentinel's fault, not the record's
                continue
            violation = worst(drift.violations, quarantine.min_severity)
            if violation is None:
                continue
            record = self.copy(message, violation, drift_id_of(drift, violation))
            size = bounds.record_size(record)
            if size > self.record_limit:
                self._too_large(quarantine.topic, size)
                continue
            out.setdefault(quarantine.topic, []).append(record)
            counted[message.topic] += 1
        for topic, n in counted.items():
            self.metrics.quarantined.labels(topic).inc(n)
        return out

    async def sends(
        self, app: AppT, drifting: Sequence[tuple[Any, Assessment]]
    ) -> list[tuple[TopicT, list[bounds.Record]]]:
        """The batch's copies per quarantine topic, declared (created if missing) before its first copy."""
        if not drifting:
            return []
        return [(await self._channel(app, name), records) for name, records in self.copies(drifting).items()]

    async def _channel(self, app: AppT, name: str) -> TopicT:
        channel = self._channels.get(name)
        if channel is None:
            channel = app.topic(
                name,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.partitions,
                replicas=self.replicas,
                internal=True,  # declared (created if missing) by the app, as the drift topic
            )
            await channel.maybe_declare()
            self._channels[name] = channel
        return channel

    def _too_large(self, target: str, size: int) -> None:
        error = type(bounds.too_large(size, self.record_limit)).__name__
        self.metrics.unwritable.labels("quarantine", error).inc()
        if target not in self._too_large_logged:
            self._too_large_logged.add(target)
            log.error(
                kv(
                    event="unwritable_record",
                    action="quarantine",
                    record="quarantine",
                    topic=target,
                    bytes=size,
                    limit=self.record_limit,
                    then="dropped (the drift events still report the message)",
                    note="over the record limit (a quarter of producer_max_request_size); logged once per "
                    "quarantine topic, counted in sentinel_unwritable_records",
                )
            )


__all__ = ["HEADER_PREFIX", "Quarantines", "drift_id_of", "rule_headers", "source_headers", "worst"]
