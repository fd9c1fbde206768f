"""The worker's own failure path follows the deny-by-default rule: no payload text escapes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from stream_sentinel.core.check.validate import Outcome
from tests.shell.test_worker_batch import HEADERS, Published, event, sentinel

SECRET = "zq.leaked.mail@example.com"


def test_internal_error_carries_no_exception_text_to_the_drift_topic_or_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = Published()
    s = sentinel(tmp_path, publisher)
    _, rate, wire = s.checkers["orders"] or pytest.fail("orders has a contract")

    def failing(value: bytes | None, headers: Any) -> Outcome:
        raise KeyError(f"no rule for {SECRET}")  # an exception quoting the payload, as a bug might

    s.checkers["orders"] = (SimpleNamespace(check=failing), rate, wire)
    with caplog.at_level(logging.DEBUG):
        asyncio.run(s.handle_batch([event("orders", 0, orjson.dumps({"email": SECRET}), HEADERS)]))
    [drift] = [orjson.loads(v) for t, _, v in publisher.sent if t == "sentinel.drift"]
    assert drift["kind"] == "internal_error"
    assert drift["actual"] == {"type": "error", "value": "KeyError"}
    assert "test_worker_pii.py" in drift["detail"]  # where it was raised: code, not data
    published = b"".join(v for _, _, v in publisher.sent)
    assert SECRET.encode() not in published
    assert "internal_error" in caplog.text
    assert SECRET not in caplog.text
