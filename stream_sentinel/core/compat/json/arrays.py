"""Array keywords: ``items``, ``prefixItems``, ``additionalItems``, ``unevaluatedItems``, ``contains``."""

from __future__ import annotations

from collections.abc import Callable

from stream_sentinel.core.compat.json.evaluation import Evaluation
from stream_sentinel.core.compat.json.nodes import Node, _unevaluated_around, trivial
from stream_sentinel.core.compat.kinds import KINDS


class ArrayRules(Evaluation):
    """The array keywords of the walk."""

    # -- arrays -----------------------------------------------------------------------------

    def _array(self, old: Node, new: Node) -> None:
        old_tuple, old_rest, old_rest_kw = self._tuple(old)
        new_tuple, new_rest, new_rest_kw = self._tuple(new)
        old_at, new_at = self._rest_at(old, old_rest, old_rest_kw), self._rest_at(new, new_rest, new_rest_kw)
        # Past both tuples: a keyword for the rest added or removed replaces (or gives back to)
        # ``unevaluatedItems`` here or around a branch, unless something else evaluates those
        # items, so each way the other side may treat them is compared (``unlisted_items_both``).
        pairs = [(old_rest, new_rest)]
        if old.has(old_rest_kw) != new.has(new_rest_kw):
            index = max(len(old_tuple or []), len(new_tuple or []))
            pairs = [(before, after) for before in old_at(index) for after in new_at(index)]
        if old_tuple is None and new_tuple is None:
            if old.has("items") or new.has("items"):
                for before, after in pairs:
                    if (before is old_rest or trivial(before)) and (after is new_rest or trivial(after)):
                        self.diff(before, after)  # absent items is the empty schema
                    else:
                        self._content_model(old, new, before, after, "items", "additional_items", "items not evaluated")
        else:
            self._positions(old_tuple or [], new_tuple or [], old_at, new_at)
            keyword = new_rest_kw if new.has(new_rest_kw) else old_rest_kw
            for before, after in pairs:
                self._content_model(old, new, before, after, keyword, "additional_items", "items after the tuple")
        self._content_keyword(old, new, "unevaluatedItems", "unevaluated_items", "items not evaluated")
        if old.has("contains") and new.has("contains"):
            seen = len(self.sink.changes)
            self.diff(self.child(old, "contains"), self.child(new, "contains"))
            changed = any(not KINDS[c.kind].cosmetic for c in self.sink.changes[seen:])
            if changed and (old.has("maxContains") or new.has("maxContains")):
                # A count bounded above turns a wider contains into a break as well: old data may
                # now match more items than maxContains allows. Neither direction is proven.
                self._emit(
                    "contains_changed_beside_max_contains",
                    old,
                    new,
                    "contains",
                    "contains changed beside maxContains: items are counted differently",
                )
        elif old.has("contains") or new.has("contains"):
            kind = "contains_added" if new.has("contains") else "contains_removed"
            # contains evaluates the items it matches, so unevaluatedItems here or around no
            # longer (or now) judges them: neither direction is proven.
            unproven = _unevaluated_around(old, new, keywords=frozenset({"unevaluatedItems"}))
            note = " (unevaluatedItems sees the items it evaluates)" if unproven else ""
            facts = {"backward": False, "forward": False} if unproven else {}
            self._emit(kind, old, new, "contains", kind.replace("_", " ") + note, **facts)

    def _tuple(self, node: Node) -> tuple[list[Node] | None, Node, str]:
        """(tuple positions or None, schema of the items after them, the keyword holding it)."""
        if node.has("prefixItems"):
            count = len(node.get("prefixItems") or [])
            return [self.child(node, "prefixItems", i) for i in range(count)], self.child(node, "items"), "items"
        items = node.get("items")
        if isinstance(items, list):
            return (
                [self.child(node, "items", i) for i in range(len(items))],
                self.child(node, "additionalItems"),
                "additionalItems",
            )
        return None, self.child(node, "items"), "items"

    def _rest_at(self, node: Node, rest: Node, keyword: str) -> Callable[[int], list[Node]]:
        """The schemas the item at an index past the tuple may be held to (each is judged).

        ``rest``, unless ``keyword`` (what holds it) is absent: then ``unevaluatedItems`` (here or
        around a combinator branch) may decide, or something else evaluate it (``unlisted_items_both``).
        """
        if not node.has(keyword):
            return lambda index: self.unlisted_items_both(node, index)
        return lambda _: [rest]

    def _positions(
        self,
        old_items: list[Node],
        new_items: list[Node],
        old_rest: Callable[[int], list[Node]],
        new_rest: Callable[[int], list[Node]],
    ) -> None:
        for index in range(max(len(old_items), len(new_items))):
            if index < len(old_items) and index < len(new_items):
                self.diff(old_items[index], new_items[index])
            elif index < len(new_items):
                verdicts = [self.cover_added(treat, new_items[index]) for treat in old_rest(index)]
                model = verdicts[0][0]
                backward, forward = all(v[1] for v in verdicts), all(v[2] for v in verdicts)
                if model == "partial":
                    kind = f"item_added_{'is' if backward else 'not'}_covered_by_partially_open_content_model"
                elif model == "closed":
                    kind = "item_added_to_closed_content_model"
                else:
                    kind = f"item_{'with_empty_schema_' if backward else ''}added_to_open_content_model"
                self.sink.emit(
                    kind, new_items[index].loc.where, f"tuple item {index} added", backward=backward, forward=forward
                )
            else:
                verdicts = [self.cover_removed(old_items[index], treat) for treat in new_rest(index)]
                model = verdicts[0][0]
                backward, forward = all(v[1] for v in verdicts), all(v[2] for v in verdicts)
                if model == "partial":
                    kind = f"item_removed_{'is' if backward else 'not'}_covered_by_partially_open_content_model"
                elif model == "closed":
                    was_false = old_items[index].boolean is False
                    kind = f"item_{'with_false_' if was_false else ''}removed_from_closed_content_model"
                else:
                    kind = "item_removed_from_open_content_model"
                self.sink.emit(
                    kind,
                    old_items[index].loc.where,
                    f"tuple item {index} removed",
                    backward=backward,
                    forward=forward,
                    side="old",
                )
