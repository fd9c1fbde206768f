"""A bad spec fails at load with the file, the JSON pointer and a one-line cause; exit code 2."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.errors import SpecError
from stream_sentinel.core.spec import load_catalog
from stream_sentinel.core.validate import Engine
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
