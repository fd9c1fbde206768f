"""The worker's HTTP surface on a live worker: only the sentinel's endpoints, bounded, quiet under abuse.

One worker serves every test of this module (starting one costs seconds on a shared machine).
It runs with Faust's own environment variables set to what would re-open Faust's endpoints
and bind every interface, to show the sentinel's settings are the only source.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.integration.conftest import Harness, order_messages, wait_for

pytestmark = pytest.mark.integration

IDLE_TIMEOUT = 2.0
#: Generous bound for "the server closes it eventually" (the setting above is what closes it).
CLOSE_DEADLINE = 30.0
SERVED = ("/", "/health", "/ready", "/metrics", "/drift")
NOT_SERVED = (
    "/index.html",
    "/table/",
    "/table/windows/",
    "/table/windows/some-key/",
    "/router/",
    "/router/topics",
    "/router/windows/",
    "/graph/",
    "/stats/",
    "/assignment/",
    "/performance/",
    "/health/",
    "/drift/x",
)
#: Faust reads these unprefixed variables over its keyword settings unless told not to.
FAUST_ENV = {
    "WEB_BIND": "0.0.0.0",  # what must not take effect
    "APP_WEB_TABLES_ENABLED": "true",
    "APP_WEB_ROUTER_ENABLED": "true",
    "APP_WEB_STATS_ENABLED": "true",
    "APP_WEB_GRAPH_ENABLED": "true",
    "APP_WEB_METRICS_ENABLED": "true",
}


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, int, Path]]:
    h = Harness(bootstrap, tmp_path_factory.mktemp("web"))
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAUST_ENV.items():
            env.setenv(name, value)
        try:
            process, port = h.start_worker(
                web_idle_timeout=str(IDLE_TIMEOUT), web_error_log_interval="3600", web_response_timeout="5"
            )
            yield h, port, h.workers[-1][2]
        finally:
            h.close()
    assert process.returncode is not None


GOOD = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def send(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes.

    No half-close after sending: aiohttp drops a connection whose client shut down its side.
    Data starting with :data:`GOOD` is sent in two steps, the good request answered first, so
    the rest is the connection's second request.
    """
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if data.startswith(GOOD) and data != GOOD:
            s.sendall(GOOD)
            answer = b""
            while b'{"status":"ok"}' not in answer:
                chunk = s.recv(4096)
                assert chunk, answer
                answer += chunk
            data = data[len(GOOD) :]
        with contextlib.suppress(OSError):  # the server may answer (and close) before a huge request is all sent
            s.sendall(data)
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def seconds_until_closed(s: socket.socket, deadline: float = CLOSE_DEADLINE) -> float:
    """Read (and drop) whatever comes until the server closes the connection; seconds it took."""
    started = time.monotonic()
    s.settimeout(deadline)
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {deadline:.0f} s")
        if not chunk:
            break
        if time.monotonic() - started > deadline:
            pytest.fail(f"the server kept the connection open for {deadline:.0f} s")
    return time.monotonic() - started


def test_only_the_sentinel_endpoints_are_served(worker: tuple[Harness, int, Path]) -> None:
    h, port, _ = worker
    for path in SERVED:
        status, _ = h.http(port, path)
        assert status == 200, path
    for path in NOT_SERVED:
        status, body = h.http(port, path)
        assert status == 404, (path, status, body[:200])
    assert orjson.loads(h.http(port, "/health")[1]) == {"status": "ok"}


def test_other_methods_and_request_bodies_are_refused(worker: tuple[Harness, int, Path]) -> None:
    _, port, _ = worker
    assert send(
        port, b"POST /drift HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    ).startswith(b"HTTP/1.1 405 ")
    assert send(port, b"DELETE /table/windows/k/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 404 "
    )
    # A GET with a body (here: announced, never all sent) is refused before anything reads it.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /drift HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 1000)
        assert s.recv(12) == b"HTTP/1.1 413"
        waited = seconds_until_closed(s)
    print(f"announced 100 MB body: 413, connection closed after {waited:.1f} s")


def test_the_server_binds_loopback_whatever_faust_environment_says(worker: tuple[Harness, int, Path]) -> None:
    h, port, _ = worker
    process = h.workers[-1][0]
    listening = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{process.pid}/net/{table}")
        if not path.exists():
            pytest.skip("needs Linux /proc")
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                listening.add(address)
    assert listening == {"0100007F"}, listening  # 127.0.0.1 only (little-endian hex)


def test_a_half_sent_request_is_closed(worker: tuple[Harness, int, Path]) -> None:
    _, port, _ = worker
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        waited = seconds_until_closed(s)
    print(f"half-sent request closed after {waited:.1f} s (web_idle_timeout={IDLE_TIMEOUT})")


def test_a_connection_that_sends_nothing_is_closed(worker: tuple[Harness, int, Path]) -> None:
    _, port, _ = worker
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        waited = seconds_until_closed(s)
    print(f"silent connection closed after {waited:.1f} s (web_idle_timeout={IDLE_TIMEOUT})")


def test_an_idle_keep_alive_connection_is_closed(worker: tuple[Harness, int, Path]) -> None:
    _, port, _ = worker
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b'{"status":"ok"}' not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"Connection: close" not in head  # kept alive: now idle
        waited = seconds_until_closed(s)
    print(f"idle keep-alive connection closed after {waited:.1f} s (web_idle_timeout={IDLE_TIMEOUT})")


#: Malformed requests, each a different cause. Some follow a good request on the connection:
#: aiohttp logs junk at debug level only when it is the first thing on a connection.
JUNK = {
    "tls_hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
    "junk_after_good": GOOD + b"\x00\xffjunk\r\n\r\n",
    "bad_method_after_good": GOOD + b"G\x01T /health HTTP/1.1\r\n\r\n",
    "huge_header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "huge_request_line": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "invalid_header": b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "bad_version": b"GET /health HTTP/7.3\r\nHost: x\r\n\r\n",
    "too_many_headers": b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(300)) + b"\r\n",
    "bad_chunk": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
}
REPEAT = 15


def test_malformed_requests_log_one_line_per_cause_without_traceback(worker: tuple[Harness, int, Path]) -> None:
    h, port, log = worker
    before = len(log.read_bytes())
    answers: dict[str, set[bytes]] = {}
    for name, data in JUNK.items():
        for _ in range(REPEAT):
            answers.setdefault(name, set()).add(send(port, data).split(b"\r\n", 1)[0][-40:])
    assert h.http(port, "/health")[0] == 200  # still serving
    _, metrics = h.http(port, "/metrics")
    time.sleep(1.0)  # let the worker's log handler write out
    text = log.read_bytes()[before:].decode(errors="replace")
    lines = [line for line in text.splitlines() if "http_" in line or "Error handling request" in line]
    print(f"{len(JUNK)} causes x {REPEAT}: {len(lines)} log lines")
    print("\n".join(lines))
    print({name: sorted(a) for name, a in answers.items()})
    assert "Traceback" not in text, text[-3000:]
    assert "Error handling request" not in text
    assert 1 <= len(lines) <= len(JUNK), lines  # one line per cause (the interval is an hour here)
    assert all(len(line) < 300 for line in lines)  # nothing of the junk is echoed
    counted = [line for line in metrics.decode().splitlines() if line.startswith("sentinel_http_errors_total{")]
    total = sum(float(line.rsplit(" ", 1)[1]) for line in counted)
    assert total >= REPEAT * len(lines), counted  # every one counted, though logged once


def _strings(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def test_drift_view_carries_no_payload_values(worker: tuple[Harness, int, Path]) -> None:
    h, port, _ = worker
    messages = order_messages()
    h.produce(messages)

    def fingerprints() -> bytes | None:
        body = h.http(port, "/drift")[1]
        view = orjson.loads(body)["windows"].get(h.topic, {})
        counted = [w for entry in view.values() for w in entry["windows"] if w["fingerprints"]]
        return body if counted else None

    body = wait_for(fingerprints, timeout=60)
    event_types = {v.decode() for _, headers in messages for k, v in headers if k == "event-type"}
    values: set[str] = set()
    for value, _ in messages:
        try:
            values |= _strings(orjson.loads(value or b"null"))
        except orjson.JSONDecodeError:
            continue  # an undecodable message of the capture
    secrets = {v for v in values if len(v) >= 8} - event_types
    assert secrets  # the capture has names, e-mails, streets, ids
    text = body.decode()
    assert b'"sample"' not in body
    assert not {v for v in secrets if v in text}
