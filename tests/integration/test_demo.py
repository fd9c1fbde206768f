"""`stream-sentinel demo` end to end: broker, producer, worker, drift table; nothing left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


def test_demo_shows_live_drift_and_stops_cleanly() -> None:
    if os.environ.get("SENTINEL_TEST_BOOTSTRAP"):
        pytest.skip("the demo always uses the embedded broker")
    process = subprocess.Popen(
        [sys.executable, "-m", "stream_sentinel", "demo", "--duration", "12", "--rate", "60", "--window", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "worker ready in" in out
    assert "REQ-ORD-3" in out  # the float total_cents drift of the orders capture
    assert "SUMMARY" in out
    assert "stopped:" in out
    broker = re.search(r"on (127\.0\.0\.1:\d+)", out)
    worker = re.search(r"pid (\d+)", out)
    assert broker
    assert worker
    assert not Path(f"/proc/{worker.group(1)}").exists()
    tansu = subprocess.run(["pgrep", "-f", f"tcp://{broker.group(1)}"], capture_output=True, text=True, check=False)
    assert tansu.stdout.strip() == ""
