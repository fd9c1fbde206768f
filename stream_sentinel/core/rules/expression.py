"""CEL expressions over one message (the ``expression`` rule kind), compiled once per run.

The library is ``common-expression-language`` (the Rust ``cel`` interpreter behind a Python
binding): compiled programs are reused for every message, and evaluation is about 20 times
faster than ``cel-python``'s pure-Python interpreter (``make bench-cel`` measures both in the
same run: ratio 18.6-26.7; the refund rule takes under 10 µs here, most of it converting the
fields it reads into CEL values). CEL itself is not Turing complete (no loops beyond bounded macros), so
one evaluation is bounded by the message's size.

The message is bound as ``self`` (``self.refund_cents <= self.amount_cents``), as in
protovalidate and Kubernetes' CEL validation rules.

Nesting: the binding converts the payload recursively on the native stack and overflows it
(a crash, not an exception) somewhere past 8000 levels (measured with an 8 MiB stack). Rules
only see messages that passed their contract, decoded by orjson (at most 1024 levels) or the
Avro reader (bounded by Python's recursion limit), so no payload gets near that.
"""

from __future__ import annotations

import re
from typing import Any, Final

import cel

#: Longest expression the catalog accepts (also enforced by the catalog schema).
MAX_EXPRESSION_CHARS: Final = 4096
#: Longest compile error shown (one line at the rule's catalog pointer).
_MAX_ERROR_CHARS: Final = 300

#: Names bound by a comprehension macro (``self.items.all(i, i.qty > 0)``): not free variables.
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
#: Field selections (``.name``) and literal keys (``["name"]``): the names a reason may quote.
_SELECTED = re.compile(r"\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_LITERAL_KEY = re.compile(r"\[\s*(?:\"([^\"\\]*)\"|'([^'\\]*)')\s*\]")
#: An index whose key is computed (``self.m[self.k]``): its missing key would be a message value.
_COMPUTED_INDEX = re.compile(r"[\w)\]}]\s*\[(?!\s*(?:\"[^\"\\]*\"|'[^'\\]*'|-?\d+u?)\s*\])")
#: ``self`` as a name (not inside another identifier or after a dot), and ``self`` followed by a
#: field selection or a literal key: when every use is one of those, only those fields are read.
_SELF = re.compile(r"(?<![\w.])self\b")
_SELF_FIELD = re.compile(r"self\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:\"([^\"\\]*)\"|'([^'\\]*)')\s*\])")
#: Where the parser says what is wrong: ``ERROR: <input>:2:5: Syntax error: ...``.
_PARSE_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
_QUOTED_NAME = re.compile(r"'([A-Za-z_][A-Za-z0-9_.]*)'")


#: Evaluation failures by exception type (a ValueError only when it is the binding's conversion error).
_REASONS: Final[tuple[tuple[type[Exception], str], ...]] = (
    (TypeError, "no operator or function for these operand types (CEL converts nothing: int vs string, double, null)"),
    (ZeroDivisionError, "division by zero"),
    (OverflowError, "integer overflow (CEL integers are 64-bit)"),
    (IndexError, "list index out of range"),
    (ValueError, "the message holds a value CEL cannot represent (an integer beyond 64 bits, text not Unicode)"),
)


class ExpressionError(ValueError):
    """An expression that does not compile (shown at its catalog pointer, exit 2)."""


class Expression:
    """One compiled CEL program; :meth:`evaluate` never raises."""

    __slots__ = ("_names", "_program", "_quotes_keys", "_reads", "source")

    def __init__(self, source: str, program: Any) -> None:
        self.source = source
        self._program = program
        # Words of the catalog, never of a message: what a reason may quote.
        self._names = frozenset(_SELECTED.findall(source)) | frozenset(program.functions()) | {*program.variables()}
        self._names |= {a or b for a, b in _LITERAL_KEY.findall(source)}
        self._quotes_keys = _COMPUTED_INDEX.search(source) is None
        self._reads = _top_fields(source)

    def evaluate(self, payload: Any) -> tuple[bool, str | None]:
        """Judge one decoded message; never raises (a rule cannot take the worker down).

        ``(True, None)`` when the rule holds; ``(False, None)`` when it is false;
        ``(False, reason)`` when it cannot be evaluated (a missing field, a type mismatch, a
        result that is not a boolean). The reason names no value from the message: only a
        field or function the expression itself spells, or the kind of error.
        """
        reads = self._reads
        if reads is not None and type(payload) is dict:
            # The binding converts the whole message into CEL values before evaluating, and that
            # is most of the cost (bench/cel_libs.py): hand it only the fields the rule reads.
            payload = {name: payload[name] for name in reads if name in payload}
        try:
            result = self._program.execute({"self": payload})
        except Exception as exc:  # noqa: BLE001 - the binding raises KeyError/TypeError/ValueError/RuntimeError...
            try:
                return False, self._reason(exc)
            except Exception:  # noqa: BLE001 - a reason must never be what takes the worker down
                return False, f"evaluation error ({type(exc).__name__})"
        if result is True:
            return True, None
        if result is False:
            return False, None
        return False, f"the expression gave a {_cel_type(result)}, not a boolean"

    def _reason(self, exc: Exception) -> str:
        """Why evaluation failed, quoting only words of the expression (deny by default)."""
        text = str(exc)
        if isinstance(exc, KeyError):
            name = str(exc.args[0]) if exc.args else ""
            if self._quotes_keys and name in self._names:
                return f"no field {name!r} (guard optional fields with has())"
            return "a field or map key the expression reads is missing (guard optional fields with has())"
        for kind, reason in _REASONS:
            if isinstance(exc, kind) and (kind is not ValueError or text.startswith("Conversion Error")):
                return reason
        quoted = _QUOTED_NAME.search(text)
        said = f" {quoted[1]!r}" if quoted and quoted[1] in self._names else ""
        if text.startswith("Undefined variable or function"):
            return f"undefined function or variable{said}"
        if text.startswith("Function"):
            return f"function{said} failed on its arguments"
        return f"evaluation error ({type(exc).__name__})"


def _top_fields(source: str) -> tuple[str, ...] | None:
    """The message's top-level fields the expression reads, or None when it reads ``self`` whole.

    Every use of ``self`` must be a field selection or a literal key (``self.a``, ``self['b']``);
    anything else (``size(self)``, ``'k' in self``, ``self[self.k]``, ``self`` in a string
    literal or bound by a macro) hands the whole message over, which is always correct.
    """
    uses = [m.start() for m in _SELF.finditer(source)]
    fields: dict[str, None] = {}
    for start in uses:
        found = _SELF_FIELD.match(source, start)
        if found is None:
            return None
        fields[found[1] or found[2] or found[3] or ""] = None
    return tuple(fields)


def _cel_type(value: Any) -> str:
    """A result's CEL type name (a result is never echoed: it may be a message value)."""
    names = {bool: "bool", int: "int", float: "double", str: "string", bytes: "bytes", list: "list", dict: "map"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def compile_expression(source: str) -> Expression:
    """Compile ``source`` once; raise :class:`ExpressionError` with one line saying what is wrong."""
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        program = cel.compile(source)
    except Exception as exc:  # noqa: BLE001 - parse errors are ValueError; anything else is as bad
        raise ExpressionError(_compile_error(exc)) from None
    unknown = sorted(set(program.variables()) - {"self"} - set(_BOUND.findall(source)))
    if unknown:
        raise ExpressionError(f"unknown variable {unknown[0]!r}: the message is `self`")
    return Expression(source, program)


def _compile_error(exc: Exception) -> str:
    """The parser's complaint as one line with its position (its first line may be source text)."""
    text = str(exc).strip()
    found = _PARSE_ERROR.search(text)
    if found:
        line = f"line {found[1]}, column {found[2]}: {found[3].strip()}"
    else:
        lines = text.splitlines()
        line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"
