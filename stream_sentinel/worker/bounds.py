"""Bounds at the worker's edge: every record it writes fits, every key set it keeps is capped.

The core caps what it echoes, but the worker does not rely on that: whatever a producer sends
(a 250 KB field name, a new event type on every message), what the worker writes to Kafka and
keeps in memory stays bounded here.

- **Records.** One record is at most :func:`record_limit` bytes, a quarter of the producer's
  ``max_request_size``, which leaves room for the key, headers and batch overhead. Texts copied
  into tally records (rule paths, owners) are capped at :data:`TEXT_CAP` characters; a drift
  event over the limit is shrunk (:func:`fit_drift`: the sample dropped, then its texts cut);
  a tally record over the limit is split by fingerprint (:func:`split_tally`), which the
  windows stage adds up like any other records.
- **Keys.** Event types are set by producers and every one would become a windows key (state,
  ticks, ``/drift``): :class:`EventTypeCap` gives the catalog's event types and the first
  ``limit`` unknown ones per topic keys of their own and folds the rest into
  :data:`OTHER_EVENT_TYPE`.
- **Errors.** A produce error that no retry can cure (the record is too large, the topic is
  invalid or not authorised) is told apart from a broker outage by :func:`never_writable`; the
  worker then writes :func:`stub_for` in place of such a drift event and moves on.

Pure functions: no Faust, no event loop (aiokafka only for its exception classes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias, cast

import orjson
from aiokafka import errors as kafka_errors

from stream_sentinel.core.aggregate.windows import OVERFLOW
from stream_sentinel.core.check import drift as d
from stream_sentinel.kafkaio import in_chain

#: Characters of a name, path or text copied into a record the worker writes.
TEXT_CAP: Final = 1024
#: Characters of a text kept in a fingerprint's window counts (they live in the table state).
STATS_TEXT_CAP: Final = 256
#: Most JSON bytes one fingerprint's counts can take in a window state (texts capped as above).
STATS_BYTES_MAX: Final = 3 * STATS_TEXT_CAP * 4 + 400
#: Successive text caps when shrinking a drift event that is over the record limit.
SHRINK_CAPS: Final = (TEXT_CAP, 200, 40)
#: The event type under which a topic's unknown event types past the cap are counted.
OTHER_EVENT_TYPE: Final = "~other"
SHRUNK_NOTE: Final = "[record shrunk to fit the size limit: sample dropped, texts cut to {} chars]"

#: Produce errors that retrying the same record cannot cure. Chosen by class rather than by
#: aiokafka's ``retriable`` flag: that flag is False for KafkaTimeoutError and
#: BrokerNotAvailableError too, which are what a broker outage looks like (retried forever).
NEVER_WRITABLE: Final[tuple[type[BaseException], ...]] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.ClusterAuthorizationFailedError,
    kafka_errors.UnsupportedVersionError,
    kafka_errors.UnsupportedForMessageFormatError,
    kafka_errors.InvalidRequestError,
    kafka_errors.PolicyViolationError,
    kafka_errors.CorruptRecordException,
)


#: Record headers as the worker writes them: (name, value) pairs, in order, repeats kept.
Headers: TypeAlias = tuple[tuple[str, bytes | None], ...]
#: A record the worker writes: its own records are ``(key, value)``; a quarantine copy is
#: ``(key, value, headers)``, key and value as the source record had them (either may be null).
Record: TypeAlias = tuple[bytes, bytes] | tuple[bytes | None, bytes | None, Headers]


def record_limit(max_request_size: int) -> int:
    """Largest record (bytes) the worker writes under a producer's ``max_request_size``."""
    return max_request_size // 4


def headers_of(record: Record) -> list[tuple[str, bytes]] | None:
    """A record's headers as Faust's ``send`` takes them (None: the worker's own records have none).

    A copy's header may have a null value, as Kafka allows and aiokafka writes; Faust's type says bytes.
    """
    return cast("list[tuple[str, bytes]]", list(record[2])) if len(record) == 3 else None


def record_size(record: Record) -> int:
    """Bytes a record counts against :func:`record_limit`: key, value and, for a copy, its headers."""
    key, value = record[0], record[1]
    size = (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
    if len(record) == 3:
        size += sum(
            len(name.encode("utf-8", "replace")) + (len(data) if data is not None else 0) for name, data in record[2]
        )
    return size


def cap(text: str, limit: int = TEXT_CAP) -> str:
    """``text`` cut to ``limit`` characters, saying how many were cut (a prefix keeps a pointer a pointer)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more chars]"


def _cap_or_none(text: object, limit: int) -> Any:
    return cap(text, limit) if isinstance(text, str) else text


def fit_drift(event: Mapping[str, Any], limit: int) -> tuple[bytes, bool]:
    """A drift event's JSON under ``limit`` bytes, and whether it had to be shrunk.

    Shrinking keeps what identifies and routes the event (ids, kind, severity, source
    coordinates, schema) and drops the sample first, then cuts every text to successively
    shorter caps. The detail says so.
    """
    data = orjson.dumps(event)
    if len(data) <= limit:
        return data, False
    return orjson.dumps(shrink_drift(event, limit)), True


def shrink_drift(event: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """The drift event with its sample dropped and texts cut until its JSON is under ``limit``."""
    shrunk: dict[str, Any] = dict(event)
    for text_cap in SHRINK_CAPS:
        shrunk = dict(event)
        shrunk["sample"] = None
        for name in ("path", "rule_path", "expected", "message", "suggested_fix", "requirement", "owner"):
            shrunk[name] = _cap_or_none(event.get(name), text_cap)
        shrunk["detail"] = f"{cap(str(event.get('detail') or ''), text_cap)} {SHRUNK_NOTE.format(text_cap)}".lstrip()
        actual = dict(event.get("actual") or {"type": "unknown"})
        if "value" in actual:
            actual["value"] = _cap_or_none(actual["value"], min(text_cap, 40))  # the contract: 80 at most
        shrunk["actual"] = actual
        source = dict(event.get("source") or {})
        source["key"] = _cap_or_none(source.get("key"), text_cap)
        shrunk["source"] = source
        schema = dict(event.get("schema") or {})
        schema["ref"] = _cap_or_none(schema.get("ref"), text_cap)
        shrunk["schema"] = schema
        if len(orjson.dumps(shrunk)) <= limit:
            break
    return shrunk


def bound_tally(record: dict[str, Any], limit: int) -> int:
    """Cap the texts a tally record copies and shrink its candidate alerts; returns how many shrank.

    Candidates get half a record each, so a split record holding one still fits. In place:
    the record is the worker's own, built for this batch.
    """
    for stats in record["drift"].values():
        for name in ("rule_path", "requirement", "owner"):
            value = stats.get(name)
            if isinstance(value, str) and len(value) > STATS_TEXT_CAP:
                stats[name] = cap(value, STATS_TEXT_CAP)
    shrunk = 0
    candidates = record["candidates"]
    for fp, event in candidates.items():
        if len(orjson.dumps(event)) > limit // 2:
            candidates[fp] = shrink_drift(event, limit // 2)
            shrunk += 1
    return shrunk


def split_tally(record: dict[str, Any], limit: int) -> list[bytes]:
    """One tally record as JSON records of at most ``limit`` bytes each, split by fingerprint.

    The first part carries the message count, later parts count 0 messages: the windows stage
    adds records up, so the parts mean exactly what the whole did. A fingerprint's counts and
    its candidate alert stay in one part (the alert is published only if its fingerprint is new).
    """
    whole = orjson.dumps(record)
    if len(whole) <= limit:
        return [whole]
    drift, candidates = record["drift"], record["candidates"]
    base = {key: value for key, value in record.items() if key not in ("drift", "candidates")}
    base_size = len(orjson.dumps({**base, "drift": {}, "candidates": {}}))
    parts: list[dict[str, Any]] = []
    part: dict[str, Any] = {**base, "drift": {}, "candidates": {}}
    size = base_size
    for fp in [*drift, *(fp for fp in candidates if fp not in drift)]:
        stats, candidate = drift.get(fp), candidates.get(fp)
        add = (len(orjson.dumps(stats)) + len(fp) + 4 if stats is not None else 0) + (
            len(orjson.dumps(candidate)) + len(fp) + 4 if candidate is not None else 0
        )
        if (part["drift"] or part["candidates"]) and size + add > limit:
            parts.append(part)
            part = {**base, "messages": 0, "drift": {}, "candidates": {}}
            size = base_size
        if stats is not None:
            part["drift"][fp] = stats
        if candidate is not None:
            part["candidates"][fp] = candidate
        size += add
    parts.append(part)
    return [orjson.dumps(part) for part in parts]


def trim_state(state: dict[str, Any], limit: int) -> int:
    """Keep a windows key's state (its changelog record) under ``limit`` JSON bytes; returns folds.

    A key's state holds the open tumbling window(s) and every open hopping window, each with up
    to ``max_fingerprints`` counts: under a storm of distinct rules that is more than a record
    may hold, and Faust's changelog producer crashes the worker on a record over
    ``max_request_size``. The hopping windows (shown by ``/drift`` only, never alerted or
    summarised) get a quarter of the limit together: past it their fingerprints are folded into
    their ``overflow``, keeping the oldest. That also keeps each state write (RocksDB, changelog)
    small under a storm. If the whole is still over the limit, the tumbling windows are folded
    the same way (a folded fingerprint seen again in that window may then be alerted again).
    A cheap count comes first, so a state that cannot be over is never serialized.
    """
    folded = _trim(state["hopping"], limit // 4)
    whole = [*state["hopping"].values(), *state["tumbling"].values()]
    if sum(len(window.get("drift", {})) for window in whole) * STATS_BYTES_MAX + 4096 <= limit:
        return folded
    return folded + _halve(list(state["tumbling"].values()), lambda: len(orjson.dumps(state)), limit)


def _trim(windows: dict[str, Any], limit: int) -> int:
    """Fold fingerprints of ``windows`` into their overflow until their JSON is under ``limit``."""
    group = list(windows.values())
    if sum(len(window.get("drift", {})) for window in group) * STATS_BYTES_MAX <= limit:
        return 0
    return _halve(group, lambda: len(orjson.dumps(windows)), limit)


def _halve(group: list[dict[str, Any]], size: Callable[[], int], limit: int) -> int:
    """Halve the fingerprints each window of ``group`` keeps until ``size()`` is under ``limit``."""
    keep = max((len(window.get("drift", {})) for window in group), default=0)
    folded = 0
    while size() > limit and keep > 0:
        keep //= 2
        folded += sum(_fold_window(window, keep) for window in group)
    return folded


def _fold_window(window: dict[str, Any], keep: int) -> int:
    """Fold all but the first ``keep`` fingerprints of a window into its overflow; returns how many."""
    counts: dict[str, Any] = window.get("drift", {})
    names = [fp for fp in counts if fp != OVERFLOW]
    if len(names) <= keep:
        return 0
    overflow = counts.get(OVERFLOW)
    for fp in names[keep:]:
        stats = counts.pop(fp)
        if overflow is None:
            overflow = counts[OVERFLOW] = {**stats, "kind": OVERFLOW, "rule_path": ""}
        else:
            overflow["count"] += stats["count"]
            overflow["last"] = stats["last"]
    return len(names) - keep


class EventTypeCap:
    """Which event types get windows keys of their own: the catalog's, and a few unknown ones.

    Per topic, the first ``limit`` event types not in the catalog keep their own key; later
    ones are counted under :data:`OTHER_EVENT_TYPE`. The admitted set is per process (after a
    restart, other unknown types may be the first): its size is what is bounded, not which.
    """

    def __init__(self, known: Mapping[str, Iterable[str]], limit: int) -> None:
        self._known = {topic: frozenset(events) for topic, events in known.items()}
        self._admitted: dict[str, set[str]] = {}
        self.limit = limit

    def key(self, topic: str, event_type: str | None) -> str | None:
        """The event type to count a message of ``topic`` under."""
        if event_type is None or event_type in self._known.get(topic, ()):
            return event_type
        admitted = self._admitted.setdefault(topic, set())
        if event_type in admitted:
            return event_type
        if len(admitted) < self.limit:
            admitted.add(event_type)
            return event_type
        return OTHER_EVENT_TYPE

    def fold(self, records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """Tally records with over-the-cap event types merged per (topic, second); and messages folded."""
        out: list[dict[str, Any]] = []
        merged: dict[tuple[str, int], dict[str, Any]] = {}
        folded = 0
        for record in records:
            topic = record["topic"]
            if self.key(topic, record["event_type"]) != OTHER_EVENT_TYPE or record["event_type"] == OTHER_EVENT_TYPE:
                out.append(record)
                continue
            folded += int(record["messages"])
            into = merged.get((topic, record["ts"]))
            if into is None:
                into = merged[topic, record["ts"]] = {**record, "event_type": OTHER_EVENT_TYPE}
                into["drift"] = {fp: dict(stats) for fp, stats in record["drift"].items()}
                into["candidates"] = dict(record["candidates"])
                out.append(into)
                continue
            into["messages"] += record["messages"]
            for fp, stats in record["drift"].items():
                have = into["drift"].get(fp)
                if have is None:
                    into["drift"][fp] = dict(stats)
                else:
                    have["count"] += stats["count"]
                    have["last"] = stats["last"]
            for fp, event in record["candidates"].items():
                into["candidates"].setdefault(fp, event)
        return out, folded


class FingerprintBudget:
    """Which fingerprints a tally record still needs to carry apart, per windows key and tumbling window.

    A window counts at most ``cap`` fingerprints apart. Once this worker has sent ``cap + 1``
    distinct ones for a key's window, that window is full (it holds at least those), so any
    further new fingerprint can only land in its ``overflow`` and never be alerted: the record
    carries it folded into one ``overflow`` entry, without its candidate alert. Under a storm
    of distinct rules this keeps tally records, the windows stage's work and the validate
    stage's (no drift event built for an alert that cannot happen) small. Bounded: ``cap + 1``
    fingerprints for the newest few windows of each key.
    """

    WINDOWS_KEPT: Final = 3

    def __init__(self, cap: int, tumbling_ms: int) -> None:
        self.cap = cap
        self.tumbling_ms = tumbling_ms
        self._seen: dict[str, dict[int, set[str]]] = {}

    def _window(self, key: str, ts: int) -> set[str]:
        start = ts - ts % self.tumbling_ms
        windows = self._seen.setdefault(key, {})
        found = windows.get(start)
        if found is None:
            found = windows[start] = set()
            for old in sorted(windows)[: -self.WINDOWS_KEPT]:
                del windows[old]
        return found

    def full(self, key: str, ts: int) -> bool:
        """Whether the key's window holding ``ts`` can take no new fingerprint apart."""
        windows = self._seen.get(key)
        found = windows.get(ts - ts % self.tumbling_ms) if windows else None
        return found is not None and len(found) > self.cap

    def apply(self, key: str, record: dict[str, Any]) -> int:
        """Fold the record's fingerprints that cannot be counted apart into one entry; returns how many."""
        seen = self._window(key, int(record["ts"]))
        drift: dict[str, Any] = record["drift"]
        folded = 0
        overflow: dict[str, Any] | None = None
        for fp in list(drift):
            if fp in seen or fp == OVERFLOW:
                continue
            if len(seen) <= self.cap:
                seen.add(fp)
                continue
            stats = drift.pop(fp)
            record["candidates"].pop(fp, None)
            folded += 1
            if overflow is None:
                overflow = drift.get(OVERFLOW)
            if overflow is None:
                overflow = drift[OVERFLOW] = {**stats, "kind": OVERFLOW, "rule_path": ""}
            else:
                overflow["count"] += stats["count"]
                overflow["last"] = stats["last"]
        return folded


def never_writable(exc: BaseException) -> BaseException | None:
    """The produce error in ``exc``'s chain that no retry can cure, if any (Faust wraps aiokafka's)."""
    found: BaseException | None = in_chain(exc, NEVER_WRITABLE)
    return found


def too_large(size: int, limit: int) -> BaseException:
    """The error for a record over the worker's own limit (caught before sending: never sent)."""
    error: BaseException = kafka_errors.RecordTooLargeError(
        f"record of {size} bytes is over the worker's record limit of {limit}"
    )
    return error


def stub_for(value: bytes, error: BaseException, observed_at: int) -> bytes | None:
    """An ``internal_error`` drift event standing in for a drift event that can never be written.

    It names the original's drift id, kind and source, so the message is not lost from view;
    None for records that are not drift events (summaries, tallies, ticks: dropped and counted).
    """
    try:
        original = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(original, dict) or original.get("type") != "drift":
        return None
    raw_source = original.get("source") or {}
    key = raw_source.get("key")
    source = d.Source(
        str(raw_source.get("topic") or "unknown"),
        int(raw_source.get("partition") or 0),
        int(raw_source.get("offset") or 0),
        raw_source.get("timestamp"),
        cap(key, 200) if isinstance(key, str) else None,
    )
    original_id = str(original.get("drift_id"))[:32]
    violation = d.Violation(
        d.INTERNAL_ERROR,
        d.BREAKING,
        "",
        "",
        f"drift event {original_id} written",
        "error",
        type(error).__name__[:80],
        detail=cap(
            f"drift event {original_id} ({cap(str(original.get('kind')), 40)}) could never be written "
            f"and was replaced by this one: {error}",
            400,
        ),
    )
    event_type = original.get("event_type")
    subject = d.Subject(
        event_type=event_type if isinstance(event_type, str) else None,
        schema_ref=None,
        schema_version=None,
        schema_id=None,
        topic_format="unknown",
    )
    [stub] = d.build_drift_events((violation,), subject, source, None, observed_at=observed_at)
    return stub.to_json()
