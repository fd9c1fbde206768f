"""The dispatcher: one :class:`JsonDiff` composed of the keyword families, and the entry point ``diff_json``."""

from __future__ import annotations

from urllib.parse import urljoin

from stream_sentinel.core.compat.json.annotations import AnnotationRules
from stream_sentinel.core.compat.json.arrays import ArrayRules
from stream_sentinel.core.compat.json.combinators import CombinatorRules
from stream_sentinel.core.compat.json.flatten import _flattened
from stream_sentinel.core.compat.json.nodes import Loc, Node, _Documents, node_at
from stream_sentinel.core.compat.json.objects import ObjectRules
from stream_sentinel.core.compat.json.scalars import ScalarRules
from stream_sentinel.core.compat.model import Change, SchemaSource


class JsonDiff(AnnotationRules, ScalarRules, ObjectRules, ArrayRules, CombinatorRules):
    """One walk over an old and a new schema, collecting changes in ``sink``."""

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
