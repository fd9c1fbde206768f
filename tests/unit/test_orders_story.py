"""The README's story on the example catalog's flagship topic: diff and replay --against agree.

orders is FORWARD (OrderCreated v2 narrows v1: producers upgrade first, a lagging one is
version_lag). A required field added to OrderCreated v2 in place must be breaking for diff (exit
20), and the same candidate must newly fail real traffic when the captures are compared with it
the way ``replay --against`` does.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from stream_sentinel.cli import run
from stream_sentinel.core.aggregate.comparison import Comparison
from stream_sentinel.core.assess import Assessor, Policy, Ref
from stream_sentinel.core.capture import read_capture
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.exits import EXIT_DIFF_BREAKING, EXIT_DIFF_COMPATIBLE, EXIT_OK

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
CAPTURE = ROOT / "replay" / "captures" / "orders-mixed.jsonl"
V2 = Path("orders") / "order-created.v2.schema.json"


def _diff(old: Path, new: Path) -> int:
    return run(["diff", str(old), str(new)], io.BytesIO(), io.StringIO(), io.StringIO())


def _candidate(tmp_path: Path, edit_v2: Any = None, edit_catalog: Any = None) -> Path:
    new = tmp_path / "candidate"
    shutil.copytree(SPEC, new)
    if edit_v2 is not None:
        doc = json.loads((new / V2).read_text(encoding="utf-8"))
        edit_v2(doc)
        (new / V2).write_text(json.dumps(doc), encoding="utf-8")
    if edit_catalog is not None:
        data = yaml.safe_load((new / "catalog.yaml").read_text(encoding="utf-8"))
        edit_catalog(data)
        (new / "catalog.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return new


def _newly_failing(candidate: Path) -> int:
    """What ``replay --against`` counts, over the orders capture instead of a live topic."""
    current, other = Engine.from_spec_dir(str(SPEC)), Engine.from_spec_dir(str(candidate))
    comparison = Comparison()
    now, then = current.checker("orders"), other.checker("orders")
    assert now is not None
    assert then is not None
    assessor = Assessor(Policy())
    for message in read_capture(CAPTURE.read_bytes().splitlines()):
        ref = Ref("orders", message.partition, message.offset, None, None, "json")
        a, b = now.check(message.value, message.headers), then.check(message.value, message.headers)
        comparison.add(
            (
                ("orders", a, 0, assessor.assess(a, ref) if a.violations else None),
                ("orders", b, 0, assessor.assess(b, ref) if b.violations else None),
            )
        )
    return comparison.newly_broken


def _require_sales_region(doc: dict[str, Any]) -> None:
    doc["properties"]["sales_region"] = {"x-requirement": "REQ-ORD-99", "type": "string"}
    doc["required"].append("sales_region")


def test_the_flagship_topic_has_a_real_mode() -> None:
    catalog = yaml.safe_load((SPEC / "catalog.yaml").read_text(encoding="utf-8"))
    assert catalog["topics"]["orders"]["compatibility"] == "FORWARD"


def test_required_field_added_in_place_is_breaking_and_replay_agrees(tmp_path: Path) -> None:
    candidate = _candidate(tmp_path, _require_sales_region)
    assert _diff(SPEC, candidate) == EXIT_DIFF_BREAKING
    assert _newly_failing(candidate) > 0


def test_compatible_and_cosmetic_changes_break_no_traffic(tmp_path: Path) -> None:
    def add_v3(data: dict[str, Any]) -> None:  # a new version identical to v2: version_added
        versions = data["topics"]["orders"]["events"]["OrderCreated"]["versions"]
        versions.append({"version": 3, "schema": str(V2)})

    compatible = _candidate(tmp_path / "a", edit_catalog=add_v3)
    assert _diff(SPEC, compatible) == EXIT_DIFF_COMPATIBLE
    assert _newly_failing(compatible) == 0
    cosmetic = _candidate(tmp_path / "b", lambda doc: doc.update(description="An order was placed."))
    assert _diff(SPEC, cosmetic) == EXIT_OK
    assert _newly_failing(cosmetic) == 0


def test_an_existing_field_made_required_in_place_is_breaking_and_replay_agrees(tmp_path: Path) -> None:
    """FORWARD alone accepts a narrowing; in place it fails the messages already written as v2."""
    candidate = _candidate(tmp_path, lambda doc: doc["required"].append("gift_wrap"))
    out = io.StringIO()
    assert run(["diff", str(SPEC), str(candidate)], io.BytesIO(), out, io.StringIO()) == EXIT_DIFF_BREAKING
    assert "edits in place are judged BACKWARD too" in out.getvalue()
    assert _newly_failing(candidate) > 0
    assert _diff_with_mode(candidate, "FORWARD") == EXIT_DIFF_COMPATIBLE  # an explicit --mode is taken as given


def _diff_with_mode(candidate: Path, mode: str) -> int:
    return run(["diff", str(SPEC), str(candidate), "--mode", mode], io.BytesIO(), io.StringIO(), io.StringIO())
