"""Unmapped Confluent schema ids resolved through a Schema Registry, on a real broker.

The registry is the loopback fake (``stream_sentinel.testing_registry``: no real registry can
be installed here); the worker is a real child process on the embedded broker, the replay runs
in-process through ``cli.run``.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys

import pytest
import yaml

from stream_sentinel.cli import run
from stream_sentinel.testing import create_topics
from stream_sentinel.testing_registry import FakeRegistry
from tests.registry_fixtures import STOCK, example, framed_json

from .conftest import PARTITIONS, Harness, rename_topic, unique, wait_for

pytestmark = pytest.mark.integration


def _registry_spec(harness: Harness, url: str) -> str:
    """The harness spec with the inventory contract on a new unique topic and a registry: section."""
    topic = unique("inventory")
    catalog = rename_topic((harness.spec / "catalog.yaml").read_text(), "inventory", topic)
    data = yaml.safe_load(catalog)
    data["registry"] = {"url": url, "timeout": 1}
    (harness.spec / "catalog.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    asyncio.run(create_topics(harness.bootstrap, [topic], PARTITIONS))
    harness.topic = topic
    return topic


def _without_reason() -> dict[str, object]:
    doc = example("inventory/stock-adjusted.v2.schema.json")
    doc["required"] = [r for r in doc["required"] if r != "reason"]
    return doc


def _metric(harness: Harness, port: int, name: str) -> float:
    _, body = harness.http(port, "/metrics")
    found = re.search(rf"^{re.escape(name)} (\S+)$", body.decode(), re.MULTILINE)
    return float(found[1]) if found else 0.0


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


def test_worker_judges_an_unmapped_id_with_its_writer_schema_then_survives_a_down_registry(
    harness: Harness, fake: FakeRegistry
) -> None:
    served = fake.serve()
    url = served.__enter__()
    try:
        topic = _registry_spec(harness, url)
        schema_id = fake.register(f"{topic}-value", _without_reason(), schema_type="JSON", schema_id=5001)
        _, port = harness.start_worker(alert_mode="every")
        harness.produce([(framed_json(schema_id, STOCK), ())])  # asks the registry; judged unknown meanwhile
        wait_for(lambda: _metric(harness, port, "sentinel_registry_fetches_total") >= 1)
        harness.produce([(framed_json(schema_id, STOCK), ())])
        records = harness.drift(2, until=lambda rs: any(r.get("kind") == "missing_required" for r in rs))
        judged = [r for r in records if r.get("kind") == "missing_required"]
        assert judged[0]["path"] == "/reason"
        assert judged[0]["schema"]["id"] == schema_id
        assert f"registry subject '{topic}-value' v1" in json.dumps(judged[0])
    finally:
        served.__exit__(None, None, None)  # the registry goes down
    harness.produce([(framed_json(5002, STOCK), ())])  # an id nobody can resolve now
    records = harness.drift(3, until=lambda rs: any("5002" in json.dumps(r.get("actual")) for r in rs))
    late = [r for r in records if "5002" in json.dumps(r.get("actual"))]
    assert late[0]["kind"] == "unknown_schema_id"
    assert "could not be asked" in late[0]["detail"] or "asked the schema registry" in late[0]["detail"]
    wait_for(lambda: _metric(harness, port, 'sentinel_registry_errors_total{kind="unreachable"}') >= 1)
    status, body = harness.http(port, "/ready")
    ready = json.loads(body)
    assert status == 200, ready  # a down registry is a detail, not unreadiness
    assert ready["registry"]["reachable"] is False
    assert "unreachable" in ready["registry"]["detail"]


def test_replay_waits_for_the_registry_and_names_the_field(harness: Harness, fake: FakeRegistry) -> None:
    with fake.serve() as url:
        topic = _registry_spec(harness, url)
        schema_id = fake.register(f"{topic}-value", _without_reason(), schema_type="JSON")
        harness.produce([(framed_json(schema_id, STOCK), ())])
        out, err = io.StringIO(), io.StringIO()
        argv = ["replay", "--bootstrap", harness.bootstrap, "--topic", topic, "--spec", str(harness.spec)]
        code = run([*argv, "--format", "json"], sys.stdin.buffer, out, err)
    assert code == 1, err.getvalue()
    report = json.loads(out.getvalue())
    kinds = {(f["kind"], f["path"]) for f in report["current"]["fingerprints"]}
    assert kinds == {("missing_required", "/reason")}
    assert fake.requests.count(f"/schemas/ids/{schema_id}") == 1
