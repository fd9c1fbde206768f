"""Compiled, cached validators and the per-message check: the hot path.

``Engine`` compiles every schema version of a ``Catalog`` once (jsonschema-rs for JSON Schema,
fastavro for Avro) and hands out one ``TopicChecker`` per topic. ``TopicChecker.check(value,
headers)`` returns an ``Outcome``:

- a valid message returns a pre-built ``Outcome`` owned by its schema version: no allocation,
  no error objects, no string formatting, no payload copy. The work is one decode, a few dict
  lookups and one ``is_valid`` call on a compiled validator;
- anything else returns an ``Outcome`` with ``Violation`` values. Only then is full detail
  computed (``iter_errors``, annotation walks, older versions for ``version_lag``).

Why jsonschema-rs on the hot path: measured here, orjson.loads + jsonschema-rs ``is_valid`` on
a 600-byte order is ~3 µs/msg, python-jsonschema ~140 µs/msg (41x). python-jsonschema is still
used at load time, where its best-match error messages and exact pointers matter more than speed.

Undocumented fields in open content models (no ``additionalProperties: false``) are found
without a second validator call: each JSON schema is also compiled in a *strict* variant where
every object schema that lists ``properties`` and leaves extra fields open gets
``unevaluatedProperties: false``. The hot path calls only the strict variant's ``is_valid`` (for
closed schemas the variant is the schema itself). When it fails, the real validator decides what
is a breaking violation, and the strict one's extra findings are confirmed against the real
schema's annotations (so an ``allOf`` that documents a field in a sibling branch is not
mis-reported; it only costs a slow-path visit).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, Final
from urllib.parse import urljoin

import jsonschema_rs
import orjson
import referencing
from referencing.jsonschema import DRAFT202012

from stream_sentinel.core.check import codecs
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.annotate import (
    Annotations,
    AvroSchemaIndex,
    JsonSchemaIndex,
    json_type,
    link_versions,
)
from stream_sentinel.core.check.codecs import DecodeFailure
from stream_sentinel.core.check.compile import (
    LINEAR_REGEX,
    CompiledVersion,
    _close_open_objects,
    _closing_keyword,
    _refs,
    _refuse_retrieval,
    _uses_id,
    refuse_backtracking,
)
from stream_sentinel.core.check.explain import (
    Context,
    build_plan,
    collect,
    explain,
    pointer,
    undocumented,
)
from stream_sentinel.core.check.keeping import keeping
from stream_sentinel.core.check.keyhead import keyheads
from stream_sentinel.core.check.outcome import Headers
from stream_sentinel.core.check.outcome import Outcome as Outcome  # re-exported: check() returns it
from stream_sentinel.core.check.writers import WriterJudges, WriterTable
from stream_sentinel.core.contracts.catalog import (
    CATALOG_FILE,
    SPEC_BASE_URI,
    Catalog,
    EventContract,
    SchemaVersion,
    TopicContract,
    avro_named_types,
    load_catalog,
    parse_avro,
)
from stream_sentinel.core.errors import SpecError

DEFAULT_MAX_PAYLOAD_BYTES: Final = 16 * 1024 * 1024
#: Violations listed per message; the rest are counted in one ``overflow`` violation.
DEFAULT_MAX_VIOLATIONS: Final = 100
#: The deepest nesting (objects and arrays inside each other) the validator can explain:
#: jsonschema-rs checks deeper payloads (``is_valid``) but cannot hand back an error whose
#: value is nested deeper than this ("Recursion limit reached", measured with 0.60: 255 works,
#: 256 fails). An invalid message that deep is reported as one ``oversized`` violation.
MAX_NESTING: Final = 255
#: The largest failing JSON message explained in full. jsonschema-rs' Python ``iter_errors``
#: builds every error before handing out the first (measured: 100k broken items cost ~190 MiB
#: and 0.7 s before the first error, a 4.5 MB message ~730 MiB RSS), so past this size only
#: the first violation is explained (``validate`` stops there: ~20 MiB, 0 s) and an
#: ``overflow`` violation says the rest were not looked for. 256 KiB is far above ordinary
#: events and bounds what one message can make the explanation allocate.
MAX_EXPLAINED_BYTES: Final = 256 * 1024


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (stops as soon as they do)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is not dict and kind is not list:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in (node.values() if kind is dict else node))
    return False


class Engine:
    """Every topic's compiled checker, built once from a catalog; immutable afterwards."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        assert_formats: bool = True,
        max_violations_per_message: int = DEFAULT_MAX_VIOLATIONS,
    ) -> None:
        if max_violations_per_message < 1:
            raise ValueError("max_violations_per_message must be at least 1")
        self.catalog = catalog
        self.max_payload_bytes = max_payload_bytes
        self.max_violations = max_violations_per_message
        docs = dict(catalog.json_documents)
        for uri, doc in docs.items():
            refuse_backtracking(uri.removeprefix(SPEC_BASE_URI), doc)
        self._registry: referencing.Registry[Any] = referencing.Registry().with_resources(
            (uri, referencing.Resource.from_contents(doc, default_specification=DRAFT202012))
            for uri, doc in docs.items()
        )
        strict_docs = {uri: copy.deepcopy(doc) for uri, doc in docs.items()}
        # A document is "open" if closing its object schemas changed it (or it uses $id, whose
        # reference targets we do not follow here): versions that reach an open document get a
        # strict variant; for all-closed versions the variant would be identical, so none is built.
        self._open = {
            uri: _close_open_objects(doc, _closing_keyword(doc)) or _uses_id(doc) for uri, doc in strict_docs.items()
        }
        self._rs_registry = jsonschema_rs.Registry(list(docs.items())) if docs else None
        self._rs_strict_registry = jsonschema_rs.Registry(list(strict_docs.items())) if docs else None
        self._strict_docs = strict_docs
        self._assert_formats = assert_formats
        self.writers = WriterTable()  # registry writer schemas, filled by the shell (core/check/writers.py)
        self._checkers = {name: TopicChecker(topic, self) for name, topic in catalog.topics.items()}
        self.keyheads = keyheads(self)  # only topics with a key/header contract (core/check/keyhead.py)

    @classmethod
    def from_spec_dir(cls, root: str, **options: Any) -> Engine:
        """Load and compile a spec dir; ``SpecError`` names the file and pointer of any problem."""
        return cls(load_catalog(root), **options)

    def checker(self, topic: str) -> TopicChecker | None:
        """The checker for a topic, or None when the catalog has no contract for it."""
        return self._checkers.get(topic)

    def keeping_check(
        self, topic: str, wants: Callable[[str], bool], reach: Callable[[str], Any] | None = None
    ) -> Callable[[bytes | None, Headers], Outcome]:
        """The topic's ``check`` whose valid outcomes of event types ``wants`` carry their payload (``reach``)."""
        return keeping(self._checkers[topic], wants, reach)

    def shows(self, topic: str, event_type: str, tokens: tuple[str | int, ...]) -> bool:
        """Whether the value at ``tokens`` of this event type may be echoed (deny by default).

        Only when every version of the event type documents the location and none marks it
        (or anything below it) ``x-pii``: a behavioural rule's entity id or state is then shown
        in drift events; otherwise it is withheld like any other unproven value.
        """
        checker = self._checkers.get(topic)
        walkers = checker.walkers(event_type) if checker is not None else []
        return bool(walkers) and all(not w.privacy(tokens)[1] for w in walkers)

    def compile(self, version: SchemaVersion, event: EventContract) -> CompiledVersion:
        """Compile one schema version (called once per version while building checkers)."""
        compiled = CompiledVersion(version, event)
        if version.kind == "avro":
            compiled.parsed = parse_avro(version, self.catalog.avro_documents)
            named = avro_named_types(version, self.catalog.avro_documents)
            compiled.codec = codecs.AvroCodec(compiled.parsed, named)
            compiled.avro = AvroSchemaIndex(version.document, compiled.parsed)
            compiled.walker = compiled.avro
            return compiled
        try:
            compiled.validator = jsonschema_rs.validator_for(
                version.document,
                registry=self._rs_registry,
                base_uri=version.uri,
                validate_formats=self._assert_formats,
                retriever=_refuse_retrieval,
                pattern_options=LINEAR_REGEX,
            )
            if self._reaches_open(version.uri):
                compiled.strict = jsonschema_rs.validator_for(
                    self._strict_docs[version.uri],
                    registry=self._rs_strict_registry,
                    base_uri=version.uri,
                    validate_formats=self._assert_formats,
                    retriever=_refuse_retrieval,
                    pattern_options=LINEAR_REGEX,
                )
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpecError(version.ref, "", f"cannot compile: {first_line}") from exc
        fast = compiled.strict if compiled.strict is not None else compiled.validator
        compiled.fast_is_valid = fast.is_valid
        walker = JsonSchemaIndex(version.uri, version.document, self._registry)
        compiled.walker = walker
        compiled.context = Context(walker, version.owner or event.owner, version.requirement or event.requirement)
        if compiled.strict is None:
            compiled.plan = build_plan(
                version.uri, version.document, self._rs_registry, self._assert_formats, LINEAR_REGEX
            )
        return compiled

    def _reaches_open(self, uri: str) -> bool:
        """Whether the document or any document its $refs reach has an open content model."""
        seen: set[str] = set()
        stack = [uri]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if self._open.get(current, True):
                return True
            stack.extend(
                urljoin(current, ref).partition("#")[0] or current
                for ref in _refs(self.catalog.json_documents[current])
            )
        return False


class _Event:
    """An event type's compiled versions and the keys a message may use to name a version."""

    __slots__ = ("by_key", "contract", "newest", "older_first_newest")

    def __init__(self, contract: EventContract, versions: list[CompiledVersion]) -> None:
        self.contract = contract
        self.newest = versions[-1]
        self.older_first_newest = tuple(reversed(versions[:-1]))
        self.by_key: dict[object, CompiledVersion] = {}
        for compiled in versions:
            number = compiled.version.version
            for key in (number, str(number), str(number).encode()):
                self.by_key[key] = compiled


def _header(headers: Headers, name: str) -> object:
    """The last value of a header (Kafka's ``lastHeader`` convention), as a hashable key."""
    found: object = None
    if headers:
        for key, value in headers:
            if key == name:
                found = value
    if found is None or type(found) in (bytes, str, int):
        return found
    if isinstance(found, bytearray | memoryview):
        return bytes(found)
    return None  # not a header value we can read: treated as absent


def _at(payload: Any, tokens: tuple[str, ...]) -> object:
    node = payload
    for token in tokens:
        if type(node) is dict:
            node = node.get(token)
        elif type(node) is list and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node if type(node) in (str, bytes, int) else None


def _key_type(key: object) -> str:
    """The JSON type of an event-type or version key: a header value is a string, a field keeps its type."""
    return "integer" if type(key) is int else "string"


def _text(key: object) -> str:
    raw = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
    return raw if len(raw) <= 64 else raw[:64] + "…"


_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class TopicChecker:
    """Checks the messages of one topic; ``check`` is bound to the topic's wire format."""

    def __init__(self, topic: TopicContract, engine: Engine) -> None:
        self.topic = topic
        self._max = engine.max_payload_bytes
        self._cap = engine.max_violations
        self._events: dict[str, _Event] = {}
        self._by_key: dict[object, _Event] = {}
        self._by_schema_id: dict[int, tuple[_Event, CompiledVersion]] = {}
        for contract in topic.events.values():
            compiled = [engine.compile(v, contract) for v in contract.versions]
            link_versions([c.walker for c in compiled if c.walker is not None])
            event = _Event(contract, compiled)
            self._events[contract.name] = event
            self._by_key[contract.name] = event
            self._by_key[contract.name.encode()] = event
            for version in compiled:
                if version.version.schema_id is not None:
                    self._by_schema_id[version.version.schema_id] = (event, version)
        self._writers = WriterJudges(self, engine.writers, engine.catalog.registry, list(self._by_schema_id))
        self._et = topic.event_type
        self._fixed = self._events.get(topic.event_type.value) if topic.event_type.kind == "fixed" else None
        self._ver = topic.version
        if topic.tombstones == "drift":
            self._tombstone = Outcome(
                None,
                None,
                (
                    d.Violation(
                        d.TOMBSTONE,
                        d.WARNING,
                        "",
                        "",
                        "a value (this topic does not allow deletes)",
                        "null",
                        requirement=topic.requirement,
                        owner=topic.owner,
                    ),
                ),
            )
        else:
            self._tombstone = Outcome(None, None, tombstone=True)
        self.check: Callable[[bytes | None, Headers], Outcome] = (
            self.fast_json(None)
            or {
                "json": self.check_json,
                "confluent-json": self._check_confluent_json,
                "avro": self._check_avro,
                "confluent-avro": self._check_confluent_avro,
            }[topic.format]
        )

    def versions(self) -> list[CompiledVersion]:
        """Every compiled version of every event type of the topic."""
        return [v for event in self._events.values() for v in (*event.older_first_newest, event.newest)]

    def version_of(self, value: bytes | None, headers: Headers) -> CompiledVersion | None:
        """The version an Avro message must pass (as ``check`` locates it), or None (oversized too)."""
        if value is None or len(value) > self._max:
            return None
        found = self._framed(value) if self.topic.format == "confluent-avro" else self._locate(None, headers)
        return found if type(found) is CompiledVersion else None

    def walkers(self, event_type: str) -> list[JsonSchemaIndex | AvroSchemaIndex]:
        """Annotation walkers of every version of an event type (none when a version has none)."""
        event = self._events.get(event_type)
        if event is None:
            return []
        versions = [*event.older_first_newest, event.newest]
        walkers = [v.walker for v in versions if v.walker is not None]
        return walkers if len(walkers) == len(versions) else []

    # -- locating event type and version ---------------------------------------------------

    def _locate(self, payload: Any, headers: Headers) -> CompiledVersion | Outcome:
        """The compiled version a message must pass, or the outcome saying why there is none."""
        event = self._fixed
        if event is None:
            locator = self._et
            key: object = _header(headers, locator.value) if locator.kind == "header" else _at(payload, locator.tokens)
            event = self._by_key.get(key) if key is not None else None
            if event is None:
                return self._unknown_event(key)
        ver = self._ver
        if ver is None:
            return event.newest
        vkey: object = _header(headers, ver.value) if ver.kind == "header" else _at(payload, ver.tokens)
        if vkey is None:
            return event.newest
        found = event.by_key.get(vkey)
        return found if found is not None else self._unknown_version(event, vkey)

    def _declared(self, payload: Any, headers: Headers) -> bool:
        ver = self._ver
        if ver is None:
            return False
        value = _header(headers, ver.value) if ver.kind == "header" else _at(payload, ver.tokens)
        return value is not None

    # -- the four wire formats (hot path) ---------------------------------------------------

    def fast_json(  # noqa: C901 - the hot path is one closure on purpose (bench/validate.py)
        self, keep: dict[Any, Callable[[Any], Outcome]] | None, fallback: Callable[..., Outcome] | None = None
    ) -> Callable[[bytes | None, Headers], Outcome] | None:
        """The JSON hot path specialised for header/fixed event types and header versions.

        Everything it needs is bound as closure locals and both headers are found in one scan;
        anything unusual (undecodable, oversized, unknown type or version) is handed to the
        generic ``check_json``, which computes the same outcome the long way. ``keep``
        (``keeping``): compiled version -> its valid outcome given the payload; ``fallback``
        then replaces ``check_json`` (it must keep the payload of a valid message too).
        """
        et, ver = self._et, self._ver
        if self.topic.format != "json" or et.kind not in ("header", "fixed"):
            return None
        if ver is not None and ver.kind != "header":
            return None
        loads, decode_error, tombstone, max_bytes = (
            _loads,
            _JSONDecodeError,
            self._tombstone,
            self._max,
        )
        et_name = et.value if et.kind == "header" else None
        ver_name = ver.value if ver is not None else None
        fixed, by_key, slow, explain_json, undecodable = (
            self._fixed,
            self._by_key,
            self.check_json if fallback is None else fallback,
            self._explain_json,
            self._undecodable_json,
        )

        def check(value: bytes | None, headers: Headers) -> Outcome:
            if value is None:
                return tombstone
            if len(value) > max_bytes:
                return slow(value, headers)
            try:
                payload = loads(value)
            except decode_error as exc:  # classified here: parsing it again costs as much again
                return undecodable(value, exc)
            name = version = None
            if headers:
                for key, raw in headers:
                    if key == et_name:
                        name = raw
                    elif key == ver_name:
                        version = raw
            try:
                event = fixed if fixed is not None else by_key.get(name)
                if event is None:
                    return slow(value, headers)
                compiled = event.newest if version is None else event.by_key.get(version)
            except TypeError:  # an unhashable header value: the slow path normalises it
                return slow(value, headers)
            if compiled is None:
                return slow(value, headers)
            if compiled.fast_is_valid(payload):
                if keep is not None:
                    return keep[compiled](payload)
                return compiled.valid_outcome
            explained = explain_json(payload, compiled, version is not None, len(value))
            if keep is not None and explained is compiled.valid_outcome:  # only documented findings
                return keep[compiled](payload)
            return explained

        return check

    def check_json(self, value: bytes | None, headers: Headers) -> Outcome:
        """The generic JSON check: any event-type and version locator (the fast path's slow path)."""
        if value is None:
            return self._tombstone
        if len(value) > self._max:
            return self._oversized(value)
        try:
            payload = _loads(value)
        except _JSONDecodeError as exc:
            return self._undecodable_json(value, exc)
        found = self._locate(payload, headers)
        if type(found) is Outcome:
            return found
        assert isinstance(found, CompiledVersion)
        if found.fast_is_valid(payload):
            return found.valid_outcome
        return self._explain_json(payload, found, self._declared(payload, headers), len(value))

    def _check_confluent_json(self, value: bytes | None, headers: Headers) -> Outcome:  # noqa: ARG002 - same signature for every format
        hit = self._framed(value)
        if type(hit) is Outcome:
            return hit
        assert isinstance(hit, CompiledVersion)
        assert value is not None  # _framed answered None with the tombstone outcome
        body = memoryview(value)[codecs.CONFLUENT_HEADER :]
        try:
            payload = _loads(body)
        except _JSONDecodeError as exc:
            return self._undecodable(codecs.json_failure(body, exc), value, hit)
        if hit.fast_is_valid(payload):
            return hit.valid_outcome
        return self._explain_json(payload, hit, True, len(body))

    def _check_avro(self, value: bytes | None, headers: Headers) -> Outcome:
        if value is None:
            return self._tombstone
        if len(value) > self._max:
            return self._oversized(value)
        found = self._locate(None, headers)
        if type(found) is Outcome:
            return found
        assert isinstance(found, CompiledVersion)
        assert found.codec is not None
        failure = found.codec.check(value)
        if failure is None:
            return found.valid_outcome
        return self._explain_avro(value, found, failure, self._declared(None, headers), 0)

    def _check_confluent_avro(self, value: bytes | None, headers: Headers) -> Outcome:  # noqa: ARG002 - same signature for every format
        hit = self._framed(value)
        if type(hit) is Outcome:
            return hit
        assert isinstance(hit, CompiledVersion)
        assert value is not None  # _framed answered None with the tombstone outcome
        assert hit.codec is not None
        failure = hit.codec.check(value, codecs.CONFLUENT_HEADER)
        if failure is None:
            return hit.valid_outcome
        return self._explain_avro(value, hit, failure, True, codecs.CONFLUENT_HEADER)

    def _framed(self, value: bytes | None) -> CompiledVersion | Outcome:
        """The version a Confluent-framed message names, or the outcome saying why there is none."""
        if value is None:
            return self._tombstone
        if len(value) > self._max:
            return self._oversized(value)
        schema_id = codecs.confluent_schema_id(value)
        if isinstance(schema_id, DecodeFailure):
            return self._undecodable(schema_id, value, None)
        hit = self._by_schema_id.get(schema_id)
        if hit is None:
            return self._writers.outcome(schema_id, value)  # unmapped: core/check/writers.py
        return hit[1]

    # -- slow path: everything below runs only for messages that need a drift event ---------

    def _explain_json(self, payload: Any, compiled: CompiledVersion, declared: bool, size: int) -> Outcome:
        """The violations of a payload its version's fast check failed; never raises.

        The validator cannot hand back errors nested deeper than ``MAX_NESTING`` (depth is
        measured only then, not for every invalid message); any other failure while explaining
        becomes an ``internal_error`` violation, so one message never stops a run.
        """
        try:
            return self._explained_json(payload, compiled, declared, size)
        except Exception as exc:  # noqa: BLE001 - nothing may escape the core; reported as a violation
            if _deeper_than(payload, MAX_NESTING):
                return self._too_deep(payload, compiled)
            return self._internal_error(compiled, exc)

    def _explained_json(self, payload: Any, compiled: CompiledVersion, declared: bool, size: int) -> Outcome:
        violations = (
            _json_violations(compiled, payload, cap=self._cap)
            if size <= MAX_EXPLAINED_BYTES
            else _first_json_violation(compiled, payload, size)
        )
        if not violations:
            return compiled.valid_outcome  # the strict variant's finding was documented after all
        event = self._events[compiled.version.event_type]
        if not declared and any(v.severity != d.INFO for v in violations):
            for older in event.older_first_newest:
                assert older.validator is not None
                if older.validator.is_valid(payload):
                    return Outcome(
                        event.contract.name,
                        older.version,
                        (self._lag(compiled, older, violations),),
                        payload,
                        walker=older.walker,
                    )
        return Outcome(event.contract.name, compiled.version, violations, payload, None, compiled.walker)

    def _too_deep(self, payload: Any, compiled: CompiledVersion) -> Outcome:
        root = _root_notes(compiled)
        assert compiled.validator is not None
        # The strict variant of an open content model may be what failed (it looks for
        # undocumented fields): then the message passes its contract and this is only info.
        passes = compiled.validator.is_valid(payload)
        detail = (
            f"the message passes its contract but is nested more than {MAX_NESTING} levels deep, deeper than "
            "the validator can explain: undocumented fields were not looked for"
            if passes
            else f"the message fails its contract and is nested more than {MAX_NESTING} levels deep, deeper "
            "than the validator can explain: where it fails is not reported"
        )
        violation = d.Violation(
            d.OVERSIZED,
            d.INFO if passes else d.BREAKING,
            "",
            "",
            f"at most {MAX_NESTING} levels of nested objects and arrays",
            json_type(payload),
            f"more than {MAX_NESTING} levels",
            requirement=root.requirement or compiled.version.requirement or compiled.event.requirement,
            owner=root.owner or compiled.version.owner or compiled.event.owner,
            detail=detail,
        )
        return Outcome(compiled.version.event_type, compiled.version, (violation,), payload, None, compiled.walker)

    def _internal_error(self, compiled: CompiledVersion, exc: Exception) -> Outcome:
        violation = d.internal_error(exc, compiled.event.owner or self.topic.owner)
        return Outcome(compiled.version.event_type, compiled.version, (violation,))

    def _explain_avro(
        self,
        value: bytes,
        compiled: CompiledVersion,
        failure: DecodeFailure,
        declared: bool,
        start: int,
    ) -> Outcome:
        event = self._events[compiled.version.event_type]
        if not declared:
            for older in event.older_first_newest:
                assert older.codec is not None
                record = older.codec.decode(value, start)
                if type(record) is not DecodeFailure:
                    newest = self._undecodable_violation(failure, compiled, len(value))
                    return Outcome(
                        event.contract.name,
                        older.version,
                        (self._lag(compiled, older, (newest,)),),
                        record,
                        walker=older.walker,
                    )
        return self._undecodable(failure, value, compiled)

    def _lag(
        self,
        newest: CompiledVersion,
        older: CompiledVersion,
        against_newest: tuple[d.Violation, ...],
    ) -> d.Violation:
        shown = "; ".join(f"{v.kind} at {d.shown_path(v.path)}" for v in against_newest[:5])
        more = f" (+{len(against_newest) - 5} more)" if len(against_newest) > 5 else ""
        notes = _root_notes(older)
        return d.Violation(
            d.VERSION_LAG,
            d.WARNING,
            "",
            "",
            f"v{newest.version.version}",
            "object",
            f"v{older.version.version}",
            requirement=notes.requirement or older.version.requirement or older.event.requirement,
            owner=notes.owner or older.version.owner or older.event.owner,
            detail=f"against v{newest.version.version}: {shown}{more}",
        )

    def _undecodable_violation(
        self, failure: DecodeFailure, compiled: CompiledVersion | None, size: int
    ) -> d.Violation:
        if compiled is not None:
            version = compiled.version
            root = _root_notes(compiled)
            expected = f"{self.topic.format} per {version.ref} (v{version.version})"
            requirement = root.requirement or version.requirement or compiled.event.requirement
            owner = root.owner or version.owner or compiled.event.owner
        else:
            expected, requirement, owner = self.topic.format, self.topic.requirement, self.topic.owner
        return d.Violation(
            failure.kind,
            d.BREAKING,
            "",
            "",
            expected,
            "bytes",
            f"{size} bytes",
            requirement=requirement,
            owner=owner,
            detail=failure.reason,
        )

    def _undecodable_json(self, value: bytes, exc: Exception) -> Outcome:
        return self._undecodable(codecs.json_failure(value, exc), value, None)

    def _undecodable(self, failure: DecodeFailure, value: bytes, compiled: CompiledVersion | None) -> Outcome:
        violation = self._undecodable_violation(failure, compiled, len(value))
        event_type = compiled.version.event_type if compiled else None
        return Outcome(event_type, compiled.version if compiled else None, (violation,), raw=value)

    def _oversized(self, value: bytes) -> Outcome:
        violation = d.Violation(
            d.OVERSIZED,
            d.BREAKING,
            "",
            "",
            f"<= {self._max} bytes",
            "bytes",
            f"{len(value)} bytes",
            requirement=self.topic.requirement,
            owner=self.topic.owner,
        )
        return Outcome(None, None, (violation,), raw=value)

    def _unknown_event(self, key: object) -> Outcome:
        locator = self._et
        where = f"header {locator.value!r}" if locator.kind == "header" else f"field {locator.value}"
        names = ", ".join(self._events)
        path = locator.value if locator.kind == "pointer" else ""
        violation = d.Violation(
            d.UNKNOWN_EVENT_TYPE,
            d.WARNING,
            path,
            path,
            f"one of {names}",
            "missing" if key is None else _key_type(key),
            None if key is None else _text(key),
            requirement=self.topic.requirement,
            owner=self.topic.owner,
            detail=f"event type taken from {where}" + (" (absent)" if key is None else ""),
        )
        return Outcome(None if key is None else _text(key), None, (violation,))

    def _unknown_version(self, event: _Event, key: object) -> Outcome:
        known = ", ".join(f"v{c.version.version}" for c in (*reversed(event.older_first_newest), event.newest))
        violation = d.Violation(
            d.UNKNOWN_VERSION,
            d.BREAKING,
            "",
            "",
            f"one of {known}",
            _key_type(key),
            _text(key),
            requirement=event.contract.requirement,
            owner=event.contract.owner,
        )
        return Outcome(event.contract.name, None, (violation,))


def _root_notes(compiled: CompiledVersion) -> Annotations:
    """Annotations on the schema root: what a whole-message violation is attributed to."""
    if isinstance(compiled.walker, AvroSchemaIndex):
        return compiled.walker.root()
    if isinstance(compiled.walker, JsonSchemaIndex):
        return compiled.walker.at_evaluation_path(())
    return Annotations(None, None, False)


# -- turning jsonschema-rs errors into violations ---------------------------------------------


def _json_violations(
    compiled: CompiledVersion, payload: Any, *, use_plan: bool = True, cap: int = DEFAULT_MAX_VIOLATIONS
) -> tuple[d.Violation, ...]:
    """The violations of an invalid payload, via the root plan when the version has one.

    At most ``cap`` are listed; one ``overflow`` violation counts the rest.

    ``use_plan=False`` forces whole-message ``iter_errors``: the reference the plan is tested
    against (tests/spec).
    """
    ctx = compiled.context
    assert ctx is not None
    assert compiled.validator is not None
    found: list[d.Violation] = []
    more = explain(compiled.plan, payload, ctx, found, cap) if use_plan and compiled.plan is not None else None
    if more is None:
        more = collect(compiled.validator.iter_errors(payload), payload, ctx, found, cap)
    more_info, exact = 0, True
    if compiled.strict is not None:
        if len(found) >= cap:
            exact = False  # the open model's extra fields are not even looked for: "at least"
        else:
            more_info, exact = _undocumented_open(compiled.strict.iter_errors(payload), payload, ctx, found, cap)
    if len(found) > cap:  # the root's required fields alone can outnumber a small cap
        more += len(found) - cap
        del found[cap:]
    if len(found) > 1:
        found.sort(key=lambda v: (v.path, v.kind, v.expected))
    if more or more_info or not exact:
        found.append(_overflow(compiled, cap, more + more_info, exact, d.BREAKING if more else d.INFO))
    return tuple(found)


def _first_json_violation(compiled: CompiledVersion, payload: Any, size: int) -> tuple[d.Violation, ...]:
    """A message over ``MAX_EXPLAINED_BYTES``: its first violation, and an ``overflow`` for the rest.

    ``validate`` stops at the first error, so the cost no longer grows with how broken the
    message is. The real schema is asked first; if it passes, the strict variant's first
    finding (an undocumented field of an open content model) is the one reported.
    """
    ctx = compiled.context
    assert ctx is not None
    assert compiled.validator is not None
    found: list[d.Violation] = []
    collect(iter(_first_error(compiled.validator, payload)), payload, ctx, found, 1)
    if not found and compiled.strict is not None:
        _undocumented_open(_first_error(compiled.strict, payload), payload, ctx, found, 1)
    breaking = any(v.severity == d.BREAKING for v in found)
    root = _root_notes(compiled)
    found.append(
        d.Violation(
            d.OVERFLOW,
            d.BREAKING if breaking else d.INFO,
            "",
            "",
            f"failing messages up to {MAX_EXPLAINED_BYTES} bytes explained in full",
            "violations",
            "unknown",
            requirement=root.requirement or compiled.version.requirement or compiled.event.requirement,
            owner=root.owner or compiled.version.owner or compiled.event.owner,
            detail=f"the message is {size} bytes, over the {MAX_EXPLAINED_BYTES}-byte limit for a full "
            "explanation: only its first violation is listed; others were not looked for",
        )
    )
    return tuple(found)


def _first_error(validator: jsonschema_rs.Validator, payload: Any) -> list[jsonschema_rs.ValidationError]:
    """The first error only (``validate`` stops there; ``iter_errors`` builds them all first)."""
    try:
        validator.validate(payload)
    except jsonschema_rs.ValidationError as error:
        return [error]
    return []


def _undocumented_open(
    errors: Iterable[jsonschema_rs.ValidationError], payload: Any, ctx: Context, found: list[d.Violation], cap: int
) -> tuple[int, bool]:
    """Open content models: the strict variant's extra findings are undocumented fields.

    Unless a sibling branch of the real schema documents them. Returns how many were found
    past the cap and whether that count is exact.
    """
    reported = {v.path for v in found if v.kind == d.UNDOCUMENTED_FIELD}
    more = 0
    for error in errors:
        if error.kind.name not in ("unevaluatedProperties", "additionalProperties"):
            continue
        where = tuple(error.instance_path)
        for key in error.kind.as_dict().get("unexpected", ()):
            tokens = (*where, key)
            path = pointer(ctx.walker.mask(tokens))
            if path in reported or ctx.walker.documents(tokens):
                continue
            reported.add(path)  # the root and an allOf branch may both name a field: counted once
            if len(found) >= cap:
                more += 1
                continue
            found.extend(
                undocumented(
                    where,
                    [key],
                    tuple(error.evaluation_path[:-1]),
                    tuple(error.schema_path),
                    payload,
                    ctx,
                    d.INFO,
                )
            )
    return more, True


def _overflow(compiled: CompiledVersion, cap: int, more: int, exact: bool, severity: str) -> d.Violation:
    """The one violation standing for those past the cap."""
    root = _root_notes(compiled)
    count = str(more) if exact else f"at least {more}"
    return d.Violation(
        d.OVERFLOW,
        severity,
        "",
        "",
        f"at most {cap} violations listed per message (max_violations_per_message)",
        "violations",
        count,
        requirement=root.requirement or compiled.version.requirement or compiled.event.requirement,
        owner=root.owner or compiled.version.owner or compiled.event.owner,
        detail=f"{count} more violations in this message were counted but not listed",
    )


def load_engine(spec_dir: str, **options: Any) -> Engine:
    """Load, check and compile a spec dir. Raises ``SpecError`` (exit code 2) on any problem."""
    try:
        return Engine.from_spec_dir(spec_dir, **options)
    except SpecError:
        raise
    except RecursionError as exc:
        raise SpecError(CATALOG_FILE, "", "a schema nests too deeply to load") from exc
