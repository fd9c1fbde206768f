"""Generated: wrong shapes around every ``x-pii`` field of the example catalog, through every output.

The PII locations are found by walking the example contracts (spec/events), so a field marked
later is covered without touching this file. Each example draws messages for the JSON and Avro
topics with unique markers in PII positions (values, property names under PII objects, and
every string inside a value sent in a shape the contract does not expect), then renders them
through everything a user or consumer can see:

- ``stream-sentinel check`` in every format (table, json, jsonl), in-process;
- the drift topic (what the worker and ``replay --publish`` send: ``DriftEvent.to_json``);
- replay reports in every format (``replay.render``);
- the worker's tally records, window alerts and summaries, and the ``/drift`` view;
- every log line emitted meanwhile.

and asserts that no marker appears anywhere.
"""

from __future__ import annotations

import base64
import copy
import io
import logging
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fastavro
import orjson
import referencing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_sentinel.cli import run
from stream_sentinel.core.aggregate import windows as w
from stream_sentinel.core.aggregate.report import DriftReport
from stream_sentinel.core.assess import Assessor, Policy, Ref
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts.catalog import SchemaVersion
from stream_sentinel.core.ranges import End, Start
from stream_sentinel.replay.render import ReplayResult, render

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
ENGINE = Engine.from_spec_dir(str(SPEC))
CATALOG = ENGINE.catalog
WSPEC = w.WindowSpec(tumbling_ms=60_000, hopping_ms=3_600_000, step_ms=300_000, grace_ms=5_000)
T0 = 1_795_000_040_000

Tokens = tuple[str | int, ...]

# -- where the example catalog says PII ---------------------------------------------------------


def _json_pii(version: SchemaVersion) -> list[tuple[Tokens, Any]]:
    """(instance tokens, schema) of every x-pii node of a JSON Schema version, $ref followed."""
    registry: referencing.Registry[Any] = ENGINE._registry
    found: list[tuple[Tokens, Any]] = []
    stack: list[tuple[Any, Any, Tokens]] = [(version.document, registry.resolver(base_uri=version.uri), ())]
    while stack:
        node, resolver, tokens = stack.pop()
        if not isinstance(node, dict) or len(tokens) > 8:
            continue
        if isinstance(node.get("$ref"), str):
            resolved = resolver.lookup(node["$ref"])
            stack.append((resolved.contents, resolved.resolver, tokens))
        if node.get("x-pii") is True:
            found.append((tokens, node))
            continue
        for name, child in (node.get("properties") or {}).items():
            stack.append((child, resolver, (*tokens, name)))
        if isinstance(node.get("items"), dict):
            stack.append((node["items"], resolver, (*tokens, 0)))
    return found


def _avro_pii_names(schema: Any, seen: set[str] | None = None) -> set[str]:
    """Names of x-pii Avro fields (any depth) in a parsed schema."""
    seen = set() if seen is None else seen
    named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    out: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, str) and node in named and node not in seen:
            seen.add(node)
            stack.append(named[node])
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for field in node.get("fields", []):
                if field.get("x-pii") is True:
                    out.add(field["name"])
                stack.append(field.get("type"))
    return out


JSON_TARGETS: list[tuple[str, str, int, Tokens, Any]] = [
    (topic.name, event.name, version.version, tokens, schema)
    for topic in CATALOG.topics.values()
    if topic.format in ("json", "confluent-json")
    for event in topic.events.values()
    for version in event.versions
    if version.kind == "json"
    for tokens, schema in _json_pii(version)
]
AVRO_VERSIONS = [
    (topic.name, event.name, version)
    for topic in CATALOG.topics.values()
    if topic.format in ("avro", "confluent-avro")
    for event in topic.events.values()
    for version in event.versions
]


def test_the_example_catalog_has_pii_to_probe() -> None:
    assert {(t[0], t[3]) for t in JSON_TARGETS} >= {
        ("orders", ("customer", "email")),
        ("customers.profile", ("phone",)),
    }
    assert {event for _, event, _ in AVRO_PII_VERSIONS} >= {"PaymentAuthorized", "ShipmentDelivered"}


# -- valid messages of the example catalog (checked below) ---------------------------------------

ORDER = {
    "order_id": "ord_abcdefabcdef",
    "customer": {"id": "cus_abcdefabcdef", "email": "a@example.com", "name": "A", "tier": "gold"},
    "items": [{"sku": "ABC-12345", "name": "Mug", "quantity": 1, "unit_price_cents": 900}],
    "total_cents": 900,
    "currency": "EUR",
    "status": "placed",
    "created_at": "2026-01-01T10:00:00Z",
    "shipping_address": {"street": "Main 1", "city": "Utrecht", "postcode": "1234AB", "country": "NL"},
    "channel": "web",
}
PROFILE = {
    "customer_id": "cus_abcdefabcdef",
    "email": "a@example.com",
    "full_name": "A",
    "phone": "+31600000000",
    "tier": "gold",
    "marketing_opt_in": True,
    "updated_at": "2026-01-01T10:00:00Z",
}
BASES: dict[tuple[str, str, int], dict[str, Any]] = {
    ("orders", "OrderCreated", 2): ORDER,
    ("orders", "OrderCreated", 1): {k: v for k, v in ORDER.items() if k != "channel"},
    ("customers.profile", "CustomerProfileUpdated", 1): PROFILE,
}
HEADERS: dict[str, list[list[str]]] = {"orders": [["event-type", "OrderCreated"]], "customers.profile": []}


def test_every_json_pii_target_has_a_valid_base_message() -> None:
    for topic, event, version, _, _ in JSON_TARGETS:
        base = BASES[topic, event, version]
        headers = [(k, v.encode()) for k, v in HEADERS[topic]] + [("schema-version", str(version).encode())]
        checker = ENGINE.checker(topic)
        assert checker is not None
        assert checker.check(orjson.dumps(base), headers if topic == "orders" else None).ok, (topic, version)


def _parsed(version: SchemaVersion) -> Any:
    for topic in CATALOG.topics.values():
        checker = ENGINE.checker(topic.name)
        for compiled in checker._events.values() if checker else ():
            for c in (*compiled.older_first_newest, compiled.newest):
                if c.version is version:
                    return c.parsed
    raise LookupError(version.ref)


AVRO_PII_VERSIONS = [(topic, event, v) for topic, event, v in AVRO_VERSIONS if _avro_pii_names(_parsed(v))]

# -- markers and wrong shapes --------------------------------------------------------------------

MARKER = st.from_regex(r"zq[a-z0-9]{10}", fullmatch=True)
NAME_MARKER = st.from_regex(r"zq[a-z0-9]{6}@ex\.com", fullmatch=True)
NUMBER_MARKER = st.integers(10**15, 10**16)
SHAPES = ("list", "nested_list", "names", "number", "json_text", "string")


def _markers(prefix: str) -> Iterator[str]:
    """Endless unique markers from one drawn random prefix."""
    i = 0
    while True:
        yield f"{prefix}x{i}"
        i += 1


def _get(payload: Any, tokens: Tokens) -> Any:
    for token in tokens:
        payload = payload[token]
    return payload


def _set(payload: Any, tokens: Tokens, value: Any) -> Any:
    if not tokens:
        return value
    parent = _get(payload, tokens[:-1])
    parent[tokens[-1]] = value
    return payload


def _mark_strings(value: Any, markers: Iterator[str], secrets: set[str]) -> Any:
    """Every string (and property name) inside a value replaced by a fresh marker."""
    if isinstance(value, dict):
        out = {}
        for item in value.values():
            name = next(markers)
            secrets.add(name)
            out[name] = _mark_strings(item, markers, secrets)
        return out
    if isinstance(value, list):
        return [_mark_strings(v, markers, secrets) for v in value]
    if isinstance(value, str):
        marker = next(markers)
        secrets.add(marker)
        return marker
    return value


@st.composite
def json_message(draw: st.DrawFn) -> tuple[str, dict[str, Any], set[str]]:
    """One JSON message with wrong shapes around one or more PII locations of its event type."""
    topic, event, version = draw(st.sampled_from(JSON_TARGETS))[:3]
    payload: Any = copy.deepcopy(BASES[topic, event, version])
    secrets: set[str] = set()
    markers = _markers(draw(MARKER))
    targets = [t for t in JSON_TARGETS if t[:3] == (topic, event, version)]
    # First the right shape: markers in every PII position of this version.
    for _, _, _, pii_tokens, pii_schema in targets:
        marker = next(markers)
        secrets.add(marker)
        leaf = {marker: 1} if pii_schema.get("type") == "object" else marker
        _set(payload, pii_tokens, leaf)
    # Then wrong shapes at the drawn PII location or one of its ancestors (root included).
    for _ in range(draw(st.integers(1, 3))):
        _, _, _, pii_tokens, _ = draw(st.sampled_from(targets))
        depth = draw(st.integers(0, len(pii_tokens)))
        where = pii_tokens[:depth]
        try:
            current = _get(payload, where)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced an ancestor
        shape = draw(st.sampled_from(SHAPES))
        if shape == "names" and where != pii_tokens:
            # Every ancestor of a PII field here is an object: one more field in it is an
            # undocumented field, whose name is reported by design. Under the PII node itself
            # (or where an array belongs) names are content and must not be shown.
            continue
        inner = _mark_strings(copy.deepcopy(current), markers, secrets)
        if shape == "list":
            wrong: Any = [inner]
        elif shape == "nested_list":
            wrong = [[inner]]
        elif shape == "names":
            name = draw(NAME_MARKER)
            secrets.add(name)
            wrong = {name: inner}
        elif shape == "number":
            number = draw(NUMBER_MARKER)
            secrets.add(str(number))
            wrong = number
        elif shape == "json_text":
            wrong = orjson.dumps(inner).decode()
        else:
            wrong = next(markers)
            secrets.add(wrong)
        payload = _set(payload, where, wrong)
    header_version = draw(st.sampled_from([None, version]))
    headers = list(HEADERS[topic])
    if header_version is not None and topic == "orders":
        headers.append(["schema-version", str(header_version)])
    flat = [part for pair in headers for part in pair]
    line = {"topic": topic, "partition": 0, "offset": 0, "headers": flat, "payload": orjson.dumps(payload).decode()}
    return topic, line, secrets


def _avro_value(schema: Any, named: dict[str, Any], pii: bool, markers: Iterator[str], secrets: set[str]) -> Any:
    """A value for an Avro schema: markers in strings of x-pii fields, plain values elsewhere."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return _avro_value(next(b for b in schema if b != "null"), named, pii, markers, secrets)
    kind = schema.get("type") if isinstance(schema, dict) else schema
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if kind in ("record", "error"):
        return {
            f["name"]: _avro_value(f["type"], named, pii or f.get("x-pii") is True, markers, secrets)
            for f in schema["fields"]
        }
    if logical == "timestamp-millis":
        return datetime(2026, 1, 1, tzinfo=UTC)
    if logical == "date":
        return date(2026, 1, 1)
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "string":
        if not pii:
            return "x"
        marker = next(markers)
        secrets.add(marker)
        return marker
    if isinstance(kind, dict | list) or (isinstance(kind, str) and kind in named):
        return _avro_value(kind, named, pii, markers, secrets)
    plain: dict[str, Any] = {"boolean": True, "int": 7, "long": 7, "float": 1.5, "double": 1.5, "bytes": b"x"}
    return plain.get(str(kind))


@st.composite
def avro_message(draw: st.DrawFn) -> tuple[str, dict[str, Any], set[str]]:
    """An Avro record with markers in its PII fields, intact, lagging, truncated or with trailing bytes."""
    topic, event, version = draw(st.sampled_from(AVRO_PII_VERSIONS))
    parsed = _parsed(version)
    secrets: set[str] = set()
    record = _avro_value(parsed, parsed.get("__named_schemas", {}), False, _markers(draw(MARKER)), secrets)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    body = buffer.getvalue()
    # Damage that keeps field boundaries (flipping bits would let a marker land in a non-PII
    # field, which no contract can tell from a producer writing it there).
    damage = draw(st.sampled_from(("none", "truncate", "trailing")))
    if damage == "truncate":
        body = body[: draw(st.integers(0, max(len(body) - 1, 0)))]
    elif damage == "trailing":
        body += draw(st.binary(min_size=1, max_size=8))
    headers: list[str] = []
    if topic == "payments":
        headers = ["event-type", event]
        if draw(st.booleans()):  # no version header: an older version's record is version lag
            headers += ["schema-version", str(version.version)]
    else:
        body = b"\x00" + int(version.schema_id or 0).to_bytes(4, "big") + body
    line = {
        "topic": topic,
        "partition": 0,
        "offset": 0,
        "headers": headers,
        "payload": base64.b64encode(body).decode(),
        "payload_encoding": "base64",
    }
    return topic, line, secrets


# -- every output ---------------------------------------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _outputs(lines: list[dict[str, Any]], capture: Path) -> Iterator[str]:
    capture.write_bytes(b"".join(orjson.dumps({**line, "offset": i}) + b"\n" for i, line in enumerate(lines)))
    for fmt in ("table", "json", "jsonl"):
        out, err = io.StringIO(), io.StringIO()
        argv = ["check", "--spec", str(SPEC), "--format", fmt, "--examples", "100", str(capture)]
        code = run(argv, io.BytesIO(), out, err)
        assert code in (0, 1), err.getvalue()
        yield out.getvalue() + err.getvalue()
    report = DriftReport(max_examples=100)
    tally = w.Tally()
    assessor = Assessor(Policy(origin="replay", run_id="r1"))
    for offset, line in enumerate(lines):
        checker = ENGINE.checker(line["topic"])
        assert checker is not None
        headers = list(zip(line["headers"][0::2], (v.encode() for v in line["headers"][1::2]), strict=True))
        raw = line["payload"]
        value = base64.b64decode(raw) if line.get("payload_encoding") == "base64" else raw.encode()
        outcome = checker.check(value, headers)
        ref = Ref(line["topic"], 0, offset, T0, "k", checker.topic.format)
        drift = assessor.assess(outcome, ref) if outcome.violations else None
        events = drift.events() if drift is not None else []
        yield "\n".join(e.to_json().decode() for e in events)  # the drift topic, replay --publish
        report.add((line["topic"], outcome, T0, drift))
        tally.messages(line["topic"], outcome.event_type, T0)
        for event in events:
            tally.drift(event, T0, candidate=True)
    result = ReplayResult("r1", T0, 1.0, Start(), End(), str(SPEC), None, (), report, None)
    for fmt in ("table", "json", "markdown"):
        out = io.StringIO()
        render(result, fmt, out)
        yield out.getvalue()
    states = []
    for key, record in tally.records():
        travelled = orjson.loads(orjson.dumps(record))
        yield orjson.dumps(travelled).decode()  # the tallies topic
        state = w.new_state(key)
        advanced = w.advance(state, travelled, WSPEC, T0)
        closed = w.advance(state, w.tick(T0 + 10 * WSPEC.tumbling_ms), WSPEC, T0 + 10 * WSPEC.tumbling_ms)
        states.append((key, state))
        yield orjson.dumps([advanced.first, advanced.summaries, closed.summaries]).decode()
    yield orjson.dumps(w.view(states, WSPEC)).decode()  # /drift


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=st.lists(st.one_of(json_message(), json_message(), avro_message()), min_size=1, max_size=6))
def test_no_pii_marker_reaches_any_output(messages: list[tuple[str, dict[str, Any], set[str]]]) -> None:
    secrets = set().union(*(s for _, _, s in messages))
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            texts = list(_outputs([line for _, line, _ in messages], Path(tmp) / "capture.jsonl"))
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    texts.extend(handler.lines)
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text[:2000])


def test_the_generator_reaches_drift_with_markers() -> None:
    """The property above is not vacuous: drawn messages drift and carry markers on input."""
    seen_kinds: set[str] = set()

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(message=st.one_of(json_message(), avro_message()))
    def probe(message: tuple[str, dict[str, Any], set[str]]) -> None:
        _, line, secrets = message
        assert secrets
        checker = ENGINE.checker(line["topic"])
        assert checker is not None
        raw = line["payload"]
        value = base64.b64decode(raw) if line.get("payload_encoding") == "base64" else raw.encode()
        headers = list(zip(line["headers"][0::2], (v.encode() for v in line["headers"][1::2]), strict=True))
        seen_kinds.update(v.kind for v in checker.check(value, headers).violations)

    probe()
    assert {d.TYPE_MISMATCH, d.UNDECODABLE} <= seen_kinds, seen_kinds
