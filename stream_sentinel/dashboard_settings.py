"""The dashboard's settings (fields of ``config.Settings``): how much of the drift topic it keeps.

Kept apart from ``config.py`` so that module stays readable; ``Settings`` declares each field with
the ``Field`` defined here, so they read, validate and document like every other setting. The
dashboard itself is ``stream_sentinel.dashboard`` (the worker's ``/`` and ``stream-sentinel
dashboard``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

ENABLED: Any = Field(
    default=True,
    description="Serve the drift dashboard at / (with web_enabled): the worker reads the whole drift topic in the "
    "background (no consumer group) and shows every worker's drift, not only its own share. Off: no reader, / is "
    "404.",
)
LOOKBACK: Any = Field(
    default=6 * 3600.0,
    ge=60,
    le=30 * 86400,
    allow_inf_nan=False,
    description="Seconds of the drift topic the dashboard shows: its reader starts this long ago and drops older "
    "records as time passes. Six hours show today's deploys with their trend.",
)
MAX_RECORDS: Any = Field(
    default=50_000,
    ge=100,
    le=10_000_000,
    description="Most drift-topic records the dashboard keeps; past it the oldest are dropped and the page says "
    "from when it is complete. 50,000 hold six hours of 1-minute windows for about 60 busy topics and event types.",
)
MAX_BYTES: Any = Field(
    default=64 * 1024 * 1024,
    ge=1024 * 1024,
    le=16 * 1024 * 1024 * 1024,
    description="Most bytes of drift-topic records the dashboard keeps (as published, before decoding); past it "
    "the oldest are dropped. Bounds its memory whatever the records hold; 64 MiB.",
)
REFRESH: Any = Field(
    default=30,
    ge=0,
    le=3600,
    description="Seconds between the page's own reloads (an HTML meta refresh: no JavaScript); 0: no reload. "
    "30 s follows one-minute windows closely enough.",
)
CONSUMERS_INTERVAL: Any = Field(
    default=60.0,
    ge=0,
    le=86400,
    allow_inf_nan=False,
    description="Seconds between two looks at the consumer groups of drifting topics (Kafka admin API) for the "
    "page's affected consumers; each look is bounded by connect_timeout per request and never blocks the page. "
    "0: not collected.",
)

__all__ = ["CONSUMERS_INTERVAL", "ENABLED", "LOOKBACK", "MAX_BYTES", "MAX_RECORDS", "REFRESH"]
