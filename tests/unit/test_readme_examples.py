"""README examples that the code can reproduce are compared with what it really prints, so they
cannot go stale: the drift event example and the ``make check-captures`` sample."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson

from stream_sentinel.cli import run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SPEC = ROOT / "spec" / "events"


def _check(capture: Path, fmt: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = run(["check", "--spec", str(SPEC), "--format", fmt, str(capture)], io.BytesIO(), out, err)
    assert code in (0, 1), err.getvalue()
    return out.getvalue()


def _drift_example() -> dict[str, Any]:
    match = re.search(r'```json\n(\{\n  "type": "drift",\n.*?\n\})\n```', README, re.DOTALL)
    assert match, "no drift event example in README"
    example: dict[str, Any] = orjson.loads(match.group(1))
    return example


def test_readme_drift_event_example_is_what_check_emits() -> None:
    example = _drift_example()
    source = example["source"]
    emitted = [
        event
        for capture in sorted((ROOT / "replay" / "captures").glob("*.jsonl"))
        for event in map(orjson.loads, _check(capture, "jsonl").splitlines())
        if event["source"] == source and (event["kind"], event["path"]) == (example["kind"], example["path"])
    ]
    assert emitted, f"no capture yields the README's example at {source}"
    real = emitted[0]
    assert example["drift_id"] == real["drift_id"]
    assert example["fingerprint"] == real["fingerprint"]
    # every field but the abbreviated sample, as printed
    assert {k: v for k, v in example.items() if k != "sample"} == {k: v for k, v in real.items() if k != "sample"}


def test_readme_check_captures_sample_is_the_real_output() -> None:
    intro = README.index("`make check-captures` is the offline variant")
    start = README.index("```\n", intro) + 4
    block = README[start : README.index("```\n", start)].splitlines()
    header, *shown = block
    capture = header.removeprefix("=== stream-sentinel check ")
    assert header != capture, "the sample starts with the line make check-captures prints per capture"
    assert shown[-1] == "..."
    real = _check(ROOT / capture, "table").splitlines()
    assert shown[:-1] == real[: len(shown) - 1]
