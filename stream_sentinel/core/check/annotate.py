"""Schema walkers: requirement/owner/PII annotations and redacted samples.

Only invalid messages reach this module, so it may be thorough rather than fast; results that
depend only on the schema (the annotations along one evaluation path) are cached per schema
version, because one drifting producer repeats the same failure many times.

Annotation rule: ``x-requirement`` and ``x-owner`` are taken from the nearest schema node above
the failing location (field beats object beats schema root beats catalog entry); ``x-pii: true``
anywhere on the way down makes everything below it PII, whose values and names are never echoed.

Privacy rule (deny by default): a payload value is echoed only where the contract proves it is
not PII. Where the payload leaves the contract's shape (an array where an object is expected,
a number where an object holding PII belongs, nested arrays, any location no schema describes),
nothing below is echoed: ``[REDACTED]`` if PII may sit there, ``[UNDOCUMENTED <type>]``
otherwise. The ``x-pii`` marks of every version of an event type count for each of its
versions (``link_versions``, once at engine build), so a message judged against an older
version never echoes what a newer one marks, or the reverse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonschema_rs
import referencing

from stream_sentinel.core.contracts.annotations import VALUE_KEYWORDS

REDACTED = "[REDACTED]"
MAX_STRING = 64
MAX_ITEMS = 5
MAX_KEYS = 40
MAX_DEPTH = 6

_SCHEMA_MAP = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
        "additionalItems",
    }
)
# Subschemas that may apply at the same instance location. For PII and for "is this field
# documented" every branch counts, taken or not: the conservative reading for privacy.
_IN_PLACE = ("allOf", "anyOf", "oneOf", "if", "then", "else")
_IN_PLACE_MAPS = ("dependentSchemas", "dependencies")


@dataclass(frozen=True, slots=True)
class Annotations:
    """What the schema says about one location: who owns it and whether it is PII."""

    requirement: str | None
    owner: str | None
    pii: bool


def json_type(value: Any) -> str:
    """JSON type name of a decoded value, as drift events report ``actual.type``."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    return type(value).__name__


def _preview_number(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"


def _preview_bool(value: Any) -> str:
    return "true" if value else "false"


_PREVIEW_BY_TYPE: dict[type, Callable[[Any], str]] = {
    int: _preview_number,
    float: _preview_number,
    bool: _preview_bool,
}


def preview(value: Any) -> str:
    """A short, length-capped rendering of a non-PII value for ``actual.value``."""
    fast = _PREVIEW_BY_TYPE.get(type(value))
    if fast is not None:
        return fast(value)
    if isinstance(value, str):
        text = value if len(value) <= MAX_STRING else value[:MAX_STRING] + f"…(+{len(value) - MAX_STRING})"
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return f"object with {len(value)} field{'s' if len(value) != 1 else ''}"
    if isinstance(value, list | tuple):
        return f"array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"


def _fold(nodes: Iterable[Mapping[str, Any]]) -> tuple[str | None, str | None, bool]:
    requirement: str | None = None
    owner: str | None = None
    pii = False
    for node in nodes:
        requirement = node.get("x-requirement", requirement)
        owner = node.get("x-owner", owner)
        pii = pii or node.get("x-pii") is True
    return requirement, owner, pii


class JsonSchemaIndex:
    """Walks one JSON Schema version (with its cross-file refs) for annotations and samples."""

    def __init__(self, uri: str, document: Any, registry: referencing.Registry[Any]) -> None:
        self._uri = uri
        self._document = document
        self._registry = registry
        self._cache: dict[tuple[str | int, ...], Annotations] = {}
        self._shapes: dict[tuple[tuple[int, ...], tuple[int, ...]], _Shape] = {}
        self._root: _Shape | None = None
        self._privacy: dict[tuple[str | int, ...], tuple[bool, bool]] = {}
        self._privacy_chars = 0  # characters of the names in the keys of _privacy
        self._peers: list[JsonSchemaIndex] = []
        self._opaque = _Shape(self, [], [], opaque=True)
        # draft-04/06/07 ignore the keywords beside a $ref: such a node documents nothing beside
        # its $ref. Its view keeps x- annotations, and the ignored keywords under _IGNORED where
        # only the x-pii search looks (an x-pii there still makes the location sensitive). Views
        # are kept here so their identity, which shapes are cached by, stays stable.
        self._ref_views: dict[int, dict[str, Any]] = {}

    def link_versions(self, peers: Iterable[JsonSchemaIndex]) -> None:
        """Count the ``x-pii`` marks of the event type's other versions at every location.

        Called once per event type while the engine is built, before any message is checked;
        shapes then walk the other versions' schemas beside this one's (lazily, memoised), so
        the union costs nothing per message that the cached walk does not already pay.
        """
        self._peers = [p for p in peers if p is not self]
        self._root = None
        self._shapes.clear()
        self._privacy.clear()

    def at_evaluation_path(self, path: tuple[str | int, ...]) -> Annotations:
        """Annotations of the schema nodes along a validator's evaluation path (cached)."""
        found = self._cache.get(path)
        if found is None:
            requirement, owner, pii = _fold(self._nodes_along(path))
            found = self._cache[path] = Annotations(requirement, owner, pii)
        return found

    def _nodes_along(self, path: tuple[str | int, ...]) -> Iterator[Mapping[str, Any]]:
        node: Any = self._document
        resolver = self._registry.resolver(base_uri=self._uri)
        if isinstance(node, dict):
            yield node
        schema_position = True
        for token in path:
            if not isinstance(node, dict | list):
                return
            if schema_position and isinstance(node, dict):
                if token in ("$ref", "$dynamicRef") and isinstance(node.get(token), str):
                    try:
                        resolved = resolver.lookup(node[token])
                    except referencing.exceptions.Unresolvable:
                        return
                    node, resolver = resolved.contents, resolved.resolver
                    if isinstance(node, dict):
                        yield node
                    continue
                if token in _SCHEMA_MAP or token in _SCHEMA_LIST:
                    node = node.get(str(token))
                    schema_position = False
                    continue
                if token in _SCHEMA_ONE:
                    node = node.get(str(token))
                    if isinstance(node, dict):
                        yield node
                    continue
                return  # an assertion keyword: the walk is complete
            node = _child(node, token)
            schema_position = True
            if isinstance(node, dict):
                yield node

    # -- instance-driven walk: redacted samples ---------------------------------------------

    def _root_shape(self) -> _Shape:
        if self._root is None:
            peers = [(p._document, p._registry.resolver(base_uri=p._uri)) for p in self._peers]
            self._root = self._shape(
                self._expand([(self._document, self._registry.resolver(base_uri=self._uri))]), self._expand(peers)
            )
        return self._root

    def _shape(self, nodes: list[tuple[dict[str, Any], Any]], peers: list[tuple[dict[str, Any], Any]]) -> _Shape:
        key = (tuple(id(node) for node, _ in nodes), tuple(id(node) for node, _ in peers))
        found = self._shapes.get(key)
        if found is None:
            found = self._shapes[key] = _Shape(self, nodes, peers)
        return found

    def redact(self, payload: Any) -> Any:
        """Copy of ``payload`` safe to publish: PII masked, undocumented values hidden, capped."""
        return _redact(payload, self._root_shape(), 0)

    def privacy(self, tokens: tuple[str | int, ...]) -> tuple[bool, bool]:
        """(pii, sensitive) of an instance location, whatever rule failed there.

        ``pii``: the location or an ancestor is ``x-pii``. ``sensitive``: PII may sit at or
        below it, so a string found here (say, an object sent JSON-encoded as text) may carry
        PII and is not echoed either. Undocumented locations are withheld by their callers.
        """
        found = self._privacy.get(tokens)
        if found is None:
            shape: _Shape | None = self._root_shape()
            pii = shape is not None and shape.pii
            for token in tokens:
                if pii or shape is None:
                    break
                shape = shape.child(token)
                pii = shape is not None and shape.pii
            # A location no schema describes (or below a shape mismatch) proves nothing: sensitive.
            found = (pii, pii or shape is None or shape.sensitive)
            # Keys are producer field names: bounded in number, in length and in total characters
            # (a recursive schema with free-form names would otherwise keep deep paths by the GB).
            size = sum(len(t) if isinstance(t, str) else 1 for t in tokens)
            if len(self._privacy) >= _MAX_CACHED or self._privacy_chars + size > _MAX_CACHED_CHARS:
                self._privacy.clear()
                self._privacy_chars = 0
            if all(isinstance(t, int) or len(t) <= _MAX_CACHED_NAME for t in tokens):  # no megabyte keys kept
                self._privacy[tokens] = found
                self._privacy_chars += size
        return found

    def mask(self, tokens: tuple[str | int, ...]) -> tuple[str | int, ...]:
        """``tokens`` with everything below an ``x-pii`` node replaced by one ``[REDACTED]``.

        Property names and indexes under PII are payload content too (``person: {"someone@
        example.com": 1}``). One token replaces the whole remainder, however deep, so every
        violation below a PII node shares one ``rule_path`` (and fingerprint). Below a location
        the contract does not describe, names are withheld the same way; the undocumented
        field's own name stays (it is what an ``undocumented_field`` violation reports).
        """
        shape: _Shape | None = self._root_shape()
        for i, token in enumerate(tokens):
            if shape is None or shape.pii or shape.opaque:
                return (*tokens[:i], REDACTED)
            shape = shape.child(token)
        return tokens

    def documents(self, tokens: tuple[str | int, ...]) -> bool:
        """True if a schema applying at ``tokens[:-1]`` describes the field ``tokens[-1]``.

        Independent of whether the message is valid (validator annotations are dropped for
        failing branches), and ``allOf``/``anyOf``/``oneOf``/``$ref`` branches all count.
        """
        shape: _Shape | None = self._root_shape()
        for token in tokens[:-1]:
            if shape is None:
                return False
            shape = shape.child(token)
        return shape is not None and shape.child(tokens[-1]) is not None

    def _expand(self, nodes: list[tuple[Any, Any]]) -> list[tuple[dict[str, Any], Any]]:
        """Follow ``$ref`` and in-place applicators so every schema that applies is listed."""
        out: list[tuple[dict[str, Any], Any]] = []
        stack = list(nodes)
        seen: set[int] = set()
        while stack:
            node, resolver = stack.pop()
            if not isinstance(node, dict) or id(node) in seen:
                continue
            seen.add(id(node))
            ref = node.get("$ref")
            if isinstance(ref, str) and _ref_ignores_siblings(resolver):
                view = self._ref_views.get(id(node))
                if view is None:
                    view = {k: v for k, v in node.items() if k == "$ref" or k.startswith("x-")}
                    view[_IGNORED] = {k: v for k, v in node.items() if k not in view}
                    self._ref_views[id(node)] = view
                node = view
            out.append((node, resolver))
            if isinstance(ref, str):
                try:
                    resolved = resolver.lookup(ref)
                except referencing.exceptions.Unresolvable:
                    resolved = None
                if resolved is not None:
                    stack.append((resolved.contents, resolved.resolver))
            for key in _IN_PLACE:
                value = node.get(key)
                if isinstance(value, list):
                    stack.extend((item, resolver) for item in value)
                elif isinstance(value, dict):
                    stack.append((value, resolver))
            for key in _IN_PLACE_MAPS:
                value = node.get(key)
                if isinstance(value, dict):
                    stack.extend((item, resolver) for item in value.values() if isinstance(item, dict))
        return out

    @staticmethod
    def children_of(nodes: list[tuple[dict[str, Any], Any]], token: str | int) -> tuple[list[tuple[Any, Any]], bool]:
        """Schemas for a child location, and whether a parent enumerates named properties."""
        children: list[tuple[Any, Any]] = []
        described = False
        for node, resolver in nodes:
            if isinstance(token, int):
                prefix = node.get("prefixItems")
                items = node.get("items")
                if isinstance(items, list):  # draft-07 tuple form
                    prefix, items = items, node.get("additionalItems")
                if isinstance(prefix, list) and token < len(prefix):
                    children.append((prefix[token], resolver))
                elif isinstance(items, dict):
                    children.append((items, resolver))
                continue
            props = node.get("properties")
            if isinstance(props, dict):
                described = True
                if token in props:
                    children.append((props[token], resolver))
                    continue
            patterns = node.get("patternProperties")
            matched = False
            if isinstance(patterns, dict):
                for pattern, schema in patterns.items():
                    if _matches(pattern, token):
                        children.append((schema, resolver))
                        matched = True
            if not matched and isinstance(node.get("additionalProperties"), dict):
                children.append((node["additionalProperties"], resolver))
        return children, described


class _Shape:
    """The set of schemas applying at one instance location, with memoised children.

    Built lazily and cached by schema-node identity, so resolving ``$ref`` and combinators
    happens once per distinct location per process, not once per sample. ``peers`` are the
    schemas the event type's other versions have at the same location: they only add ``x-pii``
    marks (what is documented, and which types are expected, is this version's alone).

    ``opaque``: the contract allows a value here but does not describe it, and cannot prove it
    free of PII (below a sensitive location, or inside a value of another type than expected).
    Nothing at or below an opaque location is echoed, names included.
    """

    __slots__ = ("_children", "_index", "_nodes", "_peers", "_sensitive", "_tuple_items", "opaque", "pii", "types")

    def __init__(
        self,
        index: JsonSchemaIndex,
        nodes: list[tuple[dict[str, Any], Any]],
        peers: list[tuple[dict[str, Any], Any]],
        *,
        opaque: bool = False,
    ) -> None:
        self._index = index
        self._nodes = nodes
        self._peers = peers
        self._children: dict[str | int, _Shape | None] = {}
        self._sensitive: bool | None = True if opaque else None
        self._tuple_items = any(
            "prefixItems" in node or isinstance(node.get("items"), list) for node, _ in (*nodes, *peers)
        )
        self.opaque = opaque
        self.pii = any(node.get("x-pii") is True for node, _ in nodes) or any(
            node.get("x-pii") is True for node, _ in peers
        )
        self.types = _declared_types(nodes)

    @property
    def sensitive(self) -> bool:
        """Whether ``x-pii`` appears anywhere at or below this location (following $ref)."""
        if self._sensitive is None:
            self._sensitive = self.pii or _subtree_has_pii(self._nodes) or _subtree_has_pii(self._peers)
        return self._sensitive

    def accepts(self, json_kind: str) -> bool:
        """Whether some schema here allows a value of JSON type ``json_kind`` (no ``type``: any)."""
        return self.types is None or json_kind in self.types

    def child(self, token: str | int) -> _Shape | None:
        """Shape of a child; None when the contract does not describe it (undocumented)."""
        if self.opaque:
            return self
        key: str | int = -1 if type(token) is int and not self._tuple_items else token  # items share a schema
        try:
            return self._children[key]
        except KeyError:
            pass
        index = self._index
        children, described = JsonSchemaIndex.children_of(self._nodes, token)
        shape: _Shape | None
        if not children and described:
            shape = None
        else:
            nodes = index._expand(children)
            peer_children, _ = JsonSchemaIndex.children_of(self._peers, token) if self._peers else ([], False)
            peers = index._expand(peer_children)
            # Allowed but not described: free content only where the parent expects this
            # container type and holds no PII; otherwise nothing below is echoed (opaque).
            shape = index._shape(nodes, peers) if nodes or self._free(token) else index._opaque
        # Field names come from producers: cache a bounded number of short ones, so random or
        # megabyte-long names cannot grow the cache (the schema's own names fit easily).
        if len(self._children) < _MAX_CHILDREN and (isinstance(key, int) or len(key) <= _MAX_CACHED_NAME):
            self._children[key] = shape
        return shape

    def _free(self, token: str | int) -> bool:
        """A child without a schema of its own is free (echoed) only under a PII-free, matching parent."""
        return not self.sensitive and self.accepts("array" if type(token) is int else "object")


def _declared_types(nodes: list[tuple[dict[str, Any], Any]]) -> frozenset[str] | None:
    """JSON types some schema at a location declares; None when none declares a ``type``."""
    found: set[str] | None = None
    for node, _ in nodes:
        declared = node.get("type")
        if isinstance(declared, str):
            found = (found or set()) | {declared}
        elif isinstance(declared, list):
            found = (found or set()) | {t for t in declared if isinstance(t, str)}
    if found is not None and "number" in found:
        found.add("integer")
    return None if found is None else frozenset(found)


_IGNORED: Final = "x-sentinel-ignored-beside-ref"
_REF_ALONE_DIALECTS: Final = re.compile(r"^https?://json-schema\.org/draft-0[3-7]/schema#?$")


def _ref_ignores_siblings(resolver: Any) -> bool:
    """Whether ``resolver``'s document is draft-04/06/07, where keywords beside ``$ref`` are ignored."""
    try:
        root = resolver.lookup("").contents
    except referencing.exceptions.Unresolvable:
        return False
    dialect = root.get("$schema") if isinstance(root, dict) else None
    return isinstance(dialect, str) and _REF_ALONE_DIALECTS.match(dialect) is not None


def _subtree_has_pii(nodes: list[tuple[dict[str, Any], Any]]) -> bool:
    stack: list[tuple[Any, Any]] = list(nodes)
    seen: set[int] = set()
    while stack:
        node, resolver = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if node.get("x-pii") is True:
                return True
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    resolved = resolver.lookup(ref)
                    stack.append((resolved.contents, resolved.resolver))
                except referencing.exceptions.Unresolvable:
                    pass
            stack.extend(
                (v, resolver) for k, v in node.items() if k not in VALUE_KEYWORDS and isinstance(v, dict | list)
            )
        elif isinstance(node, list):
            stack.extend((v, resolver) for v in node if isinstance(v, dict | list))
    return False


def _redact(value: Any, shape: _Shape, depth: int) -> Any:
    if shape.pii:
        return REDACTED
    if shape.opaque:
        return f"[UNDOCUMENTED {json_type(value)}]"
    kind = type(value)
    if kind is dict:
        return _redact_object(value, shape, depth)
    if kind is list:
        return _redact_array(value, shape, depth)
    if value is None:
        return None
    if shape.sensitive:  # a scalar where PII-bearing structure belongs: a phone as a number, an object as text
        return REDACTED
    if kind is str:
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + f"…(+{len(value) - MAX_STRING})"
    return value


def _redact_object(value: dict[str, Any], shape: _Shape, depth: int) -> Any:
    """An object: documented fields walked, the rest named as undocumented (at most ``MAX_KEYS``)."""
    if not shape.accepts("object"):
        return _mismatch(value, shape)
    if depth >= MAX_DEPTH:
        return preview(value)
    out: dict[str, Any] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= MAX_KEYS:
            out["…"] = f"{len(value) - MAX_KEYS} more fields"
            break
        child = shape.child(key)
        out[key] = f"[UNDOCUMENTED {json_type(item)}]" if child is None else _redact(item, child, depth + 1)
    return out


def _redact_array(value: list[Any], shape: _Shape, depth: int) -> Any:
    """An array: its first ``MAX_ITEMS`` items walked, the rest counted."""
    if not shape.accepts("array"):
        return _mismatch(value, shape)
    if depth >= MAX_DEPTH:
        return preview(value)
    items = []
    for i, item in enumerate(value[:MAX_ITEMS]):
        child = shape.child(i)
        items.append(f"[UNDOCUMENTED {json_type(item)}]" if child is None else _redact(item, child, depth + 1))
    if len(value) > MAX_ITEMS:
        items.append(f"… {len(value) - MAX_ITEMS} more items")
    return items


def _mismatch(value: Any, shape: _Shape) -> str:
    """A container of another type than the contract expects: nothing inside is echoed, names included."""
    return REDACTED if shape.sensitive else f"[UNDOCUMENTED {json_type(value)}]"


_MAX_CACHED = 50_000
_MAX_CHILDREN = 1024
_MAX_CACHED_CHARS = 2_000_000
_MAX_CACHED_NAME = 128
_PATTERNS: dict[str, Callable[[Any], bool] | None] = {}


def _matches(pattern: str, text: str) -> bool:
    r"""``patternProperties`` matching with the validator's own regex engine (jsonschema-rs).

    Python's ``re`` is another dialect (``\p{L}`` fails) and backtracks without limit on
    patterns like ``^(a|aa)+$`` against producer-controlled field names. The linear-time
    engine, as in the validators (patterns needing backtracking are refused at load).
    """
    if pattern not in _PATTERNS:
        try:
            _PATTERNS[pattern] = jsonschema_rs.validator_for(
                {"pattern": pattern}, pattern_options=jsonschema_rs.RegexOptions()
            ).is_valid
        except ValueError:
            _PATTERNS[pattern] = None
    check = _PATTERNS[pattern]
    return check is not None and check(text)


def _child(node: Any, token: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(str(token))
    if isinstance(node, list) and isinstance(token, int) and token < len(node):
        return node[token]
    if isinstance(node, list) and isinstance(token, str) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return None


class AvroSchemaIndex:
    """Annotations and redaction for one Avro schema version (custom attributes x-pii etc.).

    Redaction walks fastavro's *parsed* schema: every name is fully qualified and custom
    attributes are kept, so named types resolve exactly as the decoder resolved them. The event
    type's other versions (``link_versions``) are walked beside it and add their ``x-pii`` marks.
    """

    def __init__(self, document: Any, parsed: Any) -> None:
        self._document = document
        self._parsed = parsed
        named = parsed.get("__named_schemas") if isinstance(parsed, dict) else None
        self._named: Mapping[str, Any] = named if isinstance(named, dict) else {}
        self._sensitive: dict[int, bool] = {}
        self._peers: list[AvroSchemaIndex] = []

    def link_versions(self, peers: Iterable[AvroSchemaIndex]) -> None:
        """Count the ``x-pii`` marks of the event type's other versions (once, at engine build)."""
        self._peers = [p for p in peers if p is not self]

    def root(self) -> Annotations:
        """Annotations of the top-level record (decode failures have no finer location)."""
        doc = self._document if isinstance(self._document, dict) else {}
        return Annotations(doc.get("x-requirement"), doc.get("x-owner"), doc.get("x-pii") is True)

    def redact(self, record: Any) -> Any:
        """Copy of a decoded record with ``x-pii`` values masked and values capped."""
        return self._redact(record, self._parsed, [(p, p._parsed) for p in self._peers], 0)

    def _resolve(self, schema: Any) -> Any:
        return self._named.get(schema, schema) if isinstance(schema, str) else schema

    def privacy(self, tokens: tuple[str | int, ...]) -> tuple[bool, bool]:
        """(pii, sensitive) of a field location, as :meth:`JsonSchemaIndex.privacy` says it.

        Walks records, maps, arrays and ``["null", X]`` unions; any other shape on the way (a
        union of several records, a primitive with a name below it) proves nothing: sensitive.
        """
        schema = self._parsed
        for token in tokens:
            schema = self._resolve(schema)
            if isinstance(schema, list):
                branches = [self._resolve(b) for b in schema if b != "null"]
                if len(branches) != 1:
                    return False, True
                schema = branches[0]
            if not isinstance(schema, dict):
                return False, True
            if schema.get("x-pii") is True:
                return True, True
            kind = schema.get("type")
            if kind == "record":
                found = next(
                    (f for f in schema.get("fields", []) if isinstance(f, dict) and f.get("name") == token), None
                )
                if found is None:
                    return False, True
                if found.get("x-pii") is True:
                    return True, True
                schema = found.get("type")
            elif kind == "map" and isinstance(token, str):
                schema = schema.get("values")
            elif kind == "array" and isinstance(token, int):
                schema = schema.get("items")
            else:
                return False, True
        resolved = self._resolve(schema)
        if isinstance(resolved, dict) and resolved.get("x-pii") is True:
            return True, True
        return False, self._has_pii(resolved)

    def _has_pii(self, schema: Any) -> bool:
        """Whether ``x-pii`` appears anywhere in a (resolved) schema; cached, cycle-safe."""
        schema = self._resolve(schema)
        key = id(schema)
        if key not in self._sensitive:
            self._sensitive[key] = False  # provisional: recursive types terminate
            found = False
            if isinstance(schema, list):
                found = any(self._has_pii(branch) for branch in schema)
            elif isinstance(schema, dict):
                found = schema.get("x-pii") is True or any(
                    f.get("x-pii") is True or self._has_pii(f.get("type"))
                    for f in schema.get("fields", [])
                    if isinstance(f, dict)
                )
                for inner in ("items", "values"):
                    found = found or (inner in schema and self._has_pii(schema[inner]))
                if isinstance(schema.get("type"), dict | list):
                    found = found or self._has_pii(schema["type"])
            self._sensitive[key] = found
        return self._sensitive[key]

    def _redact(self, value: Any, schema: Any, peers: list[_Peer], depth: int) -> Any:
        schema = self._resolve(schema)
        peers = _open(peers)
        if any(isinstance(other, dict) and other.get("x-pii") is True for _, other in peers):
            return REDACTED
        if isinstance(schema, list):  # a union: only an unambiguous record branch is walked
            return self._redact_union(value, schema, peers, depth)
        if isinstance(schema, dict) and schema.get("x-pii") is True:
            return REDACTED
        if isinstance(schema, str) and schema not in _AVRO_PRIMITIVES:
            return REDACTED  # a named type this index cannot resolve: nothing proves it PII-free
        if isinstance(value, dict):
            return self._redact_record(value, schema, peers, depth)
        if isinstance(value, list):
            item_schema = schema.get("items") if isinstance(schema, dict) else None
            item_peers = [(index, other["items"]) for index, other in peers if _avro_kind(other) == "array"]
            items = [self._redact(v, item_schema, item_peers, depth + 1) for v in value[:MAX_ITEMS]]
            if len(value) > MAX_ITEMS:
                items.append(f"… {len(value) - MAX_ITEMS} more items")
            return items
        if value is None:
            return None
        if _peers_sensitive(peers):  # another version holds PII in a structure here
            return REDACTED
        if isinstance(value, bytes | bytearray):
            return preview(value)
        if isinstance(value, str) and len(value) > MAX_STRING:
            return value[:MAX_STRING] + f"…(+{len(value) - MAX_STRING})"
        if not isinstance(value, str | int | float | bool):
            return str(value)  # logical types (datetime, Decimal, UUID) as text
        return value

    def _redact_union(self, value: Any, schema: list[Any], peers: list[_Peer], depth: int) -> Any:
        """A union value: walked under its one fitting record branch, else redacted if any branch may hold PII."""
        if value is None:
            return None
        branches = [self._resolve(b) for b in schema]
        if isinstance(value, dict):
            keys = set(value)
            fits = [
                b
                for b in branches
                if isinstance(b, dict)
                and b.get("type") == "record"
                and {f.get("name") for f in b.get("fields", []) if isinstance(f, dict)} == keys
            ]
            if len(fits) == 1:
                return self._redact(value, fits[0], peers, depth)
        if any(self._has_pii(b) for b in branches) or _peers_sensitive(peers):
            return REDACTED
        return self._redact(value, None, peers, depth)

    def _redact_record(self, value: dict[str, Any], schema: Any, peers: list[_Peer], depth: int) -> Any:
        if depth >= MAX_DEPTH:
            return preview(value)
        kind = _avro_kind(schema)
        fields = _fields(schema) if kind in ("record", "error") else {}
        peer_fields = [(index, _fields(other)) for index, other in peers if _avro_kind(other) in ("record", "error")]
        peer_values = [(index, other["values"]) for index, other in peers if _avro_kind(other) == "map"]
        out: dict[str, Any] = {}
        for key, item in value.items():
            child_peers = list(peer_values)
            pii = False
            for index, named in peer_fields:
                other_field = named.get(key)
                if other_field is not None:
                    pii = pii or other_field.get("x-pii") is True
                    child_peers.append((index, other_field.get("type")))
            field = fields.get(key)
            if field is not None:
                pii = pii or field.get("x-pii") is True
                out[key] = REDACTED if pii else self._redact(item, field.get("type"), child_peers, depth + 1)
            elif kind == "map":
                out[key] = REDACTED if pii else self._redact(item, schema.get("values"), child_peers, depth + 1)
            else:
                out[key] = f"[UNDOCUMENTED {json_type(item)}]"
        return out


_Peer = tuple[AvroSchemaIndex, Any]
_AVRO_PRIMITIVES: Final = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _avro_kind(schema: Any) -> Any:
    return schema.get("type") if isinstance(schema, dict) else schema


def _fields(schema: Any) -> dict[str, Mapping[str, Any]]:
    return {f["name"]: f for f in schema.get("fields", []) if isinstance(f, dict) and "name" in f}


def _open(peers: list[_Peer]) -> list[_Peer]:
    """Other versions' schemas at one location, resolved, with unions opened into their branches."""
    out: list[_Peer] = []
    stack = list(peers)
    while stack:
        index, schema = stack.pop()
        schema = index._resolve(schema)
        if isinstance(schema, list):
            stack.extend((index, branch) for branch in schema)
            continue
        out.append((index, schema))
        if isinstance(schema, dict) and isinstance(schema.get("type"), dict | list):
            stack.append((index, schema["type"]))
    return out


def _peers_sensitive(peers: list[_Peer]) -> bool:
    return any(index._has_pii(other) for index, other in peers)


def link_versions(walkers: Iterable[Any]) -> None:
    """Make every version of one event type count the ``x-pii`` marks of all its versions."""
    listed = list(walkers)
    json_walkers = [w for w in listed if isinstance(w, JsonSchemaIndex)]
    avro_walkers = [w for w in listed if isinstance(w, AvroSchemaIndex)]
    for json_walker in json_walkers:
        json_walker.link_versions(json_walkers)
    for avro_walker in avro_walkers:
        avro_walker.link_versions(avro_walkers)
    others = [w for w in listed if not isinstance(w, JsonSchemaIndex | AvroSchemaIndex)]
    for other in others:  # Protobuf's ProtoIndex (core/check/proto_annotate.py imports this module)
        other.link_versions(others)
