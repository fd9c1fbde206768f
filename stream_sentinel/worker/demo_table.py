"""The demo's drift table: one row per rule, folded from the drift topic's records, rendered with rich.

Records on the drift topic are of two types: ``drift`` events (in ``first`` alert mode, the
first violation of a rule in each tumbling window; in ``every`` mode, each one) and window
``summary`` records (per rule and closed tumbling window: count, messages, rate). Printing each
record as a line repeats every rule once per window; this model keeps one :class:`Row` per rule
(fingerprint) instead, and updates it in place:

- ``count``: messages that broke the rule. Closed windows count exactly (the sum of their
  summaries); drift events that came after the last summarized window (by record timestamp) add
  what is known of the open window, so the count moves before the window closes. A summary whose
  window was already summarized (a redelivery) is ignored.
- ``last window``: count, messages and rate of the newest summary (rate = share of the event
  type's messages in that window that broke the rule).
- rows changed since the previous refresh are marked: ``*`` and bold.

Pure: times are passed in, nothing is read or written here.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from rich import box
from rich.table import Table

from stream_sentinel.core.check import drift as d

#: Rules tracked; the rest are counted (``untracked``), so a storm of rules cannot grow the demo.
MAX_ROWS: Final = 1000
#: Drift-event timestamps kept per rule for the open window; more are only counted.
MAX_PENDING: Final = 10_000
#: The marker of a row changed since the previous refresh.
NEW: Final = "*"
HEADER: Final = (
    "",
    "SEVERITY",
    "TOPIC",
    "EVENT TYPE",
    "KIND",
    "PATH",
    "REQUIREMENT",
    "OWNER",
    "COUNT",
    "LAST WINDOW",
    "SEEN",
)


#: Narrowest width of a text column before it is cut (with an ellipsis); others are never cut.
_MIN_WIDTH: Final = 6
#: Columns cut to fit the console, widest first: the rest (marker, severity, numbers, time) never are.
_FLEXIBLE: Final = frozenset({"TOPIC", "EVENT TYPE", "KIND", "PATH", "REQUIREMENT", "OWNER"})
#: Columns left out, in this order, while text columns would otherwise be cut below _COMFORT.
_DROP_ORDER: Final = ("SEEN", "OWNER", "REQUIREMENT", "LAST WINDOW", "SEVERITY")
#: Text columns narrower than this are hard to read: leave out a less needed column first.
_COMFORT: Final = 12
#: Characters between two columns (padding and the box's blank vertical rule).
_GAP: Final = 3


def fit(natural: Mapping[str, int], width: int) -> dict[str, int]:
    """Column widths for a ``width``-column console, from each column's natural (widest cell) width.

    The widest text columns are cut down to a common cap (no narrower than ``_MIN_WIDTH``) until
    the row fits. While that cap would be below ``_COMFORT`` characters, the columns of
    :data:`_DROP_ORDER` are left out one by one instead. Returns the shown columns (in
    ``natural``'s order) and their widths.
    """
    shown = dict(natural)
    for name in (*_DROP_ORDER, None):
        cap = _cap(shown, width)
        if name is None or cap is None or cap >= _COMFORT:
            break
        shown.pop(name, None)
    return {n: max(_least(n, w), min(w, cap)) if cap is not None and n in _FLEXIBLE else w for n, w in shown.items()}


def _least(name: str, natural: int) -> int:
    return min(natural, _MIN_WIDTH) if name in _FLEXIBLE else natural


def _cap(shown: Mapping[str, int], width: int) -> int | None:
    """The largest width of text columns that fits (None: everything fits uncut)."""
    room = width - _GAP * (len(shown) - 1)

    def total(cap: int) -> int:
        return sum(max(_least(n, w), min(w, cap)) if n in _FLEXIBLE else w for n, w in shown.items())

    high = max(shown.values(), default=0)
    if total(high) <= room:
        return None
    low = 0
    while low < high:
        mid = (low + high + 1) // 2
        if total(mid) <= room:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(slots=True)
class Row:
    """One rule (fingerprint) of the drift topic."""

    fingerprint: str
    topic: str
    event_type: str | None
    kind: str
    severity: str
    rule_path: str
    requirement: str | None
    owner: str | None
    closed: int = 0  # messages counted by the summaries of closed windows
    closed_until: int = 0  # end (ms) of the newest summarized window
    pending: list[int | None] = field(default_factory=list)  # drift events after it (record timestamps)
    pending_extra: int = 0  # drift events past MAX_PENDING
    events: int = 0  # drift events received
    window_count: int | None = None
    window_messages: int | None = None
    window_rate: float | None = None
    seen: float = 0.0  # wall time (s) of the last change

    @property
    def count(self) -> int:
        """Messages that broke the rule: closed windows exactly, the open one as far as known."""
        return self.closed + len(self.pending) + self.pending_extra

    def cells(self, marked: bool) -> tuple[str, ...]:
        """The row as table cells (``HEADER``'s order)."""
        if self.window_count is None:
            window = "-"
        else:
            rate = f" ({self.window_rate:.1%})" if self.window_rate is not None else ""
            window = f"{self.window_count} of {self.window_messages}{rate}"
        return (
            NEW if marked else "",
            self.severity,
            self.topic,
            self.event_type or "-",
            self.kind,
            d.shown_path(self.rule_path),
            self.requirement or "-",
            self.owner or "-",
            str(self.count),
            window,
            time.strftime("%H:%M:%S", time.localtime(self.seen)),
        )


class DriftTable:
    """Rows by fingerprint, folded from drift-topic records; see the module docstring."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self.rows: dict[str, Row] = {}
        self.drift_events = 0
        self.summaries = 0
        self.untracked = 0  # records of rules past max_rows
        self._changed: set[str] = set()

    def add(self, record: Mapping[str, Any], now: float) -> None:
        """Fold one drift-topic record (a decoded JSON object) in; ``now`` is the wall time in seconds."""
        kind = record.get("type")
        if kind not in ("drift", "summary"):
            return
        if kind == "drift":
            self.drift_events += 1
        else:
            self.summaries += 1
        row = self._row(record, kind)
        if row is None:
            return
        if kind == "drift":
            row.events += 1
            timestamp = record.get("source", {}).get("timestamp")
            if timestamp is not None and timestamp < row.closed_until:
                return  # counted by a summary already (or late): its window is closed
            if len(row.pending) < MAX_PENDING:
                row.pending.append(timestamp)
            else:
                row.pending_extra += 1
        else:
            window = record.get("window", {})
            end = int(window.get("end", 0))
            if window.get("kind", "tumbling") != "tumbling" or end <= row.closed_until:
                return  # a redelivered summary: its window is in the count already
            row.closed += int(record.get("count", 0))
            row.closed_until = end
            row.pending = [t for t in row.pending if t is not None and t >= end]
            row.pending_extra = 0
            row.window_count = int(record.get("count", 0))
            row.window_messages = int(record.get("messages", 0))
            row.window_rate = record.get("rate")
        row.seen = now
        self._changed.add(row.fingerprint)

    def _row(self, record: Mapping[str, Any], kind: str) -> Row | None:
        fp = str(record.get("fingerprint", ""))
        row = self.rows.get(fp)
        if row is not None:
            return row
        if len(self.rows) >= self.max_rows:
            self.untracked += 1
            return None
        topic = record.get("topic") if kind == "summary" else record.get("source", {}).get("topic")
        row = self.rows[fp] = Row(
            fingerprint=fp,
            topic=str(topic),
            event_type=record.get("event_type"),
            kind=str(record.get("kind")),
            severity=str(record.get("severity")),
            rule_path=str(record.get("rule_path") or ""),
            requirement=record.get("requirement"),
            owner=record.get("owner"),
        )
        return row

    def refresh(self) -> frozenset[str]:
        """End a refresh period: the fingerprints changed in it (marked in the render that follows)."""
        changed, self._changed = frozenset(self._changed), set()
        return changed

    def ordered(self) -> list[Row]:
        """Rows in a stable order (grouped by topic and event type, most severe first), so rows stay put."""
        return sorted(
            self.rows.values(),
            key=lambda r: (r.topic, r.event_type or "", -d.SEVERITY_RANK.get(r.severity, 0), r.kind, r.rule_path),
        )

    def table(self, marked: Collection[str], width: int, *, caption: str | None = None) -> Table:
        """A rich table of every row for a ``width``-column console (see :func:`fit`).

        Cells never wrap: a cut one ends with an ellipsis.
        """
        rows = [(row, row.cells(row.fingerprint in marked)) for row in self.ordered()]
        natural = {name: max([len(name)] + [len(cells[i]) for _, cells in rows]) for i, name in enumerate(HEADER)}
        widths = fit(natural, width)
        shown = [i for i, name in enumerate(HEADER) if name in widths]
        table = Table(
            box=box.SIMPLE_HEAD, caption=caption, caption_justify="left", pad_edge=False, show_edge=False, expand=False
        )
        for i in shown:
            name = HEADER[i]
            table.add_column(
                name,
                no_wrap=True,
                overflow="ellipsis",
                justify="right" if name == "COUNT" else "left",
                width=widths[name],
            )
        for row, cells in rows:
            table.add_row(*(cells[i] for i in shown), style="bold" if row.fingerprint in marked else None)
        return table

    def status(self, produced: int | None = None) -> str:
        """One line under the table: what was received (and produced)."""
        parts = [] if produced is None else [f"{produced} messages produced"]
        parts += [f"{len(self.rows)} rules", f"{self.drift_events} drift events", f"{self.summaries} window summaries"]
        if self.untracked:
            parts.append(f"{self.untracked} records of rules past the first {self.max_rows} not shown")
        return ", ".join(parts) + f"; {NEW} = changed since the previous refresh"
