"""Checking a record's key and headers against their contracts (core/contracts/keyhead.py).

The value check (``TopicChecker.check``) never sees the key, so this is a second, separate step
the shells take only for topics that have a key or header contract: ``Engine.keyheads`` maps
such a topic to its :class:`KeyHeadChecker`, and a topic without one is not in the map (no call,
no allocation, not even a lookup beyond one ``dict`` test per batch message: the hot path stays
as benchmarked). :meth:`KeyHeadChecker.judge` adds its violations to the value's outcome.

Violations use the existing kinds: an absent required key/header is ``missing_required``, bytes
that are not UTF-8 text or JSON (``encoding``) and a JSON Schema ``type`` failure are
``type_mismatch``, everything else (pattern, format, enum, bounds, ``equals``) is ``constraint``.
Their ``path`` is ``key`` or ``headers/<name>`` (plus a pointer inside a JSON-encoded key), never
a payload pointer (those are empty or start with ``/``), so fingerprints of key/header drift never
mix with the value's.

Deny by default: a key or header value is echoed (``actual.value``) only when its contract does
not say ``x-pii: true`` and, for ``equals``, no version of the event type marks the value field
it must equal ``x-pii`` (the key then *is* that PII). Otherwise it is withheld (``redacted``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import jsonschema_rs
import orjson

from stream_sentinel.core.check import codecs
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.compile import LINEAR_REGEX, CompiledVersion, _refuse_retrieval
from stream_sentinel.core.check.outcome import Headers, Outcome
from stream_sentinel.core.contracts.catalog import Catalog, TopicContract
from stream_sentinel.core.contracts.keyhead import CATALOG_FILE, FieldContract, KeyHeadContract
from stream_sentinel.core.contracts.pointer import escape
from stream_sentinel.core.errors import SpecError


class TopicChecker(Protocol):
    """What this module needs of ``validate.TopicChecker`` (a protocol: validate imports this module)."""

    topic: TopicContract

    def versions(self) -> list[CompiledVersion]:
        """Every compiled version of the topic."""


class Engine(Protocol):
    """What this module needs of ``validate.Engine``."""

    catalog: Catalog

    def checker(self, topic: str) -> Any:
        """The topic's ``TopicChecker``, or None."""

    def shows(self, topic: str, event_type: str, tokens: tuple[str | int, ...]) -> bool:
        """Whether the value at ``tokens`` of this event type may be echoed."""


#: Longest key/header value shown in a drift event (the drift event caps ``actual.value`` too).
_MAX_SHOWN: Final = 64
#: Violations listed per key or header (a JSON key could fail many rules).
_MAX_PER_FIELD: Final = 10
_SCALAR_TYPES: Final = frozenset({"integer", "number", "boolean"})


def keyheads(engine: Engine) -> dict[str, KeyHeadChecker]:
    """The key/header checker of every topic with such a contract (compiled once; ``SpecError`` exit 2)."""
    out: dict[str, KeyHeadChecker] = {}
    for name, topic in engine.catalog.topics.items():
        if topic.keyhead is None and all(e.keyhead is None for e in topic.events.values()):
            continue
        checker = engine.checker(name)
        assert checker is not None
        out[name] = KeyHeadChecker(checker, engine, topic.keyhead or KeyHeadContract())
    return out


class _Field:
    """One compiled field contract, as it applies to one event type (or to the whole topic)."""

    __slots__ = ("contract", "owner", "requirement", "shown", "validator")

    def __init__(self, contract: FieldContract, shown: bool, requirement: str | None, owner: str | None) -> None:
        self.contract = contract
        self.shown = shown and not contract.pii
        self.requirement = contract.requirement or requirement
        self.owner = contract.owner or owner
        self.validator: Any = None
        if contract.schema is not None:
            try:
                self.validator = jsonschema_rs.validator_for(
                    contract.schema,
                    validate_formats=True,
                    retriever=_refuse_retrieval,
                    pattern_options=LINEAR_REGEX,
                )
            except (ValueError, jsonschema_rs.ReferencingError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise SpecError(CATALOG_FILE, contract.catalog_pointer, f"cannot compile: {first[:200]}") from exc

    def judge(self, raw: object, payload: Any, found: list[d.Violation]) -> None:
        """Append the violations of one key or header value (``raw``: bytes/str, None = absent)."""
        c = self.contract
        if raw is None:
            if c.required:
                what = "a record key" if c.header is None else f"header {c.header!r}"
                found.append(self._violation(d.MISSING_REQUIRED, c.path, what, "missing", None))
            return
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        if c.equals is not None and payload is not None:
            self._equals(text, payload, found)
        if self.validator is None:
            return
        instance: Any = text
        if c.encoding == "json" or (isinstance(c.schema, dict) and c.schema.get("type") in _SCALAR_TYPES):
            try:
                instance = orjson.loads(text)
            except orjson.JSONDecodeError:
                if c.encoding == "json":
                    found.append(self._violation(d.TYPE_MISMATCH, c.path, "JSON text", "string", text))
                    return
        for index, error in enumerate(self.validator.iter_errors(instance)):
            if index >= _MAX_PER_FIELD:
                break
            found.append(self._schema_violation(error, instance))

    def _equals(self, text: str, payload: Any, found: list[d.Violation]) -> None:
        c = self.contract
        assert c.equals is not None
        expected = _field_text(payload, c.equals)
        # An absent (or non-scalar) field is the value contract's finding, not the key's.
        if expected is not None and expected != text:
            found.append(
                self._violation(
                    d.CONSTRAINT, c.path, f"equal to the value's {c.equals_pointer}", "string", text, "equals"
                )
            )

    def _schema_violation(self, error: Any, instance: Any) -> d.Violation:
        keyword = error.kind.name
        tokens = tuple(error.instance_path)
        path = self.contract.path + "".join("/" + escape(t) for t in tokens)
        value = _node(instance, tokens)
        if keyword == "type":
            types = error.kind.as_dict().get("types")
            expected = " or ".join(str(t).lower() for t in types) if types else "another type"
            return self._violation(d.TYPE_MISMATCH, path, expected, _json_type(value), _show(value), keyword)
        if keyword == "required":
            name = str(error.kind.as_dict().get("property", ""))
            return self._violation(d.MISSING_REQUIRED, f"{path}/{escape(name)}", name, "missing", None, keyword)
        rule = _rule_at(self.contract.schema, tuple(error.schema_path))
        return self._violation(d.CONSTRAINT, path, rule, _json_type(value), _show(value), keyword)

    def _violation(
        self, kind: str, path: str, expected: str, actual_type: str, value: str | None, keyword: str = ""
    ) -> d.Violation:
        shown = value if value is None or self.shown else None
        if shown is not None and len(shown) > _MAX_SHOWN:
            shown = shown[:_MAX_SHOWN] + "…"
        return d.Violation(
            kind,
            d.BREAKING,
            path,
            path,
            d.cap_text(expected, 256),
            actual_type,
            shown,
            redacted=value is not None and shown is None,
            requirement=self.requirement,
            owner=self.owner,
            keyword=keyword,
        )


class KeyHeadChecker:
    """A topic's key and header contracts, per event type; ``judge`` merges their violations."""

    def __init__(self, checker: TopicChecker, engine: Engine, base: KeyHeadContract) -> None:
        topic = checker.topic
        self.topic = topic.name
        self._start = codecs.CONFLUENT_HEADER if topic.format.startswith("confluent-") else 0
        self._avro = topic.format.endswith("avro")
        versions = checker.versions()
        self._codec_of = {id(v.version): v.codec for v in versions if v.codec is not None}
        self._walker_of = {id(v.version): v.walker for v in versions if v.walker is not None}
        self._fields = self._compile(base, None, engine)
        self._by_event = {
            name: self._compile(base.merged(event.keyhead), name, engine)
            for name, event in topic.events.items()
            if event.keyhead is not None or (base.key is not None and base.key.equals is not None)
        }
        self._needs_payload = any(
            f.contract.equals is not None for fields in (self._fields, *self._by_event.values()) for f in fields
        )

    def _compile(self, contract: KeyHeadContract, event_type: str | None, engine: Engine) -> tuple[_Field, ...]:
        topic = engine.catalog.topics[self.topic]
        event = topic.events.get(event_type) if event_type is not None else None
        requirement = event.requirement if event is not None else topic.requirement
        owner = event.owner if event is not None else topic.owner
        fields = [contract.key] if contract.key is not None else []
        fields.extend(contract.headers.values())
        out = []
        for c in fields:
            # ``equals``: the key is that value field, so it is shown only where the field may be.
            shown = c.equals is None or (event_type is not None and engine.shows(self.topic, event_type, c.equals))
            out.append(_Field(c, shown, requirement, owner))
        return tuple(out)

    def judge(self, outcome: Outcome, key: object, headers: Headers, value: bytes | None) -> Outcome:
        """``outcome`` with the violations of the record's key and headers added (itself when none)."""
        event_type = outcome.event_type
        fields = self._by_event.get(event_type, self._fields) if event_type is not None else self._fields
        if not fields:
            return outcome
        payload, walker = outcome.payload, outcome.walker
        if self._needs_payload and payload is None and value is not None and not outcome.violations:
            payload = self._decode(outcome, value)
            walker = self._walker_of.get(id(outcome.version), walker)
        found: list[d.Violation] = []
        for field in fields:
            header = field.contract.header
            raw = key if header is None else _last(headers, header)
            try:
                field.judge(raw, payload, found)
            except UnicodeDecodeError:
                found.append(field._violation(d.TYPE_MISMATCH, field.contract.path, "UTF-8 text", "bytes", None))
        if not found:
            return outcome
        return Outcome(
            event_type,
            outcome.version,
            (*outcome.violations, *found),
            payload,
            outcome.raw,
            walker,
            outcome.schema_id,
            False,
            outcome.whole,
        )

    def _decode(self, outcome: Outcome, value: bytes) -> Any:
        """The value of a message that passed its contract, decoded again for ``equals`` (None if it cannot be)."""
        start = self._start
        if self._avro:
            codec = self._codec_of.get(id(outcome.version))
            if codec is None:
                return None
            decoded: Any = codec.decode(value, start)
            return None if isinstance(decoded, codecs.DecodeFailure) else decoded
        try:
            return orjson.loads(memoryview(value)[start:] if start else value)
        except orjson.JSONDecodeError:
            return None


def _last(headers: Headers, name: str) -> object:
    """The last value of a header (Kafka's ``lastHeader``), None when absent."""
    found: object = None
    if headers:
        for key, raw in headers:
            if key == name:
                found = raw
    if isinstance(found, bytearray | memoryview):
        return bytes(found)
    return found


def _field_text(payload: Any, tokens: tuple[str, ...]) -> str | None:
    """The value field at ``tokens`` as key text: strings as they are, other scalars as JSON."""
    node = payload
    for token in tokens:
        if isinstance(node, Mapping):
            if token not in node:
                return None
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    if isinstance(node, str):
        return node
    if node is None or isinstance(node, dict | list):
        return None
    try:
        return orjson.dumps(node).decode()
    except TypeError:
        return str(node)


def _node(instance: Any, tokens: tuple[str | int, ...]) -> Any:
    node = instance
    for token in tokens:
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _show(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return None


_WORDS: Final[Mapping[str, Callable[[Any], str]]] = {
    "pattern": lambda v: f"matching {v}",
    "format": lambda v: f"a valid {v}",
    "enum": lambda v: "one of " + ", ".join(orjson.dumps(x).decode() for x in v),
    "const": lambda v: f"exactly {orjson.dumps(v).decode()}",
    "minLength": lambda v: f"at least {v} characters",
    "maxLength": lambda v: f"at most {v} characters",
    "minimum": lambda v: f">= {v}",
    "maximum": lambda v: f"<= {v}",
}


def _rule_at(schema: Any, schema_path: tuple[str | int, ...]) -> str:
    """The broken rule in words, from the contract (never from the error text: it quotes the value)."""
    node = schema
    for token in schema_path:
        try:
            node = node[token]
        except (KeyError, IndexError, TypeError):
            return "a value the contract allows"
    keyword = str(schema_path[-1]) if schema_path else ""
    words = _WORDS.get(keyword)
    if words is None:
        return f"{keyword} {orjson.dumps(node, default=str).decode()}" if keyword else "a value the contract allows"
    return words(node)


__all__ = ["KeyHeadChecker", "keyheads"]
