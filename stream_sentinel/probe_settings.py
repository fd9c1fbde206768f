"""The built-in probe's settings (fields of ``config.Settings``): how often, where and how long.

Kept apart from ``config.py`` so that module stays under its size; ``Settings`` declares each field
with the ``Field`` defined here, so they read, validate and document like every other setting. The
probe itself is ``stream_sentinel.prober`` (``stream-sentinel probe`` and ``worker/probing.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

INTERVAL: Any = Field(
    default=0.0,
    ge=0,
    allow_inf_nan=False,
    description="Seconds between built-in probe runs (a valid and a drifting canary through the workers, "
    "verified on the drift topic; sentinel_probe_* metrics); 0: off (the default: a probe writes to a topic).",
)
TOPIC: Any = Field(
    default=None,
    description="The contracted json topic the built-in probe writes its canaries to (default: the first "
    "catalog topic the examples give canaries for).",
)
EXAMPLES: Any = Field(
    default=Path("replay/captures"),
    description="Capture file or directory of example messages the probe builds its canaries from (a valid "
    "one per probed topic).",
)
TIMEOUT: Any = Field(
    default=60.0,
    gt=0,
    allow_inf_nan=False,
    description="Seconds the built-in probe waits for the brokers and for its canary's drift event before "
    "the run fails.",
)
