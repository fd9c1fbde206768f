"""Shipped test helpers: a real worker on the embedded broker, started, awaited and stopped.

Used by the integration tests, the benchmarks and ``stream-sentinel demo`` (as bytewax ships its
testing sources and sinks): a worker is ``python -m stream_sentinel worker`` in a child process,
configured by environment for the embedded Tansu broker (``stream_sentinel.embedded``), ready when
its ``/ready`` page says 200. Nothing here imports faust: the worker runs in its own process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from stream_sentinel.core.errors import SentinelError
from stream_sentinel.embedded import die_with_parent, worker_environment

#: Partitions of the topics a test worker creates itself (drift topic, internal topics).
PARTITIONS = 3


def worker_env(bootstrap: str, data_dir: Path, web_port: int, **extra: str) -> dict[str, str]:
    """Environment for a worker subprocess on the embedded broker (``embedded.CLIENT_SETTINGS`` included)."""
    return {
        **os.environ,
        "SENTINEL_BOOTSTRAP_SERVERS": bootstrap,
        "SENTINEL_DATA_DIR": str(data_dir),
        "SENTINEL_WEB_PORT": str(web_port),
        **worker_environment(),
        "SENTINEL_DRIFT_TOPIC_PARTITIONS": str(PARTITIONS),
        "SENTINEL_INTERNAL_PARTITIONS": str(PARTITIONS),
        **extra,
    }


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m stream_sentinel worker`` as a child that dies with us."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "stream_sentinel", "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (clean shutdown), then SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Seconds until the worker's /ready says 200; raises if it dies or takes too long."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SentinelError(f"the worker exited with code {process.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response,
        ):
            if response.status == 200:
                return time.monotonic() - started
        time.sleep(0.05)
    raise SentinelError(f"the worker was not ready within {timeout:.0f} s")


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create topics (existing ones are fine)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for name in names:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
