"""``allOf`` flattening: an ``allOf`` merged into the schema holding it where that provably means the same.

Used when ``allOf`` is on one side only, so ``b`` declared in ``allOf: [{properties: {b: ...}}]`` is judged
as ``b`` declared beside it (see the package docstring).
"""

from __future__ import annotations

from typing import Any

from stream_sentinel.core.compat.json.nodes import (
    _COMBINATORS,
    _TYPE_DEPTH,
    _UNEVALUATED,
    _VALIDATION,
    Loc,
    Node,
    _accepted_types,
    _canonical,
    _child,
    _name_list,
    node_at,
)

# Keywords that read their siblings: merging a branch into its parent must not pair them up anew.
_PROPERTY_GROUP = frozenset({"properties", "patternProperties", "additionalProperties"})
_SIBLING_GROUPS = (
    _PROPERTY_GROUP,
    frozenset({"prefixItems", "items", "additionalItems"}),
    frozenset({"contains", "minContains", "maxContains"}),
    frozenset({"if", "then", "else"}),
)
# Validation keywords that hold sub-schemas: two of them are one assertion only if the sub-schemas
# resolve alike, which equal text does not prove (a ``$ref`` inside resolves where it is written).
_SUBSCHEMA_KEYWORDS = frozenset(
    {
        "properties",
        "additionalProperties",
        "unevaluatedProperties",
        "patternProperties",
        "dependencies",
        "dependentSchemas",
        "propertyNames",
        "items",
        "prefixItems",
        "additionalItems",
        "unevaluatedItems",
        "contains",
        *_COMBINATORS,
        "not",
        "if",
        "then",
        "else",
    }
)


def _flattened(node: Node) -> Node:
    """``node`` with each ``allOf`` of one branch merged into it, while that means the same.

    ``{"allOf": [{"type": "string"}]}`` is ``{"type": "string"}``: merged, each keyword keeps
    the place it is written, so the two compare equal. The rules of the merge are ``_conjoin``'s
    (the branch is in place: what it evaluates, the parent's ``unevaluated*`` see either way).
    Bounded by ``_TYPE_DEPTH`` (a ``$ref`` cycle through single branches).
    """
    for _ in range(_TYPE_DEPTH):
        branches = node.get("allOf")
        if not isinstance(branches, list) or len(branches) != 1:
            break
        holder = node.at("allOf", 0)
        docs = holder.docs or node.docs
        assert docs is not None
        merged = _conjoin(node.without("allOf"), node_at(docs, branches[0], holder), in_place=True)
        if merged is None:
            break
        node = merged
    return node


def _conjoin(first: Node, second: Node, *, in_place: bool) -> Node | None:  # noqa: C901 (a rule per keyword)
    """One node accepting what both ``first`` and ``second`` accept; None unless provably so.

    Both apply to the same value (an ``allOf`` branch and its parent, or, below them, the two
    schemas one property name gets from each), so their keywords can sit in one object when
    neither reads the other's siblings. Each keyword keeps the place it is written, and
    ``first``'s win between equal values and annotations. Where both hold a keyword:

    - ``properties`` maps are merged, a name in both getting the conjunction of its two
      schemas (recursively, by these rules): that is why ``{"properties": {"a": ...},
      "unevaluatedProperties": false, "allOf": [{"properties": {"b": ...}}]}`` compares as the
      closed object listing ``a`` and ``b``, each entry reported where it is written. With
      ``unevaluatedProperties`` on the parent this is exact: a name an ``allOf`` branch lists is
      evaluated by it, so the parent accepts it as the branch's schema allows, and 2020-12 has
      no other way for the branch to change what the parent's keywords see;
    - ``required`` lists are joined (a name required by either is required);
    - ``type``: the narrower of the two, when one accepts a subset of the other's types;
    - any other keyword without sub-schemas: only the same value twice.

    Not merged (None, so the caller keeps the strict distributive judgement of ``allOf``):
    a ``false`` schema; both following a ``$ref``; other shared keywords; keywords that read
    siblings on both sides (``additionalProperties`` with ``properties``/``patternProperties``,
    ``items`` with ``prefixItems``, ``contains`` with its bounds, ``if``/``then``/``else``),
    because merged they would pair up anew; ``unevaluated*`` in ``second``, or in either when
    ``in_place`` is false (side by side, neither sees what the other evaluates).
    """
    if second.boolean is True:
        return first
    if first.boolean is True:
        return second
    if first.boolean is False or second.boolean is False:
        return None
    if first.target is not None and second.target is not None:
        return None
    own = {key for key in first.keywords if key in _VALIDATION}
    theirs = {key for key in second.keywords if key in _VALIDATION}
    if theirs & _UNEVALUATED or (not in_place and own & _UNEVALUATED):
        return None
    for group in _SIBLING_GROUPS:
        if own & group and theirs & group and (group is not _PROPERTY_GROUP or "additionalProperties" in own | theirs):
            return None
    keywords = dict(first.keywords)
    entries = dict(first.entries)
    for key, value in second.keywords.items():
        if key not in keywords:
            keywords[key] = value
            entries.update((spot, entry) for spot, entry in second.entries.items() if spot[0] == key)
        elif key not in _VALIDATION:
            continue  # the first's annotations (and $defs, $id, ...) win
        elif key == "properties":
            merged = _merged_properties(first, second)
            if merged is None:
                return None
            keywords[key] = (merged[0], keywords[key][1])
            entries = {spot: entry for spot, entry in entries.items() if spot[0] != key} | merged[1]
        elif key == "required":
            names, spots = _merged_required(first, second)
            keywords[key] = (names, keywords[key][1])
            entries = {spot: entry for spot, entry in entries.items() if spot[0] != key} | spots
        elif key == "type" and _accepted_types(value[0]) <= _accepted_types(keywords[key][0]):
            keywords[key] = value  # the narrower type, where it is written
        elif key == "type" and _accepted_types(keywords[key][0]) <= _accepted_types(value[0]):
            continue
        elif key in _SUBSCHEMA_KEYWORDS or _canonical(value[0]) != _canonical(keywords[key][0]):
            return None
    return Node(first.loc, keywords, None, first.target or second.target, first.docs, first.outer, entries)


def _merged_properties(
    first: Node, second: Node
) -> tuple[dict[str, Any], dict[tuple[str, str | int], Node | Loc]] | None:
    """The ``properties`` of ``_conjoin``: (names -> raw schema, (properties, name) -> node)."""
    before, after = first.get("properties"), second.get("properties")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    names = dict(before)
    entries: dict[tuple[str, str | int], Node | Loc] = {
        ("properties", name): _child(first, "properties", name) for name in before
    }
    for name, value in after.items():
        schema = _child(second, "properties", name)
        if name in names:
            both = entries["properties", name]
            assert isinstance(both, Node)
            conjoined = _conjoin(both, schema, in_place=False)
            if conjoined is None:
                return None
            schema = conjoined
        else:
            names[name] = value
        entries["properties", name] = schema
    return names, entries


def _merged_required(first: Node, second: Node) -> tuple[list[str], dict[tuple[str, str | int], Node | Loc]]:
    """The ``required`` of ``_conjoin``: every name either requires, and where each is written."""
    names: list[str] = []
    spots: dict[tuple[str, str | int], Node | Loc] = {}
    for side in (first, second):
        listed = _name_list(side.get("required"))
        for index, name in enumerate(listed):
            if name not in names:
                spots["required", len(names)] = side.at("required", index)
                names.append(name)
    return names, spots
