"""Batch tallies and windowed drift aggregation: the worker's bookkeeping, as pure code.

The Faust worker is two thin stages around this module:

1. **validate** (partitioned like the source topics): checks a batch of messages, publishes
   drift events, and folds the batch into a :class:`Tally` — one record per
   (topic, event type, second) with message and per-fingerprint violation counts. Writing each
   key once per batch instead of once per message is what keeps the tables off the hot path
   (measured on this project: per-message table updates capped Faust at ~5k msg/s).
2. **windows** (keyed by ``topic|event_type``): folds tally records into a :class:`WindowState`
   per key — tumbling and hopping windows with real rates (violations / messages of that event
   type) — decides which fingerprints are *first* in their window, and closes windows into
   summaries. The state lives in a changelog-backed Faust table; this module never sees Faust.

Time is event time (the Kafka record timestamp, in ms). A window closes when the key's
watermark (the newest event time it has seen) passes its end plus a grace period; an idle key
is closed by *tick* records carrying wall-clock time (the worker's timer sends them), so a
quiet topic still gets its summaries. Records older than a closed window are *late*: counted,
not added (re-opening a window whose summary went out would double-report it).

Everything here is deterministic and clock-free: callers pass the times in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stream_sentinel.core.assess import Assessment, Checked
from stream_sentinel.core.check import drift as d

#: All window sizes are whole seconds, so per-second buckets assign messages exactly.
BUCKET_MS: Final = 1000
#: A window keeps at most this many fingerprints by default (``WindowSpec.max_fingerprints``);
#: the rest are counted under OVERFLOW.
MAX_FINGERPRINTS: Final = 500
OVERFLOW: Final = "overflow"
KEY_SEPARATOR: Final = "|"


def window_key(topic: str, event_type: str | None) -> str:
    """The windows stage's key: every fingerprint of an event type lives with its message count."""
    return f"{topic}{KEY_SEPARATOR}{event_type or ''}"


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Window sizes and hop step (ms), the grace before closing, the fingerprints a window counts apart."""

    tumbling_ms: int = 60_000
    hopping_ms: int = 3_600_000
    step_ms: int = 300_000
    grace_ms: int = 10_000
    max_fingerprints: int = MAX_FINGERPRINTS

    def __post_init__(self) -> None:
        if self.tumbling_ms <= 0 or self.step_ms <= 0 or self.hopping_ms < self.step_ms:
            raise ValueError("window sizes must be positive and the hop step at most the hopping window")
        if self.hopping_ms % self.step_ms or self.tumbling_ms % BUCKET_MS or self.step_ms % BUCKET_MS:
            raise ValueError("windows must be whole seconds and the hopping window a multiple of its step")

    def tumbling(self, ts: int) -> int:
        """Start of the tumbling window holding ``ts``."""
        return ts - ts % self.tumbling_ms

    def hopping(self, ts: int) -> range:
        """Starts of every hopping window holding ``ts`` (hopping_ms / step_ms of them)."""
        last = ts - ts % self.step_ms
        return range(last - self.hopping_ms + self.step_ms, last + 1, self.step_ms)


class Tally:
    """One batch folded into records for the windows stage: one per (topic, event type, second).

    An :class:`~stream_sentinel.core.aggregate.protocol.Aggregator` of checked messages.
    ``candidates`` keeps the first drift event of each fingerprint in the batch, which the
    windows stage publishes in ``first`` alert mode if no earlier batch had one in that window.
    ``mode`` is the alert mode: ``every`` counts a message's drift by its events (the worker
    publishes them all anyway); ``first`` and ``summary`` count by fingerprint and build drift
    events only for a fingerprint new to the batch in ``first`` mode, when ``may_alert``
    (topic, event type, ts) says its window can still take a new fingerprint.
    """

    __slots__ = ("_every", "_first", "_may_alert", "_records")

    def __init__(self, mode: str = "first", may_alert: Callable[[str, str | None, int], bool] | None = None) -> None:
        self._every, self._first = mode == "every", mode == "first"
        self._may_alert = may_alert
        self._records: dict[tuple[str, str | None, int], dict[str, Any]] = {}

    def initialize(self) -> None:
        """Start a new batch."""
        self._records = {}

    def add(self, item: Checked) -> None:
        """Count one checked message and the drift its assessment kept.

        For a valid message (no assessment) this is :meth:`messages`, which the worker's hot path
        calls directly.
        """
        topic, outcome, ts, assessment = item
        if outcome is not None:
            self.messages(topic, outcome.event_type, ts)
        if assessment is not None:
            self.assessed(topic, ts, assessment)

    def assessed(self, topic: str, ts: int, assessment: Assessment) -> None:
        """Count the drift of one assessed message whose message count is already in.

        Split from :meth:`add` so the worker can count a message before assessing it: if the
        assessment (or building its events) fails, the message stays counted exactly once and
        its ``internal_error`` is added here.
        """
        if self._every or assessment.internal:
            for event in assessment.events():
                self.drift(event, ts, candidate=self._first)
            return
        event_type, ref = assessment.event_type, assessment.ref
        new = False
        for violation, fp in zip(assessment.violations, assessment.fingerprints, strict=True):
            new |= self.violation(topic, event_type, fp, violation, ref.partition, ref.offset, ts)
        if new and self._first and (self._may_alert is None or self._may_alert(topic, event_type, ts)):
            for event in assessment.events():
                self.candidate(event, ts)

    def result(self) -> list[tuple[str, dict[str, Any]]]:
        """The batch's records (see :meth:`records`)."""
        return self.records()

    def _record(self, topic: str, event_type: str | None, ts: int) -> dict[str, Any]:
        bucket = ts - ts % BUCKET_MS
        slot = (topic, event_type, bucket)
        record = self._records.get(slot)
        if record is None:
            record = self._records[slot] = {
                "k": "tally",
                "topic": topic,
                "event_type": event_type,
                "ts": bucket,
                "messages": 0,
                "drift": {},
                "candidates": {},
            }
        return record

    def messages(self, topic: str, event_type: str | None, ts: int, count: int = 1) -> None:
        """Count validated messages of an event type (the denominator of every rate).

        Every message also counts for the topic-wide key (event type None), which is where
        drift without an event type lands (undecodable, unknown type, tombstones): its rate is
        then relative to all the topic's traffic.
        """
        self._record(topic, event_type, ts)["messages"] += count
        if event_type is not None:
            self._record(topic, None, ts)["messages"] += count

    def drift(self, event: d.DriftEvent, ts: int, *, candidate: bool) -> None:
        """Count one drift event; keep it as the fingerprint's candidate alert if asked."""
        source = event.source
        self.violation(source.topic, event.event_type, event.fingerprint, event, source.partition, source.offset, ts)
        if candidate:
            self.candidate(event, ts)

    def violation(
        self,
        topic: str,
        event_type: str | None,
        fingerprint: str,
        rule: d.Violation | d.DriftEvent,
        partition: int,
        offset: int,
        ts: int,
    ) -> bool:
        """Count one violation by fingerprint; True if the fingerprint is new to this record.

        Counting needs no drift event: in ``first`` and ``summary`` mode the worker builds the
        (costly, sample-redacting) drift event only for a fingerprint's first violation.
        """
        record = self._record(topic, event_type, ts)
        stats = record["drift"].get(fingerprint)
        where = [partition, offset]
        if stats is None:
            record["drift"][fingerprint] = {
                "count": 1,
                "first": where,
                "last": where,
                "kind": rule.kind,
                "rule_path": rule.rule_path,
                "severity": rule.severity,
                "requirement": rule.requirement,
                "owner": rule.owner,
            }
            return True
        stats["count"] += 1
        stats["last"] = where
        return False

    def candidate(self, event: d.DriftEvent, ts: int) -> None:
        """Keep a drift event as its fingerprint's alert for this record, unless one is kept."""
        candidates = self._record(event.source.topic, event.event_type, ts)["candidates"]
        if event.fingerprint not in candidates:
            candidates[event.fingerprint] = event.to_dict()

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """(windows-stage key, record) pairs, in first-seen order."""
        return [(window_key(topic, et), record) for (topic, et, _), record in self._records.items()]

    def __len__(self) -> int:
        return len(self._records)


def tick(now_ms: int) -> dict[str, Any]:
    """A watermark record for an idle key: closes windows nobody else will close."""
    return {"k": "tick", "ts": now_ms}


@dataclass(frozen=True, slots=True)
class Advance:
    """What folding one record into a key's state produced."""

    state: dict[str, Any]
    first: list[dict[str, Any]]  # candidate drift events that are first in their tumbling window
    summaries: list[dict[str, Any]]  # closed tumbling windows, one summary per fingerprint
    late: int  # messages that arrived after their window closed
    overflowed: int = 0  # fingerprint counts added to a tumbling window's OVERFLOW (cap reached)
    #: closed tumbling windows with messages, one traffic record each (drift or not): what tells
    #: the health report an ok topic from a silent one (contract: sentinel/drift-traffic.v1)
    traffic: list[dict[str, Any]] = field(default_factory=list)


def new_state(key: str) -> dict[str, Any]:
    """The empty state of a windows-stage key."""
    topic, _, event_type = key.partition(KEY_SEPARATOR)
    return {
        "topic": topic,
        "event_type": event_type or None,
        "watermark": 0,
        "idle_since": 0,
        "closed_until": 0,
        "tumbling": {},
        "hopping": {},
    }


def _merge(window: dict[str, Any], record: Mapping[str, Any], cap: int) -> tuple[set[str], int]:
    """Add a tally record's counts to a window: the fingerprints new to it, and how many overflowed."""
    window["messages"] = window.get("messages", 0) + record["messages"]
    counts: dict[str, Any] = window.setdefault("drift", {})
    new = set()
    overflowed = 0
    for fp, stats in record["drift"].items():
        slot = fp if fp in counts or len(counts) < cap else OVERFLOW
        overflowed += slot == OVERFLOW and fp != OVERFLOW  # a record's own overflow was counted where it folded
        have = counts.get(slot)
        if have is None:
            counts[slot] = dict(stats) if slot == fp else {**stats, "kind": OVERFLOW, "rule_path": ""}
            new.add(fp)
        else:
            have["count"] += stats["count"]
            have["last"] = stats["last"]
    return new, overflowed


def advance(state: dict[str, Any], record: Mapping[str, Any], spec: WindowSpec, now_ms: int) -> Advance:
    """Fold one tally or tick record into a key's window state (the state is updated in place).

    ``now_ms`` is the wall clock when the record is processed: it only decides idleness, never
    which window a message belongs to.
    """
    first: list[dict[str, Any]] = []
    late = overflowed = 0
    ts = int(record["ts"])
    if record["k"] == "tally":
        state["idle_since"] = now_ms
        if ts < state["closed_until"]:
            # Late: its window's summary is out. Its drift is still alerted, never dropped.
            late = int(record["messages"])
            first = list(record.get("candidates", {}).values())
        else:
            state["watermark"] = max(state["watermark"], ts)
            start = spec.tumbling(ts)
            window = state["tumbling"].setdefault(str(start), {"messages": 0, "drift": {}})
            new, overflowed = _merge(window, record, spec.max_fingerprints)
            first = [event for fp, event in record.get("candidates", {}).items() if fp in new]
            for hop in spec.hopping(ts):
                hopping = state["hopping"].setdefault(str(hop), {"messages": 0, "drift": {}})
                _merge(hopping, record, spec.max_fingerprints)
    elif now_ms - state["idle_since"] >= spec.grace_ms:
        # An idle key: wall-clock ticks move its watermark so its windows still close.
        state["watermark"] = max(state["watermark"], ts - spec.grace_ms)
    traffic: list[dict[str, Any]] = []
    summaries = list(_close(state, spec, traffic))
    return Advance(state, first, summaries, late, overflowed, traffic)


def _close(state: dict[str, Any], spec: WindowSpec, traffic: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    horizon = state["watermark"] - spec.grace_ms
    for start_text in sorted(state["tumbling"], key=int):
        start = int(start_text)
        end = start + spec.tumbling_ms
        if end > horizon:
            break
        window = state["tumbling"].pop(start_text)
        state["closed_until"] = max(state["closed_until"], end)
        if window.get("messages"):
            traffic.append(traffic_record(state, int(window["messages"]), start, end))
        yield from summarize(state, window, "tumbling", start, end)
    for start_text in [s for s in state["hopping"] if int(s) + spec.hopping_ms <= horizon]:
        del state["hopping"][start_text]


def traffic_record(state: Mapping[str, Any], messages: int, start: int, end: int) -> dict[str, Any]:
    """The messages of one key in one closed tumbling window (contract: sentinel/drift-traffic.v1).

    Published for every closed window with messages, drift or not: summaries exist only for
    windows with drift, so without these a clean topic and an idle one look the same on the
    drift topic. The topic-wide key (event type null) counts all of a topic's messages, including
    those of topics without a contract (counted, never validated).
    """
    return {
        "type": "traffic",
        "topic": state["topic"],
        "event_type": state["event_type"],
        "window": {"kind": "tumbling", "start": start, "end": end},
        "messages": messages,
    }


def summarize(
    state: Mapping[str, Any], window: Mapping[str, Any], kind: str, start: int, end: int
) -> Iterator[dict[str, Any]]:
    """One summary record per fingerprint of a window (contract: sentinel/drift-summary.v1).

    A behavioural rule's fingerprint (rule path ``rule:<id>``) also names its ``rule``, as its
    drift events do; the summary of a contract violation has no such key.
    """
    messages = int(window.get("messages", 0))
    for fp, stats in sorted(window.get("drift", {}).items()):
        rule_path = stats["rule_path"]
        named = {"rule": rule_path[len(d.RULE_PREFIX) :]} if rule_path.startswith(d.RULE_PREFIX) else {}
        yield {
            "type": "summary",
            "fingerprint": fp,
            "topic": state["topic"],
            "event_type": state["event_type"],
            "kind": stats["kind"],
            "rule_path": rule_path,
            **named,
            "severity": stats["severity"],
            "requirement": stats["requirement"],
            "owner": stats["owner"],
            "window": {"kind": kind, "start": start, "end": end},
            "count": stats["count"],
            "messages": messages,
            "rate": round(stats["count"] / messages, 6) if messages else None,
            "first": {"partition": stats["first"][0], "offset": stats["first"][1]},
            "last": {"partition": stats["last"][0], "offset": stats["last"][1]},
        }


def view(states: Iterable[tuple[str, Mapping[str, Any]]], spec: WindowSpec) -> dict[str, Any]:
    """The open windows of some keys, shaped for the ``/drift`` endpoint (topic -> event type)."""
    out: dict[str, Any] = {}
    for _, state in states:
        per_type = out.setdefault(state["topic"], {})
        entry: dict[str, Any] = {"watermark": state["watermark"], "windows": []}
        for kind, size, windows in (
            ("tumbling", spec.tumbling_ms, state["tumbling"]),
            ("hopping", spec.hopping_ms, state["hopping"]),
        ):
            for start_text in sorted(windows, key=int):
                window = windows[start_text]
                start = int(start_text)
                messages = int(window.get("messages", 0))
                entry["windows"].append(
                    {
                        "kind": kind,
                        "start": start,
                        "end": start + size,
                        "messages": messages,
                        "fingerprints": {
                            fp: {
                                "kind": stats["kind"],
                                "rule_path": stats["rule_path"],
                                "count": stats["count"],
                                "rate": round(stats["count"] / messages, 6) if messages else None,
                            }
                            for fp, stats in sorted(window.get("drift", {}).items())
                        },
                    }
                )
        per_type[state["event_type"] or ""] = entry
    return out
