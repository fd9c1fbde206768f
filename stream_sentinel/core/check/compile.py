"""Schema preparation for the hot path: compiled versions, the strict (closed) variant, refused patterns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import jsonschema_rs

from stream_sentinel.core.check import codecs
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.annotate import AvroSchemaIndex, JsonSchemaIndex
from stream_sentinel.core.check.explain import Context, RootPlan
from stream_sentinel.core.check.outcome import Outcome
from stream_sentinel.core.check.proto_annotate import ProtoIndex
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.annotations import VALUE_KEYWORDS, iter_schema_objects
from stream_sentinel.core.contracts.catalog import EventContract, SchemaVersion
from stream_sentinel.core.errors import SpecError

# Every validator uses the linear-time regex engine: no pattern's matching time depends on
# backtracking over producer input. Patterns that need backtracking are refused at load.
LINEAR_REGEX: Final = jsonschema_rs.RegexOptions()


class CompiledVersion:
    """A schema version compiled for the hot path, plus what the slow path needs."""

    __slots__ = (
        "avro",
        "codec",
        "context",
        "event",
        "fast_is_valid",
        "parsed",
        "plan",
        "proto",
        "strict",
        "valid_outcome",
        "validator",
        "version",
        "walker",
    )

    def __init__(self, version: SchemaVersion, event: EventContract) -> None:
        self.version = version
        self.event = event
        self.valid_outcome = Outcome(version.event_type, version)
        self.validator: jsonschema_rs.Validator | None = None
        self.strict: jsonschema_rs.Validator | None = None
        self.parsed: Any = None
        self.codec: codecs.AvroCodec | None = None
        self.avro: AvroSchemaIndex | None = None
        self.walker: JsonSchemaIndex | AvroSchemaIndex | ProtoIndex | None = None
        self.proto: Any = None  # proto.ProtoCodec for protobuf versions
        self.fast_is_valid: Any = None
        self.plan: RootPlan | None = None
        self.context: Context | None = None


def _refuse_retrieval(uri: str) -> Any:
    raise ValueError(f"{uri} is not in the spec dir (references are never fetched)")


_CLOSING_SKIPS = frozenset(
    {
        "if",
        "not",
        "contains",
        "propertyNames",
        "dependentSchemas",
        "dependencies",
        "const",
        "enum",
        "examples",
        "default",
    }
)


def _close_open_objects(node: Any, keyword: str = "unevaluatedProperties") -> bool:
    """Close open object schemas in place; True if any changed.

    ``keyword`` is ``unevaluatedProperties`` (2019-09 and later: sees fields documented by
    sibling ``allOf``/``$ref`` branches) or ``additionalProperties`` for draft-07, which has no
    unevaluated keywords; its extra false alarms are filtered by the documentation check.
    """
    changed = False
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            extra = node.get("additionalProperties", None)
            unevaluated = node.get("unevaluatedProperties", None)
            if extra in (None, True, {}) and unevaluated in (None, True, {}):
                node.pop("additionalProperties", None)
                node.pop("unevaluatedProperties", None)
                node[keyword] = False
                changed = True
        for key, value in node.items():
            if key not in _CLOSING_SKIPS:
                changed = _close_open_objects(value, keyword) or changed
    elif isinstance(node, list):
        for item in node:
            changed = _close_open_objects(item, keyword) or changed
    return changed


def _closing_keyword(document: Any) -> str:
    dialect = document.get("$schema", "") if isinstance(document, dict) else ""
    return "additionalProperties" if isinstance(dialect, str) and "draft-0" in dialect else "unevaluatedProperties"


def refuse_backtracking(file: str, document: Any) -> None:
    """Raise ``SpecError`` for a ``pattern``/``patternProperties`` regex the linear engine cannot run.

    Why refuse rather than bound: a pattern with lookaround or a backreference runs on
    fancy-regex, whose backtracking limit costs ~20-30 ms per field name when hit (measured:
    200 keys 17.8 s) and whose hit means "not evaluated", neither valid nor invalid. The linear
    engine (Rust ``regex``) matches in time linear in the input, never gives up, and covers
    what event contracts use (anchors, classes, repetition, alternation, Unicode classes).
    """
    for where, pattern in _patterns(document, ()):
        try:
            jsonschema_rs.validator_for({"pattern": pattern}, pattern_options=LINEAR_REGEX)
        except (ValueError, jsonschema_rs.ValidationError):
            try:
                jsonschema_rs.validator_for({"pattern": pattern})
            except (ValueError, jsonschema_rs.ValidationError):
                cause = "is not a valid regular expression"
            else:
                cause = (
                    "needs backtracking (lookaround or a backreference), which the sentinel refuses: "
                    "its matching time would depend on producer input; rewrite it without them"
                )
            raise SpecError(file, where, f"pattern {d.cap_text(pattern, 80)!r} {cause}") from None


def _patterns(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(pointer, regex) of every ``pattern`` and ``patternProperties`` key in a schema document."""
    if isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            yield jp.to_pointer((*path, "pattern")), pattern
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict):
            for key in patterns:
                yield jp.to_pointer((*path, "patternProperties", key)), key
        for key, value in node.items():
            if key not in VALUE_KEYWORDS:
                yield from _patterns(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _patterns(item, (*path, str(index)))


def _refs(document: Any) -> list[str]:
    return [node["$ref"] for node in iter_schema_objects(document) if isinstance(node.get("$ref"), str)]


def _uses_id(document: Any) -> bool:
    return any(isinstance(node.get("$id"), str) for node in iter_schema_objects(document))
