"""A bad spec fails at load with the file, the JSON pointer and a one-line cause; exit code 2."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.errors import SpecError
from tests.conftest import CATALOG, FILES

SpecFactory = Callable[[dict[str, Any] | None], Path]


def catalog_with(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    edit(catalog)
    return catalog


def schema_with(name: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    schema: dict[str, Any] = copy.deepcopy(FILES[name])
    edit(schema)
    return schema


CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    (
        "yaml-syntax",
        {"catalog.yaml": "catalog: 1\ntopics: [\n"},
        "catalog.yaml",
        "",
        "not valid YAML (line 3",
    ),
    (
        "unknown-format",
        {"catalog.yaml": catalog_with(lambda c: c["topics"]["orders"].update(format="xml"))},
        "catalog.yaml",
        "/topics/orders/format",
        "'xml' is not one of",
    ),
    (
        "missing-versions",
        {"catalog.yaml": catalog_with(lambda c: c["topics"]["orders"]["events"]["OrderCreated"].pop("versions"))},
        "catalog.yaml",
        "/topics/orders/events/OrderCreated",
        "'versions' is a required property",
    ),
    (
        "two-event-type-locators",
        {"catalog.yaml": catalog_with(lambda c: c["topics"]["orders"]["event_type"].update(fixed="OrderCreated"))},
        "catalog.yaml",
        "/topics/orders/event_type",
        "",
    ),
    (
        "schema-file-missing",
        {"orders/created.v1.schema.json": None},
        "catalog.yaml",
        "/topics/orders/events/OrderCreated/versions/0/schema",
        "no .json (JSON Schema) schema file 'orders/created.v1.schema.json'",
    ),
    (
        "versions-not-ascending",
        {
            "catalog.yaml": catalog_with(
                lambda c: c["topics"]["orders"]["events"]["OrderCreated"]["versions"][1].update(version=1)
            )
        },
        "catalog.yaml",
        "/topics/orders/events/OrderCreated/versions/1/version",
        "strictly ascending",
    ),
    (
        "duplicate-schema-id",
        {
            "catalog.yaml": catalog_with(
                lambda c: c["topics"]["stock"]["events"]["Adjusted"]["versions"][0].update(schema_id=7)
            )
        },
        "catalog.yaml",
        "/topics/stock/events/Adjusted/versions/0/schema_id",
        "schema_id 7 is already used by shipments/Shipped v1",
    ),
    (
        "pointer-on-avro",
        {"catalog.yaml": catalog_with(lambda c: c["topics"]["payments"].update(event_type={"pointer": "/t"}))},
        "catalog.yaml",
        "/topics/payments/event_type/pointer",
        "use a header",
    ),
    (
        "meta-schema",
        {
            "orders/created.v2.schema.json": schema_with(
                "orders/created.v2.schema.json",
                lambda s: s["properties"]["status"].update(type="strng"),
            )
        },
        "orders/created.v2.schema.json",
        "/properties/status/type",
        "is not valid under any of the given schemas",
    ),
    (
        "unresolvable-ref",
        {
            "orders/created.v1.schema.json": schema_with(
                "orders/created.v1.schema.json",
                lambda s: s["properties"]["customer"].update({"$ref": "../common/nope.schema.json"}),
            )
        },
        "orders/created.v1.schema.json",
        "/properties/customer/$ref",
        "does not resolve",
    ),
    (
        "remote-ref-is-never-fetched",
        {
            "orders/created.v1.schema.json": schema_with(
                "orders/created.v1.schema.json",
                lambda s: s["properties"]["customer"].update({"$ref": "https://example.com/c.json"}),
            )
        },
        "orders/created.v1.schema.json",
        "/properties/customer/$ref",
        "never fetched",
    ),
    (
        "json-syntax",
        {"crm/profile.schema.json": '{"type": "object",}'},
        "crm/profile.schema.json",
        "",
        "not valid JSON (line 1",
    ),
    (
        "json-duplicate-key",
        {"crm/profile.schema.json": '{"type": "object", "type": "array"}'},
        "crm/profile.schema.json",
        "",
        "duplicate key 'type'",
    ),
    (
        "avro-unknown-type",
        {
            "pay/auth.v1.avsc": schema_with(
                "pay/auth.v1.avsc", lambda s: s["fields"][1].update(type="com.acme.common.Monee")
            )
        },
        "pay/auth.v1.avsc",
        "/fields/1/type",
        "unknown type",
    ),
]


def _rename_topic(new: Any) -> Callable[[dict[str, Any]], None]:
    def edit(c: dict[str, Any]) -> None:
        c["topics"][new] = c["topics"].pop("stock")

    return edit


def _rename_event(new: Any) -> Callable[[dict[str, Any]], None]:
    def edit(c: dict[str, Any]) -> None:
        events = c["topics"]["typed"]["events"]
        events[new] = events.pop("Ping")

    return edit


def _auth_field(field: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda s: s["fields"].append(field)


AUTH2 = "pay/auth.v2.avsc"
V1 = "/topics/orders/events/OrderCreated/versions/1"

# Issue #11: what YAML can say and a catalog must not (3.5), broken Avro that fastavro's parser
# accepts (3.5), and annotations of the wrong type (1.3).
CASES += [
    (
        "int-topic-name",
        {"catalog.yaml": catalog_with(_rename_topic(1))},
        "catalog.yaml",
        "/topics",
        "key 1 is int, not a string (quote it)",
    ),
    (
        "null-event-name",
        {"catalog.yaml": catalog_with(_rename_event(None))},
        "catalog.yaml",
        "/topics/typed/events",
        "key None is NoneType, not a string",
    ),
    (
        "boolean-event-name",
        {"catalog.yaml": catalog_with(_rename_event(True))},
        "catalog.yaml",
        "/topics/typed/events",
        "key True is bool, not a string",
    ),
    (
        "huge-version",
        {
            "catalog.yaml": catalog_with(
                lambda c: c["topics"]["orders"]["events"]["OrderCreated"]["versions"][1].update(version=10**23)
            )
        },
        "catalog.yaml",
        V1 + "/version",
        "is greater than the maximum of 2147483647",
    ),
    (
        "nan-sample-rate",
        {"catalog.yaml": catalog_with(lambda c: c["topics"]["orders"].update(sample_rate=float("nan")))},
        "catalog.yaml",
        "/topics/orders/sample_rate",
        "nan is not a finite number",
    ),
    (
        "infinite-default-sample-rate",
        {"catalog.yaml": catalog_with(lambda c: c.setdefault("defaults", {}).update(sample_rate=float("-inf")))},
        "catalog.yaml",
        "/defaults/sample_rate",
        "-inf is not a finite number",
    ),
    (
        "yaml-alias",
        {"catalog.yaml": "catalog: 1\nx: &a [1]\ny: *a\ntopics: {}\n"},
        "catalog.yaml",
        "",
        "aliases (*name) are not allowed (line 3, column 4)",
    ),
    (
        "yaml-merge-key",
        {"catalog.yaml": "catalog: 1\nd: &d {format: json}\ntopics:\n  t: {<<: *d}\n"},
        "catalog.yaml",
        "",
        "aliases (*name) are not allowed",
    ),
    (
        "yaml-deep-nesting",
        {"catalog.yaml": "catalog: 1\ntopics: " + "[" * 5000 + "]" * 5000 + "\n"},
        "catalog.yaml",
        "",
        "nested too deeply",
    ),
    (
        "catalog-too-large",
        {"catalog.yaml": "catalog: 1\n" + "# padding\n" * 110_000 + "topics: {}\n"},
        "catalog.yaml",
        "",
        "over the 1048576-byte limit for spec files",
    ),
    (
        "schema-too-large",
        {"crm/profile.schema.json": '{"description": "' + "x" * (1 << 20) + '"}'},
        "crm/profile.schema.json",
        "",
        "over the 1048576-byte limit",
    ),
    (
        "avro-record-without-fields",
        {"common/money.avsc": schema_with("common/money.avsc", lambda s: s.pop("fields"))},
        "common/money.avsc",
        "",
        "a record needs a fields list",
    ),
    (
        "avro-duplicate-field",
        {AUTH2: schema_with(AUTH2, _auth_field({"name": "payment_id", "type": "long"}))},
        AUTH2,
        "/fields/4/name",
        "duplicate field name 'payment_id'",
    ),
    (
        "avro-duplicate-union-branch",
        {AUTH2: schema_with(AUTH2, _auth_field({"name": "note", "type": ["null", "string", "string"]}))},
        AUTH2,
        "/fields/4/type/2",
        "the union has two string branches",
    ),
    (
        "avro-union-in-union",
        {AUTH2: schema_with(AUTH2, _auth_field({"name": "note", "type": ["null", ["string"]]}))},
        AUTH2,
        "/fields/4/type/1",
        "may not directly contain a union",
    ),
    (
        "avro-negative-fixed-size",
        {AUTH2: schema_with(AUTH2, _auth_field({"name": "f", "type": {"type": "fixed", "name": "F", "size": -1}}))},
        AUTH2,
        "/fields/4/type/size",
        "a fixed size must be a non-negative integer",
    ),
    (
        "avro-illegal-record-name",
        {AUTH2: schema_with(AUTH2, lambda s: s.update(name="Payment-Authorized"))},
        AUTH2,
        "/name",
        "'Payment-Authorized' is not an Avro name",
    ),
    (
        "avro-illegal-field-name",
        {AUTH2: schema_with(AUTH2, _auth_field({"name": "risk score", "type": "int"}))},
        AUTH2,
        "/fields/4/name",
        "'risk score' is not an Avro field name",
    ),
    (
        "avro-duplicate-enum-symbol",
        {
            AUTH2: schema_with(
                AUTH2, _auth_field({"name": "b", "type": {"type": "enum", "name": "B", "symbols": ["V", "M", "V"]}})
            )
        },
        AUTH2,
        "/fields/4/type/symbols/2",
        "duplicate enum symbol 'V'",
    ),
    (
        "avro-default-not-matching",
        {AUTH2: schema_with(AUTH2, lambda s: s["fields"][3].update(default="high"))},
        AUTH2,
        "/fields/3/default",
        "default does not match the type of field 'risk_score'",
    ),
    (
        "avro-union-default-not-matching",
        {AUTH2: schema_with(AUTH2, _auth_field({"name": "note", "type": ["null", "string"], "default": 5}))},
        AUTH2,
        "/fields/4/default",
        "default does not match",
    ),
    (
        "avro-decimal-without-precision",
        {AUTH2: schema_with(AUTH2, _auth_field({"name": "d", "type": {"type": "bytes", "logicalType": "decimal"}}))},
        AUTH2,
        "/fields/4/type/precision",
        "a decimal needs a positive integer precision",
    ),
    (
        "avro-x-pii-string-true",
        {AUTH2: schema_with(AUTH2, lambda s: s["fields"][2].update({"x-pii": "true"}))},
        AUTH2,
        "/fields/2/x-pii",
        "x-pii must be true or false, not 'true'",
    ),
    (
        "avro-x-pii-on-a-record",
        {"common/money.avsc": schema_with("common/money.avsc", lambda s: s.update({"x-pii": 1}))},
        "common/money.avsc",
        "/x-pii",
        "x-pii must be true or false, not 1",
    ),
    (
        "avro-x-owner-not-a-string",
        {AUTH2: schema_with(AUTH2, lambda s: s["fields"][0].update({"x-owner": ["team-a"]}))},
        AUTH2,
        "/fields/0/x-owner",
        "x-owner must be a non-empty string",
    ),
    (
        "json-x-pii-yes",
        {
            "common/defs.schema.json": schema_with(
                "common/defs.schema.json",
                lambda s: s["$defs"]["Customer"]["properties"]["email"].update({"x-pii": "yes"}),
            )
        },
        "common/defs.schema.json",
        "/$defs/Customer/properties/email/x-pii",
        "x-pii must be true or false, not 'yes'",
    ),
    (
        "json-x-requirement-not-a-string",
        {
            "common/defs.schema.json": schema_with(
                "common/defs.schema.json", lambda s: s["$defs"]["Cents"].update({"x-requirement": 3})
            )
        },
        "common/defs.schema.json",
        "/$defs/Cents/x-requirement",
        "x-requirement must be a non-empty string, not 3",
    ),
    (
        "json-x-pii-under-items",
        {
            "crm/profile.schema.json": schema_with(
                "crm/profile.schema.json",
                lambda s: s["properties"].update(tags={"type": "array", "items": {"type": "string", "x-pii": None}}),
            )
        },
        "crm/profile.schema.json",
        "/properties/tags/items/x-pii",
        "x-pii must be true or false, not None",
    ),
]


@pytest.mark.parametrize(("name", "overrides", "file", "pointer", "cause"), CASES, ids=[c[0] for c in CASES])
def test_bad_spec_names_file_and_pointer(
    spec_factory: SpecFactory,
    name: str,
    overrides: dict[str, Any],
    file: str,
    pointer: str,
    cause: str,
) -> None:
    root = spec_factory(overrides)
    with pytest.raises(SpecError) as caught:
        Engine.from_spec_dir(str(root))
    error = caught.value
    assert (error.file, error.pointer) == (file, pointer), name
    assert cause in error.cause
    assert "\n" not in str(error)


def test_cli_reports_a_bad_spec_in_one_line_with_exit_2(spec_factory: SpecFactory) -> None:
    root = spec_factory({"orders/created.v1.schema.json": None})
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(
        ["check", "--spec", str(root), "--topic", "orders", "-"],
        io.BytesIO(b"{}\n"),
        stdout,
        stderr,
    )
    assert code == 2
    assert stdout.getvalue() == ""
    line = stderr.getvalue()
    assert line.count("\n") == 1
    assert "Traceback" not in line
    assert "catalog.yaml#/topics/orders/events/OrderCreated/versions/0/schema" in line


def test_missing_spec_dir(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec directory does not exist"):
        load_catalog(tmp_path / "nope")


def test_loaded_catalog_is_immutable(spec_factory: SpecFactory) -> None:
    catalog = load_catalog(spec_factory(None))
    with pytest.raises(TypeError):
        catalog.topics["x"] = catalog.topics["orders"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        catalog.topics["orders"].sample_rate = 0.5  # type: ignore[misc]


def test_annotation_names_used_as_property_names_are_not_annotations(spec_factory: SpecFactory) -> None:
    """``properties: {x-pii: {...}}`` names a field called x-pii; only keyword positions count."""
    profile = schema_with(
        "crm/profile.schema.json",
        lambda s: s["properties"].update({"x-pii": {"type": "string"}, "x-owner": {"type": "integer"}}),
    )
    load_catalog(spec_factory({"crm/profile.schema.json": profile}))


def test_valid_avro_shapes_still_load(spec_factory: SpecFactory) -> None:
    extra = [
        {"name": "note", "type": ["null", "string", {"type": "array", "items": "int"}], "default": None},
        {"name": "d", "type": {"type": "fixed", "name": "D", "size": 4, "logicalType": "decimal", "precision": 9}},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "B"}, "default": "A"},
        {"name": "m", "type": {"type": "map", "values": "long"}, "default": {"a": 1}},
        {"name": "x", "type": "bytes", "default": "\u00ff"},
    ]
    schema = schema_with(AUTH2, lambda s: s["fields"].extend(extra))
    load_catalog(spec_factory({AUTH2: schema}))


BOMB = "catalog: 1\nl0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", ["spec", "check", "worker"])
def test_yaml_alias_bomb_is_refused_by_every_command(spec_factory: SpecFactory, command: str) -> None:
    root = spec_factory({"catalog.yaml": BOMB + "topics: {orders: *l9}\n"})
    argv = {
        "spec": ["spec", "--spec", str(root)],
        "check": ["check", "--spec", str(root), "--topic", "orders", "-"],
        "worker": ["worker", "--spec", str(root), "--bootstrap", "127.0.0.1:1", "--without-web"],
    }[command]
    stdout, stderr = io.StringIO(), io.StringIO()
    assert run(argv, io.BytesIO(b"{}\n"), stdout, stderr) == 2
    assert stderr.getvalue() == (
        "stream-sentinel: catalog.yaml#: aliases (*name) are not allowed (line 3, column 10)\n"
    )


def test_integral_floats_become_integers(spec_factory: SpecFactory) -> None:
    """YAML ``version: 2.0`` passes JSON Schema's integer check; it must not print as v2.0."""
    catalog = catalog_with(lambda c: c["topics"]["orders"]["events"]["OrderCreated"]["versions"][1].update(version=2.0))
    catalog["topics"]["shipments"]["events"]["Shipped"]["versions"][0]["schema_id"] = 7.0
    loaded = load_catalog(spec_factory({"catalog.yaml": catalog}))
    version = loaded.topics["orders"].events["OrderCreated"].newest.version
    assert (type(version), version) == (int, 2)
    assert sorted(loaded.schema_ids) == [7, 21]
    assert all(type(schema_id) is int for schema_id in loaded.schema_ids)


# -- the dialect of a schema without $schema -------------------------------------------------------


def _dialect_spec(root: Path, schema: dict[str, Any], default_dialect: str | None = None) -> Path:
    root.mkdir()
    (root / "e.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    head = "catalog: 1\n" + (f"default_dialect: '{default_dialect}'\n" if default_dialect else "")
    head += "topics:\n  t:\n    event_type: {fixed: E}\n    events:\n      E:\n"
    (root / "catalog.yaml").write_text(head + "        versions: [{version: 1, schema: e.schema.json}]\n", "utf-8")
    return root


TUPLE_07 = {
    "type": "array",
    "items": [{"type": "string", "x-pii": True}, {"$ref": "#/definitions/N", "maximum": 0}],
    "additionalItems": False,
    "definitions": {"N": {"type": "integer"}},
}


def test_schema_without_dialect_is_validated_and_redacted_as_draft07(tmp_path: Path) -> None:
    """Tuple items, additionalItems and a $ref beside which keywords are ignored (draft-07)."""
    engine = Engine(load_catalog(_dialect_spec(tmp_path / "spec", TUPLE_07)))
    checker = engine.checker("t")
    assert checker is not None
    assert checker.check(b'["jane@example.com", 5]', None).ok  # maximum beside $ref is ignored
    outcome = checker.check(b'["jane@example.com", 5, "extra"]', None)
    assert [(v.kind, v.keyword) for v in outcome.violations] == [("constraint", "/additionalItems")]
    outcome = checker.check(b'[7, "x"]', None)
    assert sorted(v.path for v in outcome.violations) == ["/0", "/1"]
    assert b"jane" not in json.dumps(checker.check(b'["jane", 5, 1]', None).sample()).encode()


def test_catalog_default_dialect_is_checked_and_applied(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as bad:
        load_catalog(_dialect_spec(tmp_path / "bad", TUPLE_07, "draft-05"))
    assert (bad.value.file, bad.value.pointer) == ("catalog.yaml", "/default_dialect")
    with pytest.raises(SpecError) as foreign:
        load_catalog(_dialect_spec(tmp_path / "foreign", TUPLE_07, "2020-12"))
    assert (foreign.value.file, foreign.value.pointer) == ("e.schema.json", "/items")
    prefix = {"type": "array", "prefixItems": [{"type": "string"}], "items": False}
    engine = Engine(load_catalog(_dialect_spec(tmp_path / "new", prefix, "2020-12")))
    checker = engine.checker("t")
    assert checker is not None
    assert not checker.check(b'["a", "b"]', None).ok


def test_redaction_ignores_keywords_beside_ref_in_draft07(tmp_path: Path) -> None:
    """A field only an ignored sibling of $ref documents is undocumented (draft-07) and not echoed;
    an x-pii there still hides the value. From 2019-09 the sibling documents it."""
    schema = {
        "type": "object",
        "required": ["id"],
        "properties": {"a": {"$ref": "#/definitions/C", "properties": {"extra": {"type": "string"}}}},
        "definitions": {"C": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    payload = b'{"a": {"n": 1, "extra": "jane@example.com"}}'
    cases = (
        (schema, "[UNDOCUMENTED string]"),
        ({"$schema": "https://json-schema.org/draft/2019-09/schema", **schema}, "jane@example.com"),
    )
    for number, (document, shown) in enumerate(cases):
        engine = Engine(load_catalog(_dialect_spec(tmp_path / str(number), document)))
        checker = engine.checker("t")
        assert checker is not None
        assert checker.check(payload, None).sample()["a"] == {"n": 1, "extra": shown}
    pii = {
        "type": "object",
        "required": ["id"],
        "properties": {"a": {"$ref": "#/definitions/O", "properties": {"name": {"x-pii": True}}}},
        "definitions": {"O": {"type": "object"}},
    }
    checker = Engine(load_catalog(_dialect_spec(tmp_path / "pii", pii))).checker("t")
    assert checker is not None
    assert b"jane" not in json.dumps(checker.check(b'{"a": {"name": "jane"}}', None).sample()).encode()
