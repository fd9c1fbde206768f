"""A topic's ``quarantine:`` setting: where the worker copies the records that drift, and from which severity.

``quarantine: {topic: orders.quarantine, min_severity: breaking}`` under a catalog topic asks the
worker for Confluent's DLQ action: a byte-for-byte copy of each record with drift at or above
``min_severity`` (default ``breaking``), with ``__rule.*`` headers saying why
(``worker/quarantine.py``). This module only reads and checks the setting, so a typo is exit 2 at
``catalog.yaml#/topics/<topic>/quarantine/...`` before anything connects, not a worker that
produces to a topic nobody reads (or loops on its own copies).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from stream_sentinel.core.contracts import pointer as ptr
from stream_sentinel.core.errors import SpecError

CATALOG_FILE: Final = "catalog.yaml"  # as catalog.CATALOG_FILE (the catalog imports this module)
SEVERITIES: Final = ("info", "warning", "breaking")
DEFAULT_MIN_SEVERITY: Final = "breaking"
#: Kafka's rule for topic names (``Topic.validate``): these characters, 1..249 of them, not ``.``/``..``.
_TOPIC_NAME: Final = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

#: The setting's shape, checked with the rest of the catalog (errors at their exact pointer).
QUARANTINE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["topic"],
    "additionalProperties": False,
    "properties": {
        "topic": {"type": "string"},
        "min_severity": {"enum": list(SEVERITIES)},
    },
}


@dataclass(frozen=True, slots=True)
class Quarantine:
    """Where a topic's drifting records are copied, and the least severity that copies one."""

    topic: str
    min_severity: str = DEFAULT_MIN_SEVERITY


def _pointer(source: str, *rest: str) -> str:
    return ptr.to_pointer(("topics", source, "quarantine", *rest))


def parse_quarantine(source: str, spec: Mapping[str, Any] | None) -> Quarantine | None:
    """The topic's quarantine setting (already of :data:`QUARANTINE_SCHEMA`'s shape), or None.

    The target must be a topic name Kafka accepts and not the topic itself: a copy of a drifting
    record on its own topic would drift again, and be copied again, for ever.
    """
    if spec is None:
        return None
    target = spec["topic"]
    if not _TOPIC_NAME.match(target) or target in (".", ".."):
        raise SpecError(
            CATALOG_FILE,
            _pointer(source, "topic"),
            f"{target[:80]!r} is not a Kafka topic name: 1 to 249 ASCII letters, digits, '.', '_' or '-', "
            "and not '.' or '..'",
        )
    if target == source:
        raise SpecError(CATALOG_FILE, _pointer(source, "topic"), "a topic cannot be its own quarantine")
    return Quarantine(target, spec.get("min_severity", DEFAULT_MIN_SEVERITY))


def check_targets(quarantines: Mapping[str, Quarantine | None], topics: Collection[str]) -> None:
    """No quarantine topic is a catalog topic: the worker consumes those, so its copies would drift again."""
    for source, quarantine in quarantines.items():
        if quarantine is not None and quarantine.topic in topics:
            raise SpecError(
                CATALOG_FILE,
                _pointer(source, "topic"),
                f"{quarantine.topic!r} is a topic of this catalog: the worker would consume its own copies "
                "(and copy them again); name a topic the catalog does not list",
            )


__all__ = ["DEFAULT_MIN_SEVERITY", "QUARANTINE_SCHEMA", "Quarantine", "check_targets", "parse_quarantine"]
