"""Violations and drift events: the values every shell reports, counts and publishes.

A ``Violation`` is what the validator found (one rule broken at one location). A ``DriftEvent``
adds where the message came from and is what goes on the drift topic. Both are frozen values.
The human message and the suggested fix are computed when a drift event is built, not when a
violation is found: in ``first`` alert mode most violations are only counted, never rendered.

Identity:
- ``drift_id`` = hash(topic, partition, offset, event type, kind, path, expected, schema): the same message
  broken the same way gives the same id on every run, so consumers deduplicate redeliveries. A
  behavioural rule's violation adds the rule id: two rules flagging one message are two events.
- ``fingerprint`` = hash(topic, event type, kind, path with array indexes as ``*``): what
  windows count, and what the drift topic is keyed by so one rule's events stay ordered. For a
  behavioural rule the path is ``rule:<id>``, so each rule is counted apart.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any, Final, NamedTuple

import orjson

from stream_sentinel import __version__

# -- kinds --------------------------------------------------------------------------------------
UNDECODABLE: Final = "undecodable"
SCHEMA_MISMATCH: Final = "schema_mismatch"
UNKNOWN_SCHEMA_ID: Final = "unknown_schema_id"
UNKNOWN_EVENT_TYPE: Final = "unknown_event_type"
UNKNOWN_VERSION: Final = "unknown_version"
MISSING_REQUIRED: Final = "missing_required"
TYPE_MISMATCH: Final = "type_mismatch"
UNDOCUMENTED_FIELD: Final = "undocumented_field"
CONSTRAINT: Final = "constraint"
COMPOSITION: Final = "composition"
VERSION_LAG: Final = "version_lag"
TOMBSTONE: Final = "tombstone"
OVERSIZED: Final = "oversized"
INTERNAL_ERROR: Final = "internal_error"
OVERFLOW: Final = "overflow"
# Behavioural rules (core/rules): judged over several messages of one entity, or by a CEL expression.
ILLEGAL_TRANSITION: Final = "illegal_transition"
DUPLICATE: Final = "duplicate"
OUT_OF_ORDER: Final = "out_of_order"
SEQUENCE_GAP: Final = "sequence_gap"
MISSING_FOLLOWUP: Final = "missing_followup"
RULE_FAILED: Final = "rule_failed"

BREAKING: Final = "breaking"
WARNING: Final = "warning"
INFO: Final = "info"
SEVERITY_RANK: Final = {INFO: 0, WARNING: 1, BREAKING: 2}
#: How ``kinds`` shows the severity of a kind whose violations take their rule's (default warning).
PER_RULE: Final = "per rule"
#: Kinds a behavioural rule reports (``rule`` and ``related`` are set on their violations).
RULE_KINDS: Final = (ILLEGAL_TRANSITION, DUPLICATE, OUT_OF_ORDER, SEQUENCE_GAP, MISSING_FOLLOWUP, RULE_FAILED)
#: A behavioural rule's ``rule_path`` is this prefix and the rule id (a contract's is a JSON pointer).
RULE_PREFIX: Final = "rule:"
#: ``expected`` of an undocumented field of a closed contract (explain.py). Its severity may be
#: overridden per topic, so texts tell closed from open by this, never by the severity.
UNDOCUMENTED_CLOSED: Final = "no such field (the contract lists the allowed fields)"

# Documented in README "Drift kinds"; a kind's meaning never changes once published.
KINDS: Final[Mapping[str, str]] = {
    UNDECODABLE: "the bytes are not the topic's format (bad JSON, corrupt Avro, bad framing, empty)",
    SCHEMA_MISMATCH: "Avro decoded with the contract's schema but bytes were left over: another writer schema",
    UNKNOWN_SCHEMA_ID: "Confluent framing names a schema id the catalog does not map",
    UNKNOWN_EVENT_TYPE: "the event type is missing or not one the topic's contract lists",
    UNKNOWN_VERSION: "the message declares a schema version the catalog does not have",
    MISSING_REQUIRED: "a required field is absent",
    TYPE_MISMATCH: "a field has another JSON type than the contract says",
    UNDOCUMENTED_FIELD: (
        "a field the contract does not describe (breaking where the contract is closed, info where open)"
    ),
    CONSTRAINT: "a value breaks enum, const, pattern, format, bounds, length, multipleOf, items or uniqueness",
    COMPOSITION: "a value matches none (or, for oneOf, several) of the contract's alternatives, or matches a `not`",
    VERSION_LAG: "fails the newest version but passes an older one: the producer lags the contract",
    TOMBSTONE: "a null value (delete marker) on a topic whose catalog entry says tombstones: drift",
    OVERSIZED: (
        "the payload is larger than max_payload_bytes (not decoded), or fails its contract nested deeper "
        "than the 255 levels the validator can explain"
    ),
    INTERNAL_ERROR: "the sentinel itself failed on this message (a bug to report); the message is not lost",
    OVERFLOW: "the message broke more rules than max_violations_per_message: the rest are counted here, not listed",
    ILLEGAL_TRANSITION: (
        "rule (transitions): an entity moved to a state its lifecycle does not allow after the state before it"
    ),
    DUPLICATE: "rule (unique): an id seen again within the rule's horizon (a redelivered record never is one)",
    OUT_OF_ORDER: "rule (ordered): an entity's sequence value or event time went backwards",
    SEQUENCE_GAP: "rule (ordered, gaps: true): an entity's integer sequence skipped values",
    MISSING_FOLLOWUP: (
        "rule (follows): the expected follow-up did not arrive within the deadline (reported on the earlier event)"
    ),
    RULE_FAILED: "rule (expression): a CEL expression over one message is false, or cannot be evaluated on it",
}

#: Each kind's severity as ``kinds`` prints it (README "Drift kinds"); two depend on the contract.
KIND_SEVERITY: Final[Mapping[str, str]] = {
    UNDECODABLE: BREAKING,
    SCHEMA_MISMATCH: BREAKING,
    UNKNOWN_SCHEMA_ID: BREAKING,
    UNKNOWN_EVENT_TYPE: WARNING,
    UNKNOWN_VERSION: BREAKING,
    MISSING_REQUIRED: BREAKING,
    TYPE_MISMATCH: BREAKING,
    UNDOCUMENTED_FIELD: f"{BREAKING} / {INFO}",
    CONSTRAINT: BREAKING,
    COMPOSITION: BREAKING,
    VERSION_LAG: WARNING,
    TOMBSTONE: WARNING,
    OVERSIZED: f"{BREAKING} / {INFO}",
    INTERNAL_ERROR: BREAKING,
    OVERFLOW: f"{BREAKING} / {INFO}",
    # A behavioural rule's violations carry the rule's own severity (default warning).
    ILLEGAL_TRANSITION: PER_RULE,
    DUPLICATE: PER_RULE,
    OUT_OF_ORDER: PER_RULE,
    SEQUENCE_GAP: INFO,
    MISSING_FOLLOWUP: PER_RULE,
    RULE_FAILED: PER_RULE,
}

# -- size caps: no drift event grows with the payload -------------------------------------------
#: Longest pointer (``path``, ``rule_path``) a violation carries; longer ones are cut with a marker.
MAX_PATH: Final = 256
#: Longest field name kept in a sample.
MAX_NAME: Final = 128
#: Longest ``expected``, ``detail``, ``requirement``, ``owner`` and message key in a drift event.
MAX_TEXT: Final = 1024
#: Longest ``message`` and ``suggested_fix`` (they quote a path and ``expected``).
MAX_SENTENCE: Final = 2048
#: Rough budget (characters of names and values) of one drift event's sample.
MAX_SAMPLE_CHARS: Final = 16 * 1024
_MAX_SAMPLE_DEPTH: Final = 16


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters plus ``…(+N #hash)`` when longer.

    The marker says how many characters were left out and carries a hash of the whole text, so
    one long field name always renders the same (stable fingerprints and drift ids, which are
    computed from capped paths) and two long names sharing a prefix stay apart.
    """
    if len(text) <= limit:
        return text
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{text[:limit]}…(+{len(text) - limit} #{digest})"


def bound_sample(sample: Any) -> Any:
    """A sample with every field name capped and its total size bounded (``MAX_SAMPLE_CHARS``).

    Redaction already caps values, items and fields per object; names and the product of
    fields over nested levels were not. Past the budget the rest of an object or array is
    replaced by one marker saying how much was left out.
    """
    try:
        text = orjson.dumps(sample)
    except TypeError:  # not plain JSON: walk it
        text = b""
    if text and len(text) <= MAX_SAMPLE_CHARS and b'\\"' not in text and _LONG_NAME.search(text) is None:
        return sample  # the usual case: one serialization and one scan, both in C
    return _bound(sample, [MAX_SAMPLE_CHARS], 0)


# An object key longer than MAX_NAME in orjson's compact output, or an escaped quote anywhere (a
# key holding one could hide its length from the first branch): either sends the sample through
# the walk, which is exact. Both scans run in C: ~2 µs on a 600-byte sample.
_LONG_NAME: Final = re.compile(rb'"[^"]{%d,}":' % (MAX_NAME + 1))


def _bound(value: Any, budget: list[int], depth: int) -> Any:
    if isinstance(value, dict):
        if depth >= _MAX_SAMPLE_DEPTH:
            return f"object with {len(value)} fields"
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            name = cap_text(str(key), MAX_NAME)
            budget[0] -= len(name) + 4
            if budget[0] < 0:
                out["…"] = f"{len(value) - index} more fields (sample size cap)"
                break
            out[name] = _bound(item, budget, depth + 1)
        return out
    if isinstance(value, list):
        if depth >= _MAX_SAMPLE_DEPTH:
            return f"array of {len(value)} items"
        items: list[Any] = []
        for index, item in enumerate(value):
            budget[0] -= 2
            if budget[0] < 0:
                items.append(f"… {len(value) - index} more items (sample size cap)")
                break
            items.append(_bound(item, budget, depth + 1))
        return items
    if isinstance(value, str):
        text = cap_text(value, MAX_TEXT)
        budget[0] -= len(text) + 2
        return text
    budget[0] -= 8
    return value


class Violation(NamedTuple):
    """One broken rule at one location of one message.

    ``path`` is a JSON pointer into the payload (``""`` = the whole message) and ``rule_path``
    the same with array indexes generalized to ``*``. ``actual_value`` is ``None`` when the
    value is withheld (PII, undocumented field, absent); ``redacted`` says which.

    A NamedTuple rather than a frozen dataclass: equally immutable, and about five times
    cheaper to build, which matters because every invalid message builds several.
    """

    kind: str
    severity: str
    path: str
    rule_path: str
    expected: str
    actual_type: str
    actual_value: str | None = None
    redacted: bool = False
    requirement: str | None = None
    owner: str | None = None
    keyword: str = ""
    detail: str = ""
    #: The behavioural rule's id (``rules:`` in the catalog); None for a contract violation.
    rule: str | None = None
    #: The earlier message a behavioural violation is about (first occurrence, previous state,
    #: the event whose follow-up is missing); None otherwise.
    related: Source | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """Kafka coordinates of the message a drift event is about."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class DriftEvent:
    """The sentinel's output record (contract: spec/events/sentinel/drift-event.v1.schema.json)."""

    drift_id: str
    fingerprint: str
    kind: str
    severity: str
    requirement: str | None
    owner: str | None
    path: str
    rule_path: str
    expected: str
    actual: Mapping[str, Any]
    message: str
    suggested_fix: str
    source: Source
    event_type: str | None
    schema_ref: str | None
    schema_version: int | None
    schema_id: int | None
    sample: Any
    detail: str = ""
    origin: str = "live"
    run_id: str | None = None
    observed_at: int | None = None
    #: The behavioural rule's id; None for a contract violation (then neither key is serialized).
    rule: str | None = None
    #: The earlier message a rule violation is about (None when there is none, e.g. rule_failed).
    related: Source | None = None
    sentinel_version: str = __version__
    #: Content hash of the spec the message was judged by (the worker sets it); serialized only when set.
    catalog_revision: str | None = None
    type: str = field(default="drift", init=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, field order fixed (golden files and consumers rely on it).

        ``rule`` (after ``rule_path``) and ``related`` (after ``source``) appear only on a
        behavioural rule's violation: a contract violation's JSON is exactly what it always was.
        """
        out = {
            "type": self.type,
            "drift_id": self.drift_id,
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "severity": self.severity,
            "requirement": self.requirement,
            "owner": self.owner,
            "event_type": self.event_type,
            "path": self.path,
            "rule_path": self.rule_path,
            "expected": self.expected,
            "actual": dict(self.actual),
            "message": self.message,
            "suggested_fix": self.suggested_fix,
            "detail": self.detail,
            "source": {
                "topic": self.source.topic,
                "partition": self.source.partition,
                "offset": self.source.offset,
                "timestamp": self.source.timestamp,
                "key": self.source.key,
            },
            "schema": {
                "ref": self.schema_ref,
                "version": self.schema_version,
                "id": self.schema_id,
            },
            "sample": self.sample,
            "origin": self.origin,
            "run_id": self.run_id,
            "observed_at": self.observed_at,
            "sentinel_version": self.sentinel_version,
        }
        if self.catalog_revision is not None:
            out["catalog_revision"] = self.catalog_revision
        if self.rule is None:
            return out
        return _with_rule(out, self.rule, self.related)

    def to_json(self) -> bytes:
        """Serialized with orjson, as published on the drift topic."""
        return orjson.dumps(self.to_dict())


def coordinates(source: Source | None) -> dict[str, Any] | None:
    """``related`` as a drift event carries it: where the earlier message is (its key is not repeated)."""
    if source is None:
        return None
    return {
        "topic": source.topic,
        "partition": source.partition,
        "offset": source.offset,
        "timestamp": source.timestamp,
    }


def _with_rule(base: dict[str, Any], rule: str, related: Source | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in base.items():
        out[name] = value
        if name == "rule_path":
            out["rule"] = rule
        elif name == "source":
            out["related"] = coordinates(related)
    return out


def _digest(parts: tuple[object, ...], size: int) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def fingerprint(topic: str, event_type: str | None, kind: str, rule_path: str) -> str:
    """Stable id of a rule on a topic: what windows count and the drift topic is keyed by."""
    return _digest((topic, event_type, kind, rule_path), 8)


def drift_id(source: Source, event_type: str | None, violation: Violation, schema_ref: str | None) -> str:
    """Deterministic id of (message, rule): redelivery and re-runs give the same id.

    A behavioural rule's id is part of it (two rules flagging one message are two events); a
    contract violation's id is computed exactly as before rules existed.
    """
    parts: tuple[object, ...] = (
        source.topic,
        source.partition,
        source.offset,
        event_type,
        violation.kind,
        violation.path,
        violation.expected,  # two rules broken at one path (format and maxLength) differ
        schema_ref,
    )
    if violation.rule is not None:
        parts = (*parts, RULE_PREFIX + violation.rule)
    return _digest(parts, 16)


def _where(violation: Violation) -> str:
    where = violation.path or "the message"
    return f"{where} ({violation.requirement})" if violation.requirement else where


#: How tables and text show the path of the whole message. JSON keeps RFC 6901's ``""`` (``/`` is
#: the pointer to a member named ``""``, not the whole document), so text says it in words.
WHOLE_MESSAGE: Final = "(message)"


def shown_path(path: str) -> str:
    """A payload pointer for a table or sentence: ``(message)`` for the whole message."""
    return path or WHOLE_MESSAGE


def _actual(violation: Violation) -> str:
    """``type value``, without repeating the type when the rendering already names it (``array of 5 items``)."""
    value = violation.actual_value
    if not value:
        return violation.actual_type
    if value.startswith(f"{violation.actual_type} "):
        return value
    return f"{violation.actual_type} {value}"


def describe(violation: Violation, event_type: str | None, version: int | None) -> str:  # noqa: C901 (one sentence per kind)
    """One sentence a person understands: what the producer sent versus what the contract says."""
    subject = f"{event_type} v{version}" if event_type and version else (event_type or "message")
    kind = violation.kind
    if kind in _RULE_KINDS:
        return _describe_rule(violation, subject)
    where = _where(violation)
    actual = _actual(violation)
    if kind == TYPE_MISMATCH:
        return f"producer sends {violation.actual_type}; contract says {violation.expected} at {where}"
    if kind == MISSING_REQUIRED:
        return f"{subject}: required field {where} is missing"
    if kind == UNDOCUMENTED_FIELD:
        closed = violation.expected == UNDOCUMENTED_CLOSED
        tail = "the contract forbids unlisted fields" if closed else "allowed, but no consumer can rely on it"
        return (
            f"{subject}: producer sends {violation.actual_type} field {where} the contract does not describe ({tail})"
        )
    if kind == CONSTRAINT:
        return f"{subject}: value at {where} must be {violation.expected}; got {actual}"
    if kind == COMPOSITION:
        return f"{subject}: value at {where} must be {violation.expected}; got {actual}"
    if kind == VERSION_LAG:
        return (
            f"{event_type} message matches {violation.actual_value} but not the newest {violation.expected} "
            f"({violation.detail})"
        )
    if kind == UNKNOWN_EVENT_TYPE:
        if violation.actual_type == "missing":
            return f"message has no event type ({violation.detail}); expected {violation.expected}"
        return f"event type {violation.actual_value} is not in the topic's contract (expected {violation.expected})"
    if kind in (UNDECODABLE, SCHEMA_MISMATCH):
        return f"{subject} cannot be decoded as {violation.expected}: {violation.detail}"
    if kind == UNKNOWN_VERSION:
        return (
            f"{event_type} declares version {violation.actual_value}, "
            f"which the catalog does not have ({violation.expected})"
        )
    if kind == UNKNOWN_SCHEMA_ID:
        return f"schema id {violation.actual_value} is not mapped in the catalog"
    if kind == TOMBSTONE:
        return "null value (tombstone) on a topic whose contract does not allow deletes"
    if kind == OVERSIZED:
        if violation.detail:  # nested too deeply to explain
            return f"{subject}: {violation.detail}"
        return f"payload of {violation.actual_value} is over the limit ({violation.expected}); not decoded"
    if kind == INTERNAL_ERROR:
        return f"the sentinel failed on this message ({violation.actual_value}: {violation.detail})"
    if kind == OVERFLOW:
        return f"{subject}: {violation.detail}"
    return f"{subject}: {violation.detail or kind}"


_RULE_KINDS: Final = frozenset(RULE_KINDS)


def _at(source: Source | None) -> str:
    return f"{source.topic}/{source.partition}@{source.offset}" if source is not None else "an earlier message"


def _rule_name(violation: Violation) -> str:
    return f"rule {violation.rule}" if violation.rule else "the rule"


def _describe_rule(violation: Violation, subject: str) -> str:
    """A behavioural rule's finding in words: the rule, what it allows, what happened, the earlier message."""
    rule, kind = _rule_name(violation), violation.kind
    actual = violation.actual_value or "[value withheld: not proven free of PII]"
    detail = f" ({violation.detail})" if violation.detail else ""
    req = f" ({violation.requirement})" if violation.requirement else ""
    if kind == ILLEGAL_TRANSITION:
        after = f" after {_at(violation.related)}" if violation.related is not None else ""
        return f"{subject}: {rule}{req} does not allow {actual}{after}; allowed: {violation.expected}{detail}"
    if kind == DUPLICATE:
        return f"{subject}: {rule}{req}: the id was already seen at {_at(violation.related)}{detail}"
    if kind in (OUT_OF_ORDER, SEQUENCE_GAP):
        what = "out of order" if kind == OUT_OF_ORDER else "sequence gap"
        return (
            f"{subject}: {rule}{req}: {what}, {actual} after {_at(violation.related)}; "
            f"expected {violation.expected}{detail}"
        )
    if kind == MISSING_FOLLOWUP:
        return f"{subject}: {rule}{req}: no follow-up arrived: expected {violation.expected}{detail}"
    if violation.actual_type == "evaluation error":
        return f"{subject}: {rule}{req} cannot be evaluated on this message: {violation.expected}{detail}"
    return f"{subject}: {rule}{req} does not hold: {violation.expected}"


def _rule_fix(violation: Violation, event_type: str | None) -> str:
    """The next step for a behavioural rule's finding: what the producer (or the rule) must change."""
    rule, kind = _rule_name(violation), violation.kind
    producer = f"the producer of {event_type}" if event_type else "the producer"
    if kind == ILLEGAL_TRANSITION:
        return (
            f"{producer} emitted a transition the lifecycle does not allow; check its state handling "
            f"(and the earlier event at {_at(violation.related)}), or add the transition to {rule}"
        )
    if kind == DUPLICATE:
        return (
            f"make {producer} idempotent (an idempotent Kafka producer, a dedupe key on the id) so a retry "
            f"does not publish the id again; consumers can dedupe on that key meanwhile ({rule})"
        )
    if kind == OUT_OF_ORDER:
        return (
            f"partition by the entity key so one entity's events share a partition and stay in order, and have "
            f"{producer} send them in order ({rule})"
        )
    if kind == SEQUENCE_GAP:
        return (
            f"find the skipped sequence values: {producer} skipped them or their messages were lost "
            f"(producer errors, retention, a filter upstream) ({rule})"
        )
    if kind == MISSING_FOLLOWUP:
        expect = violation.expected.partition(" within ")[0]
        return (
            f"check the downstream service that should emit {expect} for this entity (down, lagging, failing on "
            f"this {event_type or 'event'}?), or widen the deadline of {rule}"
        )
    if violation.actual_type == "evaluation error":
        return f"guard the CEL expression of {rule} (has(), types) or fix {producer} to send the fields it reads"
    return f"fix {producer} so {rule} holds, or fix the CEL expression of {rule} if it is wrong"


#: ``expected`` of a capture line that is not a readable kcat envelope (core/capture.py).
ENVELOPE_EXPECTED: Final = "a kcat -J envelope line"
#: How decoders say the bytes stop before the datum does (core/check/codecs.py uses these words).
_TRUNCATED: Final = re.compile(r"\bthe (?:data|JSON text) ends (?:early|inside)\b|runs past the end of the data")


def _undecodable_fix(violation: Violation, topic_format: str) -> str:
    """Cut short, damaged, not the format at all, or a broken capture line: each has its own next step."""
    detail = violation.detail or ""
    if violation.expected == ENVELOPE_EXPECTED:
        return "fix or re-capture this line: it is not a kcat -J envelope check can read (the message itself is unread)"
    if _TRUNCATED.search(detail):
        older = ", or written with an older, shorter schema than the contract's" if "Avro" in detail else ""
        return (
            f"the payload ends before its {topic_format} datum does: it was cut short (a size limit, a proxy, "
            f"a partial write){older}; compare the producer's bytes with what it meant to send"
        )
    if "Avro:" in detail:
        return (
            "the bytes are not a valid datum of the contract's Avro schema where it says: the producer writes "
            "with another schema, or the bytes were damaged; decode one with the producer's writer schema"
        )
    return (
        f"the producer's serializer does not write {topic_format}: "
        "check its configuration and the topic's format in catalog.yaml"
    )


def suggest_fix(violation: Violation, event_type: str | None, topic_format: str) -> str:  # noqa: C901 (a step per kind)
    """The next step for the owner, phrased for whoever reads the alert."""
    kind = violation.kind
    if kind in _RULE_KINDS:
        return _rule_fix(violation, event_type)
    path = violation.path or "the message"
    req = f" ({violation.requirement})" if violation.requirement else ""
    if kind == TYPE_MISMATCH:
        if violation.expected == "integer" and violation.actual_type == "number":
            return (
                f"producer sends number; contract says integer at {path}{req}: "
                "round at the producer or widen the contract with a new version"
            )
        return (
            f"send {violation.expected} at {path}{req} from the producer, or, if "
            f"{violation.actual_type} is intended, publish a new contract version that allows it"
        )
    if kind == MISSING_REQUIRED:
        return f"populate {path}{req} at the producer, or make it optional in a new contract version"
    if kind == UNDOCUMENTED_FIELD:
        if violation.expected == UNDOCUMENTED_CLOSED:
            return (
                f"stop sending {path} at the producer, or add it to the contract in a new version (an additive change)"
            )
        return f"document {path} in the contract (an additive change) so consumers can rely on it"
    if kind in (CONSTRAINT, COMPOSITION):
        return f"send a value that is {violation.expected} at {path}{req}, or relax the contract in a new version"
    if kind == VERSION_LAG:
        return (
            f"upgrade the producer to {violation.expected}, or have it declare the version it writes "
            "(version header/field) so it is checked against that version"
        )
    if kind == UNKNOWN_EVENT_TYPE:
        return "add the event type to the topic's events in catalog.yaml, or fix the producer's event type"
    if kind == UNKNOWN_VERSION:
        return f"add that version of {event_type} to catalog.yaml, or fix the producer's version declaration"
    if kind == UNKNOWN_SCHEMA_ID:
        return "add the producer's schema to catalog.yaml as a new version with that schema_id"
    if kind == SCHEMA_MISMATCH:
        return (
            "the producer writes with another Avro schema than the contract: add its schema as a new "
            "version (and a version header), or align the producer"
        )
    if kind == UNDECODABLE:
        return _undecodable_fix(violation, topic_format)
    if kind == TOMBSTONE:
        return "stop deleting keys on this topic, or set tombstones: ignore for it in catalog.yaml"
    if kind == OVERSIZED:
        if violation.detail:
            return f"flatten the event at the producer ({violation.expected}), then check it again"
        return "split the event at the producer, or raise max_payload_bytes if such payloads are intended"
    if kind == INTERNAL_ERROR:
        return "report this to the stream-sentinel maintainers with the drift event; replay the offset to retry it"
    if kind == OVERFLOW:
        return (
            "fix the rules listed in the message's other drift events first (one producer bug often breaks "
            "every item), or raise max_violations_per_message to list more"
        )
    return "inspect the sample and the contract"


# A capped path carries a marker of at most 22 characters: a path capped where its violation was
# built is shown unchanged, anything longer is cut here as a last resort.
_MAX_SHOWN_PATH: Final = MAX_PATH + 32
# actual.value is a preview of at most 64 characters plus its marker; the contract says <= 80.
_MAX_VALUE: Final = 80


def _capped(text: str | None) -> str | None:
    return None if text is None else cap_text(text, MAX_TEXT)


@dataclass(frozen=True, slots=True)
class Subject:
    """What the violations of one message are about: resolved event type and schema."""

    event_type: str | None
    schema_ref: str | None
    schema_version: int | None
    schema_id: int | None
    topic_format: str


def build_drift_events(
    violations: tuple[Violation, ...],
    subject: Subject,
    source: Source,
    sample: Any,
    *,
    origin: str = "live",
    run_id: str | None = None,
    observed_at: int | None = None,
    fingerprints: Sequence[str] | None = None,
    catalog_revision: str | None = None,
) -> list[DriftEvent]:
    """One drift event per violation of a message, all sharing the message's redacted sample.

    Every text is capped (``MAX_*`` above), so a drift event stays a few KiB whatever the
    payload or the contract holds. Ids and fingerprints are computed from the violation as
    found (its paths are already capped where it is built); ``fingerprints``, one per
    violation, are those the caller already computed (``core.assess``), so none is hashed twice.
    """
    if source.key is not None and len(source.key) > MAX_TEXT:
        source = replace(source, key=cap_text(source.key, MAX_TEXT))
    events = []
    for index, violation in enumerate(violations):
        actual: dict[str, Any] = {"type": cap_text(violation.actual_type, MAX_NAME)}
        if violation.actual_value is not None:
            value = violation.actual_value
            actual["value"] = value if len(value) <= _MAX_VALUE else cap_text(value, _MAX_VALUE - 22)
        if violation.redacted:
            actual["redacted"] = True
        events.append(
            DriftEvent(
                drift_id=drift_id(source, subject.event_type, violation, subject.schema_ref),
                fingerprint=fingerprints[index]
                if fingerprints is not None
                else fingerprint(source.topic, subject.event_type, violation.kind, violation.rule_path),
                kind=violation.kind,
                severity=violation.severity,
                requirement=_capped(violation.requirement),
                owner=_capped(violation.owner),
                path=cap_text(violation.path, _MAX_SHOWN_PATH),
                rule_path=cap_text(violation.rule_path, _MAX_SHOWN_PATH),
                expected=cap_text(violation.expected, MAX_TEXT),
                actual=actual,
                message=cap_text(describe(violation, subject.event_type, subject.schema_version), MAX_SENTENCE),
                suggested_fix=cap_text(suggest_fix(violation, subject.event_type, subject.topic_format), MAX_SENTENCE),
                detail=cap_text(violation.detail, MAX_TEXT),
                source=source,
                event_type=subject.event_type,
                schema_ref=subject.schema_ref,
                schema_version=subject.schema_version,
                schema_id=subject.schema_id,
                sample=sample,
                origin=origin,
                run_id=run_id,
                observed_at=observed_at,
                rule=violation.rule,
                related=violation.related,
                catalog_revision=catalog_revision,
            )
        )
    return events


def raised_at(exc: BaseException) -> str:
    """``file:line:function`` of the innermost frame of an exception: code, never data."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{PurePath(last.filename).name}:{last.lineno}:{last.name}"


def internal_error(exc: BaseException, owner: str | None = None) -> Violation:
    """The violation standing for a failure of the sentinel itself on one message.

    Deny by default: an exception's text may quote the payload (a key, a value), so only its
    type and the code location where it was raised (file, line, function: no values) are
    reported. Enough to find the bug; the offset in the drift event replays the message.
    """
    return Violation(
        INTERNAL_ERROR,
        BREAKING,
        "",
        "",
        "a message the sentinel can check",
        "error",
        type(exc).__name__,
        owner=owner,
        detail=f"raised at {raised_at(exc)} (the exception text is not shown: it may quote the message)",
    )
