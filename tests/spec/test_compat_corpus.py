"""The contract-diff corpus: cases written from the rules, run as data.

Each file in ``tests/spec/compat/`` names its schema format and lists cases: old and new schema,
the exact change kinds expected (as a multiset), and the verdict under BACKWARD, FORWARD, FULL
and NONE. The ``_TRANSITIVE`` modes only differ in which versions of a catalog are compared, so
they are exercised by the catalog cases (``format: catalog``): an event type's versions in an
old and a new catalog, judged under every mode. Every schema in the corpus must itself be valid,
so a typo in a case cannot pass as "no change".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
import jsonschema
import pytest
import yaml

from stream_sentinel.core.compat import SchemaSource, compare_catalogs, compare_schemas, verdict
from stream_sentinel.core.compat.avro import STRICTER_THAN_RESOLUTION, reader_problems
from stream_sentinel.core.contracts.catalog import COMPATIBILITY_MODES, load_catalog, uri_for

CORPUS = Path(__file__).parent / "compat"
BASE_MODES = ("BACKWARD", "FORWARD", "FULL", "NONE")


def _load() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(CORPUS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases.extend((data["format"], case) for case in data["cases"])
    return cases


ALL_CASES = _load()
CASES = [(fmt, case) for fmt, case in ALL_CASES if fmt != "catalog"]
CATALOG_CASES = [case for fmt, case in ALL_CASES if fmt == "catalog"]


def _source(fmt: str, document: Any, files: dict[str, Any]) -> SchemaSource:
    if fmt == "avro":
        return SchemaSource("avro", "case.avsc", document)
    documents = {uri_for(name): doc for name, doc in files.items()}
    return SchemaSource("json", "case.schema.json", document, json_documents=documents)


def _sides(fmt: str, case: dict[str, Any]) -> tuple[SchemaSource, SchemaSource]:
    old_files = case.get("old_files", {})
    new_files = case.get("new_files", old_files)
    return _source(fmt, case["old"], old_files), _source(fmt, case["new"], new_files)


def test_corpus_is_large_enough_and_well_formed() -> None:
    names = [case["name"] for _, case in CASES]
    assert len(CASES) >= 80
    assert len(names) == len(set(names)), "case names must be unique"
    assert {fmt for fmt, _ in CASES} == {"json", "avro"}
    assert sum(fmt == "avro" for fmt, _ in CASES) >= 30
    for _, case in CASES:
        assert set(case["verdict"]) == set(BASE_MODES), case["name"]


@pytest.mark.parametrize(("fmt", "case"), CASES, ids=[case["name"] for _, case in CASES])
def test_case_schemas_are_valid(fmt: str, case: dict[str, Any]) -> None:
    for side in ("old", "new"):
        if fmt == "avro":
            fastavro.parse_schema(case[side], _write_hint=False)
        else:
            cls = jsonschema.validators.validator_for(case[side], default=jsonschema.Draft202012Validator)
            cls.check_schema(case[side])


@pytest.mark.parametrize(("fmt", "case"), CASES, ids=[case["name"] for _, case in CASES])
def test_case(fmt: str, case: dict[str, Any]) -> None:
    old, new = _sides(fmt, case)
    changes = compare_schemas(old, new)
    assert sorted(c.kind for c in changes) == sorted(case["kinds"]), [c.message for c in changes]
    for mode, expected in case["verdict"].items():
        assert verdict(compare_schemas(old, new, mode)) == expected, mode


AVRO_CASES = [(fmt, case) for fmt, case in CASES if fmt == "avro"]


@pytest.mark.parametrize(("fmt", "case"), AVRO_CASES, ids=[case["name"] for _, case in AVRO_CASES])
def test_avro_diff_agrees_with_the_resolution_checker(fmt: str, case: dict[str, Any]) -> None:
    """The named changes and the whole-schema reader/writer check must tell the same story
    (except where the diff is stricter on purpose: logical types)."""
    old, new = _sides(fmt, case)
    changes = [c for c in compare_schemas(old, new) if c.kind not in STRICTER_THAN_RESOLUTION]
    assert all(c.backward_compatible for c in changes) == (reader_problems(new, old) == [])
    assert all(c.forward_compatible for c in changes) == (reader_problems(old, new) == [])


# -- catalogs: several versions of one event type ---------------------------------------------


def _write_catalog(root: Path, schemas: str, mode: str, versions: list[Any]) -> Path:
    root.mkdir(parents=True)
    suffix = ".avsc" if schemas == "avro" else ".schema.json"
    entries = []
    for number, doc in enumerate(versions, start=1):
        (root / f"e.v{number}{suffix}").write_text(json.dumps(doc), encoding="utf-8")
        entries.append({"version": number, "schema": f"e.v{number}{suffix}"})
    topic = {
        "format": schemas,
        "event_type": {"fixed": "E"},
        "events": {"E": {"compatibility": mode, "versions": entries}},
    }
    (root / "catalog.yaml").write_text(yaml.safe_dump({"catalog": 1, "topics": {"t": topic}}), encoding="utf-8")
    return root


def test_catalog_cases_exercise_every_transitive_mode() -> None:
    """For each base mode some catalog case must be judged differently under its _TRANSITIVE mode."""
    for case in CATALOG_CASES:
        assert set(case["verdict"]) == set(COMPATIBILITY_MODES), case["name"]
    for base in ("BACKWARD", "FORWARD", "FULL"):
        assert any(c["verdict"][base] != c["verdict"][f"{base}_TRANSITIVE"] for c in CATALOG_CASES), base


@pytest.mark.parametrize("case", CATALOG_CASES, ids=[case["name"] for case in CATALOG_CASES])
def test_catalog_case(case: dict[str, Any], tmp_path: Path) -> None:
    schemas, mode = case["schemas"], case["compatibility"]
    old = load_catalog(_write_catalog(tmp_path / "old", schemas, mode, case["old"]))
    new_mode = case.get("new_compatibility", mode)
    new = load_catalog(_write_catalog(tmp_path / "new", schemas, new_mode, case["new"]))
    changes = compare_catalogs(old, new)
    assert sorted(c.kind for c in changes) == sorted(case["kinds"]), [c.message for c in changes]
    assert verdict(changes) == case["catalog_verdict"]
    for override, expected in case["verdict"].items():
        assert verdict(compare_catalogs(old, new, override)) == expected, override
