"""Pieces of the worker's behaviour under broker faults that need no loop: log limiting,
readiness verdicts, the shutdown watchdog and its summary, the settings (issue #11, 2.3-2.5)."""

from __future__ import annotations

import logging

import pytest

from stream_sentinel.config import Settings
from stream_sentinel.core.errors import UsageError
from stream_sentinel.worker.health import BrokerProbe, readiness
from stream_sentinel.worker.logs import RepeatFilter, install
from stream_sentinel.worker.owed import Outstanding
from stream_sentinel.worker.shutdown import Watchdog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_of_one_cause_pass_once_per_interval_and_the_next_line_carries_the_count() -> None:
    clock = Clock()
    limit = RepeatFilter(interval=30.0, clock=clock)
    template = "Unable connect to node with id %s: %s"
    assert limit.filter(record("aiokafka.conn", template, 1, OSError("refused")))
    passed = 0
    for _ in range(2000):  # aiokafka's reconnect loop: one every 50 ms
        clock.now += 0.01
        passed += limit.filter(record("aiokafka.conn", template, 1, OSError("refused")))
    assert passed == 0
    clock.now += 30.0
    again = record("aiokafka.conn", template, 1, OSError("refused"))
    assert limit.filter(again)
    assert again.getMessage() == ("Unable connect to node with id 1: refused [repeated 2000 times in the last 50 s]")


def test_causes_differ_by_logger_template_level_and_exception_type() -> None:
    limit = RepeatFilter(clock=Clock())
    assert limit.filter(record("aiokafka", "Got error produce response: %s", KeyError("x")))
    assert limit.filter(record("aiokafka", "Got error produce response: %s", ValueError("x")))
    assert limit.filter(record("faust.transport", "Got error produce response: %s", KeyError("x")))
    assert limit.filter(record("aiokafka", "Got error produce response: %s", KeyError("x"), level=logging.WARNING))
    assert not limit.filter(record("aiokafka", "Got error produce response: %s", KeyError("y")))


def test_info_lines_and_other_loggers_are_never_limited() -> None:
    limit = RepeatFilter(clock=Clock())
    for _ in range(3):
        assert limit.filter(record("faust.worker", "Stopping...", level=logging.INFO))
        assert limit.filter(record("stream_sentinel.worker", "event=publish_failed"))
        assert limit.filter(record("modest", "not mode's logger"))
    assert limit.causes == {}


def test_the_cause_table_is_bounded() -> None:
    clock = Clock()
    limit = RepeatFilter(clock=clock, max_causes=10)
    for i in range(100):
        clock.now += 1
        assert limit.filter(record("mode", f"distinct message {i}"))
    assert len(limit.causes) <= 10


def test_install_puts_one_filter_on_every_root_handler() -> None:
    logger = logging.Logger("root-like")
    one, two = logging.NullHandler(), logging.NullHandler()
    logger.addHandler(one)
    logger.addHandler(two)
    repeat = install(logger)
    assert one.filters == [repeat]
    assert two.filters == [repeat]
    first = record("aiokafka", "Unable to update metadata from %s", [1])
    assert one.filter(first)
    assert two.filter(first)  # the same record on the second handler: judged once, not a repeat
    again = record("aiokafka", "Unable to update metadata from %s", [1])
    assert not one.filter(again)
    assert not two.filter(again)


def test_readiness_names_every_failing_condition() -> None:
    assert readiness(assigned=True, publishing=True, broker=True).ok
    verdict = readiness(assigned=False, publishing=False, broker=False, broker_detail="no answer for 21 s")
    assert not verdict.ok
    assert verdict.body() == {
        "ready": False,
        "assigned": False,
        "publishing": False,
        "broker": False,
        "reasons": ["broker unreachable: no answer for 21 s", "publishing failing", "not assigned"],
    }


def test_the_broker_counts_as_unreachable_once_silent_for_the_timeout_and_flips_are_reported_once() -> None:
    clock = Clock()
    flips: list[bool] = []
    probe = BrokerProbe(interval=3.0, timeout=10.0, get_client=lambda: None, on_change=flips.append, clock=clock)
    clock.now += 10.0
    probe.check()
    assert probe.reachable()
    clock.now += 0.5
    probe.check()
    probe.check()
    assert not probe.reachable()
    assert probe.detail() == "no answer for 10 s"
    probe.last_ok = clock.now
    probe.check()
    assert flips == [False, True]


def test_the_watchdog_writes_one_line_and_ends_with_exit_3() -> None:
    written: list[str] = []
    ended: list[int] = []
    dog = Watchdog(12.0, lambda: Outstanding(2, 1, 150, 3).line(), end=ended.append, write=written.append)
    dog.expire()
    assert ended == [3]
    assert written == [
        "stream-sentinel: worker stopped after 12 s grace: 2 drift records and 1 tally records unpublished; "
        "150 messages on 3 partitions uncommitted (checked again on restart)\n"
    ]


def test_the_watchdog_ends_the_process_even_when_the_summary_fails() -> None:
    written: list[str] = []
    ended: list[int] = []

    def broken() -> str:
        raise RuntimeError("state mid-change")

    Watchdog(1.0, broken, end=ended.append, write=written.append).expire()
    assert ended == [3]
    assert written == ["stream-sentinel: worker stopped after 1 s grace: (no summary: RuntimeError)\n"]


def test_grace_and_connect_timeout_are_positive_settings() -> None:
    settings = Settings.load(None)
    assert (settings.shutdown_grace, settings.connect_timeout) == (15.0, 15.0)
    for name in ("shutdown_grace", "connect_timeout"):
        with pytest.raises(UsageError, match=name):
            Settings.load(None, **{name: 0})
