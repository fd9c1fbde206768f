"""Golden tests: captured traffic in replay/captures/ against frozen reports in replay/golden/.

A failing golden test is a drift report about the sentinel itself: the diff shows what changed in
what developers and alerting consumers would see. Rewrite goldens only after reviewing that diff:
``make golden`` (``pytest tests/golden --update-goldens``).

Test names carry the requirement IDs whose drift each capture exercises, so a failure points at
the requirement as well as the file.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.cli import run

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
CAPTURES = sorted((ROOT / "replay" / "captures").glob("*.jsonl"))
GOLDEN = ROOT / "replay" / "golden"
REQUIREMENTS = GOLDEN / "requirements.json"


def _check(capture: Path, fmt: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = run(["check", "--spec", str(SPEC), "--format", fmt, str(capture)], io.BytesIO(), out, err)
    assert code in (0, 1), err.getvalue()
    return out.getvalue()


def _requirements_of(capture: Path) -> list[str]:
    golden = GOLDEN / f"{capture.stem}.drift.jsonl"
    if not golden.exists():
        return []
    found = {orjson.loads(line).get("requirement") for line in golden.read_text().splitlines()}
    return sorted(r for r in found if r)


def _id(capture: Path) -> str:
    return "-".join([*_requirements_of(capture), capture.stem])


def _compare_or_update(request: pytest.FixtureRequest, path: Path, actual: str) -> None:
    if request.config.getoption("--update-goldens"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"no golden {path.relative_to(ROOT)}: run `make golden` and review it"
    assert actual == path.read_text(), f"{path.relative_to(ROOT)} differs (review, then `make golden`)"


@pytest.mark.parametrize("capture", CAPTURES, ids=[_id(c) for c in CAPTURES])
def test_golden_drift_events(request: pytest.FixtureRequest, capture: Path) -> None:
    _compare_or_update(request, GOLDEN / f"{capture.stem}.drift.jsonl", _check(capture, "jsonl"))


@pytest.mark.parametrize("capture", CAPTURES, ids=[_id(c) for c in CAPTURES])
def test_golden_report(request: pytest.FixtureRequest, capture: Path) -> None:
    _compare_or_update(request, GOLDEN / f"{capture.stem}.report.txt", _check(capture, "table"))


@functools.cache
def _by_requirement() -> dict[str, list[dict[str, Any]]]:
    table: dict[str, list[dict[str, Any]]] = {}
    for capture in CAPTURES:
        for line in _check(capture, "jsonl").splitlines():
            event = orjson.loads(line)
            requirement = event["requirement"] or "(none)"
            table.setdefault(requirement, []).append(
                {
                    "capture": capture.stem,
                    "partition": event["source"]["partition"],
                    "offset": event["source"]["offset"],
                    "kind": event["kind"],
                    "path": event["path"],
                    "drift_id": event["drift_id"],
                }
            )
    return dict(sorted(table.items()))


def _frozen_requirements() -> list[str]:
    if not REQUIREMENTS.exists():
        return ["(none)"]
    return sorted(orjson.loads(REQUIREMENTS.read_bytes()))


@pytest.mark.parametrize("requirement", _frozen_requirements())
def test_golden_requirement(request: pytest.FixtureRequest, requirement: str) -> None:
    """Per requirement: exactly which captured messages break it, and how (REQ-ID in the test id)."""
    actual = _by_requirement()
    if request.config.getoption("--update-goldens"):
        REQUIREMENTS.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2) + b"\n")
        return
    frozen = orjson.loads(REQUIREMENTS.read_bytes())
    assert set(actual) == set(frozen), "requirements broken by the captures changed"
    assert actual[requirement] == frozen[requirement]
