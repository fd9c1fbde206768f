"""Schema nodes for the JSON Schema diff: locations, ``$ref`` resolution across documents, absent sub-schemas.

Every rule compares :class:`Node` values; :func:`node_at` follows ``$ref`` (in-file and across the
catalog's documents, with ``$id`` and ``$anchor``) so a rule never sees a reference, only where it leads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from stream_sentinel.core.check.annotate import json_type
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.annotations import VALUE_KEYWORDS
from stream_sentinel.core.contracts.catalog import SPEC_BASE_URI
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


_UNEVALUATED = frozenset({"unevaluatedProperties", "unevaluatedItems"})


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


def _unevaluated_around(*nodes: Node, keywords: frozenset[str] = _UNEVALUATED) -> bool:
    """Whether an ``unevaluated*`` keyword (of ``keywords``) on one of ``nodes``, or around it (``outer``), sees it."""
    for node in nodes:
        around: Node | None = node
        while around is not None:
            if around.keywords.keys() & keywords:
                return True
            around = around.outer[0] if around.outer is not None else None
    return False


def _search(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def _matching_names(node: Node, pattern: str) -> list[str]:
    """The names ``node``'s ``properties`` lists that ``pattern`` matches."""
    return [name for name in node.get("properties") or {} if _search(pattern, name)]


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


def _value_type(value: Any) -> str:
    """The JSON type of a value, as validation sees it: a number with no fractional part is an integer."""
    return "integer" if isinstance(value, float) and value.is_integer() else json_type(value)


def _readings(lookup: Callable[[bool], Node]) -> list[Node]:
    """The schema a location falls under as it may be and as it surely is; one entry if equal."""
    maybe, surely = lookup(False), lookup(True)
    return [maybe] if surely == maybe else [maybe, surely]
