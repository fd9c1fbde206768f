"""The walk every keyword family extends: state, recursion with cycle protection, reporting, shared helpers."""

from __future__ import annotations

from dataclasses import replace

from stream_sentinel.core.compat.json.nodes import (
    _ALL_TYPES,
    _COMBINATORS,
    _TYPE_DEPTH,
    Node,
    Tokens,
    _accepted_types,
    _canonical,
    _child,
    _Identity,
    _value_type,
    _values_of,
    trivial,
)
from stream_sentinel.core.compat.model import Change, ChangeSink, all_backward, all_forward

# Content-model state changes (old, new) -> kind suffix; schema -> schema is compared instead.
_TRANSITIONS = {
    ("closed", "open"): "added",
    ("closed", "schema"): "added",
    ("open", "closed"): "removed",
    ("schema", "closed"): "removed",
    ("schema", "open"): "extended",
    ("open", "schema"): "narrowed",
}


class DiffBase:
    """One walk over an old and a new schema, collecting changes in ``sink``; keyword families extend it."""

    def __init__(self, active: set[tuple[_Identity, _Identity]] | None = None) -> None:
        self.sink = ChangeSink()
        # Pairs of nodes (by ``Node.identity``) being compared further up, shared with
        # sub-comparisons: meeting one again means a recursive schema, assumed compatible as
        # Avro's checker does. ``_done`` holds pairs this walk already compared, so a shared
        # definition is reported once.
        self._active: set[tuple[_Identity, _Identity]] = set() if active is None else active
        self._done: set[tuple[_Identity, _Identity]] = set()

    # -- entry points -----------------------------------------------------------------------

    def run(self, old: Node, new: Node) -> list[Change]:
        """Compare and return the changes."""
        self.diff(old, new)
        return self.sink.changes

    def sub(self, old: Node, new: Node) -> list[Change]:
        """A separate comparison, for rules that ask "does this schema accept that one?"."""
        return type(self)(self._active).run(old, new)

    def child(self, node: Node, keyword: str, *tokens: str | int) -> Node:
        """The sub-schema at ``keyword``/``tokens``; absent means the empty schema."""
        return _child(node, keyword, *tokens)

    # -- the walk ---------------------------------------------------------------------------

    def diff(self, old: Node, new: Node) -> None:
        """Compare two nodes keyword by keyword."""
        if old.target is None and new.target is None:
            self._compare(old, new)
            return
        key = (old.identity, new.identity)
        if key in self._active or key in self._done:
            return
        self._active.add(key)
        try:
            self._compare(old, new)
        finally:
            self._active.discard(key)
            self._done.add(key)

    def _compare(self, old: Node, new: Node) -> None:
        """Compare two nodes keyword by keyword: the dispatcher, in :class:`JsonDiff`."""
        raise NotImplementedError

    def _false(self, old: Node, new: Node) -> None:
        if old.boolean is False and new.boolean is False:
            return
        if old.boolean is False:
            self.sink.emit("type_extended", new.loc.where, "was false (no value allowed); now a schema")
        else:
            self.sink.emit("type_narrowed", new.loc.where, "now false: no value is allowed")

    def _at(self, old: Node, new: Node, keyword: str) -> tuple[tuple[str, Tokens], str]:
        """Where to report a change of ``keyword``: in the new schema, or the old one if removed."""
        if new.has(keyword) or not old.has(keyword):
            return new.at(keyword).where, "new"
        return old.at(keyword).where, "old"

    def _emit(self, kind: str, old: Node, new: Node, keyword: str, message: str, **facts: bool) -> None:
        where, side = self._at(old, new, keyword)
        self.sink.emit(kind, where, message, side="new" if side == "new" else "old", **facts)

    def types_of(self, node: Node, combinators: tuple[str, ...] = _COMBINATORS, depth: int = 0) -> frozenset[str]:
        """The JSON types ``node`` accepts, narrowed by ``combinators``.

        allOf: every branch's types; anyOf/oneOf: some branch's; followed a few levels deep.
        """
        if node.boolean is not None:
            return _ALL_TYPES if node.boolean else frozenset()
        types = _accepted_types(node.get("type"))
        values = _values_of(node)
        if values is not None:  # an enum/const allows only its values' types
            types &= frozenset(_value_type(v) for v in values.values())
        if depth >= _TYPE_DEPTH:
            return types
        for keyword in combinators:
            branches = [self.types_of(b, _COMBINATORS, depth + 1) for b in self._branch_nodes(node, keyword)]
            if not branches:
                continue
            if keyword == "allOf":
                for branch in branches:
                    types &= branch
            else:
                types &= frozenset().union(*branches)
        return types

    def cover_added(self, old_treat: Node, new_schema: Node) -> tuple[str, bool, bool]:
        """A name/position the new schema now lists, which the old one treated as ``old_treat``.

        BACKWARD: old data may hold anything ``old_treat`` allowed there; FORWARD: new data holds
        what ``new_schema`` allows, and old readers apply ``old_treat``. Returns (content model
        of the old schema, backward, forward).
        """
        if old_treat.boolean is False:
            return "closed", True, new_schema.boolean is False
        if trivial(old_treat):
            return "open", trivial(new_schema), True
        inner = self.sub(old_treat, new_schema)
        return "partial", all_backward(inner), all_forward(inner)

    def cover_removed(self, old_schema: Node, new_treat: Node) -> tuple[str, bool, bool]:
        """A name/position the old schema listed and the new one treats as ``new_treat``."""
        if new_treat.boolean is False:
            return "closed", old_schema.boolean is False, True
        if trivial(new_treat):
            return "open", True, trivial(old_schema)
        inner = self.sub(old_schema, new_treat)
        return "partial", all_backward(inner), all_forward(inner)

    def _content_keyword(self, old: Node, new: Node, keyword: str, prefix: str, what: str) -> None:
        """additionalProperties-like keywords, when either schema has one."""
        if old.has(keyword) or new.has(keyword):
            self._content_model(old, new, self.child(old, keyword), self.child(new, keyword), keyword, prefix, what)

    def _content_model(
        self, old: Node, new: Node, before: Node, after: Node, keyword: str, prefix: str, what: str
    ) -> None:
        """What unlisted properties or items may be: open (absent/true), closed (false), a schema."""
        states = (_state(before), _state(after))
        if states == ("schema", "schema"):
            self.diff(before, after)
            return
        kind = _TRANSITIONS.get(states)
        if kind is not None:
            self._emit(f"{prefix}_{kind}", old, new, keyword, f"{keyword} ({what}): {states[0]} -> {states[1]}")

    def _branch_nodes(
        self, node: Node, keyword: str, dropped: list[Node] | None = None, *, keep_empty: bool = False
    ) -> list[Node]:
        """The branches of a combinator; of an ``allOf``, only those that change what it accepts.

        ``allOf`` is a conjunction, so a branch accepting everything (``true``, ``{}``) and a
        branch written twice (same text, so it resolves alike) add nothing, not even under
        ``unevaluated*`` (an empty branch evaluates nothing, a copy what the first evaluates).
        Not so for ``anyOf`` (``{}`` accepts everything) and ``oneOf`` (a copy matches twice).
        ``keep_empty`` (under ``unevaluated*``, where a branch count is not judged by pairing
        empty branches) keeps the empty ones, so branches still pair one to one as written.
        """
        raws = node.get(keyword) or []
        branches: list[Node] = []
        seen: set[str] = set()
        for i in range(len(raws)):
            branch = replace(self.child(node, keyword, i), outer=(node, keyword, i))
            if keyword == "allOf":
                text = _canonical(raws[i])
                empty = not keep_empty and trivial(branch) and not any(k.startswith("x-") for k in branch.keywords)
                if text in seen or empty:
                    if dropped is not None:
                        dropped.append(branch)
                    continue
                seen.add(text)
            branches.append(branch)
        return branches


def _state(node: Node) -> str:
    if node.boolean is False:
        return "closed"
    return "open" if trivial(node) else "schema"
