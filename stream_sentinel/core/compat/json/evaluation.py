"""Which schema applies to a property or an item no keyword lists (``additional*``, ``unevaluated*``).

Shared by the object and array rules: a property added to an open object is judged against the
schema that used to receive it.
"""

from __future__ import annotations

from collections.abc import Callable

from stream_sentinel.core.compat.json.base import DiffBase
from stream_sentinel.core.compat.json.nodes import _COMBINATORS, _TYPE_DEPTH, Node, _readings, _search, _true


class Evaluation(DiffBase):
    """Where an unlisted property or item is evaluated, for the object and array rules."""

    def unlisted(
        self, node: Node, name: str | None, branch: tuple[str, int] | None = None, *, surely: bool = False
    ) -> Node:
        """How ``node`` treats a property it does not list.

        A matching pattern's schema, else ``additionalProperties``, else ``unevaluatedProperties``
        (2020-12: only for a name no in-place sub-schema evaluates; a name an ``allOf``/``anyOf``/
        ``oneOf`` branch may evaluate is treated as open), else what the schema around a
        combinator branch does with it, else the empty schema (an open object).
        ``branch`` is set when one of ``node``'s own branches asks: the names ``node`` lists are
        evaluated there, and the asking branch does not count. ``surely``: count only sub-schemas
        that apply whenever ``node`` passes (``allOf`` branches, the one branch of an ``anyOf``/
        ``oneOf``), not one of several ``anyOf`` branches that may fail, ``if``/``then``/``else``
        or a dependent schema. A name only those may evaluate is open or not depending on the
        instance, so callers judge it both ways (``unlisted_both``).
        """
        open_object = _true(node.at("additionalProperties"), node.docs)
        if name is not None and branch is not None and name in (node.get("properties") or {}):
            return open_object
        if name is not None:
            for pattern in node.get("patternProperties") or {}:
                if _search(pattern, name):
                    return self.child(node, "patternProperties", pattern)
        if node.has("additionalProperties"):
            return self.child(node, "additionalProperties")
        if name is not None and (
            self._surely_evaluated(node, branch, name)
            if surely
            else self._subschemas_evaluate(node, branch, lambda n, d: self._evaluates_property(n, name, d))
        ):
            return open_object
        if node.has("unevaluatedProperties"):
            return self.child(node, "unevaluatedProperties")
        if node.outer is not None:
            parent, keyword, index = node.outer
            return self.unlisted(parent, name, (keyword, index), surely=surely)
        return open_object

    def unlisted_both(self, node: Node, name: str) -> list[Node]:
        """``unlisted`` as it may be, and as it surely is when those differ (see ``surely``)."""
        return _readings(lambda surely: self.unlisted(node, name, surely=surely))

    def _surely_evaluated(self, node: Node, skip: tuple[str, int] | None, name: str) -> bool:
        """Whether a sub-schema that applies whenever ``node`` passes evaluates property ``name``."""
        return self._surely_in_branches(
            node,
            skip,
            lambda branch: (
                name in (branch.get("properties") or {})
                or any(_search(p, name) for p in branch.get("patternProperties") or {})
                or branch.has("additionalProperties")
                or branch.has("unevaluatedProperties")
            ),
        )

    def _surely_in_branches(
        self, node: Node, skip: tuple[str, int] | None, evaluates: Callable[[Node], bool], depth: int = 0
    ) -> bool:
        """Whether ``evaluates`` holds for a branch that applies whenever ``node`` passes.

        Such branches are every ``allOf`` branch and a lone ``anyOf``/``oneOf`` branch (one of
        several may fail), recursively; ``skip`` is the branch the question comes from.
        """
        if depth >= _TYPE_DEPTH:
            return False  # not proven: the caller then judges the location unevaluated too
        for keyword in _COMBINATORS:
            count = len(node.get(keyword) or [])
            if keyword != "allOf" and count != 1:
                continue
            for position in range(count):
                branch = self.child(node, keyword, position)
                if (keyword, position) == skip or branch.boolean is not None:
                    continue
                if evaluates(branch) or self._surely_in_branches(branch, None, evaluates, depth + 1):
                    return True
        return False

    def unlisted_item(
        self, node: Node, index: int, branch: tuple[str, int] | None = None, *, surely: bool = False
    ) -> Node:
        """How ``node`` treats the item at ``index`` past its tuple, with no keyword for the rest.

        Like ``unlisted``, for ``unevaluatedItems``; ``node``'s own ``contains`` may evaluate the
        item too. ``surely``: count only what evaluates it whenever ``node`` passes (not
        ``contains``, which evaluates matching items only, nor one of several ``anyOf`` branches).
        """
        open_array = _true(node.at("items"), node.docs)
        if _evaluates_item(node, index, own=True, surely=surely):
            return open_array
        if (
            self._surely_evaluated_item(node, branch, index)
            if surely
            else self._subschemas_evaluate(node, branch, lambda n, d: self._evaluates_item_deep(n, index, d))
        ):
            return open_array
        if node.has("unevaluatedItems"):
            return self.child(node, "unevaluatedItems")
        if node.outer is not None:
            parent, keyword, position = node.outer
            return self.unlisted_item(parent, index, (keyword, position), surely=surely)
        return open_array

    def unlisted_items_both(self, node: Node, index: int) -> list[Node]:
        """``unlisted_item`` as it may be, and as it surely is when those differ (``unlisted_both``)."""
        return _readings(lambda surely: self.unlisted_item(node, index, surely=surely))

    def _surely_evaluated_item(self, node: Node, skip: tuple[str, int] | None, index: int) -> bool:
        """Whether a sub-schema that applies whenever ``node`` passes evaluates the item at ``index``."""
        return self._surely_in_branches(
            node, skip, lambda branch: _evaluates_item(branch, index, own=False, surely=True)
        )

    def _subschemas_evaluate(
        self, node: Node, skip: tuple[str, int] | None, evaluates: Callable[[Node, int], bool], depth: int = 0
    ) -> bool:
        """Whether an in-place sub-schema of ``node`` may evaluate what ``evaluates`` asks about.

        In-place: a combinator branch other than ``skip``, ``if``/``then``/``else``, a dependent
        schema; past ``_TYPE_DEPTH`` (a ``$ref`` cycle), assume it may.
        """
        if depth >= _TYPE_DEPTH:
            return True
        subs = [
            self.child(node, keyword, i)
            for keyword in _COMBINATORS
            for i in range(len(node.get(keyword) or []))
            if (keyword, i) != skip
        ]
        subs += [self.child(node, keyword) for keyword in ("if", "then", "else") if node.has(keyword)]
        subs += [self.child(node, "dependentSchemas", name) for name in node.get("dependentSchemas") or {}]
        return any(evaluates(sub, depth + 1) for sub in subs)

    def _evaluates_property(self, node: Node, name: str, depth: int) -> bool:
        if node.boolean is not None:
            return False
        if name in (node.get("properties") or {}) or any(_search(p, name) for p in node.get("patternProperties") or {}):
            return True
        if node.has("additionalProperties") or node.has("unevaluatedProperties"):
            return True
        return self._subschemas_evaluate(node, None, lambda n, d: self._evaluates_property(n, name, d), depth)

    def _evaluates_item_deep(self, node: Node, index: int, depth: int) -> bool:
        if node.boolean is not None:
            return False
        if _evaluates_item(node, index, own=False):
            return True
        return self._subschemas_evaluate(node, None, lambda n, d: self._evaluates_item_deep(n, index, d), depth)


def _evaluates_item(node: Node, index: int, own: bool, surely: bool = False) -> bool:
    """Whether ``node``'s own array keywords may evaluate the item at ``index``.

    ``own``: ``node``'s ``unevaluatedItems`` is the keyword being resolved, so it does not count.
    ``surely``: only keywords that evaluate it whenever ``node`` passes (not ``contains``, and
    ``additionalItems`` only after an ``items`` array: elsewhere validators ignore it).
    """
    positions = node.get("prefixItems" if node.has("prefixItems") else "items")
    if isinstance(positions, list) and index < len(positions):
        return True
    if surely:
        rest: tuple[str, ...] = ("items", "additionalItems") if isinstance(node.get("items"), list) else ("items",)
        rest = (*rest, *(() if own else ("unevaluatedItems",)))
    else:
        rest = ("items", "additionalItems", "contains", *(() if own else ("unevaluatedItems",)))
    return any(node.has(k) and not isinstance(node.get(k), list) for k in rest)
