"""The catalog's ``rules:`` section: behavioural rules, read and checked into frozen specs.

A schema says what one message may look like; a rule says how the messages of one *entity*
(an order, a payment id) may follow each other: allowed state transitions, ids seen once,
sequences that only grow, follow-ups that must arrive within a deadline, and CEL expressions
over one message. This module only reads and checks the declarations against the topics and
event types of the catalog (so a typo is exit 2 at ``catalog.yaml#/rules/3/...``, not a rule
that silently never fires); ``core.rules`` compiles and runs them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Protocol

from stream_sentinel.core.contracts import pointer as ptr
from stream_sentinel.core.errors import SpecError


class TopicContract(Protocol):
    """What rules need of a catalog topic (a Protocol: the catalog imports this module)."""

    @property
    def events(self) -> Mapping[str, Any]:
        """Event type -> its contract."""


CATALOG_FILE: Final = "catalog.yaml"
RULE_KINDS: Final = ("transitions", "unique", "ordered", "follows", "expression")
#: The record key instead of a pointer into the payload (``entity: {orders: key}``).
KEY: Final = "key"
#: ``state: event_type``: the entity's state is the message's event type.
EVENT_TYPE: Final = "event_type"
#: ``by: event_time``: an ordered rule compares the record timestamps.
EVENT_TIME: Final = "event_time"
DEFAULT_SEVERITY: Final = "warning"
_DURATION: Final = re.compile(r"^([0-9]{1,9})(ms|s|m|h|d)$")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
#: Longest horizon/deadline a rule may ask for: state is kept at least that long.
MAX_DURATION_MS: Final = 366 * 86_400_000

_POINTER_OR_KEY: dict[str, Any] = {"type": "string", "pattern": "^(/.*|key)$"}
_NAMES: dict[str, Any] = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
_TOPIC_MAP: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": _POINTER_OR_KEY,
}
_ON: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"oneOf": [{"const": "*"}, {**_NAMES, "minItems": 1}]},
}
_DURATION_SCHEMA: dict[str, Any] = {"type": "string", "pattern": _DURATION.pattern}

#: The fields each kind takes (beside the common ones); a field of another kind is refused.
_KIND_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "transitions": {
        "entity": _TOPIC_MAP,
        "state": {"type": "string", "pattern": "^(/.*|event_type)$"},
        "initial": _NAMES,
        "transitions": {"type": "object", "additionalProperties": _NAMES},
        "terminal": _NAMES,
        "strict_start": {"type": "boolean"},
    },
    "unique": {"events": _ON, "field": _POINTER_OR_KEY, "horizon": _DURATION_SCHEMA},
    "ordered": {
        "entity": _TOPIC_MAP,
        "by": {"type": "string", "pattern": "^(/.*|event_time)$"},
        "gaps": {"type": "boolean"},
        "events": _ON,
    },
    "follows": {
        "entity": _TOPIC_MAP,
        "after": {"type": "string", "minLength": 1},
        "expect": {"type": "string", "minLength": 1},
        "within": _DURATION_SCHEMA,
    },
    "expression": {"events": _ON, "expression": {"type": "string", "minLength": 1, "maxLength": 4096}},
}
_REQUIRED: Final[dict[str, list[str]]] = {
    "transitions": ["entity", "transitions"],
    "unique": ["events", "field", "horizon"],
    "ordered": ["entity"],
    "follows": ["entity", "after", "expect", "within"],
    "expression": ["events", "expression"],
}
_ALL_KIND_FIELDS: Final = sorted({name for fields in _KIND_FIELDS.values() for name in fields})

#: JSON Schema of one rule (part of the catalog's own contract in ``catalog.CATALOG_SCHEMA``).
RULE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["id", "kind", "requirement", "message"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,99}$"},
        "kind": {"enum": list(RULE_KINDS)},
        "requirement": {"type": "string", "minLength": 1},
        "owner": {"type": "string", "minLength": 1},
        "severity": {"enum": ["info", "warning", "breaking"]},
        "message": {"type": "string", "minLength": 1, "maxLength": 500},
        "description": {"type": "string"},
    },
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": kind}}},
            "then": {
                "required": _REQUIRED[kind],
                "properties": fields,
                "propertyNames": {"not": {"enum": [n for n in _ALL_KIND_FIELDS if n not in fields]}},
            },
        }
        for kind, fields in _KIND_FIELDS.items()
    ],
}


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One behavioural rule as declared (checked against the catalog's topics and event types).

    ``topics`` maps each topic the rule reads to the event types it reads there (every event
    type of the topic unless ``events`` narrows it) and ``entity`` each topic to the pointer tokens
    of the entity (or ``None`` for the record key). Kind-specific fields keep their defaults
    for the other kinds.
    """

    id: str
    kind: str
    requirement: str
    message: str
    severity: str
    owner: str | None
    description: str
    pointer: str  # where the rule is declared: catalog.yaml#<pointer>
    topics: Mapping[str, frozenset[str]]
    entity: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    # transitions
    state: tuple[str, ...] | None = None  # None: the event type is the state
    initial: frozenset[str] = frozenset()
    transitions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    terminal: frozenset[str] = frozenset()
    strict_start: bool = False
    # unique
    id_field: tuple[str, ...] | None = None  # None: the record key
    horizon_ms: int = 0
    # ordered
    by: tuple[str, ...] | None = None  # None: the event time
    gaps: bool = False
    # follows
    after: tuple[str, str] | None = None  # (topic, event type)
    expect: tuple[str, str] | None = None
    within_ms: int = 0
    # expression
    expression: str = ""

    def states(self) -> frozenset[str]:
        """Every state a transitions rule names."""
        named = set(self.initial) | set(self.terminal) | set(self.transitions)
        for targets in self.transitions.values():
            named |= targets
        return frozenset(named)


def duration_ms(text: str) -> int:
    """``30m`` -> 1800000 (the catalog schema already checked the form)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(text)
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_rules(raw: Sequence[Mapping[str, Any]], topics: Mapping[str, TopicContract]) -> tuple[RuleSpec, ...]:
    """Check every rule against the catalog's topics and freeze it; raise ``SpecError`` at the first problem."""
    seen: dict[str, int] = {}
    rules: list[RuleSpec] = []
    for index, spec in enumerate(raw):
        where = f"/rules/{index}"
        rule_id = spec["id"]
        if rule_id in seen:
            raise SpecError(
                CATALOG_FILE, f"{where}/id", f"rule id {rule_id!r} is already used by /rules/{seen[rule_id]}"
            )
        seen[rule_id] = index
        rules.append(_parse_rule(spec, where, topics))
    return tuple(rules)


def _parse_rule(spec: Mapping[str, Any], where: str, topics: Mapping[str, TopicContract]) -> RuleSpec:
    kind = spec["kind"]
    common: dict[str, Any] = {
        "id": spec["id"],
        "kind": kind,
        "requirement": spec["requirement"],
        "message": spec["message"],
        "severity": spec.get("severity", DEFAULT_SEVERITY),
        "owner": spec.get("owner"),
        "description": spec.get("description", ""),
        "pointer": where,
    }
    if kind in ("unique", "expression"):
        on = _on(spec["events"], f"{where}/events", topics)
        if kind == "expression":
            return RuleSpec(**common, topics=on, expression=spec["expression"])
        id_field = _tokens(spec["field"], f"{where}/field")
        return RuleSpec(
            **common, topics=on, id_field=id_field, horizon_ms=_duration(spec["horizon"], f"{where}/horizon")
        )
    entity = _entity(spec["entity"], f"{where}/entity", topics)
    all_types = {t: frozenset(topics[t].events) for t in entity}
    if kind == "ordered":
        on = _on(spec["events"], f"{where}/events", topics) if "events" in spec else all_types
        extra = sorted(set(on) - set(entity))
        if extra:
            raise SpecError(CATALOG_FILE, f"{where}/events", f"topic {extra[0]!r} has no entity pointer in /entity")
        by = spec.get("by", EVENT_TIME)
        return RuleSpec(
            **common,
            topics=on,
            entity=entity,
            by=None if by == EVENT_TIME else ptr.parse(by),
            gaps=bool(spec.get("gaps", False)),
        )
    if kind == "follows":
        after = _event_in(spec["after"], f"{where}/after", all_types)
        expect = _event_in(spec["expect"], f"{where}/expect", all_types)
        if after == expect:
            raise SpecError(CATALOG_FILE, f"{where}/expect", "a follow-up must be another event type than `after`")
        reads = {t: frozenset(e for tt, e in (after, expect) if tt == t) for t in entity}
        return RuleSpec(
            **common,
            topics={t: ets for t, ets in reads.items() if ets},
            entity=entity,
            after=after,
            expect=expect,
            within_ms=_duration(spec["within"], f"{where}/within"),
        )
    return _transitions(spec, where, common, entity, all_types)


def _transitions(
    spec: Mapping[str, Any],
    where: str,
    common: dict[str, Any],
    entity: Mapping[str, tuple[str, ...] | None],
    all_types: Mapping[str, frozenset[str]],
) -> RuleSpec:
    state = spec.get("state", EVENT_TYPE)
    transitions = {s: frozenset(targets) for s, targets in spec["transitions"].items()}
    initial = frozenset(spec.get("initial", ()))
    terminal = frozenset(spec.get("terminal", ()))
    for name in sorted(terminal & {s for s, targets in transitions.items() if targets}):
        raise SpecError(
            CATALOG_FILE, f"{where}/transitions/{ptr.escape(name)}", f"{name!r} is terminal: it allows no transition"
        )
    rule = RuleSpec(
        **common,
        topics=all_types,
        entity=entity,
        state=None if state == EVENT_TYPE else ptr.parse(state),
        initial=initial,
        transitions=MappingProxyType(transitions),
        terminal=terminal,
        strict_start=bool(spec.get("strict_start", False)),
    )
    if rule.state is None:
        known = set().union(*all_types.values())
        for name in sorted(rule.states()):
            if name not in known:
                raise SpecError(
                    CATALOG_FILE,
                    f"{where}",
                    f"state {name!r} is not an event type of {', '.join(sorted(all_types))} "
                    f"(state: event_type; known: {', '.join(sorted(known))})",
                )
        # Only the event types the rule names are states; the others are not its business.
        reads = {t: frozenset(e for e in ets if e in rule.states()) for t, ets in all_types.items()}
        rule = _replace_topics(rule, {t: ets for t, ets in reads.items() if ets})
    return rule


def _replace_topics(rule: RuleSpec, topics: Mapping[str, frozenset[str]]) -> RuleSpec:
    from dataclasses import replace

    return replace(rule, topics=topics)


def _on(raw: Mapping[str, Any], where: str, topics: Mapping[str, TopicContract]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for topic, names in raw.items():
        contract = topics.get(topic)
        if contract is None:
            raise SpecError(CATALOG_FILE, f"{where}/{ptr.escape(topic)}", f"no topic {topic!r} in the catalog")
        if names == "*":
            out[topic] = frozenset(contract.events)
            continue
        for i, name in enumerate(names):
            if name not in contract.events:
                raise SpecError(
                    CATALOG_FILE,
                    f"{where}/{ptr.escape(topic)}/{i}",
                    f"{topic} has no event type {name!r} (known: {', '.join(sorted(contract.events))})",
                )
        out[topic] = frozenset(names)
    return out


def _entity(
    raw: Mapping[str, str], where: str, topics: Mapping[str, TopicContract]
) -> dict[str, tuple[str, ...] | None]:
    out: dict[str, tuple[str, ...] | None] = {}
    for topic, locator in raw.items():
        if topic not in topics:
            raise SpecError(CATALOG_FILE, f"{where}/{ptr.escape(topic)}", f"no topic {topic!r} in the catalog")
        out[topic] = _tokens(locator, f"{where}/{ptr.escape(topic)}")
    return out


def _tokens(locator: str, where: str) -> tuple[str, ...] | None:
    if locator == KEY:
        return None
    tokens = ptr.parse(locator)
    if not tokens:
        raise SpecError(CATALOG_FILE, where, "the whole message cannot be an id: name a field (/order_id) or `key`")
    return tokens


def _event_in(name: str, where: str, all_types: Mapping[str, frozenset[str]]) -> tuple[str, str]:
    hits = [topic for topic, names in all_types.items() if name in names]
    if not hits:
        raise SpecError(CATALOG_FILE, where, f"{name!r} is not an event type of {', '.join(sorted(all_types))}")
    if len(hits) > 1:
        raise SpecError(CATALOG_FILE, where, f"{name!r} is an event type of {' and '.join(sorted(hits))}: ambiguous")
    return hits[0], name


def _duration(text: str, where: str) -> int:
    value = duration_ms(text)
    if not 0 < value <= MAX_DURATION_MS:
        raise SpecError(CATALOG_FILE, where, f"{text} is out of range (more than 0, at most 366d)")
    return value
