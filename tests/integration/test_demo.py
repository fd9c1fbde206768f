"""`stream-sentinel demo` end to end: broker, producer, worker, drift table; nothing left behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration
HEADER = "SEVERITY TOPIC EVENT TYPE KIND PATH REQUIREMENT OWNER COUNT LAST WINDOW SEEN"


def tables(out: str) -> list[list[str]]:
    """Each printed drift table: its header line, its rows (the lines before the caption)."""
    found = []
    for block in out.split("drift table at ")[1:]:
        lines = block.splitlines()[1:]
        end = next(i for i, line in enumerate(lines) if " rules, " in line)
        found.append(lines[:end])
    return found


def test_demo_shows_one_row_per_rule_and_stops_cleanly() -> None:
    if os.environ.get("SENTINEL_TEST_BOOTSTRAP"):
        pytest.skip("the demo always uses the embedded broker")
    process = subprocess.Popen(
        [sys.executable, "-m", "stream_sentinel", "demo", "--duration", "12", "--rate", "60", "--window", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,  # not a terminal: plain table snapshots
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    out, err = process.communicate(timeout=120)
    print(out)
    assert process.returncode == 0, err
    assert "worker ready in" in out
    assert "stopped:" in out
    printed = tables(out)
    assert printed
    assert len(printed) <= 10  # snapshots when rules appear and at the end, not one line per record
    final = printed[-1]
    assert " ".join(final[0].split()) == HEADER
    rows = [line for line in final[2:] if line.strip()]
    rules = [tuple(line.lstrip("* ").split()[:5]) for line in rows]  # severity, topic, event type, kind, path
    assert len(rules) == len(set(rules)) >= 10  # one row per rule, however many windows closed
    total = next(line for line in rows if "REQ-ORD-3" in line)  # the float total_cents drift of the orders capture
    assert "/total_cents" in total
    assert re.search(r"\d+ of \d+ \(\d+\.\d%\)", total)  # a closed window's count, messages and rate
    assert all(len(line) <= 200 for line in out.splitlines())
    assert "(message)" in out  # whole-message rules, as the other tables show them
    assert all(rule[4] != "/" for rule in rules)
    # the logs dir it names is kept (the worker's state is not), and nothing runs on
    logs = re.search(r"logs kept in (\S+)", out)
    assert logs
    assert (Path(logs.group(1)) / "worker.log").is_file()
    assert not (Path(logs.group(1)) / "data").exists()
    shutil.rmtree(logs.group(1))
    broker = re.search(r"on (127\.0\.0\.1:\d+)", out)
    worker = re.search(r"pid (\d+)", out)
    assert broker
    assert worker
    assert not Path(f"/proc/{worker.group(1)}").exists()
    tansu = subprocess.run(["pgrep", "-f", f"tcp://{broker.group(1)}"], capture_output=True, text=True, check=False)
    assert tansu.stdout.strip() == ""


def test_demo_prints_the_dashboard_url_and_its_drift_shows_there() -> None:
    if os.environ.get("SENTINEL_TEST_BOOTSTRAP"):
        pytest.skip("the demo always uses the embedded broker")
    import signal
    import urllib.request

    from tests.integration.conftest import wait_for

    process = subprocess.Popen(
        [sys.executable, "-m", "stream_sentinel", "demo", "--duration", "120", "--rate", "60", "--window", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = re.match(r"dashboard: (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
                break
        assert url, "the demo printed no dashboard URL"

        def page() -> str:
            with urllib.request.urlopen(url, timeout=10) as response:
                return str(response.read().decode())

        shown = wait_for(lambda: 'data-topic="orders" data-status="drifting"' in (p := page()) and p, timeout=60)
        assert "REQ-ORD-3" in shown
        assert 'id="topic-orders"' in shown
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "stopped:" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    logs = re.search(r"logs kept in (\S+)", out)
    if logs:
        shutil.rmtree(logs.group(1), ignore_errors=True)
