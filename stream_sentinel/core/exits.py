"""Every process exit code stream-sentinel returns, in one place (documented in the README).

The core's errors carry them (a ``SpecError`` is exit 2 wherever it surfaces), the worker returns
them as its process status, and each CLI command returns them; all three layers import this
module, so it sits at the bottom of the core rather than in ``cli/``, which nothing below the CLI
may import.
"""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0  # no drift; a clean stop; a plan printed
EXIT_DRIFT: Final = 1  # drift found (replay --against: something newly broken)
EXIT_USAGE: Final = 2  # usage, settings, spec or input error
EXIT_BROKER: Final = 3  # the brokers cannot be reached or refused a request
EXIT_DIFF_COMPATIBLE: Final = 10  # diff: compatible changes only
EXIT_DIFF_BREAKING: Final = 20  # diff: at least one breaking change
EXIT_INTERRUPTED: Final = 130  # Ctrl-C, the shell convention (128 + SIGINT)
