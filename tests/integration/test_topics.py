"""Catalog topics against the cluster's at worker start, and the demo's producer alone (#12 3.2)."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_sentinel.cli import run
from stream_sentinel.config import Settings
from stream_sentinel.core.errors import UsageError
from stream_sentinel.embedded import free_port
from stream_sentinel.testing import create_topics
from stream_sentinel.worker import demo
from stream_sentinel.worker.run import build, cluster_topics, engine_for, missing_catalog_topics
from tests.integration.conftest import PARTITIONS, ROOT, Harness, rename_topic, topic_spec, unique

pytestmark = pytest.mark.integration


def typo_spec(tmp_path: Path, topic: str, typo: str, drift_topic: str) -> Path:
    """The example catalog with ``orders`` renamed to ``topic`` and ``payments`` to ``typo``."""
    spec = topic_spec(tmp_path, topic, drift_topic)
    catalog = (spec / "catalog.yaml").read_text()
    assert "\n  payments:\n" in catalog
    (spec / "catalog.yaml").write_text(rename_topic(catalog, "payments", typo))
    return spec


def test_missing_catalog_topic_is_found_without_creating_it(bootstrap: str, tmp_path: Path) -> None:
    topic, typo, drift = unique("orders"), unique("paymnets"), unique("drift")
    asyncio.run(create_topics(bootstrap, [topic], PARTITIONS))
    spec = typo_spec(tmp_path, topic, typo, drift)
    settings = Settings(bootstrap_servers=bootstrap, spec_dir=spec, drift_topic=drift, app_id=unique("sentinel"))
    engine = engine_for(settings)

    existing = cluster_topics(settings)
    missing = missing_catalog_topics(settings, engine, existing)
    assert typo in missing
    assert topic not in missing
    assert drift not in missing  # the worker creates its drift topic itself
    assert typo not in cluster_topics(settings), "the check created the topic it found missing"

    # missing_topics: fail -> exit 2 naming it, nothing started, and still nothing created
    with pytest.raises(UsageError, match=typo) as caught:
        build(settings.model_copy(update={"missing_topics": "fail"}), engine)
    assert caught.value.exit_code == 2
    assert typo not in cluster_topics(settings)


def test_worker_with_no_catalog_topic_on_the_cluster_exits_2(bootstrap: str, tmp_path: Path) -> None:
    drift = unique("drift")
    spec = topic_spec(tmp_path, unique("orders"), drift)
    catalog = (spec / "catalog.yaml").read_text()
    for name in ("customers.profile", "inventory", "payments", "shipments"):
        catalog = rename_topic(catalog, name, unique(name))
    (spec / "catalog.yaml").write_text(catalog)
    settings = Settings(bootstrap_servers=bootstrap, spec_dir=spec, drift_topic=drift, app_id=unique("sentinel"))
    with pytest.raises(UsageError, match="nothing to consume") as caught:
        build(settings)  # missing_topics: warn, yet nothing would be consumed
    assert caught.value.exit_code == 2


def test_worker_logs_each_missing_catalog_topic_and_runs(bootstrap: str, tmp_path: Path) -> None:
    h = Harness(bootstrap, tmp_path)
    typo = unique("paymnets")
    h.spec = typo_spec(tmp_path / "typo", h.topic, typo, h.drift_topic)
    try:
        process, _ = h.start_worker()  # missing_topics: warn (default): ready despite the typo
        deadline = time.monotonic() + 30
        while f"event=missing_topic topic={typo} " not in h.logs() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert f"event=missing_topic topic={typo} " in h.logs()
        assert f"event=missing_topic topic={h.topic} " not in h.logs()
        assert process.poll() is None
        # Not subscribed either: the consumer's metadata requests allow auto-creation, and the
        # embedded broker (like Kafka with auto.create.topics.enable) would create the typo.
        time.sleep(1.0)
        assert typo not in cluster_topics(Settings(bootstrap_servers=bootstrap))
    finally:
        h.close()


def test_demo_produce_to_sends_the_samples_to_existing_topics(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, drift = unique("orders"), unique("drift")
    spec = topic_spec(tmp_path, topic, drift)
    captures = tmp_path / "captures"
    captures.mkdir()
    lines = (ROOT / "replay" / "captures" / "orders-mixed.jsonl").read_bytes().splitlines()
    renamed = [orjson.dumps({**orjson.loads(line), "topic": topic}) for line in lines[:20] if line.strip()]
    (captures / "orders.jsonl").write_bytes(b"\n".join(renamed) + b"\n")
    monkeypatch.setattr(demo, "CAPTURES", captures)
    argv = ["demo", "--produce-to", bootstrap, "--spec", str(spec), "--rate", "100", "--duration", "2"]

    out, err = io.StringIO(), io.StringIO()
    assert run(argv, io.BytesIO(), out, err) == 2  # its topic does not exist yet: never created
    assert topic in err.getvalue()
    assert err.getvalue().count("\n") == 1
    assert topic not in cluster_topics(Settings(bootstrap_servers=bootstrap))

    asyncio.run(create_topics(bootstrap, [topic], PARTITIONS))
    out, err = io.StringIO(), io.StringIO()
    assert run(argv, io.BytesIO(), out, err) == 0, err.getvalue()
    sent = int(out.getvalue().rsplit("stopped: ", 1)[1].split()[0])
    assert sent > 0
    assert asyncio.run(count_records(bootstrap, topic)) == sent


async def count_records(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


def test_demo_produce_to_an_unreachable_cluster_is_one_line_and_exit_3() -> None:
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    out, err = io.StringIO(), io.StringIO()
    code = run(["demo", "--produce-to", nobody, "--spec", str(ROOT / "spec" / "events")], io.BytesIO(), out, err)
    assert code == 3
    assert err.getvalue().count("\n") == 1
    assert nobody in err.getvalue()
    assert "Traceback" not in err.getvalue()
