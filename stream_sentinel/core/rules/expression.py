"""CEL expressions over one message (the ``expression`` rule kind), compiled once per run.

The library is ``common-expression-language`` (the Rust ``cel`` interpreter behind a Python
binding): compiled programs are reused for every message, and evaluation is a few
microseconds, far below ``cel-python``'s pure-Python interpreter (``make bench-cel`` measures
both in the same run). CEL itself is not Turing complete (no loops beyond bounded macros), so
one evaluation is bounded by the message's size.

The message is bound as ``self`` (``self.refund_cents <= self.amount_cents``), as in
protovalidate and Kubernetes' CEL validation rules.
"""

from __future__ import annotations

from typing import Any, Final

import cel

#: Longest expression the catalog accepts (also enforced by the catalog schema).
MAX_EXPRESSION_CHARS: Final = 4096


class ExpressionError(ValueError):
    """An expression that does not compile (shown at its catalog pointer, exit 2)."""


class Expression:
    """One compiled CEL program; :meth:`evaluate` never raises."""

    __slots__ = ("_program", "source")

    def __init__(self, source: str, program: Any) -> None:
        self.source = source
        self._program = program

    def evaluate(self, payload: Any) -> tuple[bool, str | None]:
        """Judge one decoded message; never raises (a rule cannot take the worker down).

        ``(True, None)`` when the rule holds; ``(False, None)`` when it is false;
        ``(False, reason)`` when it cannot be evaluated (a missing field, a type mismatch, a
        result that is not a boolean). The reason names no value from the message: only the
        field the expression asked for or the kind of error.
        """
        try:
            result = self._program.execute({"self": payload})
        except KeyError as exc:
            return False, f"no field {str(exc.args[0])[:100]!r} (guard optional fields with has())"
        except Exception as exc:  # noqa: BLE001 - the binding raises plain ValueError/TypeError/RuntimeError
            return False, f"evaluation error ({type(exc).__name__})"
        if result is True:
            return True, None
        if result is False:
            return False, None
        return False, f"the expression gave a {type(result).__name__}, not a boolean"


def compile_expression(source: str) -> Expression:
    """Compile ``source`` once; raise :class:`ExpressionError` with the parser's first line."""
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        program = cel.compile(source)
    except Exception as exc:  # noqa: BLE001 - parse errors are ValueError; anything else is as bad
        first = str(exc).strip().splitlines()
        raise ExpressionError(first[0] if first else type(exc).__name__) from None
    unknown = sorted(set(program.variables()) - {"self"})
    if unknown:
        raise ExpressionError(f"unknown variable {unknown[0]!r}: the message is `self`")
    return Expression(source, program)
