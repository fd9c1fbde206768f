"""Per-topic ``severity:`` overrides: how loud each drift kind is on one topic, or silenced.

Teams disagree on what matters: one wants ``undocumented_field`` silent on an open topic,
another wants it breaking. ``severity: {undocumented_field: off, type_mismatch: breaking}`` on a
topic (or in ``defaults``, overridden per kind by the topic) says so in the catalog, next to the
contract, instead of in each shell's flags. This module only reads and checks the setting; the
one place it is applied is ``core.assess`` (before the ``min_severity`` floor), so the worker,
``replay`` and ``check`` judge a topic alike.

The kind names are repeated here because the contracts sit below the checker in the core's
layers (``core.check.drift`` defines the kinds); a unit test keeps the two lists equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from stream_sentinel.core.contracts import pointer as ptr
from stream_sentinel.core.errors import SpecError

CATALOG_FILE: Final = "catalog.yaml"
#: The value that drops a kind's violations on the topic (no drift event, not counted as drift).
OFF: Final = "off"
LEVELS: Final = ("info", "warning", "breaking")

#: Every drift kind (core/check/drift.py KINDS, same order).
DRIFT_KINDS: Final = (
    "undecodable",
    "schema_mismatch",
    "unknown_schema_id",
    "unknown_event_type",
    "unknown_version",
    "missing_required",
    "type_mismatch",
    "undocumented_field",
    "constraint",
    "composition",
    "version_lag",
    "tombstone",
    "oversized",
    "internal_error",
    "overflow",
    "illegal_transition",
    "duplicate",
    "out_of_order",
    "sequence_gap",
    "missing_followup",
    "rule_failed",
)
#: The sentinel's own failure on a message is a bug to see, whatever a team prefers.
NOT_OVERRIDABLE: Final = frozenset({"internal_error"})

SEVERITY_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "propertyNames": {"minLength": 1, "maxLength": 64},
    # YAML 1.1 reads an unquoted ``off`` as false: both mean off, so the natural spelling works.
    "additionalProperties": {"enum": [*LEVELS, OFF, False]},
}


def severity_overrides(topic: str, defaults: Mapping[str, Any], spec: Mapping[str, Any]) -> Mapping[str, str]:
    """The topic's kind -> level (or ``off``): ``defaults.severity`` overridden per kind by the topic's.

    A kind the sentinel does not report is refused at its pointer (``SpecError``, exit 2): a
    misspelt ``undocumneted_field: off`` would otherwise silence nothing and look as if it did.
    """
    merged: dict[str, str] = {}
    for where, block in (
        ("/defaults/severity", defaults.get("severity")),
        (_topic_pointer(topic), spec.get("severity")),
    ):
        for kind, level in (block or {}).items():
            _check_kind(kind, f"{where}/{ptr.escape(kind)}")
            merged[kind] = OFF if level is False else level
    return MappingProxyType(merged)


def _topic_pointer(topic: str) -> str:
    return f"/topics/{ptr.escape(topic)}/severity"


def _check_kind(kind: str, pointer: str) -> None:
    if kind in NOT_OVERRIDABLE:
        raise SpecError(
            CATALOG_FILE, pointer, f"{kind} cannot be overridden: the sentinel's own failures are always reported"
        )
    if kind not in DRIFT_KINDS:
        known = ", ".join(k for k in DRIFT_KINDS if k not in NOT_OVERRIDABLE)
        raise SpecError(CATALOG_FILE, pointer, f"unknown drift kind {kind!r} (known: {known})")
