"""Violations for an invalid JSON message: exact detail without the whole-message error cost.

``jsonschema_rs.Validator.iter_errors`` on a whole message is 4-12x the cost of ``is_valid``
when an error sits at the root: for every error it converts the offending instance back to
Python and formats a verbose message embedding it, so a missing or undocumented top-level field
copies and prints the entire message (measured: 18-24 µs vs 2-4 µs for ``is_valid`` on a
680-byte order).

So a schema version whose root is a closed object gets a ``RootPlan``: the root's own keywords
(``required``, ``additionalProperties: false``) are checked here in Python, and everything below
the root is reported by one ``iter_errors`` call on a *children* validator compiled from the same
``properties`` (and ``$defs``) without those two keywords. Its errors carry only the small
failing sub-values, and their evaluation paths are the real schema's (same structure), so
annotations resolve exactly as for the full validator. A test holds both paths equal on
generated messages. Roots the plan cannot mirror exactly (open, combinators, ``$ref`` at the
root, ``$dynamicRef``, ``$id``, references to the root itself) get no plan and use the
whole-message path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jsonschema_rs
import orjson

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.annotate import JsonSchemaIndex, json_type, preview
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.annotations import iter_schema_objects

_ANNOTATION_KEYS: Final = frozenset(
    {
        "title",
        "description",
        "$comment",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$defs",
        "definitions",
        "type",
        "properties",
        "required",
        "additionalProperties",
    }
)
_UNSUPPORTED_ANYWHERE: Final = ("$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$id", "$anchor")
_LOCAL_REF_PREFIXES: Final = ("#/$defs/", "#/definitions/", "#/properties/")

_CONSTRAINT_TEXT: Final[Mapping[str, str]] = {
    "minimum": ">= {limit}",
    "maximum": "<= {limit}",
    "exclusiveMinimum": "> {limit}",
    "exclusiveMaximum": "< {limit}",
    "minLength": "at least {limit} characters long",
    "maxLength": "at most {limit} characters long",
    "minItems": "an array of at least {limit} items",
    "maxItems": "an array of at most {limit} items",
    "minProperties": "an object with at least {limit} fields",
    "maxProperties": "an object with at most {limit} fields",
    "multipleOf": "a multiple of {multiple_of}",
    "pattern": "a string matching {pattern}",
    "format": "a string in format {format}",
    "uniqueItems": "an array of unique items",
}
_MAX_ENUM_SHOWN: Final = 12
_MAX_LITERAL: Final = 64  # one enum option as quoted in ``expected``
_REGEX_LIMITS: Final = frozenset({"BacktrackLimitExceeded", "RegexEngineFailure"})
# The children validator is its own resource next to the root document: relative references
# resolve from the same folder, and a reference to the root document (recursion by file name)
# reaches the real root, with its required and closed checks, not the children variant.
CHILDREN_SUFFIX: Final = ".children"
_MAX_RULES: Final = 4096

Tokens = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Context:
    """What violation building needs besides the error: annotations and catalog fallbacks.

    ``rules`` memoises the schema-derived part of each violation (kind, paths, expected,
    owner, requirement, PII) per (keyword, instance path, evaluation path): a drifting
    producer breaks the same rule at the same place in message after message, so only the
    actual value is new each time.
    """

    walker: JsonSchemaIndex
    owner: str | None
    requirement: str | None
    rules: dict[tuple[object, ...], tuple[d.Violation, bool, bool]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class RootPlan:
    """A closed object root: its own keywords, checked in Python, and a children validator."""

    required: tuple[str, ...]
    required_set: frozenset[str]
    properties: frozenset[str]
    children: jsonschema_rs.Validator


def build_plan(
    uri: str,
    document: Any,
    registry: jsonschema_rs.Registry | None,
    assert_formats: bool,
    pattern_options: jsonschema_rs.RegexOptions | None = None,
) -> RootPlan | None:
    """The plan for a schema document, or None when it must use whole-message detail."""
    if not isinstance(document, dict) or document.get("type") != "object":
        return None
    if document.get("additionalProperties") is not False or not isinstance(document.get("properties"), dict):
        return None
    if any(k not in _ANNOTATION_KEYS and not k.startswith("x-") for k in document):
        return None
    if _unsupported(document):
        return None
    children: dict[str, Any] = {"type": "object", "properties": document["properties"]}
    for key in ("$defs", "definitions", "$schema"):
        if key in document:
            children[key] = document[key]
    try:
        validator = jsonschema_rs.validator_for(
            children,
            registry=registry,
            base_uri=uri + CHILDREN_SUFFIX,
            validate_formats=assert_formats,
            pattern_options=pattern_options,
        )
    except (ValueError, jsonschema_rs.ReferencingError):
        return None
    required = tuple(document.get("required", ()))
    return RootPlan(required, frozenset(required), frozenset(document["properties"]), validator)


def _unsupported(document: Any) -> bool:
    """Keywords whose meaning would change in the children validator."""
    for node in iter_schema_objects(document):
        if any(k in node for k in _UNSUPPORTED_ANYWHERE):
            return True
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#") and not ref.startswith(_LOCAL_REF_PREFIXES):
            return True
    return False


def explain(plan: RootPlan, payload: Any, ctx: Context, out: list[d.Violation], cap: int) -> int | None:
    """Append at most ``cap`` violations of an invalid ``payload``; how many more there were.

    None if the plan does not apply (the caller explains the whole message instead).
    """
    if type(payload) is not dict:
        return None
    more = 0
    keys = payload.keys()
    # Containment tests on dict views and frozensets run in C without building sets.
    if not keys >= plan.required_set:
        out.extend(
            missing_required((name,), ("properties", name), ctx, "/required")
            for name in plan.required
            if name not in payload
        )  # as many as the contract requires: bounded by the schema, not the payload
    properties = plan.properties
    if not properties.issuperset(keys):
        names = [name for name in payload if name not in properties]  # payload order, deterministic
        room = max(cap - len(out), 0)
        more += max(len(names) - room, 0)
        out.extend(undocumented((), names[:room], (), ("additionalProperties",), payload, ctx, d.BREAKING))
    children = plan.children
    # If the root's own keywords explain the failure, is_valid (a third of iter_errors' cost)
    # usually proves the rest clean; otherwise the failure is below the root.
    if out and children.is_valid(payload):
        return more
    return more + collect(children.iter_errors(payload), payload, ctx, out, cap)


def collect(
    errors: Iterator[jsonschema_rs.ValidationError], payload: Any, ctx: Context, out: list[d.Violation], cap: int
) -> int:
    """Append the violations of ``errors`` until ``out`` holds ``cap``; how many more there were.

    Past the cap errors are only counted (an error naming several undocumented fields counts
    each), never turned into violations: a message with 100k broken items costs the
    validator's error list, not 100k violations, drift events and samples.
    """
    more = 0
    for error in errors:
        room = cap - len(out)
        if room <= 0:
            more += _count(error)
            continue
        out.extend(from_error(error, payload, ctx, room))
        if error.kind.name in _NAMING_FIELDS:  # the one kind of error that names several fields
            more += max(_count(error) - room, 0)
    return more


_NAMING_FIELDS: Final = frozenset({"additionalProperties", "unevaluatedProperties"})


def _count(error: jsonschema_rs.ValidationError) -> int:
    kind = error.kind
    if kind.name in _NAMING_FIELDS:
        return max(len(kind.as_dict().get("unexpected", ())), 1)
    return 1


# -- building violations (shared with whole-message detail) ------------------------------------


def _literal(value: Any, limit: int = _MAX_LITERAL) -> str:
    return d.cap_text(orjson.dumps(value).decode(), limit)


def pointer(tokens: Tokens) -> str:
    """The capped ``path`` of a payload location (a field name may be megabytes long)."""
    return d.cap_text(jp.to_pointer(tokens), d.MAX_PATH)


def rule_pointer(tokens: Tokens) -> str:
    """The capped ``rule_path``: array indexes as ``*``; fingerprints are computed from it."""
    return d.cap_text(jp.generalize(tokens), d.MAX_PATH)


def _resolved(ctx: Context, evaluation: Tokens) -> tuple[str | None, str | None, bool]:
    notes = ctx.walker.at_evaluation_path(evaluation)
    return notes.owner or ctx.owner, notes.requirement or ctx.requirement, notes.pii


def _build(
    kind: str, tokens: Tokens, evaluation: Tokens, keyword: Tokens, expected: str, value: Any, ctx: Context
) -> tuple[d.Violation, bool, bool]:
    """A violation about a present value, plus (always withheld, sensitive location).

    The value is withheld when the failing rule's schema path or the value's *location* is
    ``x-pii``, or when the location may hold PII (below it, or the contract cannot say) and
    the value is a scalar: a whole object sent as JSON text, or a phone number where an object
    holding PII belongs, would otherwise be echoed; a container only ever shows its size. The
    two flags let memo hits re-decide for the next message's value without walking the schema
    again. Names below a PII node are masked in the paths (``JsonSchemaIndex.mask``).
    """
    owner, requirement, rule_pii = _resolved(ctx, evaluation)
    location_pii, sensitive = ctx.walker.privacy(tokens)
    always = rule_pii or location_pii
    withheld = always or (sensitive and _scalar(value))
    shown = ctx.walker.mask(tokens)
    built = d.Violation(
        kind,
        d.BREAKING,
        pointer(shown),
        rule_pointer(shown),
        d.cap_text(expected, d.MAX_TEXT),
        json_type(value),
        None if withheld else preview(value),
        withheld,
        requirement,
        owner,
        jp.to_pointer(keyword),
    )
    return built, always, sensitive


def _scalar(value: Any) -> bool:
    """A value whose rendering would show content (a container's preview shows only its size)."""
    return value is not None and not isinstance(value, dict | list)


def missing_required(tokens: Tokens, evaluation: Tokens, ctx: Context, keyword: str) -> d.Violation:
    """A required field is absent; annotated by the missing field's own schema if it has one."""
    owner, requirement, _ = _resolved(ctx, evaluation)
    shown = ctx.walker.mask(tokens)
    return d.Violation(
        d.MISSING_REQUIRED,
        d.BREAKING,
        pointer(shown),
        rule_pointer(shown),
        "present (required)",
        "missing",
        None,
        False,
        requirement,
        owner,
        keyword,
    )


def undocumented(
    tokens: Tokens,
    names: list[str] | tuple[str, ...],
    evaluation: Tokens,
    keyword: Tokens,
    payload: Any,
    ctx: Context,
    severity: str,
) -> list[d.Violation]:
    """Fields the contract does not describe; their values are never echoed (they may be PII)."""
    owner, requirement, _ = _resolved(ctx, evaluation)
    expected = (
        d.UNDOCUMENTED_CLOSED
        if severity == d.BREAKING
        else "only documented fields (the contract allows, but does not describe, this one)"
    )
    out = []
    for name in names:
        field_tokens = (*tokens, name)
        try:
            value = jp.resolve(payload, [str(t) for t in field_tokens])
        except KeyError:
            value = None
        shown = ctx.walker.mask(field_tokens)
        out.append(
            d.Violation(
                d.UNDOCUMENTED_FIELD,
                severity,
                pointer(shown),
                rule_pointer(shown),
                expected,
                json_type(value),
                None,
                True,
                requirement,
                owner,
                jp.to_pointer(keyword),
            )
        )
    return out


def from_error(
    error: jsonschema_rs.ValidationError, payload: Any, ctx: Context, room: int | None = None
) -> list[d.Violation]:
    """Violations for one jsonschema-rs error (whole-message or children validator).

    ``room``: an undocumented-field error builds violations for at most that many of its
    fields (the caller counts the rest).
    """
    kind = error.kind
    name = kind.name
    tokens: Tokens = tuple(error.instance_path)
    evaluation: Tokens = tuple(error.evaluation_path)
    memo_key = (name, tokens, evaluation)
    memo = ctx.rules.get(memo_key)
    if memo is not None:
        return [_from_memo(memo, error.instance)]
    details = kind.as_dict()
    keyword = tuple(error.schema_path)
    if name in ("additionalProperties", "unevaluatedProperties"):
        unexpected = list(details.get("unexpected", ()))
        listed = unexpected if room is None else unexpected[:room]
        return undocumented(tokens, listed, evaluation[:-1], keyword, payload, ctx, d.BREAKING)
    if name == "required":
        prop = details["property"]
        return [missing_required((*tokens, prop), (*evaluation[:-1], "properties", prop), ctx, jp.to_pointer(keyword))]
    expectation = _expected(name, kind, details)
    if expectation is None:
        # The regex engine gave up: the value is neither valid nor invalid under the pattern.
        # Not reached with the sentinel's own validators (linear-time engine, see validate.py);
        # kept so such an error can never read as an ordinary mismatch.
        reason = str(details.get("error", "")) or type(kind).__name__
        expected = "a value its pattern can be evaluated on within the regex engine's limits"
        built, always, sensitive = _build(d.CONSTRAINT, tokens, evaluation, keyword, expected, error.instance, ctx)
        return [built._replace(detail=d.cap_text(f"pattern not evaluated: {reason}", d.MAX_TEXT))]
    violation_kind, expected = expectation
    built, always, sensitive = _build(violation_kind, tokens, evaluation, keyword, expected, error.instance, ctx)
    if len(ctx.rules) < _MAX_RULES:
        ctx.rules[memo_key] = (built, always, sensitive)  # the value-dependent part is re-decided per hit
    return [built]


def _from_memo(memo: tuple[d.Violation, bool, bool], value: Any) -> d.Violation:
    """A remembered rule's violation with this value's part decided again (type, redaction, preview)."""
    rule, always, sensitive = memo
    kind_, severity, path, rule_path, expected, _, _, _, requirement, owner, keyword_, detail, _, _ = rule
    redacted = always or (sensitive and _scalar(value))
    return d.Violation(
        kind_,
        severity,
        path,
        rule_path,
        expected,
        json_type(value),
        None if redacted else preview(value),
        redacted,
        requirement,
        owner,
        keyword_,
        detail,
    )


def _expected(name: str, kind: jsonschema_rs.ValidationErrorKind, details: dict[str, Any]) -> tuple[str, str] | None:
    """The violation kind and the "expected" text of an error; ``None`` where the regex engine gave up."""
    if name == "type":
        return d.TYPE_MISMATCH, " or ".join(details.get("types", ()))
    if name in ("oneOf", "anyOf", "not"):
        count = len(details.get("context", ()) or ())
        if name == "not":
            return d.COMPOSITION, "not matching the schema the contract excludes"
        if name == "anyOf":
            return d.COMPOSITION, (
                f"a match for at least one of {count} alternatives" if count else "a match for an alternative"
            )
        if type(kind).__name__ == "OneOfMultipleValid":
            return d.COMPOSITION, "a match for exactly one alternative (several match)"
        return d.COMPOSITION, f"a match for exactly one of {count} alternatives"
    if name == "enum":
        options = details.get("options", [])
        shown = ", ".join(_literal(o) for o in options[:_MAX_ENUM_SHOWN])
        more = f", … ({len(options)} in all)" if len(options) > _MAX_ENUM_SHOWN else ""
        return d.CONSTRAINT, f"one of {shown}{more}"
    if name == "const":
        return d.CONSTRAINT, "exactly " + _literal(details.get("expected_value"), d.MAX_TEXT)
    if type(kind).__name__ in _REGEX_LIMITS:
        return None
    if name == "falseSchema":
        return d.CONSTRAINT, "absent (the contract forbids a value here)"
    template = _CONSTRAINT_TEXT.get(name)
    try:
        return d.CONSTRAINT, template.format(**details) if template else f"valid under {name}"
    except (KeyError, IndexError):
        return d.CONSTRAINT, f"valid under {name}"
