"""``python -m stream_sentinel``: the same as the ``stream-sentinel`` command."""

from stream_sentinel.cli import main

main()
