"""The baseline for bench/worker.py: a bare Faust agent that only counts, with take_events(1000).

Run by bench/worker.py as ``python bench/bare_agent.py worker --without-web``, configured by
BENCH_BOOTSTRAP, BENCH_TOPIC, BENCH_COUNT and BENCH_APP_ID. It prints one JSON line
``{"count", "first", "last"}`` (wall times of the first and last message) and exits when it has
counted BENCH_COUNT messages. Same broker settings as the sentinel on the embedded broker.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, cast

import faust

from stream_sentinel.embedded import CLIENT_SETTINGS

TARGET = int(os.environ.get("BENCH_COUNT", "0"))
app = faust.App(
    os.environ.get("BENCH_APP_ID", "bench-bare"),
    broker=f"kafka://{os.environ.get('BENCH_BOOTSTRAP', 'localhost:9092')}",
    autodiscover=False,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    datadir=os.environ.get("BENCH_DATA", "/tmp/bench-bare-data"),
    producer_max_batch_size=int(CLIENT_SETTINGS["producer_max_batch_size"]),
    broker_session_timeout=CLIENT_SETTINGS["broker_session_timeout"],
    broker_heartbeat_interval=CLIENT_SETTINGS["broker_heartbeat_interval"],
)
source = app.topic(os.environ.get("BENCH_TOPIC", "bench"), key_serializer="raw", value_serializer="raw")
state = {"count": 0, "first": 0.0, "last": 0.0}


@app.agent(source)
async def count(stream: faust.types.StreamT[Any]) -> None:
    async for batch in cast("faust.Stream[bytes]", stream).take_events(1000, within=0.2):
        if not state["count"]:
            state["first"] = time.time()
        state["count"] += len(batch)
        if state["count"] >= TARGET:
            state["last"] = time.time()
            sys.stdout.write(json.dumps(state) + "\n")
            sys.stdout.flush()
            os._exit(0)  # measured; nothing else to wait for


if __name__ == "__main__":
    app.main()
