"""rewind's Kafka-style options, the check of a broker's time lookup, and the payload size setting."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.cli import build_parser, run
from stream_sentinel.cli.replay import join_time_values, rewind_target, warm_up_start
from stream_sentinel.config import Settings
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import DEFAULT_MAX_PAYLOAD_BYTES
from stream_sentinel.core.errors import UsageError
from stream_sentinel.core.ranges import Start, time_answer_problem
from stream_sentinel.replay.rewind import Target
from stream_sentinel.worker.run import engine_for
from tests.conftest import ORDER_HEADERS, valid_order

SpecFactory = Callable[[dict[str, Any] | None], Path]

NOW = 1_795_000_000_000
T = 1_794_990_000_000  # the time looked up


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(io.StringIO()).parse_args(join_time_values(argv))


# -- rewind ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (("--to-datetime", "2026-11-21T14:00:00.000"), Target("time", 1_795_269_600_000)),
        (("--to-time", "2026-11-21T14:00:00.000Z"), Target("time", 1_795_269_600_000)),
        (("--to-time", "-2h"), Target("time", NOW - 7_200_000)),
        (("--shift-by", "-5"), Target("by", -5)),
        (("--shift-by", "+3"), Target("by", 3)),
        (("--by", "-5"), Target("by", -5)),
        (("--to-offset", "7"), Target("offset", 7)),
        (("--to-earliest",), Target("earliest")),
        (("--to-latest",), Target("latest")),
    ],
)
def test_rewind_accepts_kafka_consumer_groups_target_names(argv: tuple[str, ...], target: Target) -> None:
    assert rewind_target(parse("rewind", *argv), NOW) == target


def test_the_kafka_datetime_example_is_utc() -> None:
    # kafka-consumer-groups' format YYYY-MM-DDTHH:mm:SS.sss; without an offset it is UTC here.
    expected = round(datetime(2026, 11, 21, 14, tzinfo=UTC).timestamp() * 1000)
    assert rewind_target(parse("rewind", "--to-datetime", "2026-11-21T14:00:00.000"), NOW).value == expected


def test_rewind_plans_by_default_and_applies_only_with_execute() -> None:
    plan = parse("rewind", "--to-earliest")
    assert (plan.execute, plan.dry_run) == (False, False)
    assert parse("rewind", "--to-earliest", "--dry-run").execute is False
    assert parse("rewind", "--to-earliest", "--execute").execute is True


def test_execute_and_dry_run_together_are_a_usage_error() -> None:
    err = io.StringIO()
    code = run(["rewind", "--to-earliest", "--execute", "--dry-run"], io.BytesIO(), io.StringIO(), err)
    assert code == 2
    assert "not allowed with argument" in err.getvalue()


def test_two_targets_including_an_alias_are_a_usage_error() -> None:
    err = io.StringIO()
    code = run(["rewind", "--shift-by", "-1", "--to-datetime", "2026-11-21T14:00:00"], io.BytesIO(), io.StringIO(), err)
    assert code == 2
    assert "not allowed with argument" in err.getvalue()


# -- the broker's offsets_for_times answer, judged by the records around it -----------------------


@pytest.mark.parametrize(
    ("at", "before", "wrong"),
    [
        ((5, T), (4, T - 1), None),  # exact hit
        ((5, T + 60_000), (4, T - 60_000), None),
        ((0, T + 1), None, None),  # the log start
        (None, (9, T - 1), None),  # "none that late": the last record is earlier
        ((5, T + 1), None, None),  # a gap hides the record before: not judged
        # non-monotonic CreateTime: an honest first-at-or-after answer passes
        ((7, T + 5), (6, T - 3_600_000), None),
        ((0, -1), None, None),  # no timestamp (old message format): not judged
        # the embedded Tansu: offset 0 for a time 30 min after the first record
        ((0, T - 3 * 3_600_000), None, "the record at offset 0 has timestamp"),
        ((5, T - 1), (4, T - 2), "the record at offset 5 has timestamp"),
        ((5, T + 1), (4, T), "the record before it (offset 4) has timestamp"),
        (None, (9, T + 1), "the last record (offset 9) has timestamp"),
    ],
)
def test_an_answer_the_record_timestamps_contradict_is_named(
    at: tuple[int, int] | None, before: tuple[int, int] | None, wrong: str | None
) -> None:
    problem = time_answer_problem(T, at, before)
    if wrong is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem.startswith(wrong)
        assert "\n" not in problem


# -- max_payload_bytes ---------------------------------------------------------------------------


def test_max_payload_bytes_is_a_documented_setting_with_the_engine_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES
    monkeypatch.setenv("SENTINEL_MAX_PAYLOAD_BYTES", "2048")
    assert Settings.load().max_payload_bytes == 2048
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "| `SENTINEL_MAX_PAYLOAD_BYTES` | `max_payload_bytes` | `16777216` |" in readme


def test_the_worker_engine_uses_the_max_payload_bytes_setting(spec_factory: SpecFactory) -> None:
    settings = Settings.load(spec_dir=str(spec_factory(None)), max_payload_bytes=1234)
    assert engine_for(settings).max_payload_bytes == 1234


def test_check_reports_a_payload_over_max_payload_bytes_as_oversized(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    payload = orjson.dumps(valid_order()).decode()
    line = orjson.dumps(
        {"topic": "orders", "partition": 0, "offset": 0, "ts": 1, "key": None,
         "headers": [h for pair in ORDER_HEADERS for h in (pair[0], pair[1].decode())], "payload": payload}
    )  # fmt: skip
    out = io.StringIO()
    assert run(["check", "--spec", spec, "--format", "jsonl"], io.BytesIO(line), out, io.StringIO()) == 0
    limit = str(len(payload) - 1)
    out = io.StringIO()
    code = run(
        ["check", "--spec", spec, "--format", "jsonl", "--max-payload-bytes", limit],
        io.BytesIO(line),
        out,
        io.StringIO(),
    )
    assert code == 1
    [event] = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert event["kind"] == d.OVERSIZED
    assert event["expected"] == f"<= {limit} bytes"


def test_check_refuses_a_max_payload_bytes_below_one(spec_factory: SpecFactory) -> None:
    err = io.StringIO()
    code = run(
        ["check", "--spec", str(spec_factory(None)), "--max-payload-bytes", "0"], io.BytesIO(), io.StringIO(), err
    )
    assert code == 2
    assert "--max-payload-bytes" in err.getvalue()


# -- --warm-up-from ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        ("earliest", Start("offset", 5), Start()),
        ("2", Start("offset", 5), Start("offset", 2)),
        ("-2h", Start("time", NOW - 3_600_000), Start("time", NOW - 7_200_000)),
        ("2026-11-21T14:00:00Z", Start("last", 100), Start("time", 1_795_269_600_000)),
    ],
)
def test_warm_up_from_takes_earliest_an_offset_or_a_time(text: str, start: Start, expected: Start) -> None:
    assert warm_up_start(text, start, NOW) == expected


def test_warm_up_from_parses_a_relative_time_and_must_lie_before_the_range() -> None:
    args = parse("replay", "--topic", "orders", "--from-time", "-1h", "--warm-up-from", "-2h")
    assert args.warm_up_from == "-2h"
    assert warm_up_start(None, Start(), NOW) is None
    with pytest.raises(UsageError, match="starts at the earliest offset already"):
        warm_up_start("earliest", Start(), NOW)
    with pytest.raises(UsageError, match=r"--warm-up-from 9: must be before the range's start \(offset 5\)"):
        warm_up_start("9", Start("offset", 5), NOW)
    with pytest.raises(UsageError, match="unparsable time"):
        warm_up_start("yesterday", Start("offset", 5), NOW)


def test_a_job_file_gives_rules_and_warm_up_from_or_says_what_is_wrong() -> None:
    from stream_sentinel.cli.replay import _job_flag, _job_text

    assert _job_flag({}, "rules", "j.yaml") is True
    assert _job_flag({"rules": False}, "rules", "j.yaml") is False
    with pytest.raises(UsageError, match=r"j.yaml#/rules: must be true or false"):
        _job_flag({"rules": "no"}, "rules", "j.yaml")
    assert _job_text({"warm_up_from": 120}, "warm_up_from", "j.yaml") == "120"
    assert _job_text({"warm_up_from": "-2h"}, "warm_up_from", "j.yaml") == "-2h"
    assert _job_text({}, "warm_up_from", "j.yaml") is None
    with pytest.raises(UsageError, match=r"j.yaml#/warm_up_from: must be earliest, an offset or a time"):
        _job_text({"warm_up_from": [1]}, "warm_up_from", "j.yaml")
