"""What part of a message a CEL expression can reach, so only that part is handed to CEL.

The CEL binding converts every value it is given into a CEL value, a few microseconds each:
an ``OrderCreated`` of ~40 values costs 80-110 µs to convert, while the expression may read
three of them (``bench/rules.py``). :func:`reach` reads the expression's source once, at compile
time, and :func:`prune` then builds per message the smallest payload on which the expression
gives the same result.

The reading is deliberately syntactic and conservative. Every occurrence of ``self`` must be
followed by ``.<field>``; the chain that follows (``.field`` selections and integer-literal
indexes ``[0]``) is a path, and the whole value at the end of each path is kept (so
``self.items.all(i, ...)``, ``size(self.items)`` or ``self.items[i]`` keep all of ``items``).
Anything else, ``size(self)``, ``self["x"]``, ``"x" in self``, ``self.?x`` or a macro variable
named ``self``, makes :func:`reach` give up (None): the expression gets the whole message. A
``self.x`` inside a string literal only adds a path, which costs time, never correctness.
Absent fields stay absent, so ``has()`` and "no such field" errors are the same as before.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeAlias

#: A reach: field name or list index -> the reach below it; None is "all of this value".
Reach: TypeAlias = "dict[str | int, Reach | None]"

_SELF: Final = re.compile(r"\bself\b")
# One step of a chain: a field selection that is not a method call, or an integer-literal index.
_STEP: Final = re.compile(r"\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()|\[\s*([0-9]{1,6})\s*\])")


def reach(expression: str) -> Reach | None:
    """The parts of ``self`` the expression can read, or None when it may read any of it."""
    tree: Reach = {}
    for match in _SELF.finditer(expression):
        path: list[str | int] = []
        pos = match.end()
        while (step := _STEP.match(expression, pos)) is not None:
            path.append(step.group(1) if step.group(1) is not None else int(step.group(2)))
            pos = step.end()
        if not path or not isinstance(path[0], str):
            return None
        _add(tree, path)
    return tree


def _add(tree: Reach, path: list[str | int]) -> None:
    node = tree
    for token in path[:-1]:
        if token in node and node[token] is None:
            return  # all of it is kept already
        child = node.setdefault(token, {})
        assert child is not None
        node = child
    node[path[-1]] = None


def prune(value: Any, tree: Reach | None) -> Any:
    """``value`` cut down to ``tree``; anything the tree does not fit is kept whole."""
    if tree is None:
        return value
    if type(value) is dict:
        if not all(type(k) is str for k in tree):
            return value
        return {k: prune(value[k], sub) for k, sub in tree.items() if k in value}
    if type(value) is list:
        indexes = [k for k in tree if type(k) is int]
        if len(indexes) != len(tree):
            return value
        # Only literal indexes reach into the list: elements before the last one read stay as
        # placeholders (never read), and a list shorter than an index stays exactly as short.
        last = min(max(indexes) + 1, len(value))
        return [prune(value[i], tree[i]) if i in tree else None for i in range(last)]
    return value
