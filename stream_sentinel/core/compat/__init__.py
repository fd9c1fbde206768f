"""Contract diff: classify what changed between two contracts as breaking, compatible or cosmetic.

Layers, lowest first: ``kinds`` (the kind table), ``model`` (changes, modes, verdicts, schema
sources), the walkers ``json`` and ``avro``, and ``catalog`` (schema and catalog comparison, which
dispatches to the walkers). This package re-exports the public names, so callers import
``stream_sentinel.core.compat`` and never reach past it.
"""

from stream_sentinel.core.compat.catalog import compare_catalogs, compare_schemas
from stream_sentinel.core.compat.kinds import KINDS, KindRule
from stream_sentinel.core.compat.model import (
    DEFAULT_MODE,
    JSON_FORMAT_VERSION,
    Change,
    ChangeSink,
    SchemaSource,
    Severity,
    Side,
    Verdict,
    all_backward,
    all_forward,
    breaks_under,
    lifecycle,
    source_of,
    strictest,
    verdict,
)
from stream_sentinel.core.contracts.catalog import COMPATIBILITY_MODES

__all__ = [
    "COMPATIBILITY_MODES",
    "DEFAULT_MODE",
    "JSON_FORMAT_VERSION",
    "KINDS",
    "Change",
    "ChangeSink",
    "KindRule",
    "SchemaSource",
    "Severity",
    "Side",
    "Verdict",
    "all_backward",
    "all_forward",
    "breaks_under",
    "compare_catalogs",
    "compare_schemas",
    "lifecycle",
    "source_of",
    "strictest",
    "verdict",
]
