"""`stream-sentinel broker`: the embedded dev broker in the foreground, its address, a clean stop."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.integration.conftest import ROOT, unique

pytestmark = pytest.mark.integration


def start_broker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stream_sentinel", "broker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def round_trip(bootstrap: str, topic: str) -> bytes | None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        record = await asyncio.wait_for(consumer.getone(), 30)
        value: bytes | None = record.value
        return value
    finally:
        await consumer.stop()


def test_broker_prints_its_address_serves_kafka_and_stops_on_sigterm() -> None:
    process = start_broker()
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the broker listens (or the command ends)
        found = re.fullmatch(r"bootstrap=(127\.0\.0\.1:\d+)\n", first)
        assert found, first
        bootstrap = found.group(1)
        assert asyncio.run(round_trip(bootstrap, unique("broker-cmd"))) == b"hello"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out == ""  # nothing after the address line
    assert f"SENTINEL_BOOTSTRAP_SERVERS={bootstrap} " in err
    assert "SENTINEL_SESSION_TIMEOUT=2 " in err
    assert "Traceback" not in err
    tansu = subprocess.run(["pgrep", "-f", f"tcp://{bootstrap}"], capture_output=True, text=True, check=False)
    assert tansu.stdout.strip() == ""


def test_broker_on_a_taken_port_exits_3_in_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_broker("--port", str(port))
        out, err = process.communicate(timeout=60)
    assert process.returncode == 3
    assert out == ""
    assert err == f"stream-sentinel: cannot start the embedded broker: port {port} is in use (Address already in use)\n"
