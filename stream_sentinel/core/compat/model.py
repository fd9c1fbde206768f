"""Contract diff: classify what changed between two contracts as breaking, compatible or cosmetic.

One model serves JSON Schema, Avro and whole catalogs. A comparison yields ``Change`` values; each
names its kind, where it is (file and JSON pointer), and two direction facts:

- ``backward_compatible``: a reader on the *new* contract still accepts everything written under
  the *old* one (consumers can upgrade first);
- ``forward_compatible``: a reader on the *old* contract accepts everything written under the
  *new* one (producers can upgrade first).

Whether a change *breaks* is derived from the mode in force, never stored: BACKWARD breaks on
the first fact, FORWARD on the second, FULL on either, NONE on neither; the ``_TRANSITIVE``
modes use the same facts but compare a new version against every earlier version of the event
type instead of only the previous one. Keeping the facts rather than a verdict lets one diff be
re-judged under any mode, and lets FULL be exactly BACKWARD and FORWARD together.

Cosmetic kinds (titles, descriptions, docs, examples, ``$comment``, ``x-owner`` and other
``x-`` annotations) are compatible both ways and do not count as a contract change at all: a diff
with only cosmetic changes has the verdict ``cosmetic``, which CI treats like no change.

This module holds the model shared by every walker: changes, their sink, modes and verdicts, and
the schema sources compared. The kind table is in ``compat.kinds``, the JSON Schema rules in
``compat.json``, the Avro rules in ``compat.avro`` and the catalog-level comparison in
``compat.catalog``; none of them is imported here, so the package has no import circle.
Pure: the only input is what ``contracts.catalog.load_catalog`` already read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from stream_sentinel.core.compat.kinds import KINDS
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.catalog import (
    Catalog,
    SchemaKind,
    uri_for,
)
from stream_sentinel.core.contracts.protobuf import snapshot

Severity = Literal["breaking", "compatible", "cosmetic"]
Verdict = Literal["none", "cosmetic", "compatible", "breaking"]
Side = Literal["old", "new"]
DEFAULT_MODE = "BACKWARD"
JSON_FORMAT_VERSION = 1  # the ``version`` field of ``--format json``; bumped only on breaking shape changes


# Which direction facts each base mode requires: (backward, forward).
_REQUIRES = {"BACKWARD": (True, False), "FORWARD": (False, True), "FULL": (True, True), "NONE": (False, False)}


def mode_requirements(mode: str) -> tuple[bool, bool, bool]:
    """(requires backward, requires forward, transitive) of a mode."""
    backward, forward = _REQUIRES[mode.removesuffix("_TRANSITIVE")]
    return backward, forward, mode.endswith("_TRANSITIVE")


def strictest(first: str, second: str) -> str:
    """The mode requiring everything either mode requires (BACKWARD and FORWARD make FULL)."""
    a, b = mode_requirements(first), mode_requirements(second)
    backward, forward, transitive = a[0] or b[0], a[1] or b[1], a[2] or b[2]
    base = "FULL" if backward and forward else "BACKWARD" if backward else "FORWARD" if forward else "NONE"
    return base + ("_TRANSITIVE" if transitive and base != "NONE" else "")


def breaks_under(mode: str, backward_compatible: bool, forward_compatible: bool) -> bool:
    """Whether a change with these direction facts breaks under ``mode``."""
    backward, forward, _ = mode_requirements(mode)
    return (backward and not backward_compatible) or (forward and not forward_compatible)


@dataclass(frozen=True, slots=True)
class Change:
    """One change between two contracts.

    ``file`` is spec-relative and ``pointer`` a JSON pointer into it; ``side`` says whether that
    location is in the old or the new tree (a removed property only exists in the old one).
    ``topic``/``event_type``/``version`` are set by catalog comparisons; ``against`` is the
    version the new one was compared with (itself for an edit in place).
    """

    kind: str
    file: str
    pointer: str
    message: str
    backward_compatible: bool
    forward_compatible: bool
    side: Side = "new"
    mode: str = DEFAULT_MODE
    topic: str | None = None
    event_type: str | None = None
    version: int | None = None
    against: int | None = None

    @property
    def cosmetic(self) -> bool:
        """Cosmetic kinds never count as a contract change."""
        return KINDS[self.kind].cosmetic

    @property
    def breaking(self) -> bool:
        """Whether this change breaks under its mode."""
        return breaks_under(self.mode, self.backward_compatible, self.forward_compatible)

    @property
    def severity(self) -> Severity:
        """breaking, compatible (a real change that does not break), or cosmetic."""
        if self.breaking:
            return "breaking"
        return "cosmetic" if self.cosmetic else "compatible"

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of one change (see the README's Contract diff section)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "breaking": self.breaking,
            "backward_compatible": self.backward_compatible,
            "forward_compatible": self.forward_compatible,
            "mode": self.mode,
            "topic": self.topic,
            "event_type": self.event_type,
            "version": self.version,
            "against": self.against,
            "file": self.file,
            "side": self.side,
            "pointer": self.pointer,
            "message": self.message,
        }


class ChangeSink:
    """Collects changes, filling direction facts from ``KINDS`` unless a rule computed them.

    Shared by the JSON Schema and Avro walkers so a kind's facts live in one table.
    """

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def emit(
        self,
        kind: str,
        where: tuple[str, tuple[str | int, ...]],
        message: str,
        *,
        backward: bool | None = None,
        forward: bool | None = None,
        side: Side = "new",
    ) -> None:
        """Record one change at ``where`` = (file, pointer tokens)."""
        rule = KINDS[kind]
        b = rule.backward if backward is None else backward
        f = rule.forward if forward is None else forward
        if b is None or f is None:  # pragma: no cover - a walker bug, not an input problem
            raise ValueError(f"{kind}: direction facts must be computed where the change is found")
        file, tokens = where
        self.changes.append(Change(kind, file, jp.to_pointer(tokens), message, b, f, side=side))

    def extend(self, changes: Iterable[Change]) -> None:
        """Adopt changes found by a sub-comparison."""
        self.changes.extend(changes)


def lifecycle(before: object, after: object) -> str:
    """``added``, ``removed`` or ``changed`` for a value that was or is ``None`` when absent."""
    if before is None:
        return "added"
    return "removed" if after is None else "changed"


def all_backward(changes: Iterable[Change]) -> bool:
    """True when no change breaks BACKWARD (so an empty diff is compatible)."""
    return all(c.backward_compatible for c in changes)


def all_forward(changes: Iterable[Change]) -> bool:
    """True when no change breaks FORWARD."""
    return all(c.forward_compatible for c in changes)


def verdict(changes: Iterable[Change]) -> Verdict:
    """The worst severity among ``changes``: none, cosmetic, compatible or breaking."""
    worst: Verdict = "none"
    for change in changes:
        severity = change.severity
        if severity == "breaking":
            return "breaking"
        if severity == "compatible" or worst == "none":
            worst = severity
    return worst


# -- what is compared ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaSource:
    """One schema document and everything needed to resolve what it references.

    ``json_documents`` maps base URIs (``file:///spec/<path>``) to every JSON Schema document a
    ``$ref`` may reach; ``avro_references`` lists (file, document) pairs of Avro files defining
    named types the schema uses, in order. Built from a loaded ``Catalog`` by ``source_of`` or
    directly (tests, in-memory comparisons).
    """

    kind: SchemaKind
    file: str
    document: Any = field(repr=False)
    json_documents: Mapping[str, Any] = field(default_factory=dict, repr=False)
    avro_references: tuple[tuple[str, Any], ...] = field(default=(), repr=False)

    @property
    def uri(self) -> str:
        """Base URI of the document (before any ``$id``)."""
        return uri_for(self.file)


def source_of(catalog: Catalog, ref: str, references: Iterable[str] | None = None) -> SchemaSource:
    """The schema file ``ref`` of a loaded catalog, with its ``$ref`` universe or Avro references.

    For an Avro file that is not a catalog version (``references`` is None) every other Avro
    file of the catalog may define the named types it uses.
    """
    if catalog.protos is not None and ref in catalog.protos.files:
        return SchemaSource("protobuf", ref, snapshot(catalog.protos, *catalog.protos.top_messages(ref)))
    if ref in catalog.avro_documents:
        names = [r for r in catalog.avro_documents if r != ref] if references is None else list(references)
        return SchemaSource(
            "avro",
            ref,
            catalog.avro_documents[ref],
            avro_references=tuple((r, catalog.avro_documents[r]) for r in names),
        )
    return SchemaSource("json", ref, catalog.json_documents[uri_for(ref)], json_documents=catalog.json_documents)
