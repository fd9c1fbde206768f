"""Loop-level choices of the worker (issue #14): the ``event_loop`` setting, the collector frozen at start."""

from __future__ import annotations

import asyncio
import gc
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvloop

from stream_sentinel.config import Settings
from stream_sentinel.core.errors import UsageError
from stream_sentinel.worker import run
from stream_sentinel.worker.owed import Outstanding

#: Objects in the collector's permanent generation when the Faust worker started (last run).
frozen: list[int] = []
SPEC = str(Path(__file__).resolve().parents[2] / "spec" / "events")


@pytest.fixture(autouse=True)
def standard_policy() -> Iterator[None]:
    """Every test starts and ends on the standard library's policy (the setting changes a process global)."""
    asyncio.set_event_loop_policy(None)
    yield
    asyncio.set_event_loop_policy(None)
    gc.unfreeze()  # run_worker freezes what exists at start (a process global too)


def _loop_the_worker_runs_on(monkeypatch: pytest.MonkeyPatch, event_loop: str) -> type[asyncio.AbstractEventLoop]:
    """Run ``run_worker`` with a stand-in Faust worker that records the loop it would get."""
    seen: list[type[asyncio.AbstractEventLoop]] = []
    frozen.clear()

    class LoopRecordingWorker:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def execute_from_commandline(self) -> None:
            loop = asyncio.new_event_loop()  # what mode's Service gets from the policy
            seen.append(type(loop))
            loop.close()
            frozen.append(gc.get_freeze_count())

    sentinel = SimpleNamespace(
        app=None, outstanding=lambda: Outstanding(0, 0, 0, 0), reload=SimpleNamespace(install=lambda: None)
    )
    monkeypatch.setattr(run, "build", lambda _settings: sentinel)
    monkeypatch.setattr(run, "SentinelWorker", LoopRecordingWorker)
    settings = Settings.load(None, spec_dir=SPEC, event_loop=event_loop)
    assert run.run_worker(settings, io.StringIO()) == 0
    [loop_type] = seen
    return loop_type


def test_the_worker_runs_on_uvloop_when_event_loop_is_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    assert issubclass(_loop_the_worker_runs_on(monkeypatch, "uvloop"), uvloop.Loop)
    assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)


def test_the_worker_runs_on_the_standard_loop_when_event_loop_is_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not issubclass(_loop_the_worker_runs_on(monkeypatch, "asyncio"), uvloop.Loop)
    assert not isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)


def test_the_worker_starts_with_its_start_up_objects_frozen_out_of_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.unfreeze()
    _loop_the_worker_runs_on(monkeypatch, "asyncio")
    assert frozen[0] > 0


def test_event_loop_accepts_capitals_and_refuses_other_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_EVENT_LOOP", "UVLOOP")
    assert Settings.load(None, spec_dir=SPEC).event_loop == "uvloop"
    monkeypatch.setenv("SENTINEL_EVENT_LOOP", "gevent")
    with pytest.raises(UsageError, match="SENTINEL_EVENT_LOOP"):
        Settings.load(None, spec_dir=SPEC)
