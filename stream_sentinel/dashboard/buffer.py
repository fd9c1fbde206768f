"""The drift topic's latest records as published: bounded by count, bytes and age.

Records are kept as the bytes the broker returned (decoded only when the page is rendered: a
decoded record costs several times its bytes) with their Kafka timestamp. The oldest go first,
whatever the bound that drops them; the page says from when the buffer is complete.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Final

#: Why a record left the buffer (or never entered it): the page and the tests read these.
EXPIRED: Final = "expired"  # older than the lookback
MAX_RECORDS: Final = "max_records"
MAX_BYTES: Final = "max_bytes"


class RecordBuffer:
    """The last ``lookback_ms`` of the drift topic, at most ``max_records`` records and ``max_bytes`` bytes.

    Kafka timestamps order records within a partition only; trimming pops from the oldest
    *arrived* record while it is too old, so a record of a lagging partition may outlive the
    lookback by a little. The page's model keeps only what falls in its period anyway.
    """

    def __init__(self, *, max_records: int, max_bytes: int, lookback_ms: int) -> None:
        self.max_records, self.max_bytes, self.lookback_ms = max_records, max_bytes, lookback_ms
        self._records: deque[tuple[int, bytes]] = deque()
        self.bytes = 0
        self.dropped: Counter[str] = Counter()
        #: Kafka timestamp of the newest record a bound (not age) dropped: the page is complete after it.
        self.complete_after: int | None = None
        #: Bumped on every change, so a rendering of an unchanged buffer can be reused.
        self.version = 0

    def __len__(self) -> int:
        return len(self._records)

    def add(self, timestamp: int, value: bytes | None, now_ms: int) -> None:
        """Keep one record (tombstones and records older than the lookback are skipped)."""
        if value is None or timestamp < now_ms - self.lookback_ms:
            return
        if len(value) > self.max_bytes:
            self._drop(MAX_BYTES, timestamp)
            return
        self._records.append((timestamp, value))
        self.bytes += len(value)
        self.version += 1
        while len(self._records) > self.max_records:
            self._pop(MAX_RECORDS)
        while self.bytes > self.max_bytes:
            self._pop(MAX_BYTES)

    def trim(self, now_ms: int) -> None:
        """Drop the records older than the lookback."""
        horizon = now_ms - self.lookback_ms
        while self._records and self._records[0][0] < horizon:
            self._pop(EXPIRED)

    def snapshot(self) -> list[bytes]:
        """The kept records' values, oldest first (a copy: the reader keeps appending)."""
        return [value for _, value in self._records]

    def _pop(self, reason: str) -> None:
        timestamp, value = self._records.popleft()
        self.bytes -= len(value)
        self.version += 1
        if reason == EXPIRED:
            self.dropped[reason] += 1
        else:
            self._drop(reason, timestamp)

    def _drop(self, reason: str, timestamp: int) -> None:
        self.dropped[reason] += 1
        self.complete_after = max(self.complete_after or timestamp, timestamp)
