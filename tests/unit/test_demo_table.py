"""The demo's drift table: one row per rule from first/summary records, updated in place, fitted to a width."""

from __future__ import annotations

import io
import time
from typing import Any

from rich.console import Console

from stream_sentinel.worker.demo_table import HEADER, DriftTable, fit

LONG_TOPIC = "orders.eu-west-1.checkout-service.v2.created"  # 44 characters


def drift(fp: str, ts: int, *, topic: str = "orders", path: str = "/total_cents", kind: str = "type_mismatch") -> Any:
    return {
        "type": "drift",
        "fingerprint": fp,
        "kind": kind,
        "severity": "breaking",
        "requirement": "REQ-ORD-3",
        "owner": "team-orders",
        "event_type": "OrderCreated",
        "path": path.replace("*", "3"),
        "rule_path": path,
        "source": {"topic": topic, "partition": 1, "offset": 7, "timestamp": ts, "key": None},
    }


def summary(fp: str, start: int, count: int, messages: int, *, path: str = "/total_cents", size: int = 10_000) -> Any:
    return {
        "type": "summary",
        "fingerprint": fp,
        "topic": "orders",
        "event_type": "OrderCreated",
        "kind": "type_mismatch",
        "rule_path": path,
        "severity": "breaking",
        "requirement": "REQ-ORD-3",
        "owner": "team-orders",
        "window": {"kind": "tumbling", "start": start, "end": start + size},
        "count": count,
        "messages": messages,
        "rate": round(count / messages, 6),
    }


def render(table: DriftTable, marked: frozenset[str], width: int) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False)
    console.print(table.table(marked, width, caption=table.status(10)))
    return out.getvalue().splitlines()


def test_first_events_and_summaries_of_one_rule_fold_into_one_row_counted_once() -> None:
    table = DriftTable()
    table.add(drift("fp1", 1_000), now=100.0)  # first in window [0, 10 s)
    assert table.rows["fp1"].count == 1  # known before the window closes
    table.add(summary("fp1", 0, 7, 100), now=101.0)
    table.add(drift("fp1", 12_000), now=102.0)  # first in window [10 s, 20 s)
    table.add(summary("fp1", 10_000, 3, 50), now=103.0)
    table.add(summary("fp1", 10_000, 3, 50), now=104.0)  # redelivered: already counted
    table.add({"type": "tick"}, now=105.0)  # not a drift-topic record the table shows
    assert list(table.rows) == ["fp1"]
    row = table.rows["fp1"]
    assert row.count == 10
    assert row.events == 2
    assert (row.window_count, row.window_messages, row.window_rate) == (3, 50, 0.06)
    assert row.seen == 103.0
    assert (table.drift_events, table.summaries) == (2, 3)


def test_a_first_event_of_the_next_window_that_arrives_before_the_summary_still_counts() -> None:
    table = DriftTable()
    table.add(drift("fp1", 9_000), now=1.0)
    table.add(drift("fp1", 10_500), now=2.0)  # window 2 opened before window 1's summary came
    table.add(summary("fp1", 0, 4, 40), now=3.0)
    assert table.rows["fp1"].count == 5  # 4 closed + the first of the open window
    table.add(drift("fp1", 9_500), now=4.0)  # a late event of the closed window: in its summary already
    assert table.rows["fp1"].count == 5


def test_rows_are_one_per_rule_in_a_stable_order_with_cells_for_the_header() -> None:
    table = DriftTable()
    table.add(drift("b", 1, path="/items/*/quantity", kind="constraint"), now=time.time())
    table.add(drift("a", 1, path="", kind="undecodable"), now=time.time())
    table.add(drift("b", 2, path="/items/*/quantity", kind="constraint"), now=time.time())
    rows = table.ordered()
    assert [r.fingerprint for r in rows] == ["b", "a"]  # constraint < undecodable, both breaking
    cells = dict(zip(HEADER, rows[1].cells(marked=False), strict=True))
    assert cells["PATH"] == "(message)"  # the whole message, as every other table shows it
    assert cells["COUNT"] == "1"
    assert cells["LAST WINDOW"] == "-"
    assert dict(zip(HEADER, rows[0].cells(marked=False), strict=True))["PATH"] == "/items/*/quantity"


def test_rows_changed_since_the_previous_refresh_are_marked_and_only_those() -> None:
    table = DriftTable()
    table.add(drift("fp1", 1_000), now=1.0)
    table.add(drift("fp2", 1_000, path="/status", kind="constraint"), now=1.0)
    first = table.refresh()
    assert first == {"fp1", "fp2"}
    table.add(summary("fp1", 0, 7, 100), now=2.0)
    second = table.refresh()
    assert second == {"fp1"}
    lines = render(table, second, 200)
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 1
    assert "/total_cents" in marked[0]
    assert "7 of 100 (7.0%)" in marked[0]
    assert table.refresh() == frozenset()
    assert not any(line.startswith("*") for line in render(table, frozenset(), 200))


def test_the_table_has_a_header_and_fits_the_width_with_an_ellipsis_where_cut() -> None:
    table = DriftTable()
    table.add(drift("fp1", 1_000, topic=LONG_TOPIC, path="/items/*/unit_price_including_tax_cents"), now=1.0)
    table.add(summary("fp1", 0, 7, 100), now=2.0)
    wide = render(table, frozenset(), 200)
    assert " ".join(wide[0].split()) == " ".join(h for h in HEADER if h)
    assert LONG_TOPIC in wide[2]
    for width in (100, 80, 60):
        lines = render(table, frozenset(), width)
        assert all(len(line) <= width for line in lines), width
        header, row = lines[0], lines[2]
        assert "TOPIC" in header
        assert "COUNT" in header
        assert LONG_TOPIC not in row
        assert LONG_TOPIC[:3] in row
        assert "…" in row  # cut with an ellipsis, never silently
        assert "7" in row.split()  # the count is never cut


def test_fit_drops_the_least_needed_columns_only_when_the_narrowest_layout_is_too_wide() -> None:
    natural = dict.fromkeys(HEADER, 10) | {"": 1}
    assert fit(natural, 500) == natural
    narrow = fit(natural, 60)
    assert "OWNER" not in narrow
    assert "SEEN" not in narrow
    assert {"TOPIC", "KIND", "PATH", "COUNT"} <= set(narrow)
    assert sum(narrow.values()) + 3 * (len(narrow) - 1) <= 60


def test_rules_past_the_bound_are_counted_not_shown() -> None:
    table = DriftTable(max_rows=2)
    for fp in ("a", "b", "c", "c"):
        table.add(drift(fp, 1), now=1.0)
    assert list(table.rows) == ["a", "b"]
    assert table.untracked == 2
    assert "2 records of rules past the first 2 not shown" in table.status()
