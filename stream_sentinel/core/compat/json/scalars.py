"""Value keywords: ``type``, ``enum``/``const``, bounds, ``multipleOf``, ``pattern``, ``format``."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from stream_sentinel.core.compat.json.base import DiffBase
from stream_sentinel.core.compat.json.nodes import (
    _ALL_TYPES,
    _COMBINATORS,
    Node,
    _accepted_types,
    _allowed_values,
    _canonical,
    _short,
    _values_of,
)
from stream_sentinel.core.compat.model import lifecycle

# (keyword, kind stem); the kind table knows which way each bound breaks. The numeric range
# (minimum/exclusiveMinimum, maximum/exclusiveMaximum) is compared as one bound per side instead.
_BOUNDS = (
    ("maxLength", "max_length"),
    ("minLength", "min_length"),
    ("maxItems", "max_items"),
    ("minItems", "min_items"),
    ("maxProperties", "max_properties"),
    ("minProperties", "min_properties"),
    ("maxContains", "max_contains"),
    ("minContains", "min_contains"),
)
# A bound at its default value is no bound: ``minLength: 0`` accepts what no minLength accepts.
_NO_BOUND = {"minLength": 0, "minItems": 0, "minProperties": 0}
_CONTAINS_BOUNDS = frozenset({"minContains", "maxContains"})
# (inclusive keyword, exclusive keyword, kind stem of each, which end of the range)
_RANGE = (
    ("minimum", "exclusiveMinimum", "minimum", "exclusive_minimum", False),
    ("maximum", "exclusiveMaximum", "maximum", "exclusive_maximum", True),
)
# Keywords whose change is judged as added / removed / changed (tightening when added).
_CONSTRAINTS = (("pattern", "pattern"), ("format", "format"))


class ScalarRules(DiffBase):
    """The type and value keywords of the walk."""

    def _types(self, old: Node, new: Node) -> bool:
        """Compare the types a node accepts; True when they share nothing, so the rest is moot.

        A combinator on one side only (added or removed) takes part: ``{"allOf": [{"type":
        "string"}]}`` accepts strings only, the same as ``{"type": "string"}``. A combinator on
        both sides has its branches compared pair by pair instead, which reports their types.
        """
        if _values_of(old) is not None and _values_of(new) is not None:
            return False  # both list their values: comparing the values says everything
        old_kws = [k for k in _COMBINATORS if old.has(k)]
        new_kws = [k for k in _COMBINATORS if new.has(k)]
        switched = len(old_kws) == 1 and len(new_kws) == 1 and old_kws != new_kws
        one_sided = () if switched else tuple(k for k in _COMBINATORS if (k in old_kws) != (k in new_kws))
        before, after = self.types_of(old, one_sided), self.types_of(new, one_sided)
        if before == after:
            return False
        describe = f"type {_describe_types(old, before)} -> {_describe_types(new, after)}"
        if after > before:
            self._emit("type_extended", old, new, "type", describe)
        elif after < before:
            self._emit("type_narrowed", old, new, "type", describe)
        else:
            self._emit("type_changed", old, new, "type", describe)
            return not (before & after)
        return False

    def _values(self, old: Node, new: Node) -> None:
        before, after = _allowed_values(old), _allowed_values(new)
        if before is None and after is None:
            return
        # Against an enum/const, a type with finitely many values is that set ("null" = [null]).
        before = _finite_values(old) if before is None else before
        after = _finite_values(new) if after is None else after
        if before == after:
            return
        keyword = "enum" if new.has("enum") or (not new.has("const") and old.has("enum")) else "const"
        if before is None:
            self._emit("enum_added", old, new, keyword, f"{keyword} added: only {len(after or ())} value(s) allowed")
        elif after is None:
            self._emit("enum_removed", old, new, keyword, f"{keyword} removed: any value allowed")
        else:
            added, removed = sorted(after - before), sorted(before - after)
            kind = (
                "enum_array_extended" if not removed else "enum_array_narrowed" if not added else "enum_array_changed"
            )
            parts = [f"added {', '.join(added)}" if added else "", f"removed {', '.join(removed)}" if removed else ""]
            self._emit(kind, old, new, keyword, f"{keyword} values " + "; ".join(p for p in parts if p))

    def _bounds(self, old: Node, new: Node) -> None:
        """Count bounds by their effective values, then each end of the numeric range as one."""
        for keyword, stem in _BOUNDS:
            if keyword in _CONTAINS_BOUNDS and not (old.has("contains") and new.has("contains")):
                continue  # without contains they mean nothing; contains added/removed says it all
            before, after = _count_bound(old, keyword), _count_bound(new, keyword)
            if before == after:
                continue
            if before is not None and after is not None:
                kind = f"{stem}_increased" if after > before else f"{stem}_decreased"
            else:
                kind = f"{stem}_added" if after is not None else f"{stem}_removed"
            self._emit(kind, old, new, keyword, f"{keyword} {_opt(before)} -> {_opt(after)}")
        for inclusive, exclusive, stem, exclusive_stem, upper in _RANGE:
            was, now = _range_bound(old, inclusive, exclusive, upper), _range_bound(new, inclusive, exclusive, upper)
            if (was is None and now is None) or (was and now and was[:2] == now[:2]):
                continue
            shown = now or was
            assert shown is not None
            keyword, kind_stem = shown[2], exclusive_stem if shown[1] else stem
            if was is None or now is None:
                kind = f"{kind_stem}_{'added' if was is None else 'removed'}"
            else:
                higher = now[:2] > was[:2] if not upper else (now[0], not now[1]) > (was[0], not was[1])
                kind = f"{kind_stem}_{'increased' if higher else 'decreased'}"
            self._emit(kind, old, new, keyword, f"{'upper' if upper else 'lower'} bound {_range(was)} -> {_range(now)}")

    def _multiple_of(self, old: Node, new: Node) -> None:
        before, after = old.get("multipleOf"), new.get("multipleOf")
        if before == after or (not _number(before) and not _number(after)):
            return
        if not _number(before):
            kind = "multiple_of_added"
        elif not _number(after):
            kind = "multiple_of_removed"
        else:
            ratio = Fraction(str(after)) / Fraction(str(before))
            kind = (
                "multiple_of_expanded"
                if ratio.denominator == 1
                else "multiple_of_reduced"
                if ratio.numerator == 1
                else "multiple_of_changed"
            )
        self._emit(kind, old, new, "multipleOf", f"multipleOf {_opt(before)} -> {_opt(after)}")

    def _constraints(self, old: Node, new: Node) -> None:
        for keyword, stem in _CONSTRAINTS:
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            kind = f"{stem}_{lifecycle(before, after)}"
            self._emit(kind, old, new, keyword, f"{keyword} {_opt(before)} -> {_opt(after)}")
        if bool(old.get("uniqueItems")) != bool(new.get("uniqueItems")):
            kind = "unique_items_added" if new.get("uniqueItems") else "unique_items_removed"
            self._emit(
                kind,
                old,
                new,
                "uniqueItems",
                f"uniqueItems {bool(old.get('uniqueItems'))} -> {bool(new.get('uniqueItems'))}",
            )


def _describe_types(node: Node, types: frozenset[str]) -> str:
    if node.has("type") and _accepted_types(node.get("type")) == types:
        return _short(node.get("type"))
    if types == _ALL_TYPES:
        return '"any"'
    shown = sorted(types - {"integer"} if "number" in types else types)
    return _short(shown[0] if len(shown) == 1 else shown)


_FINITE_TYPES = {"null": (None,), "boolean": (True, False)}


def _finite_values(node: Node) -> frozenset[str] | None:
    """Every value of the declared type(s) when there are finitely many (null, boolean)."""
    types = _accepted_types(node.get("type"))
    if not types <= _FINITE_TYPES.keys():
        return None
    return frozenset(_canonical(v) for t in types for v in _FINITE_TYPES[t])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count_bound(node: Node, keyword: str) -> Any:
    """The effective value of a count bound; None when there is none (absent or at its default).

    ``minContains`` defaults to 1 beside ``contains``; the ``_NO_BOUND`` minimums to 0.
    """
    value = node.get(keyword)
    if not _number(value):
        return 1 if keyword == "minContains" else None
    return None if _NO_BOUND.get(keyword) == value else value


def _range_bound(node: Node, inclusive: str, exclusive: str, upper: bool) -> tuple[Any, bool, str] | None:
    """(value, exclusive?, keyword holding it) of the tightest bound at one end of the range.

    ``minimum`` and ``exclusiveMinimum`` bound the same end, so replacing one with the other is
    judged by where the bound ends up (draft-04's boolean ``exclusiveMinimum`` too).
    """
    bounds: list[tuple[Any, bool, str]] = []
    flag = node.get(exclusive)
    if _number(node.get(inclusive)):
        bounds.append((node.get(inclusive), flag is True, inclusive))
    if _number(flag):
        bounds.append((flag, True, exclusive))
    if not bounds:
        return None
    if upper:  # lower value is tighter, and exclusive is tighter at the same value
        return min(bounds, key=lambda b: (b[0], not b[1]))
    return max(bounds, key=lambda b: (b[0], b[1]))


def _range(bound: tuple[Any, bool, str] | None) -> str:
    return "none" if bound is None else f"{bound[2]} {_short(bound[0])}"


def _opt(value: Any) -> str:
    return "none" if value is None else _short(value)
