"""The worker under broker faults: frozen, killed, absent (issue #11, section 2 items 3-5).

Each test runs its OWN embedded broker (not the session one): it freezes or kills it. Measured
figures (time to 503, to recovery, to exit; drift events before and after each fault) are
printed (``pytest -s``), never asserted as timings; the bounds below are generous deadlines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from stream_sentinel.embedded import CLIENT_SETTINGS, EmbeddedBroker, free_port
from tests.integration.conftest import SPEC, Harness, order_messages, produce
from tests.integration.test_worker import drift_ids, expected_drift

pytestmark = pytest.mark.integration

#: The embedded-broker workers' session timeout (embedded.CLIENT_SETTINGS through worker_env): /ready
#: must say 503 within about two.
SESSION_TIMEOUT = CLIENT_SETTINGS["broker_session_timeout"]
#: Faust's default broker_commit_interval (seconds).
COMMIT_INTERVAL = 2.8
#: Generous deadline for "it eventually happens" (not a timing assertion).
DEADLINE = 60.0


@pytest.fixture
def own(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, Harness]]:
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        h = Harness(broker.bootstrap, tmp_path)
        try:
            yield broker, h
        finally:
            h.close()


def broker_signal(broker: EmbeddedBroker, sig: signal.Signals) -> None:
    process = broker._process
    assert process is not None
    os.killpg(process.pid, sig)


def until_status(h: Harness, port: int, status: int, timeout: float = DEADLINE) -> tuple[float, dict[str, object]]:
    """Seconds until /ready answers ``status``, and that answer's body."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        got, body = h.http(port, "/ready")
        if got == status:
            return time.monotonic() - started, orjson.loads(body)
        time.sleep(0.1)
    raise AssertionError(f"/ready did not answer {status} within {timeout:g} s\n{h.logs()}")


def test_ready_goes_503_with_a_reason_while_the_broker_is_frozen_and_no_drift_is_lost(
    own: tuple[EmbeddedBroker, Harness],
) -> None:
    broker, h = own
    process, port = h.start_worker(alert_mode="every", batch_size="20")
    before = order_messages()
    coords = h.produce(before)
    want_before = set().union(*expected_drift(h, before, coords).values())
    h.drift(expect=len(want_before), until=lambda r: want_before <= drift_ids(r))

    # Traffic across the fault: a producer keeps sending while the broker is frozen and thawed.
    during = order_messages(repeat=4)
    sent: list[tuple[int, int]] = []

    def traffic() -> None:
        sent.extend(asyncio.run(produce(h.bootstrap, h.topic, during)))

    producer = threading.Thread(target=traffic)
    producer.start()
    time.sleep(0.5)
    broker_signal(broker, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        to_503, body = until_status(h, port, 503)
        assert body["ready"] is False
        assert body["broker"] is False
        assert any(str(r).startswith("broker unreachable") for r in body["reasons"]), body  # type: ignore[attr-defined]
        time.sleep(max(0.0, 4 * SESSION_TIMEOUT - (time.monotonic() - frozen_at)))
        held = time.monotonic() - frozen_at
    finally:
        broker_signal(broker, signal.SIGCONT)
    to_200, body = until_status(h, port, 200)
    assert body == {"ready": True, "assigned": True, "publishing": True, "broker": True, "reasons": []}
    producer.join(timeout=DEADLINE)
    assert not producer.is_alive()

    want_all = want_before | set().union(*expected_drift(h, during, sent).values())
    records = h.drift(expect=len(want_all), timeout=90, until=lambda r: want_all <= drift_ids(r))
    got = drift_ids(records)
    print(
        f"\nfreeze: 503 after {to_503:.1f} s (session timeout {SESSION_TIMEOUT:g} s), frozen {held:.1f} s, "
        f"200 again {to_200:.1f} s after thaw; drift events: {len(want_before)} before the fault, "
        f"{len(want_all)} expected in all, {len(got)} distinct received after ({len(records)} records)"
    )
    assert got == want_all, (sorted(want_all - got)[:5], h.logs())
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=DEADLINE) == 0  # a clean stop with the broker back: nothing left over


def test_sigterm_with_the_broker_gone_exits_3_within_the_grace_with_one_summary_line(
    own: tuple[EmbeddedBroker, Harness],
) -> None:
    broker, h = own
    grace = 5.0
    process, port = h.start_worker(alert_mode="every", shutdown_grace=str(grace))
    messages = order_messages()
    coords = h.produce(messages)
    want = set().union(*expected_drift(h, messages, coords).values())
    records = h.drift(expect=len(want), until=lambda r: want <= drift_ids(r))
    time.sleep(3 * COMMIT_INTERVAL)  # these are committed before the fault: not in the summary
    last = order_messages()
    h.produce(last)
    time.sleep(0.5)  # handled by the worker, most likely not committed yet
    log = h.workers[-1][2]
    lines_before = len(log.read_text(errors="replace").splitlines())

    broker_signal(broker, signal.SIGKILL)
    until_status(h, port, 503)
    time.sleep(10)  # the client libraries retry all the while (old: ~120 error lines a second)
    outage_lines = len(log.read_text(errors="replace").splitlines()) - lines_before
    process.send_signal(signal.SIGTERM)
    stopping = time.monotonic()
    code = process.wait(timeout=grace + 30)
    took = time.monotonic() - stopping

    text = log.read_text(errors="replace")
    after = text.splitlines()[lines_before:]
    summaries = [line for line in after if line.startswith("stream-sentinel: worker stopped")]
    print(
        f"\nkill: drift events before the kill {len(drift_ids(records))}/{len(want)}; {outage_lines} log lines "
        f"in ~10 s of outage, {len(after)} in all; SIGTERM to exit {took:.1f} s (grace {grace:g} s), "
        f"exit {code}; {summaries}"
    )
    assert code == 3
    assert len(summaries) == 1, after[-20:]
    assert "drift records" in summaries[0]
    uncommitted = int(summaries[0].split(" messages on ")[0].rsplit(" ", 1)[1])
    assert uncommitted <= len(last), summaries  # what was committed before the kill is not counted
    assert outage_lines < 100, after[:100]
    assert "Traceback" not in "\n".join(after)


def test_no_broker_at_start_is_one_line_and_exit_3(tmp_path: Path) -> None:
    env = {**os.environ, "SENTINEL_SPEC_DIR": str(SPEC), "SENTINEL_DATA_DIR": str(tmp_path / "data")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stream_sentinel", "worker", "--bootstrap", f"127.0.0.1:{free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    took = time.monotonic() - started
    print(f"\nno broker: exit {result.returncode} after {took:.1f} s: {result.stderr.strip()}")
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("stream-sentinel: cannot reach the Kafka brokers at 127.0.0.1:")


RACE = """
import sys
from stream_sentinel.worker import run
# The broker vanishes between the start-up checks (preflight, topic listing) and Faust's start.
run.preflight = lambda settings: None
run.cluster_topics = lambda settings: set()
run.missing_catalog_topics = lambda settings, engine, existing: []
from stream_sentinel.cli import main
sys.argv = ["stream-sentinel", "worker", "--bootstrap", sys.argv[1]]
main()
"""


def test_a_broker_lost_between_the_check_and_faust_start_is_exit_3_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "SENTINEL_SPEC_DIR": str(SPEC), "SENTINEL_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-c", RACE, f"127.0.0.1:{free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("stream-sentinel: the Kafka brokers failed the worker: ")
