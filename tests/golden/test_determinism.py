"""Identical runs print identical bytes (issue #11, 3.7).

``check`` runs twice over every capture in replay/captures/, and over a hostile twin of each
(every payload cut short by one byte, so decoders fail at every kind of field), in the ``json``
and ``jsonl`` formats; the outputs must match byte for byte, with nothing excluded: ``check``
leaves ``observed_at`` and ``run_id`` null (they are the clock and the run of a live or replay
run), and ``drift_id`` is a hash of the record's coordinates and the violation. Decoder texts
must not carry object addresses (fastavro's ``<_io.BytesIO object at 0x...>``), which a run
in the same process may or may not repeat, so they are looked for as such. A second process
with another hash seed must print the same bytes too (set order must never leak into output).
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from stream_sentinel.cli import run

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
CAPTURES = sorted((ROOT / "replay" / "captures").glob("*.jsonl"))
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def cut_short(capture: Path) -> bytes:
    """The capture with every payload one byte shorter (base64 payloads decoded, cut, re-encoded)."""
    out = []
    for line in capture.read_bytes().splitlines():
        record = orjson.loads(line)
        payload = record.get("payload")
        if isinstance(payload, str) and payload:
            if record.get("payload_encoding") == "base64":
                record["payload"] = base64.b64encode(base64.b64decode(payload)[:-1]).decode()
            else:
                record["payload"] = payload[:-1]
        out.append(orjson.dumps(record))
    return b"\n".join(out) + b"\n"


def inputs() -> list[tuple[str, bytes]]:
    found = []
    for capture in CAPTURES:
        found.append((capture.name, capture.read_bytes()))
        found.append((f"{capture.stem}-cut-short", cut_short(capture)))
    return found


def check(data: bytes, fmt: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["check", "--spec", str(SPEC), "--format", fmt, "-"], io.BytesIO(data), out, err)
    return code, out.getvalue(), err.getvalue()


def test_there_are_captures() -> None:
    assert len(CAPTURES) >= 6


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize(("name", "data"), inputs(), ids=[name for name, _ in inputs()])
def test_check_twice_prints_the_same_bytes(name: str, data: bytes, fmt: str) -> None:
    first = check(data, fmt)
    second = check(data, fmt)
    assert first[0] in (0, 1), first[2]
    assert first == second, name
    assert ADDRESS.search(first[1]) is None, ADDRESS.search(first[1])


def everything() -> str:
    """Every input in both formats, as one text (run in a child process by the test below)."""
    parts = []
    for name, data in inputs():
        for fmt in ("json", "jsonl"):
            code, out, err = check(data, fmt)
            parts.append(f"== {name} {fmt} {code}\n{out}{err}")
    return "".join(parts)


@pytest.mark.timeout(300)
def test_another_process_with_another_hash_seed_prints_the_same_bytes() -> None:
    code = "import sys; from tests.golden.test_determinism import everything; sys.stdout.write(everything())"
    outputs = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            timeout=240,
            check=True,
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 100_000
