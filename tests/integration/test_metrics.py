"""A live worker's ``/metrics``: lag of every assigned partition, and promtool's verdict on it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import PARTITIONS, Harness, order_messages, wait_for

PROMTOOL = shutil.which("promtool")


def lag_partitions(harness: Harness, port: int) -> dict[str, float]:
    _, body = harness.http(port, "/metrics")
    return {
        sample.labels["partition"]: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "sentinel_consumer_lag_messages" and sample.labels["topic"] == harness.topic
    }


def test_lag_is_exported_for_every_assigned_partition_also_those_without_messages(harness: Harness) -> None:
    _, port = harness.start_worker(tumbling_window="4")  # ticks every second
    sent = harness.produce(order_messages()[:1])
    partition = str(sent[0][0])
    every = {str(p) for p in range(PARTITIONS)}
    found = wait_for(
        lambda: (lags := lag_partitions(harness, port)).keys() == every and lags[partition] == 0 and lags, 60
    )
    assert found == dict.fromkeys(every, 0.0), harness.logs()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")
def test_promtool_accepts_a_live_workers_metrics(harness: Harness) -> None:
    assert PROMTOOL is not None
    _, port = harness.start_worker(tumbling_window="4")
    harness.produce(order_messages()[:20])
    wait_for(lambda: b"sentinel_drift_total{" in harness.http(port, "/metrics")[1], 60)
    status, body = harness.http(port, "/metrics")
    assert status == 200
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == b"", checked.stdout + checked.stderr
