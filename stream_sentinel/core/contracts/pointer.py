"""RFC 6901 JSON pointers: the one path notation used in violations, spec errors and reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_MISSING = object()


def escape(token: str | int) -> str:
    """Escape one reference token (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    text = str(token)
    if "~" in text or "/" in text:
        return text.replace("~", "~0").replace("/", "~1")
    return text


_CACHE_LIMIT = 50_000
_pointers: dict[tuple[str | int, ...], str] = {}
_general: dict[tuple[str | int, ...], str] = {}


def to_pointer(tokens: Iterable[str | int]) -> str:
    """Join tokens into a pointer; the empty sequence is the whole document (``""``).

    Memoised for tuples: a drifting producer repeats the same paths message after message, and
    rendering a pointer costs more than looking it up.
    """
    if type(tokens) is tuple:
        found = _pointers.get(tokens)
        if found is None:
            if len(_pointers) >= _CACHE_LIMIT:
                _pointers.clear()
            found = _pointers[tokens] = "".join("/" + escape(t) for t in tokens)
        return found
    return "".join("/" + escape(t) for t in tokens)


def parse(pointer: str) -> tuple[str, ...]:
    """Split a pointer into unescaped tokens; raises ``ValueError`` if it is not a pointer."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must be empty or start with '/': {pointer!r}")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def resolve(document: Any, tokens: Iterable[str]) -> Any:
    """Return the value at ``tokens`` or raise ``KeyError``; lists take decimal indexes."""
    node = document
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            node = _MISSING
        if node is _MISSING:
            raise KeyError(token)
    return node


def generalize(tokens: Iterable[str | int]) -> str:
    """Pointer with array indexes replaced by ``*``.

    Fingerprints and windows count rules, not positions: a bad ``quantity`` in line item 3 and
    in line item 7 is the same drift. Memoised like ``to_pointer``.
    """
    key = tuple(tokens)
    found = _general.get(key)
    if found is None:
        if len(_general) >= _CACHE_LIMIT:
            _general.clear()
        found = _general[key] = "".join("/*" if isinstance(t, int) else "/" + escape(t) for t in key)
    return found
