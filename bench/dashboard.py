"""Benchmark: one dashboard rendering at its default bound (50,000 records) versus only decoding them.

Workload: the scaled recorded week of ``bench/report.py`` (its fingerprints and drift ids renamed
per copy, spread over 400 topics), cut to ``--records`` (default: ``dashboard_max_records``).
Sides, over the same record values (bytes, as the dashboard's buffer holds them):

  decode     ``orjson.loads`` of every record (the floor: any view of the drift topic decodes)
  rendering  ``dashboard.page.build_page``: decode + health model + the HTML page, what one
             page request costs when the 5 s cache is stale (it runs in a thread in the worker)

The last line is ``ratio=<decode s / rendering s>``.

Run: .venv/bin/python bench/dashboard.py [--records N] [--rounds R]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: bench/ is not installed
from bench.report import DAY, SINCE, best, workload
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.health import model as m
from stream_sentinel.core.health.aggregate import contracts_of
from stream_sentinel.dashboard.page import build_page

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    values = workload(args.records // 309 + 1)[: args.records]
    contracts = contracts_of(load_engine(str(ROOT / "spec" / "events")).catalog, exclude=("sentinel.drift",))
    period = m.Period(SINCE, SINCE + 9 * DAY)
    sizes: dict[str, int] = {}

    def decode() -> None:
        for value in values:
            orjson.loads(value)

    def rendering() -> None:
        html, _ = build_page(values, contracts, period, None, [], 30)
        sizes["html"] = len(html)

    decode_s, render_s = best(decode, args.rounds), best(rendering, args.rounds)
    print(f"records: {len(values):,} ({sum(map(len, values)):,} B as published)")
    print(f"page: {sizes['html']:,} B of HTML")
    print(f"decode only: {decode_s * 1000:.1f} ms; one rendering: {render_s * 1000:.1f} ms")
    print(f"ratio={decode_s / render_s:.3f}")


if __name__ == "__main__":
    main()
