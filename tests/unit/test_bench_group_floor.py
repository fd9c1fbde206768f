"""The group floor of bench/worker.py does the worker's per-message work and sends its tally records (#14)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import orjson

from bench.group_floor import DEFAULTS, assess_batch, checkers_for, tally_records
from bench.validate import HEADERS, workload
from stream_sentinel.core.assess import Assessor, Policy
from stream_sentinel.worker import bounds

SPEC = str(Path(__file__).resolve().parents[2] / "spec" / "events")


def test_the_group_floor_counts_every_message_and_tallies_the_invalid_ones_as_the_worker_records_them() -> None:
    messages = workload(200)
    batch = [
        SimpleNamespace(
            topic="orders", partition=0, offset=i, timestamp=1_700_000_000_000, key=b"k", value=v, headers=HEADERS
        )
        for i, v in enumerate(messages)
    ]
    assessor = Assessor(Policy(min_severity=DEFAULTS.min_severity, raw_prefix=DEFAULTS.raw_prefix, sample=True))
    tally = assess_batch(batch, checkers_for(SPEC, "orders"), assessor, 1_700_000_000_500)
    records = tally_records(tally, bounds.record_limit(DEFAULTS.producer_max_request_size))
    decoded = [(key.decode(), orjson.loads(value)) for key, value in records]
    assert all(record["k"] == "tally" and key.startswith("orders|") for key, record in decoded)
    topic_wide = [record for record in decoded if record[1]["event_type"] is None]
    assert sum(record["messages"] for _, record in topic_wide) == len(messages)
    drift = sum(stats["count"] for _, record in decoded for stats in record["drift"].values())
    assert drift >= len(messages) // 10  # every tenth message of the workload is invalid
    assert any(record["candidates"] for _, record in decoded)  # first mode: alerts for new fingerprints
