"""The sentinel's own contracts after #17: key/header paths and ``catalog_revision`` are a compatible change.

The drift-event and drift-summary contracts as they were before (``path`` pinned to a JSON pointer,
no ``catalog_revision``) are rebuilt here, and ``stream-sentinel diff`` of old vs new must say
compatible (exit 10); every drift event of every capture, checked by the worker's way (with a
revision), passes the new contract.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import orjson
import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.check.validate import Engine

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
CAPTURE = ROOT / "replay" / "captures" / "req-crm-20-key-headers.jsonl"


def _before(tmp_path: Path) -> Path:
    old = tmp_path / "old"
    shutil.copytree(SPEC, old)
    for name in ("drift-event.v1.schema.json", "drift-summary.v1.schema.json"):
        path = old / "sentinel" / name
        schema = orjson.loads(path.read_bytes())
        schema["properties"].pop("catalog_revision")
        if "path" in schema["properties"]:
            schema["properties"]["path"]["pattern"] = "^(/.*)?$"
        path.write_bytes(orjson.dumps(schema))
    return old


def test_diff_of_the_drift_contracts_before_and_after_is_compatible_REQ_SEN_1(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["diff", str(_before(tmp_path)), str(SPEC)], io.BytesIO(), out, err)
    assert code == 10, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("revision", [None, "0123456789abcdef"])
def test_key_and_header_drift_passes_the_drift_event_contract_REQ_SEN_1(revision: str | None) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", "--spec", str(SPEC), "--format", "jsonl", str(CAPTURE)], io.BytesIO(), out, err) == 1
    own = Engine.from_spec_dir(str(SPEC)).checker("sentinel.drift")
    assert own is not None
    paths = set()
    for line in out.getvalue().splitlines():
        event = orjson.loads(line)
        if revision is not None:
            event["catalog_revision"] = revision
        outcome = own.check(orjson.dumps(event), None)
        assert outcome.ok, outcome.violations
        paths.add(event["path"])
    assert paths == {"key", "headers/trace-id"}
