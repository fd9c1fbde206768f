"""Compiled behavioural rules: which messages feed which rule, and what each one contributes.

:func:`compile_rules` turns the catalog's ``rules:`` into a :class:`RuleSet` once per run. Per
message the shells ask it two things, both a dict lookup away from nothing for a message no
rule reads:

- :meth:`RuleSet.expressions_for` — the stateless CEL rules of the message's event type, judged
  on the spot (:meth:`RuleSet.judge_expressions`);
- :meth:`RuleSet.facts` — the small :class:`Fact` records the stateful rules need (entity,
  state / id / sequence value / follow-up role, event time, coordinates). The worker sends them
  through an internal topic keyed by entity; replay and check feed them to an in-memory
  :class:`~stream_sentinel.core.rules.engine.RuleRuntime` directly.

Only messages that passed their contract contribute facts: an invalid message is already
reported, and its fields may be exactly what is wrong.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Final, NamedTuple

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.contracts.catalog import CATALOG_FILE, Catalog
from stream_sentinel.core.contracts.pointer import to_pointer
from stream_sentinel.core.contracts.rules import RuleSpec
from stream_sentinel.core.errors import SpecError
from stream_sentinel.core.rules.reach import Reach, prune, reach

#: Entity ids longer than this are replaced by a digest (state keys stay small and bounded).
MAX_ENTITY_CHARS: Final = 256
#: Sequence values (strings) longer than this are not compared: no fact.
MAX_VALUE_CHARS: Final = 256
AFTER: Final = "after"
EXPECT: Final = "expect"
_MISSING: Final = object()
_new: Final = tuple.__new__

#: (topic, event type, pointer tokens) -> whether the value there may be echoed (Engine.shows).
Shows = Callable[[str, str, tuple[str | int, ...]], bool]


class Fact(NamedTuple):
    """What one message tells one stateful rule about one entity (plain values: it crosses a topic).

    ``value``: the state (transitions), the sequence value (ordered; the event time when the
    rule orders by it), ``after``/``expect`` (follows), None (unique: the entity is the id).
    """

    rule: str
    entity: str
    value: Any
    ts: int
    topic: str
    partition: int
    offset: int
    event_type: str

    def source(self) -> d.Source:
        """The message's coordinates, for drift events."""
        return d.Source(self.topic, self.partition, self.offset, self.ts)


@dataclass(frozen=True, slots=True)
class Compiled:
    """A rule with what judging it needs precomputed (reachability, owners, what may be shown)."""

    spec: RuleSpec
    owners: Mapping[str, str | None]  # topic -> owner (the rule's own owner wins)
    shows_entity: Mapping[tuple[str, str], bool]  # (topic, event type) -> entity id may be shown
    shows_value: Mapping[tuple[str, str], bool]  # (topic, event type) -> state / sequence may be shown
    reaches: Mapping[str, frozenset[str]]  # transitions: state -> every state reachable from it
    expression: Any = None  # expression: the compiled CEL program
    states: frozenset[str] = frozenset()  # transitions: every state the rule names
    #: expression: the parts of the message it can read (``reach.reach``; None: all of it)
    reads: Reach | None = None

    def owner(self, topic: str) -> str | None:
        """Nearest owner: the rule's, else the topic's."""
        return self.spec.owner or self.owners.get(topic)

    def path(self, topic: str) -> str:
        """The payload pointer a violation on ``topic`` is about ("" for the key / event type)."""
        spec = self.spec
        tokens = spec.state if spec.kind == "transitions" else spec.by if spec.kind == "ordered" else None
        if spec.kind == "unique":
            tokens = spec.id_field
        if tokens is None and spec.kind in ("follows", "transitions"):
            tokens = spec.entity.get(topic)
        return to_pointer(tokens) if tokens else ""


#: Reads one pointer out of a payload (``_MISSING`` when it is not there).
Getter = Callable[[Any], Any]


class _Extractor(NamedTuple):
    rule: str
    kind: str
    entity: Getter | None  # None: the record key
    value: Getter | None  # reads the state / sequence; None: event type / time
    role: str | None  # follows: after / expect


class RuleSet:
    """Every rule of a catalog, indexed by (topic, event type) for the per-message lookups."""

    def __init__(self, rules: Iterable[Compiled]) -> None:
        self.rules: dict[str, Compiled] = {r.spec.id: r for r in rules}
        self._facts: dict[tuple[str, str], tuple[_Extractor, ...]] = {}
        self._expressions: dict[tuple[str, str], tuple[Compiled, ...]] = {}
        #: Facts not formed (entity or value missing or of another type), per rule id.
        self.skipped: Counter[str] = Counter()
        facts: dict[tuple[str, str], list[_Extractor]] = {}
        expressions: dict[tuple[str, str], list[Compiled]] = {}
        for rule in self.rules.values():
            spec = rule.spec
            for topic, event_types in spec.topics.items():
                for event_type in sorted(event_types):
                    if spec.kind == "expression":
                        expressions.setdefault((topic, event_type), []).append(rule)
                        continue
                    facts.setdefault((topic, event_type), []).append(_extractor(spec, topic, event_type))
        self._facts = {k: tuple(v) for k, v in facts.items()}
        self._expressions = {k: tuple(v) for k, v in expressions.items()}
        #: Topics whose valid messages rules read: their checker keeps the decoded payload.
        self.topics: frozenset[str] = frozenset(t for t, _ in (*self._facts, *self._expressions))

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def stateful(self) -> bool:
        """Whether any rule needs per-entity state (facts, a state store, ticks)."""
        return bool(self._facts)

    def reads(self, topic: str, event_type: str | None) -> bool:
        """Whether any rule reads messages of this event type on this topic."""
        key = (topic, event_type or "")
        return key in self._facts or key in self._expressions

    def facts(
        self,
        topic: str,
        event_type: str | None,
        payload: Any,
        key: bytes | str | None,
        partition: int,
        offset: int,
        ts: int,
    ) -> list[Fact]:
        """The facts of one valid message (none when no stateful rule reads its event type)."""
        extractors = self._facts.get((topic, event_type or ""))
        if not extractors:
            return []
        assert event_type is not None
        out: list[Fact] = []
        last_of: Any = _MISSING
        entity: str | None = None
        for rule, kind, entity_of, value_of, role in extractors:
            if entity_of is not last_of:  # rules reading the same entity pointer in a row read it once
                raw = entity_of(payload) if entity_of is not None else _key(key)
                entity = raw if type(raw) is str and 0 < len(raw) <= MAX_ENTITY_CHARS else _entity(raw)
                last_of = entity_of
            if entity is None:
                self.skipped[rule] += 1
                continue
            value: Any
            if kind == "transitions":
                value = event_type if value_of is None else value_of(payload)
                if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
                    self.skipped[rule] += 1
                    continue
            elif kind == "ordered":
                value = ts if value_of is None else value_of(payload)
                if type(value) is not int and not (type(value) is str and len(value) <= MAX_VALUE_CHARS):
                    self.skipped[rule] += 1
                    continue
            else:
                value = role
            # tuple.__new__ directly: a NamedTuple's own constructor is a Python-level call.
            out.append(_new(Fact, (rule, entity, value, ts, topic, partition, offset, event_type)))
        return out

    def judge_expressions(self, topic: str, event_type: str | None, payload: Any) -> list[d.Violation]:
        """The CEL rules of a valid message's event type that do not hold (``rule_failed``)."""
        rules = self._expressions.get((topic, event_type or ""))
        if not rules:
            return []
        out: list[d.Violation] = []
        for rule in rules:
            # The binding converts every value it is given (microseconds each): only what the
            # expression can reach goes in.
            holds, reason = rule.expression.evaluate(prune(payload, rule.reads))
            if holds:
                continue
            spec = rule.spec
            out.append(
                d.Violation(
                    d.RULE_FAILED,
                    spec.severity,
                    "",
                    f"rule:{spec.id}",
                    f"{spec.expression} ({spec.message})",
                    "evaluation error" if reason else "false",
                    None,
                    False,
                    spec.requirement,
                    rule.owner(topic),
                    d.RULE_FAILED,
                    reason or "",
                    rule=spec.id,
                )
            )
        return out


def compile_rules(catalog: Catalog, shows: Shows) -> RuleSet:
    """Compile every rule of the catalog; a CEL expression that does not compile is a ``SpecError``."""
    owners = {name: topic.owner for name, topic in catalog.topics.items()}
    compiled: list[Compiled] = []
    for spec in catalog.rules:
        shows_entity: dict[tuple[str, str], bool] = {}
        shows_value: dict[tuple[str, str], bool] = {}
        for topic, event_types in spec.topics.items():
            entity = spec.id_field if spec.kind == "unique" else spec.entity.get(topic)
            value = spec.state if spec.kind == "transitions" else spec.by if spec.kind == "ordered" else None
            for event_type in event_types:
                # The record key is shown in every drift event's source already; a payload
                # value only where every version of the event type proves it is not x-pii.
                shows_entity[topic, event_type] = entity is None or shows(topic, event_type, entity)
                shows_value[topic, event_type] = value is None or shows(topic, event_type, value)
        program, reads = None, None
        if spec.kind == "expression":
            program, reads = _compile_expression(spec), reach(spec.expression)
        compiled.append(
            Compiled(
                spec,
                {t: owners.get(t) for t in spec.topics},
                shows_entity,
                shows_value,
                _reachable(spec.transitions) if spec.kind == "transitions" else {},
                program,
                spec.states() if spec.kind == "transitions" else frozenset(),
                reads,
            )
        )
    return RuleSet(compiled)


def _compile_expression(spec: RuleSpec) -> Any:
    from stream_sentinel.core.rules.expression import ExpressionError, compile_expression

    try:
        return compile_expression(spec.expression)
    except ExpressionError as exc:
        raise SpecError(CATALOG_FILE, f"{spec.pointer}/expression", f"CEL: {exc}") from exc


def _reachable(transitions: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """State -> every state reachable through one or more listed transitions."""
    out: dict[str, frozenset[str]] = {}
    for start in transitions:
        seen: set[str] = set()
        todo = list(transitions[start])
        while todo:
            state = todo.pop()
            if state not in seen:
                seen.add(state)
                todo.extend(transitions.get(state, ()))
        out[start] = frozenset(seen)
    return out


def _extractor(spec: RuleSpec, topic: str, event_type: str) -> _Extractor:
    if spec.kind == "unique":
        return _Extractor(spec.id, spec.kind, _getter(spec.id_field), None, None)
    entity = _getter(spec.entity[topic])
    if spec.kind == "transitions":
        return _Extractor(spec.id, spec.kind, entity, _getter(spec.state), None)
    if spec.kind == "ordered":
        return _Extractor(spec.id, spec.kind, entity, _getter(spec.by), None)
    role = AFTER if spec.after == (topic, event_type) else EXPECT
    return _Extractor(spec.id, spec.kind, entity, None, role)


@lru_cache(maxsize=1024)
def _getter(tokens: tuple[str, ...] | None) -> Getter | None:
    """``_at`` for one pointer, compiled once: a top-level field of an object is one ``dict.get``.

    One getter per pointer (cached): ``RuleSet.facts`` knows a pointer read already by identity.
    """
    if tokens is None:
        return None
    if len(tokens) == 1:
        token = tokens[0]

        def top(payload: Any) -> Any:
            if type(payload) is dict:
                return payload.get(token, _MISSING)
            return _at(payload, tokens)

        return top
    return partial(_at, tokens=tokens)


def _at(payload: Any, tokens: tuple[str, ...]) -> Any:
    """``pointer.resolve`` without the ``KeyError``: per message, a missing field is an answer, not an error."""
    node = payload
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _key(key: bytes | str | None) -> Any:
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return key if key is not None else _MISSING


def _entity(value: Any) -> str | None:
    """An entity id as a state key: strings as they are, integers in decimal, anything else no id."""
    if type(value) is str:
        text = value
    elif type(value) is int:
        text = str(value)
    else:
        return None
    if not text:
        return None
    if len(text) > MAX_ENTITY_CHARS:
        return "#" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return text


def reach_of(rules: RuleSet, topic: str, event_type: str) -> Reach | None:
    """The part of a message of this event type that any rule reads (None: all of it).

    Entity, state, id and sequence pointers, and each expression's reach, merged: a reader of
    the message (``AvroCodec.reader``) needs to build only this much of it.
    """
    tree: Reach = {}
    for rule in rules.rules.values():
        spec = rule.spec
        if event_type not in spec.topics.get(topic, ()):
            continue
        if spec.kind == "expression":
            if rule.reads is None:
                return None
            _merge(tree, rule.reads)
            continue
        entity = spec.id_field if spec.kind == "unique" else spec.entity.get(topic)
        value = spec.state if spec.kind == "transitions" else spec.by if spec.kind == "ordered" else None
        for tokens in (entity, value):
            if tokens:
                _merge(tree, _path(tokens))
    return tree


def _path(tokens: tuple[str, ...]) -> Reach:
    tree: Reach | None = None
    for token in reversed(tokens):
        tree = {token: tree}
    assert tree is not None
    return tree


def _merge(into: Reach, tree: Reach) -> None:
    for key, sub in tree.items():
        if key not in into:
            into[key] = sub
        elif into[key] is None or sub is None:
            into[key] = None
        else:
            mine = into[key]
            assert mine is not None
            _merge(mine, sub)
