"""Property: any bytes, any JSON, any headers give an Outcome; nothing raises out of the core.

Runs every topic of the example catalog (all four wire formats) on arbitrary input, and on
structure-aware input (valid messages with random changes), and builds the drift events, so the
explain, redaction and serialization paths are fuzzed too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_sentinel.core.check.drift import Source
from stream_sentinel.core.check.validate import Engine, Outcome

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
ENGINE = Engine.from_spec_dir(str(SPEC))
TOPICS = sorted(ENGINE.catalog.topics)

_names = st.sampled_from(["event-type", "schema-version", "x-other"])
_header_values = st.one_of(
    st.sampled_from([b"OrderCreated", b"OrderCancelled", b"PaymentAuthorized", b"1", b"2", b"99", b""]),
    st.binary(max_size=8),
)
headers_strategy = st.lists(st.tuples(_names, _header_values), max_size=3)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


def _judge(topic: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> Outcome:
    checker = ENGINE.checker(topic)
    assert checker is not None
    outcome = checker.check(value, headers)
    assert isinstance(outcome, Outcome)
    for event in outcome.drift_events(Source(topic, 0, 0), checker.topic.format):
        orjson.loads(event.to_json())  # serializable, always
    return outcome


@pytest.mark.parametrize("topic", TOPICS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(st.none(), st.binary(max_size=300)), headers=headers_strategy)
def test_arbitrary_bytes(topic: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
    _judge(topic, value, headers)


@pytest.mark.parametrize("topic", TOPICS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=json_values, headers=headers_strategy)
def test_arbitrary_json(topic: str, payload: Any, headers: list[tuple[str, bytes]]) -> None:
    _judge(topic, orjson.dumps(payload), headers)


ORDER = orjson.loads((SPEC.parent.parent / "replay" / "captures" / "orders-mixed.jsonl").read_bytes().splitlines()[0])


@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(sorted(orjson.loads(ORDER["payload"]))), json_values, max_size=4),
    drop=st.sets(st.sampled_from(sorted(orjson.loads(ORDER["payload"]))), max_size=3),
)
def test_mutated_orders(changes: dict[str, Any], drop: set[str]) -> None:
    payload = orjson.loads(ORDER["payload"])
    payload.update(changes)
    for key in drop:
        payload.pop(key, None)
    headers = [("event-type", b"OrderCreated")]
    outcome = _judge("orders", orjson.dumps(payload), headers)
    if not changes and not drop:
        assert outcome.ok
