"""Benchmark: folding a week of the drift topic into the health model versus only decoding it.

Workload: the recorded week (replay/drift-topic/week.jsonl, published by the worker's code path)
scaled up: its records repeated with every event time moved by whole days inside a 7-day period,
and each repetition's fingerprints and drift ids renamed (as 100 topics' worth of distinct rules
would be), so the model holds many rules and many windows. Sides, over the same list of record
values (bytes, as the reader hands them over):

  decode   ``orjson.loads`` of every record (the floor: the reader has to do this anyway)
  model    ``orjson.loads`` + ``HealthAggregator.add`` of every record, then ``result()`` and the
           Markdown, HTML and JSON renderings

The last line is ``ratio=<decode s / model s>``: the share of the report's time that is the
unavoidable decoding (1.0 would mean the model costs nothing on top).

Run: .venv/bin/python bench/report.py [--copies N] [--rounds R]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from stream_sentinel.core.capture import read_capture
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.health import model as m
from stream_sentinel.core.health.aggregate import HealthAggregator, contracts_of
from stream_sentinel.core.health.render import render

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "replay" / "drift-topic" / "week.jsonl"
DAY = 86_400_000
SINCE = 1_794_564_000_000 - DAY  # the recorded week starts 2026-11-13T10:00Z; copies move by up to a day


def workload(copies: int) -> list[bytes]:
    base = [orjson.loads(m.value or b"null") for m in read_capture(WEEK.read_bytes().splitlines())]
    out = []
    for copy in range(copies):
        shift = (copy % 3 - 1) * DAY
        for record in base:
            r = dict(record)
            if "fingerprint" in r:
                r["fingerprint"] = f"{copy:04x}{r['fingerprint'][4:]}"
            if "drift_id" in r:
                r["drift_id"] = f"{copy:04x}{r['drift_id'][4:]}"
            if "window" in r:
                r["window"] = {**r["window"], "start": r["window"]["start"] + shift, "end": r["window"]["end"] + shift}
            if r.get("type") == "drift":
                r["source"] = {**r["source"], "timestamp": r["source"]["timestamp"] + shift}
            r["topic" if r.get("type") != "drift" else "origin"] = (
                f"{r['topic']}-{copy % 100}" if r.get("type") != "drift" else "live"
            )
            if r.get("type") == "drift":
                r["source"]["topic"] = f"{r['source']['topic']}-{copy % 100}"
            out.append(orjson.dumps(r))
    return out


def best(run: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    values = workload(args.copies)
    contracts = contracts_of(load_engine(str(ROOT / "spec" / "events")).catalog, exclude=("sentinel.drift",))
    period = m.Period(SINCE, SINCE + 9 * DAY)
    sizes: dict[str, int] = {}

    def decode() -> None:
        for value in values:
            orjson.loads(value)

    def model() -> None:
        aggregator = HealthAggregator(period, contracts, generated_at=period.until)
        for value in values:
            aggregator.add(orjson.loads(value))
        report = aggregator.result()
        for fmt in ("markdown", "html", "json"):
            sizes[fmt] = len(render(report, fmt))
        sizes["rules"] = sum(len(t.rules) for t in report.topics)
        sizes["topics"] = len(report.topics)

    decode_s, model_s = best(decode, args.rounds), best(model, args.rounds)
    print(f"records: {len(values):,} ({len(values) / model_s:,.0f} records/s through the model)")
    print(f"topics: {sizes['topics']}, rules: {sizes['rules']:,}")
    print(f"report sizes: markdown {sizes['markdown']:,} B, html {sizes['html']:,} B, json {sizes['json']:,} B")
    print(f"decode only: {decode_s * 1000:.1f} ms; model + renderings: {model_s * 1000:.1f} ms")
    print(f"ratio={decode_s / model_s:.3f}")


if __name__ == "__main__":
    main()
