"""Annotation keywords (``title``, ``description``, ``default``, ``x-pii`` ...): cosmetic unless listed."""

from __future__ import annotations

from stream_sentinel.core.compat.json.base import DiffBase
from stream_sentinel.core.compat.json.nodes import _MISSING, _STRUCTURE, _VALIDATION, Node, _canonical, _short

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


class AnnotationRules(DiffBase):
    """The annotation keywords of the walk."""

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
