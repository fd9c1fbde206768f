"""Writer schemas from a Schema Registry: judging messages whose schema id the catalog does not map.

A ``confluent-*`` message names its writer schema by id. When the catalog maps the id, the
checker's hot path handles it (``validate.TopicChecker._framed``). When it does not, the checker
asks this module, off the hot path (only unmapped ids come here):

- the id is in the ``WriterTable`` (the shell's registry client put it there): the message is
  decoded with its writer schema (Avro: fastavro with the registered schema; JSON: the JSON
  text, the registered JSON Schema only names it) and judged against the catalog's contract of
  the event type the registry subject names, so drift says *which field* differs. Every
  violation's detail names the registered subject and version;
- it is not (yet): the message is classified ``unknown_schema_id`` as without a registry, and
  the table's ``on_miss`` hook is told, so the shell fetches the id in the background. The
  core never waits for the network and never reads a clock.

Schema types are dispatched through ``WRITER_DECODERS``: ``AVRO`` and ``JSON`` here;
``PROTOBUF`` is the hook for Confluent's Protobuf framing (add a decoder for it).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final, Protocol

import fastavro
import orjson

from stream_sentinel.core.check import codecs
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.avro_fit import fit
from stream_sentinel.core.check.compile import CompiledVersion
from stream_sentinel.core.check.outcome import Outcome
from stream_sentinel.core.contracts.catalog import EventContract, TopicContract
from stream_sentinel.core.contracts.registry import RegistrySpec

DEFAULT_CAPACITY: Final = 1024  # writer schemas kept; a registry id is a few KiB of schema


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """A schema the registry holds under an id: its type, text, references and subject versions."""

    schema_id: int
    schema_type: str  # AVRO | JSON | PROTOBUF (the registry omits schemaType for Avro)
    schema: str
    subjects: tuple[tuple[str, int], ...] = ()  # (subject, version) pairs registered with this id
    references: tuple[str, ...] = ()  # referenced schema texts, dependencies first

    def named(self) -> str:
        """How drift details name it: the first subject version, or the id alone."""
        if not self.subjects:
            return f"registry schema id {self.schema_id}"
        subject, version = self.subjects[0]
        return f"registry subject {subject!r} v{version} (schema id {self.schema_id})"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why an id has no writer schema: not registered, or the registry did not answer."""

    schema_id: int
    reason: str


class WriterTable:
    """Writer schemas by id, bounded (least recently used out), filled by the shell.

    ``on_miss`` is the shell's hook for an id asked for but not held: it must only queue the
    id (the checker calls it on the message's path). ``put`` may come from another thread; each
    operation is one dict call under the GIL.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = max(1, capacity)
        self._held: OrderedDict[int, WriterSchema | Unavailable] = OrderedDict()
        self.on_miss: Callable[[int], None] | None = None
        self.generation = 0  # bumped on every put: checkers drop their compiled judges

    def get(self, schema_id: int) -> WriterSchema | Unavailable | None:
        """The held answer for an id, or None (then ``on_miss`` is told, and may have put it)."""
        found = self._held.get(schema_id)
        if found is None and self.on_miss is not None:
            self.on_miss(schema_id)
            found = self._held.get(schema_id)
        return found

    def put(self, entry: WriterSchema | Unavailable) -> None:
        """Hold an answer; the oldest goes past ``capacity``."""
        self._held[entry.schema_id] = entry
        self._held.move_to_end(entry.schema_id)
        while len(self._held) > self.capacity:
            self._held.popitem(last=False)
        self.generation += 1

    def forget(self, schema_id: int) -> None:
        """Drop an answer (an ``Unavailable`` to retry)."""
        self._held.pop(schema_id, None)
        self.generation += 1

    def __len__(self) -> int:
        return len(self._held)


class Checker(Protocol):
    """What judging needs of ``validate.TopicChecker`` (a protocol: validate imports this module)."""

    topic: TopicContract

    @property
    def _events(self) -> Mapping[str, Any]:
        """Event type -> ``validate._Event`` (``newest``, ``older_first_newest``)."""

    def _explain_json(self, payload: Any, compiled: CompiledVersion, declared: bool, size: int) -> Outcome:
        """The outcome of a JSON payload against a version (undeclared: older ones tried, version_lag)."""

    def _lag(self, newest: CompiledVersion, older: CompiledVersion, found: tuple[d.Violation, ...]) -> d.Violation:
        """The version_lag violation of a message that passes ``older`` but not ``newest``."""


#: Decoder of a schema type: (writer schema, framed message) -> payload, or a DecodeFailure.
Decode = Callable[[bytes], Any]
WRITER_DECODERS: dict[str, Callable[[WriterSchema], Decode]] = {}


def _avro_decoder(writer: WriterSchema) -> Decode:
    named: dict[str, Any] = {}
    for text in writer.references:
        fastavro.parse_schema(json.loads(text), named_schemas=named)
    parsed = fastavro.parse_schema(json.loads(writer.schema), named_schemas=named)

    def decode(value: bytes) -> Any:
        return fastavro.schemaless_reader(BytesIO(value[codecs.CONFLUENT_HEADER :]), parsed, None)

    return decode


def _json_decoder(writer: WriterSchema) -> Decode:  # noqa: ARG001 - JSON text decodes without its schema
    def decode(value: bytes) -> Any:
        return orjson.loads(memoryview(value)[codecs.CONFLUENT_HEADER :])

    return decode


WRITER_DECODERS["AVRO"] = _avro_decoder
WRITER_DECODERS["JSON"] = _json_decoder
#: The schema type each topic format reads (PROTOBUF: ``confluent-protobuf`` when it exists).
FORMAT_SCHEMA_TYPE: Final[Mapping[str, str]] = {"confluent-avro": "AVRO", "confluent-json": "JSON"}


def place(
    writer: WriterSchema, topic: TopicContract, spec: RegistrySpec | None, record_names: Mapping[str, str]
) -> str | None:
    """The topic's event type a writer schema's messages are judged against, or None.

    In order: the catalog's ``registry.subjects``; the topic name strategy (``<topic>-value``) on a
    topic with one event type; the record name strategies (``<name>``, ``<topic>-<name>``) and the
    writer schema's own record name (Avro ``name``, JSON Schema ``title``), matched against event
    type names and the catalog's Avro record full names (``record_names``).
    """
    for subject, _ in writer.subjects:
        mapped = spec.subjects.get(subject) if spec is not None else None
        if mapped is not None and mapped[0] == topic.name:
            return mapped[1]
    if len(topic.events) == 1 and any(s == f"{topic.name}-value" for s, _ in writer.subjects):
        return next(iter(topic.events))
    names = [s.removeprefix(f"{topic.name}-") for s, _ in writer.subjects]
    names.append(_own_name(writer))
    for name in names:
        for candidate in (name, name.rsplit(".", 1)[-1]):
            if candidate in topic.events:
                return candidate
            if candidate in record_names:
                return record_names[candidate]
    return None


def _own_name(writer: WriterSchema) -> str:
    try:
        doc = json.loads(writer.schema)
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    if writer.schema_type == "AVRO":
        name, space = str(doc.get("name", "")), doc.get("namespace")
        return f"{space}.{name}" if space and "." not in name else name
    return str(doc.get("title", ""))


def record_names(events: Mapping[str, EventContract]) -> dict[str, str]:
    """Avro record full name of every catalog version -> its event type."""
    found: dict[str, str] = {}
    for event in events.values():
        for version in event.versions:
            doc = version.document
            if version.kind == "avro" and isinstance(doc, dict) and isinstance(doc.get("name"), str):
                space = doc.get("namespace")
                name = doc["name"]
                found[f"{space}.{name}" if space and "." not in name else name] = event.name
    return found


def unknown(topic: TopicContract, known: list[int], schema_id: int, value: bytes, detail: str = "") -> Outcome:
    """The ``unknown_schema_id`` outcome (no writer schema, or none this topic can use)."""
    violation = d.Violation(
        d.UNKNOWN_SCHEMA_ID,
        d.BREAKING,
        "",
        "",
        "one of " + ", ".join(str(i) for i in sorted(known)),
        "integer",
        str(schema_id),
        requirement=topic.requirement,
        owner=topic.owner,
        detail=detail,
    )
    return Outcome(None, None, (violation,), raw=value, schema_id=schema_id)


Judge = Callable[[bytes], Outcome]


def build_judge(checker: Checker, writer: WriterSchema, event: str) -> Judge:
    """The check of messages written with ``writer``, judged against the catalog's ``event``."""
    decode = WRITER_DECODERS[writer.schema_type](writer)
    note = f"writer schema: {writer.named()}"
    compiled = checker._events[event]
    newest, older = compiled.newest, compiled.older_first_newest
    avro = checker.topic.format == "confluent-avro"

    def judge(value: bytes) -> Outcome:
        try:
            payload = decode(value)
        except Exception as exc:  # noqa: BLE001 - a message that does not decode is drift, not a crash
            failure = f"does not decode with its {note}: {codecs.decode_failure_of(exc)}"
            violation = d.Violation(
                d.UNDECODABLE, d.BREAKING, "", "", writer.schema_type, "bytes", f"{len(value)} bytes"
            )
            return Outcome(event, None, (violation._replace(detail=failure),), raw=value, schema_id=writer.schema_id)
        if avro:
            outcome = _judge_avro(checker, payload, newest, older)
        elif newest.fast_is_valid(payload):
            valid: Outcome = newest.valid_outcome
            return valid
        else:
            outcome = checker._explain_json(payload, newest, False, len(value) - codecs.CONFLUENT_HEADER)
        if outcome.ok:
            return outcome
        noted = tuple(v._replace(detail=f"{v.detail}; {note}" if v.detail else note) for v in outcome.violations)
        return outcome._replace(violations=noted, schema_id=writer.schema_id)

    return judge


def _judge_avro(checker: Checker, record: Any, newest: CompiledVersion, older: tuple[CompiledVersion, ...]) -> Outcome:
    """A decoded Avro record against the newest version; an older one that fits makes it version_lag."""
    found = fit(record, newest)
    if not found:
        return newest.valid_outcome
    if any(v.severity == d.BREAKING for v in found):
        for candidate in older:
            if not any(v.severity == d.BREAKING for v in fit(record, candidate)):
                lag = checker._lag(newest, candidate, found)
                return Outcome(candidate.version.event_type, candidate.version, (lag,), record, walker=candidate.walker)
    return Outcome(newest.version.event_type, newest.version, found, record, walker=newest.walker)


class WriterJudges:
    """One topic's judges of writer schemas, built on first use; dropped when the table changes."""

    def __init__(self, checker: Checker, table: WriterTable, spec: RegistrySpec | None, known: list[int]) -> None:
        self._checker = checker
        self._table = table
        self._spec = spec
        self._known = known
        self._names = record_names(checker.topic.events)
        self._judges: dict[int, Judge | str] = {}
        self._generation = table.generation

    def outcome(self, schema_id: int, value: bytes) -> Outcome:
        """The outcome of a message whose schema id the catalog does not map."""
        topic = self._checker.topic
        if self._generation != self._table.generation or len(self._judges) > self._table.capacity:
            self._judges.clear()
            self._generation = self._table.generation
        judge = self._judges.get(schema_id)
        if judge is None:
            entry = self._table.get(schema_id)
            if entry is None:
                asked = "asked the schema registry for it" if self._table.on_miss is not None else ""
                return unknown(topic, self._known, schema_id, value, asked)
            judge = self._judges[schema_id] = self._build(entry)
        if isinstance(judge, str):
            return unknown(topic, self._known, schema_id, value, judge)
        outcome: Outcome = judge(value)
        return outcome

    def _build(self, entry: WriterSchema | Unavailable) -> Judge | str:
        topic = self._checker.topic
        if isinstance(entry, Unavailable):
            return entry.reason
        wanted = FORMAT_SCHEMA_TYPE.get(topic.format)
        if entry.schema_type != wanted or entry.schema_type not in WRITER_DECODERS:
            return f"{entry.named()} is a {entry.schema_type} schema; topic format {topic.format} reads {wanted}"
        event = place(entry, topic, self._spec, self._names)
        if event is None:
            return f"{entry.named()} names none of this topic's event types (map it under registry.subjects)"
        try:
            return build_judge(self._checker, entry, event)
        except Exception as exc:  # noqa: BLE001 - an unusable registered schema is reported, not raised
            return f"{entry.named()} cannot be read: {type(exc).__name__}"
