"""The worker's ``/metrics`` without a broker: labels, series, units and what promtool says."""

from __future__ import annotations

import asyncio
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stream_sentinel import __version__
from stream_sentinel.worker.sentinel import Sentinel
from tests.shell.test_worker_batch import HEADERS, Published, event, sentinel

PROMTOOL = shutil.which("promtool")


def samples(s: Sentinel) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(s.metrics.render().decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def unknown(offset: int, event_type: str) -> Any:
    return event("orders", offset, b"{}", [("event-type", event_type.encode()), ("schema-version", b"1")])


def drifting_batch(tmp_path: Path, **settings: Any) -> tuple[Sentinel, Published]:
    publisher = Published()
    s = sentinel(tmp_path, publisher, **settings)
    batch = [
        event("orders", 0, b'{"not": "an order"}', HEADERS),
        *(unknown(1 + i, f"Stranger{i}") for i in range(3)),
        event("orders", 4, b"\xff not json", []),
    ]
    asyncio.run(s.handle_batch(batch))
    return s, publisher


def test_drift_is_counted_by_event_type_and_severity_with_unknown_event_types_folded(tmp_path: Path) -> None:
    s, publisher = drifting_batch(tmp_path, max_event_types_per_topic=1)
    published = [orjson.loads(v) for t, _, v in publisher.sent if t == "sentinel.drift"]
    counted = {
        (labels["event_type"], labels["kind"], labels["severity"]): value
        for labels, value in samples(s)["sentinel_drift_total"]
    }
    # One unknown event type keeps its name (the cap is 1), the two after it count under ~other.
    admitted = {e["event_type"] for e in published if e["event_type"] and e["event_type"].startswith("Stranger")}
    assert admitted == {"Stranger0", "Stranger1", "Stranger2"}
    expected: dict[tuple[str, str, str], float] = {}
    for e in published:
        folded = {"Stranger1": "~other", "Stranger2": "~other"}.get(e["event_type"], e["event_type"] or "")
        key = (folded, e["kind"], e["severity"])
        expected[key] = expected.get(key, 0) + 1
    assert counted == expected
    stranger = next(e for e in published if e["event_type"] == "Stranger1")
    assert counted["~other", "unknown_event_type", stranger["severity"]] == 2
    assert counted["Stranger0", "unknown_event_type", stranger["severity"]] == 1
    assert any(event_type == "OrderCreated" for event_type, _, _ in counted)
    assert {severity for _, _, severity in counted} <= {"info", "warning", "breaking"}


def test_no_created_series_and_no_process_wide_switch(tmp_path: Path) -> None:
    s, _ = drifting_batch(tmp_path)
    text = s.metrics.render().decode()
    assert "_created" not in text
    assert "sentinel_drift_total{" in text
    # Other registries in the process keep theirs: the filter is this registry's, not global.
    other = CollectorRegistry()
    Counter("unrelated", "a counter of someone else", registry=other).inc()
    assert b"unrelated_created" in generate_latest(other)


def test_build_info_and_process_metrics(tmp_path: Path) -> None:
    s, _ = drifting_batch(tmp_path)
    found = samples(s)
    [(labels, value)] = found["sentinel_build_info"]
    assert value == 1
    assert labels["version"] == __version__
    assert labels["python"] == platform.python_version()
    assert labels["faust"].count(".") >= 1
    assert found["python_info"]
    assert found["process_resident_memory_bytes"][0][1] > 0
    assert found["process_cpu_seconds_total"]


def test_batch_duration_is_observed_per_batch_and_the_per_message_mean_follows_from_the_sums(tmp_path: Path) -> None:
    publisher = Published()
    s = sentinel(tmp_path, publisher)
    asyncio.run(s.handle_batch([event("orders", i, b'{"not": "an order"}', HEADERS) for i in range(3)]))
    asyncio.run(s.handle_batch([event("orders", 3 + i, b'{"not": "an order"}', HEADERS) for i in range(5)]))
    found = {name: value for name, rows in samples(s).items() for labels, value in rows if not labels}
    assert found["sentinel_batch_duration_seconds_count"] == 2
    assert found["sentinel_batch_duration_seconds_sum"] > 0
    assert found["sentinel_batch_size_sum"] == 8
    assert "sentinel_validation_seconds_count" not in found  # the per-batch mean posing as a latency is gone


class FakeConsumer:
    """assignment / highwater / position as Faust's consumer answers them."""

    def __init__(self, assigned: set[tuple[str, int]], highwater: dict[int, int], position: dict[int, int]) -> None:
        self.assigned = assigned
        self.highwaters = highwater
        self.positions = position

    def assignment(self) -> set[Any]:
        return {TP(t, p) for t, p in self.assigned}

    def highwater(self, tp: Any) -> int | None:
        return self.highwaters.get(tp.partition)

    async def position(self, tp: Any) -> int | None:
        return self.positions.get(tp.partition)


def lags(s: Sentinel) -> dict[tuple[str, str], float]:
    return {
        (labels["topic"], labels["partition"]): value
        for labels, value in samples(s).get("sentinel_consumer_lag_messages", [])
    }


def test_lag_is_exported_for_every_assigned_source_partition_and_dropped_when_revoked(tmp_path: Path) -> None:
    s = sentinel(tmp_path, Published())
    assigned = {("orders", 0), ("orders", 1), ("orders", 2), (s.tallies.get_topic_name(), 0)}
    consumer = FakeConsumer(assigned, highwater={0: 10, 1: 0, 2: 7}, position={0: 5, 1: 0, 2: 3})
    s.app.consumer = consumer  # type: ignore[assignment]
    asyncio.run(s.handle_batch([event("orders", 4, b'{"not": "an order"}', HEADERS)]))
    assert lags(s) == {("orders", "0"): 5}  # a batch updates only the partitions it had messages of
    asyncio.run(s._update_lag())
    # 0: handled up to offset 4 of 10; 1: empty; 2: nothing handled, the consumer reads from 3.
    assert lags(s) == {("orders", "0"): 5, ("orders", "1"): 0, ("orders", "2"): 4}
    consumer.assigned = {("orders", 1)}
    asyncio.run(s._update_lag())
    assert lags(s) == {("orders", "1"): 0}


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")
def test_promtool_accepts_the_rendered_metrics(tmp_path: Path) -> None:
    s, _ = drifting_batch(tmp_path, max_event_types_per_topic=1)
    s.metrics.set_lag("orders", 0, 3)
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=s.metrics.render(), capture_output=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b"", checked.stdout + checked.stderr  # no lint warnings either


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")
def test_the_readmes_breaking_drift_alert_is_valid_promql_over_exported_labels(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = re.search(r"^Alert on breaking drift: `([^`]+)`", readme, re.MULTILINE)
    assert found is not None
    expr = found.group(1)
    s, _ = drifting_batch(tmp_path)
    exported = {label for labels, _ in samples(s)["sentinel_drift_total"] for label in labels}
    assert set(re.findall(r"\b(topic|event_type|kind|severity)\b", expr)) <= exported
    rules = tmp_path / "rules.yml"
    rules.write_text(f"groups:\n- name: sentinel\n  rules:\n  - alert: BreakingDrift\n    expr: '{expr}'\n")
    assert PROMTOOL is not None
    checked = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
