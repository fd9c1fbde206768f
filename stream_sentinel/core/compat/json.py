"""JSON Schema compatibility, after the Confluent Schema Registry's published rules.

The registry's checker (``io.confluent.kafka.schemaregistry.json.diff``) walks the old and the new
schema together and names each difference (``Difference.Type``); a fixed set of those names is
compatible in the BACKWARD direction, and FORWARD is the same check with the schemas swapped. We
keep its vocabulary and its rules (open, closed and partially open content models; a property
added to an open object breaks BACKWARD because old data may hold any value under that name) but
walk once and record both directions per change, so one diff answers every mode.

Differences from the registry, each on purpose:

- keywords are compared where they are written, not after everit's re-modelling of a schema into
  typed sub-schemas, so ``{"type": "string", "maxLength": 5}`` reports ``max_length_added``
  rather than a changed combined schema;
- ``format`` is compared (the sentinel asserts formats), and so are ``const``, ``contains``,
  ``propertyNames``, ``if``/``then``/``else`` and ``patternProperties`` entries;
- ``$ref`` is followed in both schemas (in-file and across files, through the catalog's
  documents) before comparing, with cycle protection, so a change to a shared definition is
  reported once at the definition, and a ``$ref`` swapped for the same schema inline is no change;
- adding ``anyOf``/``oneOf``/``allOf`` next to other keywords is judged by distributing the other
  keywords into each branch (``A ∧ (B₁ ∨ B₂) = (A ∧ B₁) ∨ (A ∧ B₂)``), and a combinator added or
  removed takes part in the comparison of types (``allOf: [{type: string}]`` is a string);
- an ``allOf`` of one branch is merged into the schema holding it where that provably means the
  same (``_conjoin``: ``properties`` maps and ``required`` lists joined, each entry reported
  where it is written), so ``b`` declared in ``allOf: [{properties: {b: ...}}]`` beside
  ``unevaluatedProperties: false`` is judged as ``b`` declared beside it; where the branch-by-
  branch judgement cannot be proven (``unevaluated*`` sees every branch's evaluation, or a branch
  keyword would read the siblings' ``properties``), the change is breaking both ways;
- ``oneOf`` rejects a value matching two branches, so "some branch accepts it" is not enough:
  a ``oneOf`` added, removed or changed is compatible in a direction only if the branches on the
  receiving side are provably disjoint (distinct types, disjoint ``enum``/``const``, or a
  required discriminator property with disjoint values);
- a ``default`` does not make old data valid: the sentinel validates what is on the wire and
  never fills defaults in, so a property with a default becoming required breaks BACKWARD
  (the registry counts it compatible).

An absent sub-schema keyword is the empty schema, so ``items`` going from absent to
``{"type": "string"}`` is reported precisely, as ``type_narrowed`` at ``/items/type``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from stream_sentinel.core.check.annotate import json_type
from stream_sentinel.core.compat.kinds import KINDS
from stream_sentinel.core.compat.model import Change, ChangeSink, SchemaSource, all_backward, all_forward, lifecycle
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.catalog import SPEC_BASE_URI, VALUE_KEYWORDS
from stream_sentinel.core.errors import SpecError

Tokens = tuple[str | int, ...]
_MISSING = object()

# Keywords compared by a rule below; everything else is an annotation (cosmetic unless listed in
# _ANNOTATION_KINDS), including unknown keywords, which validators ignore.
_COMBINATORS = ("allOf", "anyOf", "oneOf")
_VALIDATION = frozenset(
    {
        "type",
        "enum",
        "const",
        "maxLength",
        "minLength",
        "pattern",
        "format",
        "maximum",
        "minimum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "multipleOf",
        "required",
        "properties",
        "additionalProperties",
        "unevaluatedProperties",
        "patternProperties",
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
        "maxProperties",
        "minProperties",
        "items",
        "prefixItems",
        "additionalItems",
        "unevaluatedItems",
        "contains",
        "maxContains",
        "minContains",
        "maxItems",
        "minItems",
        "uniqueItems",
        *_COMBINATORS,
        "not",
        "if",
        "then",
        "else",
    }
)
_REFERENCES = frozenset({"$ref", "$dynamicRef"})
_STRUCTURE = frozenset({*_REFERENCES, "$defs", "definitions"})
_ANNOTATION_KINDS = {
    "title": "title_changed",
    "description": "description_changed",
    "examples": "examples_changed",
    "$comment": "comment_changed",
    "$id": "id_changed",
    "default": "default_changed",
    "$schema": "dialect_changed",
    "x-pii": "pii_annotation_changed",
}
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
# Content-model state changes (old, new) -> kind suffix; schema -> schema is compared instead.
_TRANSITIONS = {
    ("closed", "open"): "added",
    ("closed", "schema"): "added",
    ("open", "closed"): "removed",
    ("schema", "closed"): "removed",
    ("schema", "open"): "extended",
    ("open", "schema"): "narrowed",
}
_ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
_TYPE_DEPTH = 8  # how deep combinators are followed for the types a node accepts (cuts $ref cycles)


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a schema node is written, and the documents its ``$ref`` are resolved against.

    ``file`` and ``tokens`` locate it, ``base`` is the base URI its ``$ref`` use, ``docs`` the
    documents of its side (old or new). The documents matter when keywords of both sides meet
    in one node (a combinator added or removed is judged by overlaying the branch on the other
    side's keywords): each keyword's sub-schemas must still resolve where they were written.
    """

    file: str
    tokens: Tokens
    base: str
    docs: _Documents | None = field(default=None, compare=False, repr=False)

    def child(self, *tokens: str | int) -> Loc:
        """The location of a node below this one."""
        return Loc(self.file, (*self.tokens, *tokens), self.base, self.docs)

    @property
    def where(self) -> tuple[str, Tokens]:
        """(file, tokens), as ``ChangeSink.emit`` takes it."""
        return self.file, self.tokens


@dataclass(frozen=True, slots=True)
class Node:
    """A schema node with its ``$ref`` chain folded in.

    ``keywords`` maps each keyword to (value, location of the object that holds it): the keywords
    of the ``$ref`` target first, those written beside the ``$ref`` on top, so each change is
    reported where its keyword is written. ``boolean`` is set for ``true``/``false`` schemas.
    ``outer`` is set on a branch of ``allOf``/``anyOf``/``oneOf``: (the schema holding the
    combinator, the combinator, the branch's index), for the ``unevaluated*`` keywords there.
    ``entries`` is set when a keyword's entries come from several objects (``properties`` and
    ``required`` of an ``allOf`` branch merged into its parent, see ``_conjoin``): (keyword, name
    or index) -> the entry's node (a sub-schema) or where it is written (a plain value).
    """

    loc: Loc
    keywords: Mapping[str, tuple[Any, Loc]]
    boolean: bool | None = None
    target: Loc | None = None
    docs: _Documents | None = field(default=None, compare=False, repr=False)
    outer: tuple[Node, str, int] | None = field(default=None, compare=False, repr=False)
    entries: Mapping[tuple[str, str | int], Node | Loc] = field(default_factory=dict, compare=False, repr=False)

    def has(self, keyword: str) -> bool:
        """Whether the keyword is present."""
        return keyword in self.keywords

    def get(self, keyword: str, default: Any = None) -> Any:
        """The keyword's value, or ``default``."""
        entry = self.keywords.get(keyword)
        return default if entry is None else entry[0]

    def at(self, keyword: str, *tokens: str | int) -> Loc:
        """Location of ``keyword`` (and below it), where it is written."""
        if tokens:
            merged = self.entries.get((keyword, tokens[0]))
            if merged is not None:
                return (merged.loc if isinstance(merged, Node) else merged).child(*tokens[1:])
        entry = self.keywords.get(keyword)
        holder = self.loc if entry is None else entry[1]
        return holder.child(keyword, *tokens)

    @property
    def identity(self) -> tuple[Loc | None, frozenset[Loc]]:
        """What the node is made of: its ``$ref`` target and every object giving it a keyword.

        A use of a ``$ref`` that holds nothing but the reference adds nothing, so every plain
        use of a definition is the same node (compared once); one with keywords beside the
        ``$ref`` is a node of its own.
        """
        holders = frozenset(loc for key, (_, loc) in self.keywords.items() if key not in _REFERENCES)
        merged = frozenset(entry.loc if isinstance(entry, Node) else entry for entry in self.entries.values())
        return self.target, holders | merged

    def without(self, *keywords: str) -> Node:
        """This node minus some keywords (for distributing siblings into combinator branches)."""
        kept = {k: v for k, v in self.keywords.items() if k not in keywords}
        entries = {k: v for k, v in self.entries.items() if k[0] not in keywords}
        return Node(self.loc, kept, self.boolean, self.target, self.docs, self.outer, entries)


class _Documents:
    """The ``$ref`` universe of one side: every JSON Schema document by URI, and embedded ``$id``s."""

    def __init__(self, documents: Mapping[str, Any]) -> None:
        self.resources: dict[str, tuple[str, Tokens, Any, str]] = {}
        #: files whose dialect (draft-04/06/07) ignores the keywords beside ``$ref``
        self.ref_alone: set[str] = set()
        for uri, doc in documents.items():
            file = uri.removeprefix(SPEC_BASE_URI)
            self.resources[uri] = (file, (), doc, uri)
            if _ref_ignores_siblings(doc):
                self.ref_alone.add(file)
            for tokens, node, base in _embedded_ids(doc, uri, ()):
                self.resources.setdefault(base, (file, tokens, node, base))

    def lookup(self, reference: str, site: Loc) -> tuple[Any, Loc]:
        """The node a reference leads to and where it is; ``SpecError`` if it cannot be followed."""
        doc_uri, fragment = urldefrag(urljoin(site.base, reference))
        resource = self.resources.get(doc_uri)
        if resource is not None:
            file, root_tokens, root, base = resource
            if not fragment:
                return root, Loc(file, root_tokens, base, self)
            if fragment.startswith("/"):
                tokens = jp.parse(unquote(fragment))
                try:
                    node = jp.resolve(root, tokens)
                except KeyError:
                    node = _MISSING
                if node is not _MISSING:
                    return node, Loc(file, (*root_tokens, *tokens), _base_along(root, tokens, base), self)
            else:
                found = _find_anchor(root, fragment, ())
                if found is not None:
                    return found[1], Loc(file, (*root_tokens, *found[0]), base, self)
        raise SpecError(site.file, jp.to_pointer((*site.tokens, "$ref")), f"$ref {reference!r} cannot be followed")


_REF_ALONE_DIALECTS = re.compile(r"^https?://json-schema\.org/draft-0[3-7]/schema#?$")


def _ref_ignores_siblings(doc: Any) -> bool:
    """Whether ``doc`` is draft-04/06/07, where a ``$ref`` makes every keyword beside it ignored."""
    dialect = doc.get("$schema") if isinstance(doc, dict) else None
    return isinstance(dialect, str) and _REF_ALONE_DIALECTS.match(dialect) is not None


def _beside_ref_kept(key: str) -> bool:
    """Keywords kept beside a draft-04/06/07 ``$ref``.

    The reference, the dialect, and ``x-`` annotations, which the sentinel reads in every
    dialect (``x-pii`` is never dropped).
    """
    return key in ("$ref", "$schema") or key.startswith("x-")


def _embedded_ids(node: Any, base: str, tokens: Tokens) -> Iterator[tuple[Tokens, Any, str]]:
    if isinstance(node, dict):
        ident = node.get("$id")
        if tokens and isinstance(ident, str):
            base = urljoin(base, ident).rstrip("#")
            yield tokens, node, base
        for key, value in node.items():
            if key not in VALUE_KEYWORDS:
                yield from _embedded_ids(value, base, (*tokens, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _embedded_ids(item, base, (*tokens, index))


def _base_along(root: Any, tokens: tuple[str, ...], base: str) -> str:
    node = root
    for token in tokens:
        if isinstance(node, dict) and isinstance(node.get("$id"), str) and node is not root:
            base = urljoin(base, node["$id"])
        node = node[int(token)] if isinstance(node, list) else node.get(token) if isinstance(node, dict) else None
    return base


def _find_anchor(node: Any, name: str, tokens: Tokens) -> tuple[Tokens, Any] | None:
    if isinstance(node, dict):
        if node.get("$anchor") == name or node.get("$dynamicAnchor") == name:
            return tokens, node
        for key, value in node.items():
            if key not in VALUE_KEYWORDS:
                found = _find_anchor(value, name, (*tokens, key))
                if found is not None:
                    return found
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found = _find_anchor(item, name, (*tokens, index))
            if found is not None:
                return found
    return None


_REF_CHAIN_LIMIT = 64
_Identity = tuple[Loc | None, frozenset[Loc]]


def node_at(docs: _Documents, raw: Any, loc: Loc) -> Node:
    """Fold ``raw`` (and its ``$ref`` chain) into a ``Node``.

    A chain of ``$ref`` that comes back to itself has no meaning; it is cut and treated as the
    empty schema rather than looping.
    """
    keywords: dict[str, tuple[Any, Loc]] = {}
    target: Loc | None = None
    site = loc
    for _ in range(_REF_CHAIN_LIMIT):
        if isinstance(raw, bool):
            if not keywords:
                return Node(loc, {}, raw, target, docs)
            break
        if not isinstance(raw, dict):
            break
        if isinstance(raw.get("$ref"), str) and site.file in docs.ref_alone:
            raw = {k: v for k, v in raw.items() if _beside_ref_kept(k)}
        ident = raw.get("$id")
        if isinstance(ident, str) and site.tokens:
            site = Loc(site.file, site.tokens, urljoin(site.base, ident), site.docs)
        for key, value in raw.items():
            keywords.setdefault(key, (value, site))  # keywords nearer the use win
        reference = raw.get("$ref", raw.get("$dynamicRef"))
        if not isinstance(reference, str):
            break
        raw, site = docs.lookup(reference, site)
        target = site
    return Node(loc, keywords, None, target, docs)


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
_UNEVALUATED = frozenset({"unevaluatedProperties", "unevaluatedItems"})


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


def _conjoin(first: Node, second: Node, *, in_place: bool) -> Node | None:
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


def _child(node: Node, keyword: str, *tokens: str | int) -> Node:
    """The sub-schema at ``keyword``/``tokens``; absent means the empty schema."""
    if tokens:
        merged = node.entries.get((keyword, tokens[0]))
        if isinstance(merged, Node):
            rest = tokens[1:]
            if not rest:
                return merged
            if isinstance(rest[0], str):
                return _child(merged, rest[0], *rest[1:])
    value = node.get(keyword, _MISSING)
    for token in tokens:
        if isinstance(value, dict) and isinstance(token, str):
            value = value.get(token, _MISSING)
        elif isinstance(value, list) and isinstance(token, int) and token < len(value):
            value = value[token]
        else:
            value = _MISSING
    loc = node.at(keyword, *tokens)
    docs = loc.docs or node.docs  # the side the keyword is written on
    assert docs is not None
    return _true(loc, docs) if value is _MISSING else node_at(docs, value, loc)


def _true(loc: Loc, docs: _Documents | None) -> Node:
    return Node(loc, {}, True, None, docs)


def trivial(node: Node) -> bool:
    """Whether the node accepts every value (``true``, ``{}``, or annotations only)."""
    if node.boolean is not None:
        return node.boolean
    return not any(k in _VALIDATION for k in node.keywords)


def _canonical(value: Any) -> str:
    """JSON equality as JSON Schema defines it: 1 == 1.0, true != 1, key order irrelevant."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True, ensure_ascii=False)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name_list(names: Any) -> list[str]:
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


class JsonDiff:
    """One walk over an old and a new schema, collecting changes in ``sink``."""

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
        return JsonDiff(self._active).run(old, new)

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
        if old.has("allOf") != new.has("allOf"):  # on both sides, branches are paired instead
            old, new = _flattened(old), _flattened(new)
        if old.boolean is False or new.boolean is False:
            self._false(old, new)
            return
        self._annotations(old, new)
        if self._types(old, new):
            return
        self._values(old, new)
        self._bounds(old, new)
        self._multiple_of(old, new)
        self._constraints(old, new)
        self._object(old, new)
        self._array(old, new)
        self._combinators(old, new)
        self._not(old, new)
        self._conditional(old, new)

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

    def _annotations(self, old: Node, new: Node) -> None:
        for keyword in [*old.keywords, *(k for k in new.keywords if k not in old.keywords)]:
            if keyword in _VALIDATION or keyword in _STRUCTURE:
                continue
            before, after = old.get(keyword, _MISSING), new.get(keyword, _MISSING)
            if before is not _MISSING and after is not _MISSING and _canonical(before) == _canonical(after):
                continue
            kind = _ANNOTATION_KINDS.get(keyword, "annotation_changed")
            what = "added" if before is _MISSING else "removed" if after is _MISSING else "changed"
            detail = f": {_short(after)}" if after is not _MISSING and kind != "description_changed" else ""
            self._emit(kind, old, new, keyword, f"{keyword} {what}{detail}")

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

    # -- objects ----------------------------------------------------------------------------

    def _object(self, old: Node, new: Node) -> None:
        old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
        old_req, new_req = set(_name_list(old.get("required"))), set(_name_list(new.get("required")))
        for name in [*old_props, *(n for n in new_props if n not in old_props)]:
            if name in old_props and name in new_props:
                self.diff(self.child(old, "properties", name), self.child(new, "properties", name))
            elif name in new_props:
                self._property_added(old, new, name, old_req, new_req)
            else:
                self._property_removed(old, new, name, old_req, new_req)
        for name in sorted(old_req ^ new_req):
            if (name in old_props) != (name in new_props):
                continue  # judged with the property itself
            self._required(old, new, name, name in new_req)
        self._content_keyword(old, new, "additionalProperties", "additional_properties", "properties not listed")
        if old.has("additionalProperties") != new.has("additionalProperties") and _unevaluated_around(old, new):
            # Without additionalProperties, a name no keyword evaluates is left to an
            # unevaluatedProperties here or around the branch, not open: judged that way too (the
            # open reading above stays for the names something else evaluates), so both count.
            before = (
                self.child(old, "additionalProperties") if old.has("additionalProperties") else self.unlisted(old, None)
            )
            after = (
                self.child(new, "additionalProperties") if new.has("additionalProperties") else self.unlisted(new, None)
            )
            if _state(before) != "open" or _state(after) != "open":
                self._content_model(
                    old, new, before, after, "additionalProperties", "additional_properties", "properties not evaluated"
                )
        # Beside additionalProperties every name is evaluated, so unevaluatedProperties never
        # applies: compared as absent there (``{"unevaluatedProperties": false}`` gaining
        # ``"additionalProperties": {...}`` is no longer closed).
        old_view, new_view = (
            node.without("unevaluatedProperties") if node.has("additionalProperties") else node for node in (old, new)
        )
        self._content_keyword(
            old_view, new_view, "unevaluatedProperties", "unevaluated_properties", "properties not listed"
        )
        self._pattern_properties(old, new)
        self._dependencies(old, new)
        if old.has("propertyNames") or new.has("propertyNames"):
            self.diff(self.child(old, "propertyNames"), self.child(new, "propertyNames"))

    def _required(self, old: Node, new: Node, name: str, now_required: bool) -> None:
        holder = new if now_required else old
        names = _name_list(holder.get("required"))
        where = holder.at("required", names.index(name)).where
        if now_required:
            has_default = self.child(new, "properties", name).has("default")
            kind = "required_attribute_with_default_added" if has_default else "required_attribute_added"
            self.sink.emit(kind, where, f"{name} is now required")
        else:
            self.sink.emit("required_attribute_removed", where, f"{name} is no longer required", side="old")

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

    def _property_added(self, old: Node, new: Node, name: str, old_req: set[str], new_req: set[str]) -> None:
        schema = self.child(new, "properties", name)
        treats = self.unlisted_both(old, name)
        model, backward, forward = self.cover_added(treats[0], schema)
        for other in treats[1:]:
            _, other_backward, other_forward = self.cover_added(other, schema)
            backward, forward = backward and other_backward, forward and other_forward
        required = name in new_req and name not in old_req
        has_default = schema.has("default")
        forward = forward and not (name in old_req and name not in new_req)
        where = new.at("properties", name).where
        what = "required" if required else "optional"
        if model == "partial":
            kind = f"property_added_{'is' if backward else 'not'}_covered_by_partially_open_content_model"
            self.sink.emit(kind, where, f"{what} property {name} added", backward=backward, forward=forward)
            if required:
                self._required(old, new, name, now_required=True)
            return
        if model == "closed":
            if required:
                # A default does not help: the sentinel validates what is on the wire, it never
                # fills defaults in, so old data without the property is rejected all the same.
                kind = f"required_property_{'with_default_' if has_default else ''}added_to_unopen_content_model"
                backward = False
            else:
                kind = "optional_property_added_to_unopen_content_model"
            why = "old data never has it" + (", so new readers reject all of it" if required else "")
        elif required:
            kind, backward = "required_property_added_to_open_content_model", False
            why = "old data may lack it or hold any value there"
        else:
            kind = (
                "property_with_empty_schema_added_to_open_content_model"
                if backward
                else "optional_property_added_to_open_content_model"
            )
            why = "any value was allowed there before" + ("" if backward else ", so old data may not match")
        self.sink.emit(
            kind,
            where,
            f"{what} property {name} added to a{' closed' if model == 'closed' else 'n open'} object: {why}",
            backward=backward,
            forward=forward,
        )

    def _property_removed(self, old: Node, new: Node, name: str, old_req: set[str], new_req: set[str]) -> None:
        schema = self.child(old, "properties", name)
        treats = self.unlisted_both(new, name)
        model, backward, forward = self.cover_removed(schema, treats[0])
        for other in treats[1:]:
            _, other_backward, other_forward = self.cover_removed(schema, other)
            backward, forward = backward and other_backward, forward and other_forward
        backward = backward and not (name in new_req and name not in old_req)
        forward = forward and not (name in old_req and name not in new_req)
        if model == "partial":
            kind = f"property_removed_{'is' if backward else 'not'}_covered_by_partially_open_content_model"
        elif model == "closed":
            kind = (
                "property_with_false_removed_from_closed_content_model"
                if schema.boolean is False
                else "property_removed_from_closed_content_model"
            )
        else:
            kind = "property_removed_from_open_content_model"
        required = " (it was required)" if name in old_req else ""
        self.sink.emit(
            kind,
            old.at("properties", name).where,
            f"property {name}{required} removed from a{'n open' if model == 'open' else ' ' + model} object",
            backward=backward,
            forward=forward,
            side="old",
        )

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

    def _pattern_properties(self, old: Node, new: Node) -> None:
        old_patterns, new_patterns = old.get("patternProperties") or {}, new.get("patternProperties") or {}
        for pattern in [*old_patterns, *(p for p in new_patterns if p not in old_patterns)]:
            if pattern in old_patterns and pattern in new_patterns:
                self.diff(self.child(old, "patternProperties", pattern), self.child(new, "patternProperties", pattern))
            elif pattern in new_patterns:
                schema = self.child(new, "patternProperties", pattern)
                _, backward, forward = self.cover_added(self.unlisted(old, None), schema)
                if self._outer_may_evaluate(old, pattern):  # those names were open to the branch
                    _, open_backward, open_forward = self.cover_added(_true(old.loc, old.docs), schema)
                    backward, forward = backward and open_backward, forward and open_forward
                # A pattern applies to the names `properties` lists too: old data under a listed
                # name that it matches must fit it.
                backward = backward and all(
                    all_backward(self.sub(self._named(old, name), schema)) for name in _matching_names(new, pattern)
                )
                self.sink.emit(
                    "pattern_property_added",
                    new.at("patternProperties", pattern).where,
                    f"patternProperties {pattern!r} added",
                    backward=backward,
                    forward=forward,
                )
            else:
                schema = self.child(old, "patternProperties", pattern)
                _, backward, forward = self.cover_removed(schema, self.unlisted(new, None))
                if self._outer_may_evaluate(new, pattern):
                    _, open_backward, open_forward = self.cover_removed(schema, _true(new.loc, new.docs))
                    backward, forward = backward and open_backward, forward and open_forward
                # ... and new data under a name the old schema listed must fit the pattern it lost.
                forward = forward and all(
                    all_forward(self.sub(schema, self._named(new, name))) for name in _matching_names(old, pattern)
                )
                self.sink.emit(
                    "pattern_property_removed",
                    old.at("patternProperties", pattern).where,
                    f"patternProperties {pattern!r} removed",
                    backward=backward,
                    forward=forward,
                    side="old",
                )

    def _outer_may_evaluate(self, node: Node, pattern: str) -> bool:
        """Whether schemas around a branch may treat some names ``pattern`` matches their own way.

        ``unlisted`` without a name follows ``outer`` to the first ``additionalProperties`` or
        ``unevaluatedProperties`` around; but a name the parent lists (or matches by a pattern, or
        that another in-place sub-schema may evaluate) is not treated so. For those names the
        branch's pattern is a plain constraint on an open name, so callers judge both ways and keep
        the stricter verdict per direction.
        """
        current = node
        while current.outer is not None and not (
            current.has("additionalProperties") or current.has("unevaluatedProperties")
        ):
            parent, keyword, index = current.outer
            if parent.has("patternProperties") or _matching_names(parent, pattern):
                return True
            if self._subschemas_evaluate(parent, (keyword, index), lambda _node, _depth: True):
                return True
            current = parent
        return False

    def _named(self, node: Node, name: str) -> Node:
        """The schema ``node`` gives the property ``name``: listed, or as it treats unlisted names."""
        if name in (node.get("properties") or {}):
            return self.child(node, "properties", name)
        return self.unlisted(node, name)

    def _dependencies(self, old: Node, new: Node) -> None:
        old_arrays, old_schemas = _dependency_entries(old)
        new_arrays, new_schemas = _dependency_entries(new)
        for name in [*old_arrays, *(n for n in new_arrays if n not in old_arrays)]:
            before, after = old_arrays.get(name), new_arrays.get(name)
            if before is not None and after is not None:
                b, a = set(before[0]), set(after[0])
                if a == b:
                    continue
                kind = (
                    "dependency_array_extended"
                    if a > b
                    else "dependency_array_narrowed"
                    if a < b
                    else "dependency_array_changed"
                )
                self.sink.emit(kind, new.at(after[1], name).where, f"{name} depends on {sorted(b)} -> {sorted(a)}")
            elif after is not None:
                self.sink.emit(
                    "dependency_array_added", new.at(after[1], name).where, f"{name} now needs {sorted(after[0])}"
                )
            elif before is not None:
                self.sink.emit(
                    "dependency_array_removed",
                    old.at(before[1], name).where,
                    f"{name} no longer needs {sorted(before[0])}",
                    side="old",
                )
        for name in [*old_schemas, *(n for n in new_schemas if n not in old_schemas)]:
            if name in old_schemas and name in new_schemas:
                self.diff(self.child(old, old_schemas[name], name), self.child(new, new_schemas[name], name))
            elif name in new_schemas:
                self.sink.emit(
                    "dependency_schema_added",
                    new.at(new_schemas[name], name).where,
                    f"dependent schema for {name} added",
                )
            else:
                self.sink.emit(
                    "dependency_schema_removed",
                    old.at(old_schemas[name], name).where,
                    f"dependent schema for {name} removed",
                    side="old",
                )

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

    # -- combinators ------------------------------------------------------------------------

    def _combinators(self, old: Node, new: Node) -> None:
        old_kws = [k for k in _COMBINATORS if old.has(k)]
        new_kws = [k for k in _COMBINATORS if new.has(k)]
        if len(old_kws) == 1 and len(new_kws) == 1 and old_kws != new_kws:
            self._branches(old, new, old_kws[0], new_kws[0])
            return
        for keyword in _COMBINATORS:
            if keyword in old_kws and keyword in new_kws:
                self._branches(old, new, keyword, keyword)
            elif keyword in new_kws:
                self._combinator_added(old, new, keyword)
            elif keyword in old_kws:
                self._combinator_removed(old, new, keyword)

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

    def _branches(self, old: Node, new: Node, old_kw: str, new_kw: str) -> None:
        """Same or switched combinator: pair branches up as the registry does (maximum matching)."""
        # An unevaluated* keyword here or around sees what the branches evaluate: a branch more
        # or less, or another combinator (anyOf counts only the branches that pass), changes what
        # it accepts in ways the pairing below does not see, so neither direction is proven.
        unproven = _unevaluated_around(old, new)
        note = " (unevaluated* sees what the branches evaluate)" if unproven else ""
        old_dropped: list[Node] = []
        new_dropped: list[Node] = []
        old_branches = self._branch_nodes(old, old_kw, old_dropped, keep_empty=unproven)
        new_branches = self._branch_nodes(new, new_kw, new_dropped, keep_empty=unproven)
        if old_kw == new_kw == "allOf" and len(old_branches) != len(new_branches) and not unproven:
            # allOf [X...] is allOf [X..., {}]: with the shorter side padded by empty branches
            # (those it dropped first, where they are written) a one-to-one pairing may prove
            # what the branch count cannot, e.g. a branch that accepts everything old data held.
            old_padded = self._padded(old, old_branches, old_dropped, len(new_branches))
            new_padded = self._padded(new, new_branches, new_dropped, len(old_branches))
            padded = {(i, j): self.sub(o, n) for i, o in enumerate(old_padded) for j, n in enumerate(new_padded)}
            size = len(old_padded)
            grew = len(new_branches) > len(old_branches)
            if (_matching(padded, all_backward) >= size) if grew else (_matching(padded, all_forward) >= size):
                old_branches, new_branches = old_padded, new_padded
        pairs = {(i, j): self.sub(o, n) for i, o in enumerate(old_branches) for j, n in enumerate(new_branches)}
        if old_kw != new_kw and "oneOf" not in (old_kw, new_kw):
            self._switched(old, new, (old_kw, new_kw), pairs, unproven, note)
            for i, j in _report_pairs(pairs):
                self.sink.extend(pairs[i, j])
            return
        if old_kw != new_kw:
            singles = (len(old_branches) == 1, len(new_branches) == 1)
            backward = _criterion_ok(old_kw, new_kw, *singles) and not unproven
            forward = _criterion_ok(new_kw, old_kw, singles[1], singles[0]) and not unproven
            kind = "combined_type_extended" if backward else "combined_type_changed"
            self._emit(kind, old, new, new_kw, f"{old_kw} -> {new_kw}{note}", backward=backward, forward=forward)
        size = min(len(old_branches), len(new_branches))
        backward = _matching(pairs, all_backward) >= size
        forward = _matching(pairs, all_forward) >= size
        # oneOf rejects a value matching two branches: once its branches change, old data may
        # match two new branches (BACKWARD) or new data two old ones (FORWARD) unless they are
        # provably disjoint.
        overlap_new = new_kw == "oneOf" and not self.disjoint(new_branches)
        overlap_old = old_kw == "oneOf" and not self.disjoint(old_branches)
        why = _overlap_note(overlap_new, overlap_old)
        if len(old_branches) != len(new_branches):
            grew = len(new_branches) > len(old_branches)
            kind = f"{'product' if new_kw == 'allOf' else 'sum'}_type_{'extended' if grew else 'narrowed'}"
            rule = KINDS[kind]
            self._emit(
                kind,
                old,
                new,
                new_kw,
                f"{new_kw}: {len(old_branches)} -> {len(new_branches)} branches{why}{note}",
                backward=bool(rule.backward) and not overlap_new and not unproven,
                forward=bool(rule.forward) and not overlap_old and not unproven,
            )
        elif any(not c.cosmetic for changes in pairs.values() for c in changes):
            backward, forward = backward and not overlap_new, forward and not overlap_old
        if not (backward and forward):
            self._emit(
                "combined_type_subschemas_changed",
                old,
                new,
                new_kw,
                f"{new_kw}: some branches no longer pair with a compatible branch{why}",
                backward=backward,
                forward=forward,
            )
        for i, j in _report_pairs(pairs):
            self.sink.extend(pairs[i, j])

    def _padded(self, node: Node, branches: list[Node], dropped: list[Node], size: int) -> list[Node]:
        """``branches`` of an allOf made up to ``size`` with empty ones (its dropped ones first)."""
        pads = [*dropped, *(_true(node.at("allOf"), node.docs) for _ in range(size))]
        return [*branches, *pads[: max(0, size - len(branches))]]

    def _switched(
        self,
        old: Node,
        new: Node,
        keywords: tuple[str, str],
        pairs: Mapping[tuple[int, int], list[Change]],
        unproven: bool,
        note: str,
    ) -> None:
        """``allOf`` <-> ``anyOf``, judged by what each accepts, not by how many branches.

        Data written under ``allOf: [W...]`` is valid under ``anyOf: [R...]`` if one ``W`` fits in
        one ``R`` (the conjunction is inside each of its branches, each ``R`` inside the
        disjunction); data written under ``anyOf: [W...]`` is valid under ``allOf: [R...]`` if every
        ``W`` fits in every ``R``. Pair verdicts come from comparing the branches one to one.
        """
        old_kw, new_kw = keywords
        sizes = {i for i, _ in pairs}, {j for _, j in pairs}

        def holds(writer: str, fits: set[tuple[int, int]], writers: set[int], readers: set[int]) -> bool:
            if writer == "allOf":  # the reader is anyOf
                return bool(fits)
            return all((w, r) in fits for w in writers for r in readers)

        back_fits = {(i, j) for (i, j), changes in pairs.items() if all_backward(changes)}
        fore_fits = {(j, i) for (i, j), changes in pairs.items() if all_forward(changes)}
        backward = holds(old_kw, back_fits, sizes[0], sizes[1]) and not unproven
        forward = holds(new_kw, fore_fits, sizes[1], sizes[0]) and not unproven
        kind = "combined_type_extended" if backward else "combined_type_changed"
        self._emit(kind, old, new, new_kw, f"{old_kw} -> {new_kw}{note}", backward=backward, forward=forward)

    def _combinator_added(self, old: Node, new: Node, keyword: str) -> None:
        # Distribute: the old schema plus one branch's constraints, per branch.
        base = old.without(*_COMBINATORS)
        branches = self._branch_nodes(new, keyword)
        results = [self.sub(base, _overlay(base, branch)) for branch in branches]
        backward_each = [all_backward(r) for r in results]
        forward_each = [all_forward(r) for r in results]
        overlap = keyword == "oneOf" and not self.disjoint(branches)
        if keyword == "allOf":
            kind, backward, forward = "product_type_added", all(backward_each), any(forward_each)
        else:
            kind, backward, forward = "sum_type_added", any(backward_each) and not overlap, all(forward_each)
        inexact = _inexact_overlay(old, new, base, branches)
        if inexact:
            backward = forward = False
        self._emit(
            kind,
            old,
            new,
            keyword,
            f"{keyword} added with {len(results)} branch(es){_overlap_note(overlap, False)}{inexact}",
            backward=backward,
            forward=forward,
        )

    def _combinator_removed(self, old: Node, new: Node, keyword: str) -> None:
        base = new.without(*_COMBINATORS)
        branches = self._branch_nodes(old, keyword)
        results = [self.sub(_overlay(base, branch), base) for branch in branches]
        backward_each = [all_backward(r) for r in results]
        forward_each = [all_forward(r) for r in results]
        overlap = keyword == "oneOf" and not self.disjoint(branches)
        if keyword == "allOf":
            kind, backward, forward = "product_type_removed", any(backward_each), all(forward_each)
        else:
            kind, backward, forward = "sum_type_removed", all(backward_each), any(forward_each) and not overlap
        inexact = _inexact_overlay(old, new, base, branches)
        if inexact:
            backward = forward = False
        self._emit(
            kind,
            old,
            new,
            keyword,
            f"{keyword} removed{_overlap_note(False, overlap)}{inexact}",
            backward=backward,
            forward=forward,
        )

    def disjoint(self, branches: list[Node]) -> bool:
        """Whether no value can match two of ``branches`` (so ``oneOf`` acts as ``anyOf``).

        Provably disjoint only: distinct types, disjoint ``enum``/``const`` values, or objects
        that both require a property whose values or types are disjoint (a discriminator).
        """
        return all(self._apart(a, b) for index, a in enumerate(branches) for b in branches[index + 1 :])

    def _apart(self, a: Node, b: Node) -> bool:
        common = self.types_of(a) & self.types_of(b)
        if not common or _values_apart(a, b):
            return True
        if not common <= {"object"}:
            return False
        for name in set(_name_list(a.get("required"))) & set(_name_list(b.get("required"))):
            left, right = self.child(a, "properties", name), self.child(b, "properties", name)
            if not (self.types_of(left) & self.types_of(right)) or _values_apart(left, right):
                return True
        return False

    def _not(self, old: Node, new: Node) -> None:
        if old.has("not") and new.has("not"):
            inner = self.sub(self.child(old, "not"), self.child(new, "not"))
            if all(c.cosmetic for c in inner):
                self.sink.extend(inner)
                return
            # The new schema rejects what its `not` matches: it accepts old data when the new
            # `not` matches less, i.e. when the inner change is compatible the other way.
            backward, forward = all_forward(inner), all_backward(inner)
            kind = "not_type_narrowed" if backward else "not_type_extended"
            self._emit(kind, old, new, "not", "the schema under not changed", backward=backward, forward=forward)
        elif old.has("not") or new.has("not"):
            kind = "not_type_added" if new.has("not") else "not_type_removed"
            self._emit(kind, old, new, "not", kind.replace("_type_", " ").replace("_", " "))

    def _conditional(self, old: Node, new: Node) -> None:
        if old.has("if") and new.has("if"):
            inner = self.sub(self.child(old, "if"), self.child(new, "if"))
            if not all(c.cosmetic for c in inner):
                self._emit("conditional_changed", old, new, "if", "the if of if/then/else changed")
                return
            self.sink.extend(inner)
            for keyword in ("then", "else"):
                if old.has(keyword) or new.has(keyword):
                    self.diff(self.child(old, keyword), self.child(new, keyword))
        elif (old.has("if") and (old.has("then") or old.has("else"))) or (
            new.has("if") and (new.has("then") or new.has("else"))
        ):
            kind = "conditional_added" if new.has("if") else "conditional_removed"
            self._emit(kind, old, new, "if", f"if/then/else {'added' if new.has('if') else 'removed'}")


def _values_apart(a: Node, b: Node) -> bool:
    left, right = _allowed_values(a), _allowed_values(b)
    return left is not None and right is not None and not (left & right)


def _overlap_note(new_side: bool, old_side: bool) -> str:
    if not (new_side or old_side):
        return ""
    side = "new and old" if new_side and old_side else "new" if new_side else "old"
    return f" (the {side} oneOf branches may overlap: a value matching two is rejected)"


# A keyword that reads siblings -> the siblings it reads, when one of them keeps it from
# applying: beside the base's, a branch's keyword would exempt more (``additionalProperties``,
# ``items``) or count differently (``contains`` with ``minContains: 0`` passes always).
_LOOSENED_BY = {
    "additionalProperties": ("properties", "patternProperties"),
    "items": ("prefixItems",),
    "contains": ("minContains", "maxContains"),
}


def _unevaluated_around(*nodes: Node, keywords: frozenset[str] = _UNEVALUATED) -> bool:
    """Whether an ``unevaluated*`` keyword (of ``keywords``) on one of ``nodes``, or around it (``outer``), sees it."""
    for node in nodes:
        around: Node | None = node
        while around is not None:
            if around.keywords.keys() & keywords:
                return True
            around = around.outer[0] if around.outer is not None else None
    return False


def _inexact_overlay(old: Node, new: Node, base: Node, branches: list[Node]) -> str:
    """Why ``_overlay`` may not stand for "base and branch" here (a note for the message), or "".

    A combinator added or removed is judged branch by branch: ``base`` with the branch's keywords
    on top (``O``) against ``base``. Every verdict that can come out compatible rests on "all of
    ``base`` is in ``O``", which must imply "all of ``base`` is in the branch": it does while the
    branch's keywords assert in ``O`` at least what they assert alone. A base keyword the branch
    replaces, or a base keyword reading the branch's siblings, only changes the base side, which
    is fine. Not so when a branch keyword would read the base's siblings and be loosened by them
    (``_LOOSENED_BY``), or when ``unevaluated*`` is in play (in a branch; on either schema or
    around it, ``outer``: it sees what every branch evaluates, not one at a time). Then neither
    direction is proven and both are judged breaking (``allOf`` of one branch is merged exactly
    by ``_flattened`` before this, where it can be).
    """
    if _unevaluated_around(old, new):
        return " (unevaluated* sees what every branch evaluates: not judged branch by branch)"
    own = {key for key in base.keywords if key in _VALIDATION}
    for branch in branches:
        theirs = {key for key in branch.keywords if key in _VALIDATION}
        if theirs & _UNEVALUATED:
            return " (a branch has its own unevaluated*: not judged branch by branch)"
        for reader, read in _LOOSENED_BY.items():
            if reader in theirs and any(key in own and key not in theirs for key in read):
                return f" (a branch's {reader} would read the siblings' {'/'.join(read)}: not judged branch by branch)"
    return ""


def _overlay(base: Node, branch: Node) -> Node:
    """``base`` with a branch's keywords on top (the branch wins where both constrain)."""
    if branch.boolean is False:
        return branch
    entries = {spot: e for spot, e in base.entries.items() if spot[0] not in branch.keywords} | dict(branch.entries)
    keywords = {**base.keywords, **branch.keywords}
    return Node(branch.loc, keywords, None, branch.target, branch.docs, base.outer, entries)


def _criterion_ok(writer: str, reader: str, writer_single: bool, reader_single: bool) -> bool:
    """Whether data valid under ``writer``'s combinator is valid under ``reader``'s (registry rule)."""
    if writer == reader or reader == "anyOf":
        return True
    if reader == "oneOf":
        return writer_single
    return writer_single and reader_single


def _matching(pairs: Mapping[tuple[int, int], list[Change]], ok: Callable[[list[Change]], bool]) -> int:
    """Size of a maximum matching over the compatible (old, new) branch pairs (Kuhn's algorithm)."""
    edges: dict[int, list[int]] = {}
    for (i, j), changes in pairs.items():
        if ok(changes):
            edges.setdefault(i, []).append(j)
    owner: dict[int, int] = {}

    def augment(i: int, visited: set[int]) -> bool:
        for j in edges.get(i, ()):
            if j in visited:
                continue
            visited.add(j)
            if j not in owner or augment(owner[j], visited):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in edges)


def _report_pairs(pairs: Mapping[tuple[int, int], list[Change]]) -> list[tuple[int, int]]:
    """Pair each branch with its closest counterpart (fewest changes) to report what changed inside."""
    chosen: list[tuple[int, int]] = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for (i, j), changes in sorted(pairs.items(), key=lambda item: (len(item[1]), item[0])):
        if i in used_old or j in used_new:
            continue
        if changes and not (all_backward(changes) or all_forward(changes)):
            continue  # unrelated branches: what differs inside them is noise
        chosen.append((i, j))
        used_old.add(i)
        used_new.add(j)
    return sorted(chosen)


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


def _state(node: Node) -> str:
    if node.boolean is False:
        return "closed"
    return "open" if trivial(node) else "schema"


def _search(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def _matching_names(node: Node, pattern: str) -> list[str]:
    """The names ``node``'s ``properties`` lists that ``pattern`` matches."""
    return [name for name in node.get("properties") or {} if _search(pattern, name)]


def _dependency_entries(node: Node) -> tuple[dict[str, tuple[list[str], str]], dict[str, str]]:
    """(name -> (required names, keyword), name -> keyword) from the draft-07 and 2019+ forms."""
    arrays: dict[str, tuple[list[str], str]] = {}
    schemas: dict[str, str] = {}
    for keyword in ("dependencies", "dependentRequired", "dependentSchemas"):
        for name, value in (node.get(keyword) or {}).items():
            if isinstance(value, list):
                arrays[name] = (_name_list(value), keyword)
            else:
                schemas[name] = keyword
    return arrays, schemas


def _describe_types(node: Node, types: frozenset[str]) -> str:
    if node.has("type") and _accepted_types(node.get("type")) == types:
        return _short(node.get("type"))
    if types == _ALL_TYPES:
        return '"any"'
    shown = sorted(types - {"integer"} if "number" in types else types)
    return _short(shown[0] if len(shown) == 1 else shown)


def _accepted_types(value: Any) -> frozenset[str]:
    if value is None:
        return _ALL_TYPES
    types = {value} if isinstance(value, str) else {t for t in value if isinstance(t, str)}
    if "number" in types:
        types.add("integer")  # every integer is a number: integer -> number extends
    return frozenset(types)


def _values_of(node: Node) -> dict[str, Any] | None:
    """The values ``enum``/``const`` allow, by canonical form; None without either keyword.

    Only values of the declared types count: a value of another type can never validate.
    """
    values: dict[str, Any] | None = None
    if node.has("enum") and isinstance(node.get("enum"), list):
        values = {_canonical(v): v for v in node.get("enum")}
    if node.has("const"):
        const = node.get("const")
        key = _canonical(const)
        values = {key: const} if values is None or key in values else {}
    if values is None:
        return None
    types = _accepted_types(node.get("type"))
    return {key: value for key, value in values.items() if _value_type(value) in types}


def _allowed_values(node: Node) -> frozenset[str] | None:
    values = _values_of(node)
    return None if values is None else frozenset(values)


_FINITE_TYPES = {"null": (None,), "boolean": (True, False)}


def _finite_values(node: Node) -> frozenset[str] | None:
    """Every value of the declared type(s) when there are finitely many (null, boolean)."""
    types = _accepted_types(node.get("type"))
    if not types <= _FINITE_TYPES.keys():
        return None
    return frozenset(_canonical(v) for t in types for v in _FINITE_TYPES[t])


def _value_type(value: Any) -> str:
    """The JSON type of a value, as validation sees it: a number with no fractional part is an integer."""
    return "integer" if isinstance(value, float) and value.is_integer() else json_type(value)


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


def diff_json(old: SchemaSource, new: SchemaSource) -> list[Change]:
    """Every change from the ``old`` JSON Schema to the ``new`` one."""
    old_docs = _Documents({old.uri: old.document, **old.json_documents})
    new_docs = _Documents({new.uri: new.document, **new.json_documents})
    old_root = node_at(old_docs, old.document, Loc(old.file, (), _root_base(old), old_docs))
    new_root = node_at(new_docs, new.document, Loc(new.file, (), _root_base(new), new_docs))
    return JsonDiff().run(old_root, new_root)


def _root_base(source: SchemaSource) -> str:
    ident = source.document.get("$id") if isinstance(source.document, dict) else None
    return urljoin(source.uri, ident) if isinstance(ident, str) else source.uri


def _readings(lookup: Callable[[bool], Node]) -> list[Node]:
    """The schema a location falls under as it may be and as it surely is; one entry if equal."""
    maybe, surely = lookup(False), lookup(True)
    return [maybe] if surely == maybe else [maybe, surely]
