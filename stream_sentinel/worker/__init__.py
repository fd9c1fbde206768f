"""The sentinel worker: the only package that imports Faust.

``stream_sentinel.worker.sentinel`` builds the Faust app from the settings (``worker.app`` holds ``app``
at module level for ``faust -A stream_sentinel.worker.app worker``); ``stream_sentinel.worker.run`` is what
``stream-sentinel worker`` calls.
"""
