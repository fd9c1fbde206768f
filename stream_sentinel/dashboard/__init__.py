"""The live drift dashboard: a drift-topic reader, a bounded buffer and the page (no Faust).

Shared by the worker (``/``, ``worker/dashboard.py``) and ``stream-sentinel dashboard``
(``dashboard/server.py``): both read the whole drift topic, so every worker shows the same page.
"""
