"""Catalog texts: topic-level requirement (nearest wins), shadowed requirements in ``spec``, and
what is really wrong with a catalog's schema path."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import orjson

from stream_sentinel.cli import run
from stream_sentinel.core.check.validate import Engine, Outcome
from stream_sentinel.core.exits import EXIT_OK, EXIT_USAGE
from tests.conftest import CATALOG, FILES, write_spec


def _spec(tmp_path: Path, edit: Any = None, **extra: Any) -> Path:
    files = dict(FILES)
    catalog = copy.deepcopy(CATALOG)
    if edit is not None:
        edit(catalog)
    files["catalog.yaml"] = catalog
    files.update(extra)
    return write_spec(tmp_path / "spec", files)


def _check(root: Path, topic: str, payload: object, headers: list[tuple[str, bytes]] | None = None) -> Outcome:
    checker = Engine.from_spec_dir(str(root)).checker(topic)
    assert checker is not None
    return checker.check(orjson.dumps(payload), headers)


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(args, io.BytesIO(), out, err)
    return code, out.getvalue(), err.getvalue()


def test_topic_requirement_applies_where_nothing_nearer_names_one(tmp_path: Path) -> None:
    def edit(catalog: dict[str, Any]) -> None:
        catalog["defaults"] = {"requirement": "REQ-ALL-1"}
        catalog["topics"]["profiles"]["requirement"] = "REQ-CRM-9"

    root = _spec(tmp_path, edit)
    (bad,) = _check(root, "profiles", {"id": 1}).violations  # no x-requirement in the profile schema
    assert (bad.kind, bad.requirement, bad.owner) == ("type_mismatch", "REQ-CRM-9", "team-crm")
    (unknown,) = _check(root, "typed", {"type": "Pong"}).violations  # topic-level drift, like owner
    assert (unknown.kind, unknown.requirement, unknown.owner) == ("unknown_event_type", "REQ-ALL-1", "team-typed")
    (order,) = _check(root, "orders", {}, [("event-type", b"OrderCreated")]).violations[:1]
    assert order.requirement != "REQ-ALL-1"  # the schema's and the event type's are nearer


def test_event_type_requirement_beats_the_topics(tmp_path: Path) -> None:
    def edit(catalog: dict[str, Any]) -> None:
        catalog["topics"]["profiles"]["requirement"] = "REQ-CRM-9"
        catalog["topics"]["profiles"]["events"]["ProfileUpdated"]["requirement"] = "REQ-CRM-1"

    (bad,) = _check(_spec(tmp_path, edit), "profiles", {"id": 1}).violations
    assert bad.requirement == "REQ-CRM-1"


def test_spec_listing_says_which_catalog_requirements_the_schemas_shadow(tmp_path: Path) -> None:
    def edit(catalog: dict[str, Any]) -> None:
        catalog["topics"]["payments"]["requirement"] = "REQ-PAY-0"
        catalog["topics"]["payments"]["events"]["PaymentAuthorized"]["requirement"] = "REQ-PAY-9"

    code, out, err = _cli(["spec", "--spec", str(_spec(tmp_path, edit))])
    assert (code, err) == (EXIT_OK, "")
    lines = out.splitlines()
    assert "payments  (avro, owner team-payments, requirement REQ-PAY-0, sample 1)" in lines
    # both Avro roots say REQ-PAY-1, so REQ-PAY-9 never reaches a drift event about a payload
    assert (
        "  PaymentAuthorized: v1, v2  [REQ-PAY-9, shadowed by schema annotations at "
        "pay/auth.v1.avsc#/x-requirement (REQ-PAY-1), pay/auth.v2.avsc#/x-requirement (REQ-PAY-1); BACKWARD]"
    ) in lines
    # the same requirement in catalog and schema shadows nothing
    assert "  OrderCreated: v1, v2  [REQ-ORD-1; BACKWARD]" in lines


def _schema_error(tmp_path: Path, topic: str, schema: str, **extra: Any) -> tuple[int, str]:
    def edit(catalog: dict[str, Any]) -> None:
        (event,) = catalog["topics"][topic]["events"].values()
        event["versions"][0]["schema"] = schema

    code, out, err = _cli(["spec", "--spec", str(_spec(tmp_path, edit, **extra))])
    assert out == ""
    assert err.count("\n") == 1  # one line, no traceback
    return code, err


def test_a_schema_path_that_names_no_schema_says_what_is_really_wrong(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.avsc"
    outside.write_text("{}", encoding="utf-8")
    cases = {
        ("payments", "pay/nope.avsc", "a"): "no .avsc (Avro) schema file 'pay/nope.avsc' in the spec dir",
        ("payments", "crm/profile.schema.json", "b"): (
            "schema file 'crm/profile.schema.json' is a JSON Schema (.json) file, but topic format avro needs "
            ".avsc (Avro) schema files"
        ),
        ("profiles", "pay/auth.v1.avsc", "c"): (
            "schema file 'pay/auth.v1.avsc' is an Avro (.avsc) file, but topic format json needs "
            ".json (JSON Schema) schema files"
        ),
        ("payments", "pay/auth.v1.avro", "d"): (
            "schema file 'pay/auth.v1.avro' exists but has .avro: topic format avro reads .avsc (Avro) schema files"
        ),
        (
            "payments",
            "../elsewhere.avsc",
            "e",
        ): "schema path '../elsewhere.avsc' is outside the spec dir ('..' leads out)",
        ("payments", str(outside), "f"): f"schema path {str(outside)!r} is outside the spec dir (an absolute path)",
        ("payments", "pay/../pay/auth.v1.avsc", "g"): "is not written plainly: write it as 'pay/auth.v1.avsc'",
    }
    for (topic, schema, sub), message in cases.items():
        extra = {"pay/auth.v1.avro": "{}"} if schema.endswith(".avro") else {}
        code, err = _schema_error(tmp_path / sub, topic, schema, **extra)
        assert code == EXIT_USAGE, err
        assert "catalog.yaml#/topics/" in err
        assert message in err, err
