"""Cost caps of the validation core (issue 11 section 3, items 1-3).

Nesting deeper than the validator can explain, violations per message, the size of everything a
drift event echoes, and regexes whose matching time would depend on producer input.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_sentinel.cli import run
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check import validate as v
from stream_sentinel.core.check.annotate import JsonSchemaIndex
from stream_sentinel.core.check.explain import from_error
from stream_sentinel.core.check.validate import MAX_NESTING, Engine, Outcome
from stream_sentinel.core.errors import SpecError
from tests.conftest import FILES, ORDER_HEADERS, valid_order
from tests.unit.test_validate import check

SpecFactory = Callable[[dict[str, Any] | None], Path]
#: What no drift event may exceed, whatever the payload or the contract holds.
MAX_EVENT_BYTES = 64 * 1024
_DRIFT_EVENT = jsonschema_rs.validator_for(
    orjson.loads((Path(__file__).parents[2] / "spec/events/sentinel/drift-event.v1.schema.json").read_bytes())
)


def _deep_order(depth: int, **changes: Any) -> bytes:
    """An order whose ``customer`` is ``depth`` arrays inside each other (orjson writes only 254)."""
    text = orjson.dumps(valid_order(customer="DEEP", **changes))
    return text.replace(b'"DEEP"', b"[" * depth + b"1" + b"]" * depth)


def _envelope(payload: Any, offset: int) -> bytes:
    return orjson.dumps(
        {
            "topic": "orders",
            "partition": 0,
            "offset": offset,
            "key": f"k{offset}",
            "headers": ["event-type", "OrderCreated", "schema-version", "2"],
            "payload": (payload if isinstance(payload, bytes) else orjson.dumps(payload)).decode(),
        }
    )


def _cli(args: list[str], stdin: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(args, io.BytesIO(stdin), out, err)
    return code, out.getvalue(), err.getvalue()


def _events(outcome: Outcome, topic: str = "orders") -> list[d.DriftEvent]:
    return outcome.drift_events(d.Source(topic, 0, 0, None, "k"), "json")


# -- 1. nesting -------------------------------------------------------------------------------


def test_nesting_the_validator_cannot_explain_is_one_violation_and_check_goes_on(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    lines = [
        _envelope(_deep_order(300), 0),
        _envelope(_deep_order(1000), 1),  # orjson still reads it (its limit is 1024)
        _envelope(valid_order(status="lost"), 2),
    ]
    code, out, err = _cli(["check", "--spec", spec, "--format", "jsonl"], b"\n".join(lines))
    assert (code, err) == (1, "")
    events = [orjson.loads(line) for line in out.splitlines()]
    assert [(e["source"]["offset"], e["kind"]) for e in events] == [
        (0, d.OVERSIZED),
        (1, d.OVERSIZED),
        (2, d.CONSTRAINT),  # the rest of the file is still checked
    ]
    assert events[0]["expected"] == f"at most {MAX_NESTING} levels of nested objects and arrays"
    assert events[0]["actual"] == {"type": "object", "value": f"more than {MAX_NESTING} levels"}
    assert events[0]["event_type"] == "OrderCreated"
    assert "nested more than 255 levels deep" in events[0]["message"]


def test_the_deepest_nesting_the_validator_explains_is_explained(engine: Engine) -> None:
    # The failing value is MAX_NESTING levels deep: jsonschema-rs hands its error back.
    outcome = check(engine, "orders", _deep_order(MAX_NESTING), ORDER_HEADERS)
    assert [(x.kind, x.path) for x in outcome.violations] == [(d.TYPE_MISMATCH, "/customer")]
    outcome = check(engine, "orders", _deep_order(MAX_NESTING + 1), ORDER_HEADERS)
    assert [x.kind for x in outcome.violations] == [d.OVERSIZED]


def test_a_valid_deep_message_passes(spec_factory: SpecFactory) -> None:
    value = b'{"id": "p", "blob": ' + b"[" * 900 + b"]" * 900 + b"}"
    closed = {"type": "object", "properties": {"id": {"type": "string"}, "blob": {}}, "additionalProperties": False}
    engine = Engine.from_spec_dir(str(spec_factory({"crm/profile.schema.json": closed})))
    assert check(engine, "profiles", value).ok  # the fast path checks any depth orjson reads
    # An open model whose undocumented-field search cannot be explained that deep: info, not a failure.
    opened = {**FILES["crm/profile.schema.json"]}
    opened["properties"] = {**opened["properties"], "blob": {}}
    engine = Engine.from_spec_dir(str(spec_factory({"crm/profile.schema.json": opened})))
    (violation,) = check(engine, "profiles", value).violations
    assert (violation.kind, violation.severity) == (d.OVERSIZED, d.INFO)
    assert violation.detail.startswith("the message passes its contract")


def test_any_failure_while_explaining_becomes_an_internal_error_violation(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> tuple[d.Violation, ...]:
        raise RuntimeError("explain bug near someone@example.com")  # exception texts may quote payloads

    monkeypatch.setattr(v, "_json_violations", broken)
    outcome = check(engine, "orders", valid_order(status="lost"), ORDER_HEADERS)
    (violation,) = outcome.violations
    assert (violation.kind, violation.actual_value) == (d.INTERNAL_ERROR, "RuntimeError")
    assert violation.detail.startswith("raised at test_caps.py:")
    assert "someone@example.com" not in repr(_events(outcome)[0].to_dict())
    assert outcome.event_type == "OrderCreated"
    assert [e.kind for e in _events(outcome)] == [d.INTERNAL_ERROR]


# -- 2. violations per message and echoed sizes -----------------------------------------------


def _capped_engine(spec_factory: SpecFactory, cap: int) -> Engine:
    return Engine.from_spec_dir(str(spec_factory(None)), max_violations_per_message=cap)


def test_violations_past_the_cap_are_counted_in_one_overflow(spec_factory: SpecFactory) -> None:
    engine = _capped_engine(spec_factory, 5)
    items = [{"sku": "S", "quantity": 0}] * 50
    outcome = check(engine, "orders", valid_order(items=items), ORDER_HEADERS)
    *listed, overflow = outcome.violations
    assert len(listed) == 5
    assert {x.rule_path for x in listed} == {"/items/*/quantity"}
    assert (overflow.kind, overflow.severity, overflow.actual_value) == (d.OVERFLOW, d.BREAKING, "45")
    assert overflow.detail == "45 more violations in this message were counted but not listed"
    assert overflow.requirement == "REQ-ORD-1"
    events = _events(outcome)
    assert len(events) == 6
    assert [x.message for x in _DRIFT_EVENT.iter_errors(events[-1].to_dict())] == []  # overflow is a kind


def test_undocumented_field_names_count_one_each_past_the_cap(spec_factory: SpecFactory) -> None:
    engine = _capped_engine(spec_factory, 10)
    extra = {f"extra_{i}": i for i in range(1000)}
    outcome = check(engine, "orders", valid_order(**extra), ORDER_HEADERS)
    *listed, overflow = outcome.violations
    assert len(listed) == 10
    assert {x.kind for x in listed} == {d.UNDOCUMENTED_FIELD}
    assert overflow.actual_value == "990"
    # The same below the root, where one validator error names every field.
    item = {"sku": "S", "quantity": 1, **extra}
    *listed, overflow = check(engine, "orders", valid_order(items=[item]), ORDER_HEADERS).violations
    assert (len(listed), overflow.actual_value) == (10, "990")


def test_open_content_model_findings_past_the_cap(spec_factory: SpecFactory) -> None:
    engine = _capped_engine(spec_factory, 5)
    extra = {f"extra_{i}": i for i in range(50)}
    *listed, overflow = check(engine, "profiles", {"id": "p", **extra}).violations
    assert len(listed) == 5
    assert (overflow.severity, overflow.actual_value) == (d.INFO, "45")  # only info findings were left out
    # Breaking violations fill the cap: undocumented fields of the open model are not looked for.
    metadata = {f"m{i}": i for i in range(10)}  # ten non-string values: ten type mismatches
    *listed, overflow = check(engine, "profiles", {"id": "p", "metadata": metadata, **extra}).violations
    assert len(listed) == 5
    assert (overflow.severity, overflow.actual_value) == (d.BREAKING, "at least 5")


def test_check_max_violations_option(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    line = _envelope(valid_order(items=[{"sku": "S", "quantity": 0}] * 20), 0)
    code, out, _ = _cli(["check", "--spec", spec, "--format", "jsonl", "--max-violations", "3"], line)
    kinds = [orjson.loads(x)["kind"] for x in out.splitlines()]
    assert (code, kinds) == (1, [d.CONSTRAINT] * 3 + [d.OVERFLOW])
    code, _, err = _cli(["check", "--spec", spec, "--max-violations", "0"], line)
    assert code == 2
    assert "at least 1" in err


@pytest.mark.timeout(120)
def test_check_output_is_bounded_for_100k_invalid_items(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    items = [{"sku": "way-too-long-sku", "quantity": 0}] * 100_000  # two violations each
    line = _envelope(valid_order(items=items), 0)
    assert len(line) > 4_000_000
    code, out, err = _cli(["check", "--spec", spec, "--format", "jsonl"], line)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    # Over MAX_EXPLAINED_BYTES: the first violation and one overflow (not looked further).
    assert [orjson.loads(x)["kind"] for x in lines] == ["constraint", "overflow"]
    assert orjson.loads(lines[-1])["actual"]["value"] == "unknown"
    assert max(len(x) for x in lines) < MAX_EVENT_BYTES
    assert len(out) < 2 * 8 * 1024  # measured before the cap: 300 MB for such a message


def _huge_contract() -> dict[str, Any]:
    schema = {**FILES["crm/profile.schema.json"]}
    schema["properties"] = {
        **schema["properties"],
        "tier": {"enum": ["t" * 100_000, "u" * 100_000, *[f"tier-{i}" for i in range(5000)]]},
        "code": {"type": "string", "pattern": "^" + "c" * 100_000 + "$"},
        "token": {"const": {"k" * 50_000: "v" * 50_000}},
        "x-long": {"type": "integer", "x-requirement": "R" * 100_000},
    }
    return schema


BIG_NAME = "n" * 10_000_000


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("orders", valid_order(**{BIG_NAME: 1})),
        ("orders", valid_order(items=[{"sku": "S", "quantity": 1, BIG_NAME: "v"}])),
        ("orders", valid_order(order_id="o" * 10_000_000)),
        ("orders", valid_order(items=[{"sku": "S" * 1000, "quantity": 0}] * 100_000)),
        ("profiles", {"id": 1, "metadata": {BIG_NAME: 1}}),
        ("profiles", {"id": "p", "metadata": {f"{i}" * 5000: "v" * 5000 for i in range(2000)}, "tier": "x"}),
        ("profiles", {"id": "p", "code": "nope", "token": 1, "x-long": "s", BIG_NAME: 1}),
    ],
    ids=[
        "10MB-name",
        "10MB-name-in-item",
        "10MB-value",
        "100k-invalid-items",
        "10MB-map-key",
        "wide-map",
        "huge-enum-pattern-const-requirement",
    ],
)
def test_a_drift_event_is_bounded_whatever_the_payload(
    spec_factory: SpecFactory, topic: str, payload: dict[str, Any]
) -> None:
    engine = Engine.from_spec_dir(str(spec_factory({"crm/profile.schema.json": _huge_contract()})))
    outcome = check(engine, topic, payload, ORDER_HEADERS if topic == "orders" else None)
    source = d.Source(topic, 0, 0, None, "K" * 1_000_000)
    events = outcome.drift_events(source, "json")
    assert events
    assert max(len(e.to_json()) for e in events) < MAX_EVENT_BYTES
    for event in events:  # capped texts still meet the drift event's own contract
        assert [x.message[:200] for x in _DRIFT_EVENT.iter_errors(event.to_dict())] == []


def test_a_long_name_keeps_one_fingerprint_and_differs_from_its_neighbours(engine: Engine) -> None:
    first = check(engine, "orders", valid_order(**{BIG_NAME: 1}), ORDER_HEADERS).violations[0]
    again = check(engine, "orders", valid_order(**{BIG_NAME: 2}), ORDER_HEADERS).violations[0]
    other = check(engine, "orders", valid_order(**{BIG_NAME[:-1] + "m": 1}), ORDER_HEADERS).violations[0]
    assert first.path == again.path != other.path
    assert len(first.path) < d.MAX_PATH + 32
    assert first.path.startswith("/nnnn")
    assert "…(+" in first.path
    assert d.fingerprint("orders", "OrderCreated", first.kind, first.rule_path) == d.fingerprint(
        "orders", "OrderCreated", again.kind, again.rule_path
    )
    assert d.fingerprint("orders", "OrderCreated", first.kind, first.rule_path) != d.fingerprint(
        "orders", "OrderCreated", other.kind, other.rule_path
    )


# Short names and values, and long ones (up to ~100k characters) built by repetition.
_text = st.one_of(
    st.text(max_size=8),
    st.builds(lambda part, times: part * times, st.text(min_size=1, max_size=5), st.integers(100, 20_000)),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(_text, inner, max_size=6)),
    max_leaves=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(payload=st.dictionaries(_text, _json, max_size=8), key=_text)
def test_drift_events_of_random_payloads_are_bounded(payload: dict[str, Any], key: str) -> None:
    for topic, headers in (("orders", ORDER_HEADERS), ("profiles", None)):
        outcome = check(_HYPO_ENGINE, topic, {**valid_order(), **payload} if topic == "orders" else payload, headers)
        for event in outcome.drift_events(d.Source(topic, 0, 0, None, key), "json"):
            assert len(event.to_json()) < MAX_EVENT_BYTES


def _hypo_engine() -> Engine:
    import tempfile

    from tests.conftest import write_spec

    root = Path(tempfile.mkdtemp(prefix="caps-spec-"))
    return Engine.from_spec_dir(str(write_spec(root, {**FILES, "crm/profile.schema.json": _huge_contract()})))


_HYPO_ENGINE = _hypo_engine()


# -- 3. regex ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "schema_part", "pointer"),
    [
        (
            "patternProperties",
            {"patternProperties": {"^(?<!x)a+$": {"type": "string"}}},
            "/patternProperties/^(?<!x)a+$",
        ),
        (
            "pattern",
            {"properties": {"code": {"type": "string", "pattern": "^(?=.*[0-9])[a-z0-9]+$"}}},
            "/properties/code/pattern",
        ),
        ("backreference", {"properties": {"code": {"pattern": "^(a)\\1$"}}}, "/properties/code/pattern"),
    ],
    ids=lambda x: x if isinstance(x, str) and "/" not in x else "",
)
def test_a_pattern_that_needs_backtracking_is_refused_at_load(
    spec_factory: SpecFactory, where: str, schema_part: dict[str, Any], pointer: str
) -> None:
    schema = {**FILES["crm/profile.schema.json"], **schema_part}
    if "properties" in schema_part:
        schema["properties"] = {**FILES["crm/profile.schema.json"]["properties"], **schema_part["properties"]}
    spec = spec_factory({"crm/profile.schema.json": schema})
    with pytest.raises(SpecError) as caught:
        Engine.from_spec_dir(str(spec))
    assert (caught.value.file, caught.value.pointer) == ("crm/profile.schema.json", pointer), where
    assert "needs backtracking" in caught.value.cause
    code, out, err = _cli(["spec", "--spec", str(spec)], b"")
    assert (code, out) == (2, "")
    assert err.startswith(f"stream-sentinel: crm/profile.schema.json#{pointer}: pattern ")
    assert err.count("\n") == 1


def test_linear_patterns_still_load_and_match(spec_factory: SpecFactory) -> None:
    schema = {**FILES["crm/profile.schema.json"], "patternProperties": {"^x-[\\p{L}]+$": {"type": "integer"}}}
    engine = Engine.from_spec_dir(str(spec_factory({"crm/profile.schema.json": schema})))
    assert check(engine, "profiles", {"id": "p", "x-étage": 1}).ok
    assert [x.kind for x in check(engine, "profiles", {"id": "p", "x-étage": "1"}).violations] == [d.TYPE_MISMATCH]


def test_a_regex_engine_limit_is_reported_as_not_evaluated(engine: Engine) -> None:
    # The sentinel's validators never use the backtracking engine; should an error of that kind
    # ever reach the explainer, it must not read as an ordinary mismatch ("valid under pattern").
    fancy = jsonschema_rs.validator_for(
        {"type": "object", "patternProperties": {"^(?:(?<=a)a|a)+$": {}}, "additionalProperties": False},
        pattern_options=jsonschema_rs.FancyRegexOptions(backtrack_limit=100),
    )
    payload = {"a" * 30 + "!": 1}
    (error,) = fancy.iter_errors(payload)
    checker = engine.checker("orders")
    assert checker is not None
    ctx = checker._events["OrderCreated"].newest.context
    assert ctx is not None
    (violation,) = from_error(error, payload, ctx)
    assert violation.expected == "a value its pattern can be evaluated on within the regex engine's limits"
    assert violation.detail.startswith("pattern not evaluated: ")
    assert "valid under" not in violation.expected


def test_producer_field_names_do_not_grow_the_schema_caches(spec_factory: SpecFactory) -> None:
    engine = Engine.from_spec_dir(str(spec_factory(None)))
    for i in range(3000):
        outcome = check(engine, "profiles", {"id": "p", f"field_{i}": 1, "x" * 200 + str(i): 1, "name": 1})
        _events(outcome, "profiles")  # samples and documented/privacy lookups walk the same caches
    checker = engine.checker("profiles")
    assert checker is not None
    walker = checker._events["ProfileUpdated"].newest.walker
    assert isinstance(walker, JsonSchemaIndex)
    assert len(walker._root_shape()._children) <= 1024
    assert all(len(str(t)) <= 128 for tokens in walker._privacy for t in tokens)


def test_the_privacy_cache_holds_a_bounded_number_of_name_characters(spec_factory: SpecFactory) -> None:
    engine = Engine.from_spec_dir(str(spec_factory(None)))
    checker = engine.checker("profiles")
    assert checker is not None
    walker = checker._events["ProfileUpdated"].newest.walker
    assert isinstance(walker, JsonSchemaIndex)
    for i in range(40_000):  # deep paths of long (but cacheable) producer names
        walker.privacy(tuple(f"{i}-{depth}-" + "n" * 100 for depth in range(12)))
    held = sum(len(t) for tokens in walker._privacy for t in tokens if isinstance(t, str))
    assert held <= 2_000_000
