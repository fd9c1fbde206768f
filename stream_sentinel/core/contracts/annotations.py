"""The walk over a JSON schema's sub-schemas, and the checks of its ``x-pii``/``x-requirement``/``x-owner``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.errors import SpecError

VALUE_KEYWORDS = frozenset({"const", "enum", "examples", "default"})  # keywords holding data, not schemas


def iter_schema_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a schema document, skipping keywords whose values are data, not schemas."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(v for k, v in current.items() if k not in VALUE_KEYWORDS)
        elif isinstance(current, list):
            stack.extend(current)


_ANNOTATIONS: dict[str, tuple[type, str]] = {
    "x-pii": (bool, "true or false"),
    "x-requirement": (str, "a non-empty string"),
    "x-owner": (str, "a non-empty string"),
}
# JSON Schema keywords whose value maps names to subschemas: the names are not keywords.
_NAMED_SUBSCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def _check_annotation_values(ref: str, node: Mapping[str, Any], path: tuple[str, ...]) -> None:
    """``x-pii: "yes"`` would be read as "not PII" (only ``true`` counts): refuse, never guess."""
    for key, (kind, expected) in _ANNOTATIONS.items():
        if key in node:
            value = node[key]
            if type(value) is not kind or value == "":
                raise SpecError(ref, jp.to_pointer((*path, key)), f"{key} must be {expected}, not {value!r}")


def _check_json_annotations(ref: str, doc: Any) -> None:
    """Every ``x-pii``/``x-requirement``/``x-owner`` on a schema object has the right type."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(doc, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        _check_annotation_values(ref, node, path)
        for key, value in node.items():
            if key in VALUE_KEYWORDS or key in _ANNOTATIONS:
                continue
            if key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
                stack.extend((sub, (*path, key, name)) for name, sub in value.items())
            else:
                stack.append((value, (*path, key)))
