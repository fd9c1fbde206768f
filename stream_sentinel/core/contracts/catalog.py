"""Load and check the contract catalog in ``spec/events/`` into an immutable ``Catalog``.

Everything that can be wrong with a spec is found here, once, before anything starts: YAML and
JSON syntax, the catalog's own shape, every JSON Schema against its meta-schema, every ``$ref``
(resolved offline, never fetched), every Avro schema and its named-type references, Confluent
schema ids. The first problem raises ``SpecError(file, pointer, cause)``; there is no partially
loaded catalog.

Schema documents are addressed by their path: a file ``orders/a.schema.json`` has the base URI
``file:///spec/orders/a.schema.json`` unless it declares ``$id``, so relative cross-file ``$ref``
works the way it reads on disk and the URI does not depend on where the spec dir lives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import urljoin

import fastavro
import jsonschema
import referencing
import referencing.exceptions
import yaml
from jsonschema.exceptions import best_match
from referencing.jsonschema import DRAFT202012

from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts import yamlsafe
from stream_sentinel.core.contracts.annotations import (
    _NAMED_SUBSCHEMAS,
    VALUE_KEYWORDS,
    _check_json_annotations,
)
from stream_sentinel.core.contracts.avro import _check_avro_document
from stream_sentinel.core.contracts.keyhead import HEADERS_SCHEMA, KEY_SCHEMA, KeyHeadContract, parse_keyhead
from stream_sentinel.core.contracts.quarantine import QUARANTINE_SCHEMA, Quarantine, check_targets, parse_quarantine
from stream_sentinel.core.contracts.registry import REGISTRY_SCHEMA, RegistrySpec, parse_registry
from stream_sentinel.core.contracts.rules import RULE_SCHEMA, RuleSpec, parse_rules
from stream_sentinel.core.contracts.topic_settings import SEVERITY_SCHEMA, severity_overrides
from stream_sentinel.core.errors import SpecError

CATALOG_FILE = "catalog.yaml"
SPEC_BASE_URI = "file:///spec/"
MAX_SPEC_FILE_BYTES = 1 << 20  # catalog.yaml and every schema file: a contract, not a data dump
MAX_VERSION = 2**31 - 1  # schema version numbers: the range of a Confluent/Java int
_MAX_CAUSE = 300  # a validation message quotes the offending value: keep the line short

Format = Literal["json", "avro", "confluent-avro", "confluent-json"]
SchemaKind = Literal["json", "avro"]
LocatorKind = Literal["header", "pointer", "fixed", "schema_id"]
COMPATIBILITY_MODES = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)

_TOPIC_KEYS: dict[str, Any] = {
    "description": {"type": "string"},
    "owner": {"type": "string", "minLength": 1},
    # Requirement of the topic's messages unless an event type, version or schema node names a
    # nearer one (also of topic-level drift: undecodable, unknown event type, tombstone).
    "requirement": {"type": "string", "minLength": 1},
    "format": {"enum": ["json", "avro", "confluent-avro", "confluent-json"]},
    "sample_rate": {"type": "number", "minimum": 0, "maximum": 1},
    "tombstones": {"enum": ["ignore", "drift"]},
    "compatibility": {"enum": list(COMPATIBILITY_MODES)},
    # Per drift kind: info | warning | breaking | off (core/contracts/topic_settings.py).
    "severity": SEVERITY_SCHEMA,
}

# The catalog's own contract. Checked with python-jsonschema so a mistake is reported at its
# exact pointer with jsonschema's best-match explanation.
CATALOG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["catalog", "topics"],
    "additionalProperties": False,
    "properties": {
        "catalog": {"const": 1},
        "description": {"type": "string"},
        "default_dialect": {"enum": ["draft-04", "draft-06", "draft-07", "2019-09", "2020-12"]},
        "defaults": {"type": "object", "additionalProperties": False, "properties": _TOPIC_KEYS},
        # Behavioural rules over the topics' messages (core/contracts/rules.py, core/rules/).
        "rules": {"type": "array", "maxItems": 1000, "items": RULE_SCHEMA},
        # A Confluent-compatible Schema Registry resolving unmapped ids (core/contracts/registry.py).
        "registry": REGISTRY_SCHEMA,
        "topics": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"minLength": 1, "maxLength": 249, "pattern": "^[A-Za-z0-9._-]+$"},
            "additionalProperties": {"$ref": "#/$defs/topic"},
        },
    },
    "$defs": {
        "topic": {
            "type": "object",
            "required": ["event_type", "events"],
            "additionalProperties": False,
            "properties": {
                **_TOPIC_KEYS,
                "quarantine": QUARANTINE_SCHEMA,  # per topic, not in defaults (core/contracts/quarantine.py)
                "key": KEY_SCHEMA,  # key/header contracts (core/contracts/keyhead.py)
                "headers": HEADERS_SCHEMA,
                "event_type": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": False,
                    "properties": {
                        "header": {"type": "string", "minLength": 1},
                        "pointer": {"type": "string", "pattern": "^(/.*)?$"},
                        "fixed": {"type": "string", "minLength": 1},
                        "schema_id": {"const": True},
                    },
                },
                "version": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": False,
                    "properties": {
                        "header": {"type": "string", "minLength": 1},
                        "pointer": {"type": "string", "pattern": "^(/.*)?$"},
                    },
                },
                "events": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"minLength": 1},
                    "additionalProperties": {"$ref": "#/$defs/event"},
                },
            },
        },
        "event": {
            "type": "object",
            "required": ["versions"],
            "additionalProperties": False,
            "properties": {
                "description": {"type": "string"},
                "owner": {"type": "string", "minLength": 1},
                "requirement": {"type": "string", "minLength": 1},
                "compatibility": {"enum": list(COMPATIBILITY_MODES)},
                "key": KEY_SCHEMA,
                "headers": HEADERS_SCHEMA,
                "versions": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/version"}},
            },
        },
        "version": {
            "type": "object",
            "required": ["version", "schema"],
            "additionalProperties": False,
            "properties": {
                "version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                "schema": {"type": "string", "minLength": 1},
                "schema_id": {"type": "integer", "minimum": 0, "maximum": 2147483647},
                "references": {"type": "array", "items": {"type": "string"}},
                "owner": {"type": "string", "minLength": 1},
                "requirement": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
            },
        },
    },
}


DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_DIALECTS: dict[str, type[jsonschema.protocols.Validator]] = {
    DRAFT_2020_12: jsonschema.Draft202012Validator,
    "https://json-schema.org/draft/2019-09/schema": jsonschema.Draft201909Validator,
    "https://json-schema.org/draft-07/schema": jsonschema.Draft7Validator,
    "https://json-schema.org/draft-06/schema": jsonschema.Draft6Validator,
    "https://json-schema.org/draft-04/schema": jsonschema.Draft4Validator,
}
#: ``default_dialect`` names -> the ``$schema`` a schema without one is read as. The spelling is
#: each meta-schema's own ``$id`` (draft-04..07 are ``http://...#``), so validators and the
#: ``referencing`` library recognise it.
DIALECT_URIS: dict[str, str] = {
    "draft-04": "http://json-schema.org/draft-04/schema#",
    "draft-06": "http://json-schema.org/draft-06/schema#",
    "draft-07": "http://json-schema.org/draft-07/schema#",
    "2019-09": "https://json-schema.org/draft/2019-09/schema",
    "2020-12": DRAFT_2020_12,
}
#: The dialect of a JSON Schema without ``$schema`` when the catalog does not set
#: ``default_dialect``: draft-07, as Confluent's Schema Registry reads such a schema, so a schema
#: copied from (or registered in) the registry means here what it means to its serializers.
DEFAULT_DIALECT = "draft-07"
# Keywords a dialect does not know but another one does: in a schema without ``$schema`` read as
# that dialect they would be silently ignored, so the loader refuses them and names the fix.
_AFTER_DRAFT_07: Final = frozenset(
    {
        "prefixItems",
        "unevaluatedProperties",
        "unevaluatedItems",
        "dependentSchemas",
        "dependentRequired",
        "minContains",
        "maxContains",
    }
)
_FOREIGN_KEYWORDS: dict[str, frozenset[str]] = {
    "draft-04": _AFTER_DRAFT_07 | {"const", "contains", "propertyNames", "if", "then", "else"},
    "draft-06": _AFTER_DRAFT_07 | {"if", "then", "else"},
    "draft-07": _AFTER_DRAFT_07,
    "2019-09": frozenset({"prefixItems", "dependencies"}),
    "2020-12": frozenset({"additionalItems", "dependencies"}),
}


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a topic's messages carry their event type or version.

    ``tokens`` is the parsed JSON pointer for ``pointer`` locators, empty otherwise.
    """

    kind: LocatorKind
    value: str
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One versioned schema of one event type, with the metadata drift events cite."""

    topic: str
    event_type: str
    version: int
    ref: str
    kind: SchemaKind
    document: Any = field(repr=False, compare=False, hash=False)
    uri: str
    schema_id: int | None
    owner: str | None
    requirement: str | None
    references: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventContract:
    """An event type on a topic and all its schema versions, oldest first."""

    topic: str
    name: str
    owner: str | None
    requirement: str | None
    compatibility: str
    description: str
    versions: tuple[SchemaVersion, ...]
    keyhead: KeyHeadContract | None = None  # this event type's own key/header contract (merged by the checker)

    @property
    def newest(self) -> SchemaVersion:
        """The version an undeclared message is validated against."""
        return self.versions[-1]


@dataclass(frozen=True, slots=True)
class TopicContract:
    """A topic's wire format, how it names event types and versions, and its event types."""

    name: str
    description: str
    owner: str | None
    format: Format
    event_type: Locator
    version: Locator | None
    sample_rate: float
    tombstones: Literal["ignore", "drift"]
    compatibility: str
    events: Mapping[str, EventContract]
    requirement: str | None = None  # nearest-wins like owner: event type, version, schema override it
    #: Drift kind -> info | warning | breaking | off on this topic (``severity:``; core.assess applies it).
    severity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    quarantine: Quarantine | None = None  # the worker copies drifting records there (worker/quarantine.py)
    keyhead: KeyHeadContract | None = None  # key/header contract of the whole topic (core/contracts/keyhead.py)


@dataclass(frozen=True, slots=True)
class Catalog:
    """The whole loaded spec: topics plus every schema document, addressed by URI or path."""

    root: Path
    topics: Mapping[str, TopicContract]
    json_documents: Mapping[str, Any]
    avro_documents: Mapping[str, Any]
    schema_ids: Mapping[int, SchemaVersion]
    rules: tuple[RuleSpec, ...] = ()
    registry: RegistrySpec | None = None

    def versions(self) -> Iterator[SchemaVersion]:
        """Every schema version of every event type of every topic."""
        for topic in self.topics.values():
            for event in topic.events.values():
                yield from event.versions


def uri_for(ref: str) -> str:
    """Base URI of a spec-relative file path."""
    return SPEC_BASE_URI + ref


def load_catalog(root: str | Path, default_dialect: str | None = None) -> Catalog:
    """Load, check and freeze the catalog under ``root``; raise ``SpecError`` on any problem.

    A JSON Schema without ``$schema`` is read as ``default_dialect`` if given (``diff
    --dialect``), else as the catalog's ``default_dialect``, else as ``DEFAULT_DIALECT``; the
    loaded document carries that ``$schema``, so every reader of it (meta-schema check,
    ``$ref`` registry, validators, redaction, diff) reads the same dialect.
    """
    root = Path(root)
    catalog_path = root / CATALOG_FILE
    if not root.is_dir():
        raise SpecError(str(root), "", "spec directory does not exist")
    if not catalog_path.is_file():
        raise SpecError(CATALOG_FILE, "", f"no {CATALOG_FILE} in {root}")
    raw = _read_yaml(catalog_path)
    _check_plain_data(raw, CATALOG_FILE)
    _check_against(raw, CATALOG_SCHEMA, CATALOG_FILE)

    json_docs, avro_docs = _read_schema_files(root)
    dialect = default_dialect or raw.get("default_dialect", DEFAULT_DIALECT)
    json_docs = {ref: _with_dialect(ref, doc, dialect) for ref, doc in json_docs.items()}
    # Each schema against its meta-schema first: the $ref registry's crawl assumes well-formed
    # schemas (array-form items holding a number crashed it).
    for ref, doc in json_docs.items():
        _check_meta_schema(ref, doc)
    registry = _build_registry(json_docs)
    for ref, doc in json_docs.items():
        _check_json_refs(ref, doc, registry)
        _check_json_annotations(ref, doc)
    for ref, doc in avro_docs.items():
        _check_avro_document(ref, doc)

    defaults: dict[str, Any] = raw.get("defaults", {})
    topics: dict[str, TopicContract] = {}
    schema_ids: dict[int, SchemaVersion] = {}
    for topic_name, spec in raw["topics"].items():
        topic = _build_topic(topic_name, {**defaults, **spec}, json_docs, avro_docs, root)
        topic = replace(topic, severity=severity_overrides(topic_name, defaults, spec))
        for event in topic.events.values():
            for index, version in enumerate(event.versions):
                if version.schema_id is None:
                    continue
                if version.schema_id in schema_ids:
                    other = schema_ids[version.schema_id]
                    raise SpecError(
                        CATALOG_FILE,
                        _topic_pointer(topic_name, "events", event.name, "versions", str(index), "schema_id"),
                        f"schema_id {version.schema_id} is already used by "
                        f"{other.topic}/{other.event_type} v{other.version}",
                    )
                schema_ids[version.schema_id] = version
        topics[topic_name] = topic
    check_targets({name: topic.quarantine for name, topic in topics.items()}, topics)

    return Catalog(
        root=root,
        topics=MappingProxyType(topics),
        json_documents=MappingProxyType({uri_for(r): d for r, d in json_docs.items()}),
        avro_documents=MappingProxyType(avro_docs),
        schema_ids=MappingProxyType(schema_ids),
        rules=parse_rules(raw.get("rules", []), topics),
        registry=parse_registry(raw.get("registry"), topics),
    )


def _read_text(path: Path, name: str) -> str:
    """A spec file's text, refused past ``MAX_SPEC_FILE_BYTES`` before anything parses it."""
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_FILE_BYTES:
            raise SpecError(name, "", f"{size} bytes is over the {MAX_SPEC_FILE_BYTES}-byte limit for spec files")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(name, "", f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise SpecError(name, "", f"cannot read: {exc.strerror or exc}") from exc


def _read_yaml(path: Path) -> Any:
    text = _read_text(path, path.name)
    try:
        return yamlsafe.load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        if isinstance(exc, yamlsafe.AliasRefused):
            raise SpecError(path.name, "", f"{exc.problem}{where}") from None
        raise SpecError(path.name, "", f"not valid YAML{where}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(path.name, "", f"cannot read: {exc}") from exc
    except RecursionError:
        raise SpecError(path.name, "", "nested too deeply to read") from None


def _check_plain_data(document: Any, file: str) -> None:
    """Refuse what YAML can say and JSON cannot: non-string keys, NaN and infinities.

    ``1:``, ``null:`` or ``yes:`` as a topic or event name would reach every drift event as
    an int, None or True; ``.nan`` passes any ``minimum``/``maximum`` (comparisons with NaN
    are false), so the catalog schema alone cannot refuse it.
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise SpecError(
                        file,
                        jp.to_pointer(path),
                        f"key {key!r} is {type(key).__name__}, not a string (quote it)",
                    )
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise SpecError(file, jp.to_pointer(path), f"{node} is not a finite number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _read_schema_files(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    json_docs: dict[str, Any] = {}
    avro_docs: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".json", ".avsc") or not path.is_file():
            continue
        ref = path.relative_to(root).as_posix()
        text = _read_text(path, ref)
        try:
            doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise SpecError(ref, "", f"not valid JSON ({where}): {exc.msg}") from exc
        except ValueError as exc:
            raise SpecError(ref, "", f"not valid JSON: {exc}") from exc
        except RecursionError:
            raise SpecError(ref, "", "nested too deeply to read") from None
        (avro_docs if path.suffix == ".avsc" else json_docs)[ref] = doc
    return json_docs, avro_docs


def _check_against(instance: Any, schema: dict[str, Any], file: str) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    try:
        error = best_match(validator.iter_errors(instance))
    except RecursionError:
        raise SpecError(file, "", "nested too deeply to check") from None
    if error is not None:
        message = error.message
        if len(message) > _MAX_CAUSE:
            message = message[: _MAX_CAUSE - 3] + "..."
        raise SpecError(file, jp.to_pointer(error.absolute_path), message)


def _with_dialect(ref: str, doc: Any, dialect: str) -> Any:
    """``doc`` with ``$schema`` set to ``dialect`` if it has none.

    Refused if it then uses keywords ``dialect`` does not know (they would be ignored without a word).
    """
    if not isinstance(doc, dict) or "$schema" in doc:
        return doc
    found = _foreign_keyword(doc, dialect, ())
    if found is not None:
        keyword, path = found
        raise SpecError(
            ref,
            jp.to_pointer(path),
            f"{keyword} is not a {dialect} keyword, and a schema without $schema is read as {dialect} "
            '(the catalog\'s default_dialect, or diff --dialect): add "$schema" to say which dialect it is',
        )
    return {"$schema": DIALECT_URIS[dialect], **doc}


def _foreign_keyword(node: Any, dialect: str, path: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """The first keyword (and where) in a schema that ``dialect`` does not know."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(node, path)]
    foreign = _FOREIGN_KEYWORDS[dialect]
    while stack:
        current, at = stack.pop()
        if isinstance(current, list):
            stack.extend((item, (*at, str(i))) for i, item in enumerate(current))
            continue
        if not isinstance(current, dict):
            continue
        for key, value in current.items():
            if key in foreign or (key == "items" and isinstance(value, list) and dialect == "2020-12"):
                shown = "items (array form)" if key == "items" else key
                return shown, (*at, key)
            if key in VALUE_KEYWORDS:
                continue
            if key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
                stack.extend((sub, (*at, key, name)) for name, sub in value.items())
            elif key in ("dependencies",) and isinstance(value, dict):
                stack.extend((sub, (*at, key, name)) for name, sub in value.items() if isinstance(sub, dict))
            elif isinstance(value, dict | list) and key not in ("required", "type"):
                stack.append((value, (*at, key)))
    return None


def _build_registry(json_docs: Mapping[str, Any]) -> referencing.Registry[Any]:
    resources = []
    for ref, doc in json_docs.items():
        if not isinstance(doc, dict | bool):
            raise SpecError(ref, "", "a JSON Schema must be an object or a boolean")
        resources.append(
            (
                uri_for(ref),
                referencing.Resource.from_contents(doc, default_specification=DRAFT202012),
            )
        )
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(resources)
    try:
        return registry.crawl()
    except referencing.exceptions.CannotDetermineSpecification as exc:
        raise SpecError("?", "", f"cannot determine the JSON Schema dialect: {exc}") from exc


def _check_meta_schema(ref: str, doc: Any) -> None:
    if not isinstance(doc, dict | bool):
        raise SpecError(ref, "", "a JSON Schema must be an object or a boolean")
    dialect = doc.get("$schema", DRAFT_2020_12) if isinstance(doc, dict) else DRAFT_2020_12
    cls = _DIALECTS.get(dialect.rstrip("#").replace("http://", "https://") if isinstance(dialect, str) else "")
    if cls is None:
        supported = ", ".join(sorted(_DIALECTS))
        raise SpecError(ref, "/$schema", f"unsupported dialect {dialect!r} (supported: {supported})")
    try:
        error = best_match(cls(cls.META_SCHEMA).iter_errors(doc))
    except RecursionError:
        # The meta-schema check recurses per level (about ten frames each); past the
        # interpreter's limit the schema cannot be checked, nor validated by the worker.
        raise SpecError(ref, "", "schema nested too deeply to check") from None
    if error is not None:
        raise SpecError(ref, jp.to_pointer(error.absolute_path), error.message)


def _check_json_refs(ref: str, doc: Any, registry: referencing.Registry[Any]) -> None:
    for pointer, base, reference in _iter_refs(doc, uri_for(ref), ()):
        try:
            registry.resolver(base_uri=base).lookup(reference)
        except referencing.exceptions.Unresolvable as exc:
            raise SpecError(
                ref, pointer, f"$ref {reference!r} does not resolve (refs are never fetched): {exc}"
            ) from exc


def _iter_refs(node: Any, base: str, path: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    """Yield (pointer, base URI, reference) for every ``$ref``/``$dynamicRef`` in a schema."""
    if isinstance(node, dict):
        ident = node.get("$id")
        if isinstance(ident, str):
            base = urljoin(base, ident)
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield jp.to_pointer((*path, key)), base, value
            elif key not in VALUE_KEYWORDS:
                yield from _iter_refs(value, base, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _iter_refs(item, base, (*path, str(index)))


def _locator(spec: Mapping[str, Any]) -> Locator:
    ((kind, value),) = spec.items()
    if kind == "pointer":
        return Locator("pointer", value, jp.parse(value))
    if kind == "schema_id":
        return Locator("schema_id", "schema_id")
    return Locator("fixed" if kind == "fixed" else "header", value)


def _topic_pointer(topic: str, *rest: str) -> str:
    return jp.to_pointer(("topics", topic, *rest))


def _schema_not_found(ref: str, fmt: str, avro: bool, other_kind: Mapping[str, Any], root: Path) -> str:
    """Why a catalog's schema path names no schema of the topic's kind: outside, wrong kind, missing."""
    expected = ".avsc (Avro)" if avro else ".json (JSON Schema)"
    parts = PurePosixPath(ref).parts
    if PurePosixPath(ref).is_absolute() or Path(ref).is_absolute() or _climbs_out(parts):
        how = "an absolute path" if PurePosixPath(ref).is_absolute() or Path(ref).is_absolute() else "'..' leads out"
        return (
            f"schema path {ref!r} is outside the spec dir ({how}): schema paths are relative to the "
            "spec dir and stay inside it; copy the file into it"
        )
    if ref in other_kind:
        found = "a JSON Schema (.json)" if avro else "an Avro (.avsc)"
        return f"schema file {ref!r} is {found} file, but topic format {fmt} needs {expected} schema files"
    if (root / ref).is_file():
        suffix = PurePosixPath(ref).suffix or "no extension"
        if suffix == (".avsc" if avro else ".json"):  # inside, but written with '.' or '..' parts
            plain = (root / ref).resolve().relative_to(root.resolve()).as_posix()
            return f"schema path {ref!r} is not written plainly: write it as {plain!r}"
        return f"schema file {ref!r} exists but has {suffix}: topic format {fmt} reads {expected} schema files"
    return f"no {expected} schema file {ref!r} in the spec dir"


def _climbs_out(parts: tuple[str, ...]) -> bool:
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def _build_topic(
    name: str,
    spec: Mapping[str, Any],
    json_docs: Mapping[str, Any],
    avro_docs: Mapping[str, Any],
    root: Path,
) -> TopicContract:
    fmt: Format = spec.get("format", "json")
    event_locator = _locator(spec["event_type"])
    version_locator = _locator(spec["version"]) if "version" in spec else None
    _check_locators(name, spec, fmt, event_locator, version_locator)
    compatibility = spec.get("compatibility", "BACKWARD")
    events: dict[str, EventContract] = {}
    for event_name, event_spec in spec["events"].items():
        versions = _build_versions(name, fmt, event_name, event_spec, json_docs, avro_docs, root)
        events[event_name] = EventContract(
            topic=name,
            name=event_name,
            owner=event_spec.get("owner", spec.get("owner")),
            requirement=event_spec.get("requirement", spec.get("requirement")),
            compatibility=event_spec.get("compatibility", compatibility),
            description=event_spec.get("description", ""),
            versions=versions,
            keyhead=parse_keyhead(event_spec, ("topics", name, "events", event_name)),
        )
    if fmt in ("avro", "confluent-avro"):
        _parse_avro_events(name, events, avro_docs)
    return TopicContract(
        name=name,
        description=spec.get("description", ""),
        owner=spec.get("owner"),
        format=fmt,
        event_type=event_locator,
        version=version_locator,
        sample_rate=float(spec.get("sample_rate", 1.0)),
        tombstones=spec.get("tombstones", "ignore"),
        compatibility=compatibility,
        events=MappingProxyType(events),
        requirement=spec.get("requirement"),
        quarantine=parse_quarantine(name, spec.get("quarantine")),
        keyhead=parse_keyhead(spec, ("topics", name)),
    )


def _check_locators(
    name: str, spec: Mapping[str, Any], fmt: Format, event_locator: Locator, version_locator: Locator | None
) -> None:
    """The event type and version can be located in this topic's messages, given its format."""
    avro = fmt in ("avro", "confluent-avro")
    confluent = fmt.startswith("confluent-")
    where = _topic_pointer(name, "event_type")
    if event_locator.kind == "schema_id" and not confluent:
        raise SpecError(
            CATALOG_FILE,
            where,
            f"schema_id locates event types only on confluent-* formats, not {fmt}",
        )
    for loc, key in ((event_locator, "event_type"), (version_locator, "version")):
        if loc is not None and loc.kind == "pointer" and avro:
            raise SpecError(
                CATALOG_FILE,
                _topic_pointer(name, key, "pointer"),
                f"a payload pointer cannot locate the {key} of {fmt} messages "
                "(the schema is needed to decode them); use a header",
            )
    if event_locator.kind == "fixed" and event_locator.value not in spec["events"]:
        raise SpecError(
            CATALOG_FILE,
            _topic_pointer(name, "event_type", "fixed"),
            f"fixed event type {event_locator.value!r} is not one of this topic's events",
        )


def _build_versions(
    name: str,
    fmt: Format,
    event_name: str,
    event_spec: Mapping[str, Any],
    json_docs: Mapping[str, Any],
    avro_docs: Mapping[str, Any],
    root: Path,
) -> tuple[SchemaVersion, ...]:
    """An event type's schema versions, strictly ascending, each with its schema file found."""
    versions: list[SchemaVersion] = []
    for index, vspec in enumerate(event_spec["versions"]):
        vpointer = _topic_pointer(name, "events", event_name, "versions", str(index))
        number = int(vspec["version"])  # JSON Schema's "integer" also admits 2.0
        if versions and number <= versions[-1].version:
            raise SpecError(CATALOG_FILE, vpointer + "/version", "versions must be strictly ascending")
        versions.append(_build_version(name, fmt, event_name, vpointer, number, vspec, json_docs, avro_docs, root))
    return tuple(versions)


def _build_version(
    name: str,
    fmt: Format,
    event_name: str,
    vpointer: str,
    number: int,
    vspec: Mapping[str, Any],
    json_docs: Mapping[str, Any],
    avro_docs: Mapping[str, Any],
    root: Path,
) -> SchemaVersion:
    """One schema version: its schema file, schema id and references checked against the format."""
    avro = fmt in ("avro", "confluent-avro")
    confluent = fmt.startswith("confluent-")
    ref = vspec["schema"]
    docs = avro_docs if avro else json_docs
    if ref not in docs:
        other = json_docs if avro else avro_docs
        raise SpecError(CATALOG_FILE, vpointer + "/schema", _schema_not_found(ref, fmt, avro, other, root))
    if confluent and "schema_id" not in vspec:
        raise SpecError(CATALOG_FILE, vpointer, f"{fmt} topics need a schema_id for every version")
    references = tuple(vspec.get("references", ()))
    if references and not avro:
        raise SpecError(
            CATALOG_FILE,
            vpointer + "/references",
            "references name Avro files; JSON Schema uses $ref",
        )
    for rindex, reference in enumerate(references):
        if reference not in avro_docs:
            raise SpecError(
                CATALOG_FILE,
                f"{vpointer}/references/{rindex}",
                f"no Avro file {reference!r}",
            )
    return SchemaVersion(
        topic=name,
        event_type=event_name,
        version=number,
        ref=ref,
        kind="avro" if avro else "json",
        document=docs[ref],
        uri=uri_for(ref),
        schema_id=None if vspec.get("schema_id") is None else int(vspec["schema_id"]),
        owner=vspec.get("owner"),
        requirement=vspec.get("requirement"),
        references=references,
    )


def _parse_avro_events(name: str, events: Mapping[str, EventContract], avro_docs: Mapping[str, Any]) -> None:
    """Every Avro version parses with its references (``SpecError`` at its catalog entry)."""
    for event in events.values():
        for index, version in enumerate(event.versions):
            parse_avro(
                version,
                avro_docs,
                _topic_pointer(name, "events", event.name, "versions", str(index)),
            )


def parse_avro(version: SchemaVersion, avro_docs: Mapping[str, Any], catalog_pointer: str = "") -> Any:
    """Parse an Avro schema with its named-type references; ``SpecError`` names the bad file.

    References are parsed first, in the listed order, into one named-types table, as the
    Confluent registry does with schema references.
    """
    named: dict[str, Any] = {}
    for reference in version.references:
        _parse_one(reference, avro_docs[reference], named)
    try:
        return _parse_one(version.ref, version.document, named)
    except SpecError as exc:
        if catalog_pointer and "unknown type" in exc.cause and not version.references:
            raise SpecError(
                exc.file,
                exc.pointer,
                exc.cause + " (list the file that defines it under references)",
            ) from exc
        raise


def avro_named_types(version: SchemaVersion, avro_docs: Mapping[str, Any]) -> dict[str, Any]:
    """Every named type a version's schema can use, by full name (its references' and its own)."""
    named: dict[str, Any] = {}
    for reference in version.references:
        _parse_one(reference, avro_docs[reference], named)
    _parse_one(version.ref, version.document, named)
    return named


def _parse_one(ref: str, doc: Any, named: dict[str, Any]) -> Any:
    try:
        return fastavro.parse_schema(doc, named_schemas=named)
    except fastavro.schema.UnknownType as exc:
        raise SpecError(ref, _find_string(doc, exc.name) or "", f"unknown type {exc.name!r}") from exc
    except (
        fastavro.schema.SchemaParseException,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
    ) as exc:
        raise SpecError(ref, "", f"not a valid Avro schema: {exc}") from exc


def _find_string(node: Any, target: str, path: tuple[str, ...] = ()) -> str | None:
    """Pointer to the first place ``target`` appears as a string value (for error messages)."""
    if isinstance(node, str) and node in (target, target.rsplit(".", 1)[-1]):
        return jp.to_pointer(path)
    items: Iterator[tuple[str, Any]]
    if isinstance(node, dict):
        items = iter(node.items())
    elif isinstance(node, list):
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        return None
    for key, value in items:
        found = _find_string(value, target, (*path, key))
        if found is not None:
            return found
    return None
