"""The module-level Faust app, for ``faust -A stream_sentinel.worker.app worker``.

Faust's command line wants a module attribute named ``app``. It is built from SENTINEL_* (and
SENTINEL_CONFIG) on first access, not at import, so importing this module needs no broker. The
app itself is ``Sentinel`` (``worker/sentinel.py``); ``stream-sentinel worker`` builds the same one
through ``worker/run.py``, which this module only calls.
"""

from __future__ import annotations

from typing import Any

from stream_sentinel.worker.run import default_sentinel


def __getattr__(name: str) -> Any:
    """``app``: the Sentinel's Faust app, built once from the environment."""
    if name == "app":
        return default_sentinel().app
    raise AttributeError(name)
