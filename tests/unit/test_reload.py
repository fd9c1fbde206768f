"""Reload without restart, without a broker: the revision, the reloader's verdicts, the swap, drift fields."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from stream_sentinel.core.assess import Assessor, Policy
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine, load_engine
from stream_sentinel.core.contracts.revision import catalog_revision
from stream_sentinel.worker.batch import BatchAssessor
from stream_sentinel.worker.metrics import Metrics
from stream_sentinel.worker.reload import LOADED, REFUSED, UNCHANGED, Reloader, swap

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    root = tmp_path / "spec"
    shutil.copytree(SPEC, root)
    return root


def _reloads(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value("sentinel_spec_reload_total", {"result": result})
    return value or 0.0


def test_the_revision_follows_content_not_times(spec: Path) -> None:
    first = catalog_revision(spec)
    assert len(first) == 16
    assert catalog_revision(spec) == first
    (spec / ".catalog.yaml.swp").write_text("editor noise")  # hidden files are not the spec
    assert catalog_revision(spec) == first
    catalog = spec / "catalog.yaml"
    catalog.write_text(catalog.read_text() + "\n# a comment\n")
    assert catalog_revision(spec) != first
    (spec / "orders" / "order-created.v1.schema.json").rename(spec / "orders" / "renamed.json")
    assert catalog_revision(spec) not in (first,)


def test_a_good_change_is_loaded_and_waits_for_the_next_batch(spec: Path) -> None:
    metrics = Metrics()
    reloader = Reloader(spec, lambda: load_engine(str(spec)), metrics, 0.0)
    assert asyncio.run(reloader.check()) is None  # nothing changed: nothing done
    assert asyncio.run(reloader.check(forced=True)) == UNCHANGED
    (spec / "catalog.yaml").write_text((spec / "catalog.yaml").read_text() + "\n# changed\n")
    assert asyncio.run(reloader.check()) == LOADED
    assert reloader.pending is not None
    assert reloader.pending[1] == catalog_revision(spec)
    assert reloader.revision != reloader.pending[1]  # still the running one until the swap
    assert _reloads(metrics, UNCHANGED) == 1


def test_a_bad_spec_is_refused_in_one_line_and_not_retried_by_the_watch(
    spec: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    reloader = Reloader(spec, lambda: load_engine(str(spec)), metrics, 1.0)
    running = reloader.revision
    (spec / "orders" / "order-created.v2.schema.json").write_text('{"type": "integr"}')
    with caplog.at_level(logging.ERROR, "stream_sentinel.worker"):
        assert asyncio.run(reloader.check()) == REFUSED
        assert asyncio.run(reloader.check()) is None  # the watch does not load it again
        assert asyncio.run(reloader.check(forced=True)) == REFUSED  # a SIGHUP does
    assert reloader.pending is None
    assert reloader.revision == running
    assert _reloads(metrics, REFUSED) == 2
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert all("\n" not in line for line in lines)
    assert "orders/order-created.v2.schema.json#" in lines[0]
    assert "result=refused" in lines[0]


def _sentinel(engine: Engine) -> Any:
    checkers: Any = {
        name: (engine.checker(name), t.sample_rate, t.format)
        for name, t in engine.catalog.topics.items()
        if name != "sentinel.drift"
    }
    batches = BatchAssessor(checkers, Assessor(Policy(catalog_revision="0" * 16)), "every", lambda *_: True)
    return SimpleNamespace(
        engine=engine,
        checkers=checkers,
        batches=batches,
        rules=None,
        known_keys=set(),
        event_types=None,
        settings=SimpleNamespace(max_event_types_per_topic=100),
    )


def test_the_swap_points_the_stage_at_the_new_contracts_and_revision(spec: Path) -> None:
    old = load_engine(str(spec))
    sentinel = _sentinel(old)
    catalog = spec / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("\n  orders:\n", "\n  orders:\n    key: {format: uuid}\n", 1))
    new = load_engine(str(spec))
    notes = swap(sentinel, new, "f" * 16)
    assert notes == "none"
    assert sentinel.engine is new
    assert sentinel.batches.checkers["orders"][0] is new.checker("orders")
    assert set(sentinel.batches.keyed) == {"orders", "customers.profile"}
    assert sentinel.batches.assessor.policy.catalog_revision == "f" * 16
    assert "orders|OrderCreated" in sentinel.known_keys


def test_drift_events_name_the_revision_only_when_set() -> None:
    violation = d.Violation(d.CONSTRAINT, d.BREAKING, "key", "key", "a valid uuid", "string")
    subject = d.Subject("E", None, None, None, "json")
    source = d.Source("t", 0, 1)
    (plain,) = d.build_drift_events((violation,), subject, source, None)
    assert "catalog_revision" not in plain.to_dict()  # check and replay: goldens unchanged
    (named,) = d.build_drift_events((violation,), subject, source, None, catalog_revision="a" * 16)
    assert orjson.loads(named.to_json())["catalog_revision"] == "a" * 16
    own = Engine.from_spec_dir(str(SPEC)).checker("sentinel.drift")
    assert own is not None
    assert own.check(named.to_json(), None).ok  # its own contract allows key paths and the revision
    assert own.check(plain.to_json(), None).ok


def test_a_sighup_before_the_reload_task_runs_is_remembered_not_fatal(spec: Path) -> None:
    import os
    import signal

    reloader = Reloader(spec, lambda: load_engine(str(spec)), Metrics(), 0.0)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        reloader.install()
        os.kill(os.getpid(), signal.SIGHUP)  # the default action would end this process
        assert reloader._forced  # handled when the task starts: a forced check
    finally:
        signal.signal(signal.SIGHUP, previous)
