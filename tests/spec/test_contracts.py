"""Data-driven tests over the real contracts in spec/events and the captures in replay/."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import referencing
from referencing.jsonschema import DRAFT202012

from stream_sentinel.cli import run
from stream_sentinel.core.capture import read_capture
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.compile import CompiledVersion
from stream_sentinel.core.check.validate import Engine, _json_violations
from stream_sentinel.core.contracts.catalog import uri_for
from stream_sentinel.core.rules.engine import DictStore, RuleRuntime
from stream_sentinel.core.rules.model import AFTER, Fact, compile_rules

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
CAPTURES = sorted((ROOT / "replay" / "captures").glob("*.jsonl"))
REQUIREMENT = re.compile(r"^REQ-[A-Z]+-[0-9]+$")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_spec_dir(str(SPEC))


def _annotations(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        if key in node:
            yield node[key]
        for value in node.values():
            yield from _annotations(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _annotations(item, key)


def test_every_event_type_has_an_owner_and_well_formed_requirements(engine: Engine) -> None:
    catalog = engine.catalog
    for topic in catalog.topics.values():
        for event in topic.events.values():
            assert event.owner, f"{topic.name}/{event.name} has no owner"
            assert event.requirement is None or REQUIREMENT.match(event.requirement)
    documents = [*catalog.json_documents.values(), *catalog.avro_documents.values()]
    requirements = [r for doc in documents for r in _annotations(doc, "x-requirement")]
    assert requirements
    assert all(isinstance(r, str) and REQUIREMENT.match(r) for r in requirements), requirements
    assert all(v is True for doc in documents for v in _annotations(doc, "x-pii"))


def _drift_events(capture: Path) -> list[dict[str, Any]]:
    out = io.StringIO()
    code = run(["check", "--spec", str(SPEC), "--format", "jsonl", str(capture)], io.BytesIO(), out, io.StringIO())
    assert code in (0, 1)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.stem for c in CAPTURES])
def test_REQ_SEN_1_every_drift_event_follows_its_own_contract(engine: Engine, capture: Path) -> None:
    events = _drift_events(capture)
    assert events, f"{capture.name} is meant to contain drift"
    # 1. our own engine, as an alerting consumer's sentinel would check the drift topic
    checker = engine.checker("sentinel.drift")
    assert checker is not None
    for event in events:
        outcome = checker.check(orjson.dumps(event), None)
        assert outcome.ok, outcome.violations
    # 2. an independent implementation (python-jsonschema) of the same contract
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (uri, referencing.Resource.from_contents(doc, default_specification=DRAFT202012))
        for uri, doc in engine.catalog.json_documents.items()
    )
    contract = engine.catalog.json_documents[uri_for("sentinel/drift-event.v1.schema.json")]
    validator = jsonschema.Draft202012Validator(
        contract, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for event in events:
        assert not list(validator.iter_errors(event))


def _contract_validators(engine: Engine) -> tuple[Any, jsonschema.Draft202012Validator]:
    """The sentinel's own checker of the drift topic, and python-jsonschema on the same contract."""
    checker = engine.checker("sentinel.drift")
    assert checker is not None
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (uri, referencing.Resource.from_contents(doc, default_specification=DRAFT202012))
        for uri, doc in engine.catalog.json_documents.items()
    )
    contract = engine.catalog.json_documents[uri_for("sentinel/drift-event.v1.schema.json")]
    return checker, jsonschema.Draft202012Validator(contract, registry=registry)


def _rule_findings(engine: Engine) -> list[Any]:
    """The example catalog's stateful rules, each broken once, through the real runtime."""
    runtime = RuleRuntime(compile_rules(engine.catalog, engine.shows), DictStore(), grace_ms=0)
    t, minute = 1_795_000_000_000, 60_000
    facts = [
        Fact("order-lifecycle", "ord_1", "OrderCreated", t, "orders", 0, 0, "OrderCreated"),
        Fact("order-lifecycle", "ord_1", "ShipmentDelivered", t + 1, "shipments", 0, 0, "ShipmentDelivered"),
        Fact("payment-once", "pay_1", None, t, "payments", 0, 0, "PaymentAuthorized"),
        Fact("payment-once", "pay_1", None, t + 5, "payments", 1, 3, "PaymentAuthorized"),
        Fact("order-events-in-sequence", "ord_2", t + 10, t + 10, "orders", 0, 1, "OrderCreated"),
        Fact("order-events-in-sequence", "ord_2", t + 5, t + 5, "orders", 0, 2, "OrderCancelled"),
        Fact("payment-after-order", "ord_3", AFTER, t, "orders", 0, 3, "OrderCreated"),
    ]
    findings = [f for fact in facts for f in runtime.process(fact)]
    return findings + runtime.tick(t + 31 * minute)


def test_REQ_SEN_1_rule_violation_drift_events_follow_their_contract(engine: Engine) -> None:
    findings = _rule_findings(engine)
    assert {f.violation.kind for f in findings} == {
        d.ILLEGAL_TRANSITION,
        d.DUPLICATE,
        d.OUT_OF_ORDER,
        d.MISSING_FOLLOWUP,
    }
    # The two kinds the example catalog's rules do not produce here, as core/rules builds them.
    gap = findings[0].violation._replace(kind=d.SEQUENCE_GAP, severity=d.INFO, rule="seq", rule_path="rule:seq")
    failed = d.Violation(
        d.RULE_FAILED,
        d.WARNING,
        "",
        "rule:refund-le-amount",
        "self.refund <= self.amount (m)",
        "false",
        rule="refund-le-amount",
    )
    events = [
        event
        for finding in findings
        for event in d.build_drift_events(
            (finding.violation,), d.Subject(finding.event_type, None, None, None, "json"), finding.source, None
        )
    ]
    events += d.build_drift_events(
        (gap, failed), d.Subject("OrderCreated", None, None, None, "json"), findings[0].source, None
    )
    checker, validator = _contract_validators(engine)
    for event in events:
        data = event.to_dict()
        assert data["rule_path"] == f"rule:{data['rule']}"
        outcome = checker.check(orjson.dumps(data), None)
        assert outcome.ok, (data, outcome.violations)
        assert not list(validator.iter_errors(data)), data
    assert any(e.related is not None for e in events)
    assert any(e.related is None for e in events)


def _valid_payloads(engine: Engine) -> dict[CompiledVersion, list[Any]]:
    """Valid JSON payloads from the captures, grouped by the compiled version they pass."""
    found: dict[CompiledVersion, list[Any]] = {}
    for capture in CAPTURES:
        for message in read_capture(capture.read_bytes().splitlines()):
            checker = engine.checker(message.topic or "")
            if checker is None or checker.topic.format != "json" or message.value is None:
                continue
            outcome = checker.check(message.value, message.headers)
            if outcome.ok and outcome.version is not None:
                event = checker._events[outcome.version.event_type]
                compiled = next(c for c in (event.newest, *event.older_first_newest) if c.version == outcome.version)
                found.setdefault(compiled, []).append(orjson.loads(message.value))
    return found


_REPLACEMENTS: list[Any] = [None, 1.5, -1, 1e20, "x", "", [], {}, True, "2026-13-45T99:00:00Z"]


def _mutations(payload: Any, rng: random.Random) -> Iterator[Any]:
    """Payload variants: each location deleted or replaced, extra fields added, then pairs."""
    locations: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            locations.append((*path, "__extra__"))
            for key, value in node.items():
                locations.append((*path, key))
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node[:2]):
                locations.append((*path, index))
                walk(value, (*path, index))

    walk(payload, ())

    def mutate(base: Any, path: tuple[Any, ...], replacement: Any) -> Any:
        copy = orjson.loads(orjson.dumps(base))
        node: Any = copy
        try:
            for token in path[:-1]:
                node = node[token]
        except (KeyError, IndexError, TypeError):
            return copy  # an earlier mutation removed the parent
        last = path[-1]
        if not isinstance(node, dict | list):
            return copy
        if last == "__extra__":
            if isinstance(node, dict):
                node["extra_field"] = None if replacement is _DELETE else replacement
        elif replacement is _DELETE and isinstance(node, dict):
            del node[last]
        elif replacement is not _DELETE:
            node[last] = replacement
        return copy

    singles = []
    for path in locations:
        for replacement in (_DELETE, *_REPLACEMENTS):
            variant = mutate(payload, path, replacement)
            singles.append(variant)
            yield variant
    for _ in range(60):
        first = rng.choice(singles)
        yield mutate(first, rng.choice(locations), rng.choice(_REPLACEMENTS)) if locations else first


_DELETE = object()


def test_explain_plan_matches_whole_message_errors(engine: Engine) -> None:
    """The fast explain path must report exactly what whole-message iter_errors reports."""
    rng = random.Random(11)
    covered = 0
    compared = 0
    for compiled, payloads in _valid_payloads(engine).items():
        if compiled.plan is None:
            continue
        covered += 1
        for payload in payloads[:3]:
            for variant in _mutations(payload, rng):
                if compiled.fast_is_valid(variant):
                    continue
                fast = [v._replace(keyword="") for v in _json_violations(compiled, variant)]
                full = [v._replace(keyword="") for v in _json_violations(compiled, variant, use_plan=False)]
                assert sorted(fast) == sorted(full), (compiled.version.ref, variant)
                compared += 1
    assert covered >= 3  # OrderCreated v1/v2, OrderCancelled, the drift event...
    assert compared > 500
