"""Reload without restart on a running worker and a real broker (worker/reload.py).

A key contract added to the running spec (SIGHUP, then with ``spec_watch``) makes a message drift
that passed before, and its drift event names the new catalog revision; a broken spec is refused
(one log line, ``sentinel_spec_reload_total{result="refused"}``) and the running contracts stay.
"""

from __future__ import annotations

import io
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.contracts.revision import catalog_revision
from tests.integration.conftest import Harness, Message, order_messages, wait_for

pytestmark = pytest.mark.integration


def _valid_order() -> Message:
    """The first OrderCreated of the capture: valid under the example contract."""
    return order_messages()[0]


def _add_key_contract(spec: Path, topic: str) -> None:
    """Every record of ``topic`` must now be keyed by a UUID (the harness keys by index: drift)."""
    catalog = (spec / "catalog.yaml").read_text()
    entry = f"\n  {topic}:\n"
    assert entry in catalog
    (spec / "catalog.yaml").write_text(catalog.replace(entry, f"{entry}    key: {{format: uuid}}\n", 1))


def _break_schema(spec: Path) -> None:
    (spec / "orders" / "order-created.v2.schema.json").write_text(
        '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",'
        ' "properties": {"total_cents": {"type": "integr"}}}'
    )


def _revision_served(h: Harness, port: int) -> Any:
    _, body = h.http(port, "/drift")
    return orjson.loads(body)["worker"]["catalog_revision"]


def _reloads(h: Harness, port: int, result: str) -> float:
    _, body = h.http(port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(f'sentinel_spec_reload_total{{result="{result}"}}'):
            return float(line.split()[-1])
    return 0.0


def _key_drift(records: list[dict[str, Any]], revision: str) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == "drift" and r["path"] == "key" and r["catalog_revision"] == revision]


def test_sighup_swaps_the_new_spec_in_and_a_bad_one_is_refused_REQ_SEN_1(harness: Harness) -> None:
    process, port = harness.start_worker(alert_mode="every")
    first = catalog_revision(harness.spec)
    assert _revision_served(harness, port) == first
    valid = _valid_order()

    _add_key_contract(harness.spec, harness.topic)
    second = catalog_revision(harness.spec)
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: _reloads(harness, port, "loaded") >= 1, timeout=60)
    assert _revision_served(harness, port) == second  # swapped in without any traffic
    harness.produce([valid])
    records = harness.drift(expect=1, until=lambda r: bool(_key_drift(r, second)))
    (event, *_) = _key_drift(records, second)
    assert event["kind"] == "constraint"
    assert event["expected"] == "a valid uuid"
    assert _revision_served(harness, port) == second

    _break_schema(harness.spec)
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: _reloads(harness, port, "refused") >= 1, timeout=30)
    assert _revision_served(harness, port) == second  # the running contracts stay
    before = len(_key_drift(records, second))
    harness.produce([valid])
    records = harness.drift(expect=1, until=lambda r: len(_key_drift(r, second)) > before)
    assert len(_key_drift(records, second)) > before, harness.logs()
    refused = [line for line in harness.logs().splitlines() if "spec_reload" in line and "refused" in line]
    assert len(refused) == 1, refused
    assert "orders/order-created.v2.schema.json#" in refused[0]
    assert process.poll() is None  # still running


def test_spec_watch_picks_a_change_up_without_a_signal_REQ_SEN_1(harness: Harness) -> None:
    _, port = harness.start_worker(alert_mode="every", spec_watch="0.5")
    _break_schema(harness.spec)
    wait_for(lambda: _reloads(harness, port, "refused") >= 1, timeout=30)
    assert _reloads(harness, port, "refused") == 1  # the same bad revision is not loaded again
    (harness.spec / "orders" / "order-created.v2.schema.json").unlink()
    # Restore the example file and add the key contract: a good revision, loaded by the watch.
    source = Path(__file__).resolve().parents[2] / "spec" / "events" / "orders" / "order-created.v2.schema.json"
    (harness.spec / "orders" / "order-created.v2.schema.json").write_bytes(source.read_bytes())
    _add_key_contract(harness.spec, harness.topic)
    revision = catalog_revision(harness.spec)
    valid = _valid_order()
    wait_for(lambda: (harness.produce([valid]), _revision_served(harness, port) == revision)[1], timeout=30)
    records = harness.drift(expect=1, until=lambda r: bool(_key_drift(r, revision)))
    assert _key_drift(records, revision)
    # An intermediate state of the edits above may have been loaded (or refused) on the way: at least one load.
    assert _reloads(harness, port, "loaded") >= 1


def test_replay_and_check_judge_the_key_contract_as_the_worker_does_REQ_SEN_1(harness: Harness) -> None:
    """Replay reads the key from the broker, ``check`` from the capture: the same key drift, no revision."""
    _add_key_contract(harness.spec, harness.topic)
    harness.produce([_valid_order()] * 3)

    def cli(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run(list(argv), sys.stdin.buffer, out, err)
        return code, out.getvalue() + err.getvalue()

    common = ("--bootstrap", harness.bootstrap, "--topic", harness.topic)
    code, out = cli("replay", *common, "--spec", str(harness.spec), "--format", "jsonl")
    assert code == 1, out
    events = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(e["kind"], e["path"]) for e in events if e.get("type") == "drift"] == [("constraint", "key")] * 3
    assert all("catalog_revision" not in e for e in events)
    capture = harness.tmp / "capture.jsonl"
    assert cli("capture", *common, "--output", str(capture))[0] == 0
    code, out = cli("check", "--spec", str(harness.spec), "--format", "jsonl", str(capture))
    assert code == 1, out
    checked = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert sorted(e["drift_id"] for e in checked) == sorted(e["drift_id"] for e in events)
