"""CEL expression rules: compiled once, judged per message, never raising, never echoing a message value.

``Expression.evaluate`` returns ``(holds, reason)``: ``(True, None)`` when the rule holds,
``(False, None)`` when it is false, ``(False, reason)`` when it cannot be evaluated. A reason
may quote a field or function the expression itself spells (catalog text), never a value of the
message (PII: deny by default).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.errors import SpecError
from stream_sentinel.core.rules.expression import (
    MAX_EXPRESSION_CHARS,
    Expression,
    ExpressionError,
    compile_expression,
)
from stream_sentinel.core.rules.model import compile_rules

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
REFUND = "!has(self.refund_cents) || self.refund_cents <= self.total_cents"
#: Values planted in payloads: none of them may appear in any reason.
SECRET = "alice@example.com"
SECRET_INT = 987654321


def judge(source: str, payload: Any) -> tuple[bool, str | None]:
    return compile_expression(source).evaluate(payload)


def assert_no_value(reason: str | None, *values: Any) -> None:
    for value in (SECRET, str(SECRET_INT), *map(str, values)):
        assert value not in (reason or ""), reason


# --- holds, false, and cross-field comparisons -------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "holds"),
    [
        ({"refund_cents": 500, "total_cents": 1000}, True),
        ({"refund_cents": 1000, "total_cents": 1000}, True),
        ({"refund_cents": 1001, "total_cents": 1000}, False),
        ({"total_cents": 1000}, True),  # has() guards the optional refund
        ({"refund_cents": 0, "total_cents": 0}, True),
    ],
)
def test_the_refund_rule_compares_two_fields_of_one_message_REQ_ORD_12(payload: dict[str, Any], holds: bool) -> None:
    assert judge(REFUND, payload) == (holds, None)


def test_a_false_rule_has_no_reason_and_a_true_one_neither() -> None:
    assert judge("self.a < self.b", {"a": 1, "b": 2}) == (True, None)
    assert judge("self.a < self.b", {"a": 2, "b": 1}) == (False, None)


def test_the_program_is_compiled_once_and_reused_for_every_message() -> None:
    rule = compile_expression("self.n % 2 == 0")
    assert isinstance(rule, Expression)
    assert rule.source == "self.n % 2 == 0"
    assert [rule.evaluate({"n": n})[0] for n in range(6)] == [True, False] * 3


def test_has_guards_an_optional_field_and_a_nested_one() -> None:
    guarded = "!has(self.discount) || self.discount.cents < self.total"
    assert judge(guarded, {"total": 10}) == (True, None)
    assert judge(guarded, {"total": 10, "discount": {"cents": 3}}) == (True, None)
    assert judge(guarded, {"total": 10, "discount": {"cents": 30}}) == (False, None)
    assert judge("has(self.a.b)", {"a": {"b": None}}) == (True, None)
    assert judge("has(self.a.b)", {"a": {}}) == (False, None)


def test_nested_fields_and_literal_keys() -> None:
    nested = "self.customer.address.country == 'NL' && self['event-id'].startsWith('evt_')"
    payload = {"customer": {"address": {"country": "NL"}}, "event-id": "evt_1"}
    assert judge(nested, payload) == (True, None)
    assert judge(nested, {**payload, "event-id": "x"}) == (False, None)


# --- missing fields: named from the expression, never a value ----------------------------------


def test_a_missing_field_is_false_with_a_reason_naming_the_field() -> None:
    holds, reason = judge(REFUND, {"refund_cents": SECRET_INT})
    assert holds is False
    assert reason is not None
    assert "'total_cents'" in reason
    assert "has()" in reason
    assert_no_value(reason)


def test_a_missing_nested_field_names_the_missing_one() -> None:
    holds, reason = judge("self.customer.tier == 'gold'", {"customer": {"email": SECRET}})
    assert (holds, reason) == (False, "no field 'tier' (guard optional fields with has())")


def test_a_missing_key_looked_up_by_a_message_value_is_not_quoted() -> None:
    # The missing key is the value of self.email: quoting it would echo PII.
    holds, reason = judge("self.limits[self.email] > 0", {"limits": {}, "email": SECRET})
    assert holds is False
    assert reason is not None
    assert "missing" in reason
    assert_no_value(reason)


def test_a_missing_field_inside_a_macro_names_the_field() -> None:
    holds, reason = judge("self.items.all(i, i.quantity > 0)", {"items": [{"quantity": 1}, {"sku": SECRET}]})
    assert (holds, reason) == (False, "no field 'quantity' (guard optional fields with has())")


# --- results that are not booleans, type mismatches, arithmetic ---------------------------------


@pytest.mark.parametrize(
    ("source", "payload", "type_name"),
    [
        ("self.email", {"email": SECRET}, "string"),
        ("self.n", {"n": SECRET_INT}, "int"),
        ("double(self.n) * 1.5", {"n": 2}, "double"),
        ("self.items", {"items": [SECRET]}, "list"),
        ("self", {"email": SECRET}, "map"),
        ("self.gone", {"gone": None}, "null"),
    ],
)
def test_a_result_that_is_not_a_boolean_is_an_evaluation_error_naming_its_type_only(
    source: str, payload: Any, type_name: str
) -> None:
    holds, reason = judge(source, payload)
    assert holds is False
    assert reason == f"the expression gave a {type_name}, not a boolean"
    assert_no_value(reason)


@pytest.mark.parametrize(
    ("source", "payload"),
    [
        ("self.total_cents > 'a'", {"total_cents": SECRET_INT}),  # int vs string
        ("self.email < 5", {"email": SECRET}),  # string vs int
        ("self.a + self.b > 0", {"a": 1, "b": SECRET}),  # int + string
        ("self.n > 0", {"n": None}),  # null vs int
        ("self.a.b == 1", {"a": SECRET}),  # selecting a field of a string
        ("self.tags.exists(t, t > 0)", {"tags": [SECRET]}),
    ],
)
def test_a_type_mismatch_is_an_evaluation_error_that_quotes_no_value(source: str, payload: Any) -> None:
    holds, reason = judge(source, payload)
    assert holds is False
    assert reason is not None
    assert "operand types" in reason
    assert_no_value(reason)


def test_cel_compares_int_and_double_by_value_and_a_string_is_never_equal_to_an_int() -> None:
    assert judge("self.n == 1.0", {"n": 1}) == (True, None)
    assert judge("self.n == '1'", {"n": 1}) == (False, None)


@pytest.mark.parametrize(
    ("source", "payload", "words"),
    [
        ("self.a / self.b == 1", {"a": SECRET_INT, "b": 0}, "division by zero"),
        ("self.a + 1 > 0", {"a": 2**63 - 1}, "overflow"),
        ("self.items[5] == 1", {"items": [SECRET_INT]}, "out of range"),
        ("self.items[self.i] == 1", {"items": [], "i": SECRET_INT}, "out of range"),
        ("int(self.code) > 0", {"code": SECRET}, "function 'int' failed"),
        ("self.email.matches(self.pattern)", {"email": SECRET, "pattern": "(" + SECRET}, "function 'matches' failed"),
        ("timestamp(self.at) > timestamp('2020-01-01T00:00:00Z')", {"at": SECRET}, "function 'timestamp' failed"),
        ("self.n > 0", {"n": 10**400 + SECRET_INT}, "cannot represent"),  # past a double too
    ],
)
def test_arithmetic_and_function_failures_are_evaluation_errors_quoting_no_value(
    source: str, payload: Any, words: str
) -> None:
    holds, reason = judge(source, payload)
    assert holds is False
    assert reason is not None
    assert words in reason
    assert_no_value(reason)


def test_a_function_the_library_does_not_have_is_named_at_evaluation() -> None:
    # cel-rust's core library has no lowerAscii (cel-go's strings extension): it compiles (the
    # binding checks functions only when called) and fails on every message with its name.
    holds, reason = judge("self.code.lowerAscii() == 'x'", {"code": SECRET})
    assert (holds, reason) == (False, "undefined function or variable 'lowerAscii'")


# --- lists, macros and string functions ------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "holds"),
    [
        ("self.items.all(i, i.quantity > 0)", True),
        ("self.items.all(i, i.quantity > 1)", False),
        ("self.items.exists(i, i.sku == 'MUG-00001')", True),
        ("self.items.exists(i, i.sku == 'NOPE')", False),
        ("self.items.exists_one(i, i.quantity == 2)", True),
        ("size(self.items) == 2 && self.items.size() <= 50", True),
        ("self.items.map(i, i.quantity * i.unit_price_cents).filter(c, c > 500).size() == 1", True),
        ("self.items.all(i, i.quantity * i.unit_price_cents <= self.total_cents)", True),
        ("'MUG-00001' in self.items.map(i, i.sku)", True),
        ("self.currency in ['EUR', 'USD']", True),
        ("[].all(x, false)", True),
    ],
)
def test_list_macros_over_the_message(source: str, holds: bool) -> None:
    payload = {
        "items": [
            {"sku": "MUG-00001", "quantity": 1, "unit_price_cents": 300},
            {"sku": "TEE-00002", "quantity": 2, "unit_price_cents": 900},
        ],
        "total_cents": 2100,
        "currency": "EUR",
    }
    assert judge(source, payload) == (holds, None)


@pytest.mark.parametrize(
    ("source", "holds"),
    [
        ("self.order_id.startsWith('ord_')", True),
        ("self.order_id.endsWith('xyz')", False),
        ("self.order_id.matches('^ord_[0-9a-z]{12}$')", True),
        ("self.email.contains('@')", True),
        ("size(self.name) == 6", True),  # UTF-8 bytes in cel-rust (the CEL spec says code points): see below
        ("self.name + '!' == 'Zoë 1!'", True),
        ("string(self.n) == '42'", True),
        ("int(self.digits) == 17", True),
    ],
)
def test_string_functions(source: str, holds: bool) -> None:
    payload = {"order_id": "ord_abc123def456", "email": "a@b.example", "name": "Zoë 1", "n": 42, "digits": "17"}
    assert judge(source, payload) == (holds, None)


# --- compile errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("self.total_cents <= ", "line 1, column 21: Syntax error"),
        ("self.refund_cents <=\n  self.total_cents +", "line 2, column 21: Syntax error"),
        ("self.a == (1", "Syntax error"),
        ("self.a === 1", "Syntax error"),
    ],
)
def test_a_syntax_error_is_an_expression_error_with_one_line_and_its_position(source: str, words: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    message = str(caught.value)
    assert "\n" not in message
    assert words in message
    assert len(message) <= 300


@pytest.mark.parametrize("source", ["order.total > 0", "self.a > limit", "payload.x == 1 || self.y"])
def test_a_variable_other_than_self_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"unknown variable .*the message is `self`"):
        compile_expression(source)


def test_names_bound_by_macros_are_not_unknown_variables() -> None:
    rule = compile_expression("self.a.all(x, x > 0) && self.b.exists(y, y == 1) && self.c.map(z, z).size() >= 0")
    assert rule.evaluate({"a": [1], "b": [1], "c": []}) == (True, None)


def test_an_over_long_expression_is_refused_before_compiling() -> None:
    longest = "true" + " && true" * ((MAX_EXPRESSION_CHARS - 4) // 8)
    assert len(longest) <= MAX_EXPRESSION_CHARS
    assert compile_expression(longest).evaluate({}) == (True, None)
    with pytest.raises(ExpressionError, match=f"longer than {MAX_EXPRESSION_CHARS} characters"):
        compile_expression("self.a == '" + "x" * MAX_EXPRESSION_CHARS + "'")


# --- evaluation never raises --------------------------------------------------------------


def _nested(depth: int) -> Any:
    node: Any = {"refund_cents": 1, "total_cents": 2}
    for level in range(depth):  # one path down (a node shared by two branches would double per level)
        node = {"self": node, "list": [level]} if level % 2 else {"list": [node]}
    return node


ODD_PAYLOADS: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    float("nan"),
    float("inf"),
    "",
    SECRET,
    [],
    [SECRET, SECRET_INT],
    {},
    {"refund_cents": None, "total_cents": None},
    {"refund_cents": SECRET, "total_cents": SECRET_INT},
    {"refund_cents": 2**63, "total_cents": 2**63 - 1},  # past int64: CEL reads it as a uint
    {"refund_cents": 2**64 + SECRET_INT, "total_cents": 1},  # past uint64
    {"refund_cents": -(2**70), "total_cents": 1},
    {"refund_cents": 10**400, "total_cents": 1},
    {"refund_cents": [1], "total_cents": {"a": 1}},
    {"refund_cents": True, "total_cents": False},
    {"refund_cents": "１２３", "total_cents": "€💶", "名前": "ゾエ"},
    {"refund_cents": "\ud800", "total_cents": 1},  # a lone surrogate (not Unicode text)
    {"refund_cents": b"\xff\x00", "total_cents": 1},
    {"": 1, "self": {"self": None}},
    {1: 2, "total_cents": 3},
    _nested(1100),  # deeper than orjson (1024 levels) lets any JSON message be
    [[[[[[[[[[[]]]]]]]]]]],
]

EXPRESSIONS = [
    REFUND,
    "self.items.all(i, i.quantity > 0)",
    "self.list.exists(x, x.self.refund_cents > 0)",
    "size(self) > 0",
    "self.name.startsWith('J')",
    "self['名前'] == 'ゾエ'",
    "has(self.a) && self.a.b.c == self.d[0]",
    "self.m[self.k] == 1",
    "self.refund_cents",
]


@pytest.mark.parametrize("payload", ODD_PAYLOADS, ids=[f"payload{i}" for i in range(len(ODD_PAYLOADS))])
def test_evaluation_never_raises_and_never_quotes_a_value_on_any_payload(payload: Any) -> None:
    for source in EXPRESSIONS:
        holds, reason = compile_expression(source).evaluate(payload)
        assert isinstance(holds, bool)
        assert reason is None or (isinstance(reason, str) and "\n" not in reason and len(reason) < 200)
        assert_no_value(reason, "１２３", "€💶", "ゾエ", 2**63, 2**64 + SECRET_INT, 10**400)


def test_unicode_values_compare_as_text_and_size_counts_utf8_bytes() -> None:
    # A known difference of cel-rust (0.10 binding) from the CEL spec, pinned so an upgrade that
    # changes it is noticed: size() of a string is its UTF-8 length, not its code points.
    assert judge("self['名前'] == 'ゾエ' && size(self['名前']) == 6", {"名前": "ゾエ"}) == (True, None)


def test_an_integer_past_64_bits_is_read_as_a_double() -> None:
    # Lossy, like any JSON reader that is not big-int aware; the money contracts cap cents at int64.
    assert judge("self.n == 18446744073709551616.0", {"n": 2**64 + 5}) == (True, None)
    assert judge("self.n == 9223372036854775808u", {"n": 2**63}) == (True, None)


# --- in the catalog: compiled with the rules, judged as rule_failed ----------------------------


def with_expression_rule(tmp_path: Path, expression: str, events: Any = None) -> Path:
    target = tmp_path / "spec"
    shutil.copytree(SPEC, target)
    catalog = yaml.safe_load((target / "catalog.yaml").read_text())
    catalog["rules"] = [
        *catalog.get("rules", []),
        {
            "id": "cel-under-test",
            "kind": "expression",
            "requirement": "REQ-X-9",
            "message": "A test expression.",
            "events": events or {"orders": ["OrderCancelled"]},
            "expression": expression,
        },
    ]
    (target / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return target


def test_an_expression_that_does_not_compile_is_a_spec_error_at_its_catalog_pointer(tmp_path: Path) -> None:
    spec = with_expression_rule(tmp_path, "self.refund_cents <=")
    catalog = load_catalog(spec)  # the catalog itself is well-formed
    index = len(catalog.rules) - 1
    engine = Engine(catalog)
    with pytest.raises(SpecError) as caught:
        compile_rules(catalog, engine.shows)
    assert caught.value.file == "catalog.yaml"
    assert caught.value.pointer == f"/rules/{index}/expression"
    assert caught.value.cause.startswith("CEL: line 1, column 21: Syntax error")
    assert "\n" not in str(caught.value)


def test_an_expression_naming_another_variable_is_a_spec_error(tmp_path: Path) -> None:
    spec = with_expression_rule(tmp_path, "order.refund_cents <= 1")
    catalog = load_catalog(spec)
    with pytest.raises(SpecError, match=r"/expression: CEL: unknown variable 'order'"):
        compile_rules(catalog, Engine(catalog).shows)


def test_a_failing_expression_is_rule_failed_with_the_rule_coordinates_and_no_value(tmp_path: Path) -> None:
    spec = with_expression_rule(tmp_path, "self.refund_cents <= self.total_cents")
    engine = Engine.from_spec_dir(str(spec))
    rules = compile_rules(engine.catalog, engine.shows)
    assert rules.reads("orders", "OrderCancelled")
    cancelled = {"order_id": "ord_abc123def456", "refund_cents": SECRET_INT, "total_cents": 5}
    [violation] = rules.judge_expressions("orders", "OrderCancelled", cancelled)
    assert violation.kind == d.RULE_FAILED
    assert violation.rule == "cel-under-test"
    assert violation.rule_path == "rule:cel-under-test"
    assert violation.requirement == "REQ-X-9"
    assert violation.owner == "team-orders"  # the topic's owner: the rule names none
    assert (violation.actual_type, violation.actual_value, violation.detail) == ("false", None, "")
    assert str(SECRET_INT) not in repr(violation)

    [broken] = rules.judge_expressions("orders", "OrderCancelled", {"refund_cents": SECRET_INT})
    assert broken.actual_type == "evaluation error"
    assert broken.detail == "no field 'total_cents' (guard optional fields with has())"
    assert str(SECRET_INT) not in repr(broken)

    assert rules.judge_expressions("orders", "OrderCancelled", {**cancelled, "total_cents": SECRET_INT}) == []
    assert rules.judge_expressions("orders", "OrderCreated", cancelled) == []  # another event type


# --- the example catalog's expression rule ------------------------------------------------------


def refund(amount: int, authorized: int | None) -> dict[str, Any]:
    """A PaymentRefunded v2 as the Avro reader decodes it (v1 messages read authorized_cents as null)."""
    return {
        "refund_id": "ref_abc123def456",
        "payment_id": "pay_abc123def456",
        "order_id": "ord_abc123def456",
        "amount": {"amount_cents": amount, "currency": "EUR"},
        "authorized_cents": authorized,
        "reason": "ORDER_CANCELLED",
        "refunded_at": 1_763_632_800_000,
    }


def test_a_refund_above_the_authorized_amount_fails_the_example_rule_REQ_PAY_12() -> None:
    engine = Engine.from_spec_dir(str(SPEC))
    rules = compile_rules(engine.catalog, engine.shows)
    assert rules.judge_expressions("payments", "PaymentRefunded", refund(500, 1000)) == []
    assert rules.judge_expressions("payments", "PaymentRefunded", refund(1000, 1000)) == []
    assert rules.judge_expressions("payments", "PaymentRefunded", refund(SECRET_INT, None)) == []  # v1: unknown
    [violation] = rules.judge_expressions("payments", "PaymentRefunded", refund(SECRET_INT, 1000))
    assert (violation.kind, violation.rule, violation.requirement) == (
        d.RULE_FAILED,
        "refund-within-authorized",
        "REQ-PAY-12",
    )
    assert (violation.severity, violation.owner, violation.actual_type) == ("breaking", "team-payments", "false")
    assert str(SECRET_INT) not in repr(violation)
    assert rules.judge_expressions("payments", "PaymentAuthorized", refund(SECRET_INT, 1000)) == []


# --- only the fields a rule reads are handed to the binding ----------------------------------


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        (REFUND, ("refund_cents", "total_cents")),
        ("self['event-id'] == 'x' && self.a.b > 0", ("event-id", "a")),
        ("self.items.all(i, i.q > 0)", ("items",)),
        ("size(self) > 0", None),  # reads the message whole
        ("'k' in self", None),
        ("self[self.k] == 1", None),
        ("self.items.all(self, self.q > 0)", None),  # self rebound by a macro
        ("self.a == 'self'", None),  # conservative: self in a literal
    ],
)
def test_the_fields_an_expression_reads_are_known_at_compile_time(source: str, reads: tuple[str, ...] | None) -> None:
    from stream_sentinel.core.rules.expression import _top_fields

    assert _top_fields(source) == reads


@pytest.mark.parametrize("payload", ODD_PAYLOADS[:-2], ids=[f"payload{i}" for i in range(len(ODD_PAYLOADS) - 2)])
def test_reading_only_the_named_fields_judges_as_the_whole_message_would(payload: Any) -> None:
    for source in [*EXPRESSIONS, "self.refund_cents == self['total_cents']", "has(self.refund_cents)"]:
        narrowed = compile_expression(source)
        whole = compile_expression(source)
        whole._reads = None
        got, expected = narrowed.evaluate(payload), whole.evaluate(payload)
        # The one difference: a value CEL cannot represent in a field the rule never reads no
        # longer makes it an evaluation error.
        if "cannot represent" not in f"{got[1]}{expected[1]}":
            assert got == expected, source
