"""The contract-diff corpus: cases written from the rules, run as data.

Each file in ``tests/spec/compat/`` names its schema format and lists cases: old and new schema,
the exact change kinds expected (as a multiset), and the verdict under BACKWARD, FORWARD, FULL
and NONE. The ``_TRANSITIVE`` modes must agree with their base mode for a single pair (they only
differ in which versions of a catalog are compared). Every schema in the corpus must itself be
valid, so a typo in a case cannot pass as "no change".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastavro
import jsonschema
import pytest
import yaml

from stream_sentinel.core.compat import SchemaSource, compare_schemas, verdict
from stream_sentinel.core.compat_avro import STRICTER_THAN_RESOLUTION, reader_problems
from stream_sentinel.core.spec import uri_for

CORPUS = Path(__file__).parent / "compat"
BASE_MODES = ("BACKWARD", "FORWARD", "FULL", "NONE")


def _load() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(CORPUS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases.extend((data["format"], case) for case in data["cases"])
    return cases


CASES = _load()


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
        if mode != "NONE":
            assert verdict(compare_schemas(old, new, f"{mode}_TRANSITIVE")) == expected, f"{mode}_TRANSITIVE"


AVRO_CASES = [(fmt, case) for fmt, case in CASES if fmt == "avro"]


@pytest.mark.parametrize(("fmt", "case"), AVRO_CASES, ids=[case["name"] for _, case in AVRO_CASES])
def test_avro_diff_agrees_with_the_resolution_checker(fmt: str, case: dict[str, Any]) -> None:
    """The named changes and the whole-schema reader/writer check must tell the same story
    (except where the diff is stricter on purpose: logical types)."""
    old, new = _sides(fmt, case)
    changes = [c for c in compare_schemas(old, new) if c.kind not in STRICTER_THAN_RESOLUTION]
    assert all(c.backward_compatible for c in changes) == (reader_problems(new, old) == [])
    assert all(c.forward_compatible for c in changes) == (reader_problems(old, new) == [])
