"""The embedded broker's client settings live in one place (embedded.CLIENT_SETTINGS)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stream_sentinel.cli import run
from stream_sentinel.config import Settings
from stream_sentinel.embedded import CLIENT_SETTINGS, worker_environment
from stream_sentinel.testing import worker_env


def test_demo_and_test_workers_run_with_the_embedded_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = worker_env("127.0.0.1:9", Path("/tmp/data"), 6066)
    for name, value in env.items():
        if name.startswith("SENTINEL_"):
            monkeypatch.setenv(name, value)
    options = Settings.load().faust_settings()
    assert {name: options[name] for name in CLIENT_SETTINGS} == CLIENT_SETTINGS


def test_worker_environment_names_real_settings_and_sessions_are_two_seconds() -> None:
    env = worker_environment()
    assert env["SENTINEL_SESSION_TIMEOUT"] == "2"
    assert env["SENTINEL_PRODUCER_MAX_BATCH_SIZE"] == "1"
    fields = set(Settings.model_fields)
    assert {name.removeprefix("SENTINEL_").lower() for name in env} <= fields


def test_the_readme_quick_start_runs_the_worker_with_the_embedded_client_settings() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    quick_start = readme[readme.index("To try the worker by hand") : readme.index("## Concepts")]
    for name, value in worker_environment().items():
        assert f"{name}={value} " in quick_start, name


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_broker_port_out_of_range_is_a_usage_error(port: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["broker", "--port", port], io.BytesIO(), out, err)
    assert code == 2
    assert err.getvalue().startswith("stream-sentinel: broker: argument --port: must be a port number from 1 to 65535")
