"""Replay arithmetic without a broker: times, ranges, readiness and the candidate comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_sentinel.cli.replay import join_time_values
from stream_sentinel.core.aggregate.comparison import Comparison
from stream_sentinel.core.assess import Assessor, Checked, Policy, Ref
from stream_sentinel.core.check.drift import Violation
from stream_sentinel.core.check.validate import Outcome
from stream_sentinel.core.errors import UsageError
from stream_sentinel.core.ranges import End, Start, check_plans, check_range, parse_time, plan_partition
from stream_sentinel.replay.rewind import Target, target_offset

NOW = 1_795_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-2h", NOW - 7_200_000),
        ("-30m", NOW - 1_800_000),
        ("-1.5d", NOW - 129_600_000),
        ("-45s", NOW - 45_000),
        ("-250ms", NOW - 250),
        ("-1w", NOW - 604_800_000),
        ("2026-11-21T14:00:00Z", 1_795_269_600_000),
        ("2026-11-21T15:00:00+01:00", 1_795_269_600_000),
        ("2026-11-21T14:00:00", 1_795_269_600_000),  # no offset: UTC, never the machine's zone
        ("2026-11-21", 1_795_219_200_000),
    ],
)
def test_times_parse_to_epoch_milliseconds(text: str, expected: int) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "-2x", "2h", "", "2026-13-01T00:00:00Z", "-h"])
def test_unparsable_times_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="unparsable time"):
        parse_time(text, NOW)


def test_relative_time_values_survive_argparse() -> None:
    assert join_time_values(["replay", "--from-time", "-2h", "--to-time", "-5m", "--last", "3"]) == [
        "replay",
        "--from-time=-2h",
        "--to-time=-5m",
        "--last",
        "3",
    ]
    assert join_time_values(["--from-time", "--topic"]) == ["--from-time", "--topic"]  # left to argparse's error


def test_default_range_is_the_whole_partition_up_to_the_end_captured_at_start() -> None:
    p = plan_partition("orders", 0, earliest=100, latest=250, start=Start(), end=End())
    assert (p.start, p.end, p.count, p.lost, p.requested) == (100, 250, 150, 0, None)


def test_a_start_below_the_log_start_reports_what_retention_deleted() -> None:
    p = plan_partition("orders", 1, earliest=100, latest=250, start=Start("offset", 40), end=End())
    assert (p.start, p.end, p.lost, p.requested) == (100, 250, 60, 40)
    last = plan_partition("orders", 1, earliest=100, latest=250, start=Start("last", 200), end=End())
    assert (last.start, last.lost) == (100, 50)


def test_last_n_counts_back_from_the_end() -> None:
    p = plan_partition("orders", 0, earliest=0, latest=250, start=Start("last", 10), end=End("offset", 200))
    assert (p.start, p.end, p.count) == (190, 200, 10)


def test_to_offset_is_exclusive_and_capped_at_the_end_captured_at_start() -> None:
    p = plan_partition("orders", 0, earliest=0, latest=50, start=Start("offset", 10), end=End("offset", 20))
    assert (p.start, p.end) == (10, 20)
    capped = plan_partition("orders", 0, earliest=0, latest=50, start=Start("offset", 10), end=End("offset", 999))
    assert capped.end == 50


def test_time_bounds_use_the_brokers_offsets_and_none_means_past_the_end() -> None:
    p = plan_partition("orders", 0, 0, 50, Start("time", 1), End("time", 2), start_for_time=12, end_for_time=30)
    assert (p.start, p.end) == (12, 30)
    late = plan_partition("orders", 0, 0, 50, Start("time", 1), End(), start_for_time=None)
    assert (late.start, late.end, late.count) == (50, 50, 0)  # nothing at or after the time: empty, not an error


def test_empty_partitions_plan_nothing_to_read() -> None:
    p = plan_partition("orders", 3, earliest=0, latest=0, start=Start(), end=End())
    assert p.count == 0
    at_end = plan_partition("orders", 3, earliest=7, latest=7, start=Start("offset", 7), end=End())
    assert at_end.count == 0


def test_a_start_past_one_partition_s_end_plans_it_empty_and_past_all_ends_is_refused() -> None:
    short = plan_partition("orders", 2, earliest=0, latest=50, start=Start("offset", 60), end=End())
    long = plan_partition("orders", 3, earliest=0, latest=90, start=Start("offset", 60), end=End())
    assert (short.count, short.beyond_end, long.start, long.count, long.beyond_end) == (0, True, 60, 30, False)
    check_plans([short, long])  # partitions differ in length: the longer one is still read
    with pytest.raises(UsageError, match=r"after the end of every partition: orders\[2\] ends at 50"):
        check_plans([short])
    inverted = plan_partition("orders", 2, earliest=0, latest=50, start=Start("offset", 30), end=End("offset", 20))
    assert inverted.beyond_end
    with pytest.raises(UsageError, match="after the end"):
        check_plans([inverted])


def test_times_before_the_epoch_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="before 1970"):
        parse_time("1960-01-01T00:00:00Z", NOW)
    with pytest.raises(UsageError, match="before 1970"):
        parse_time("-99999d", NOW)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (Start("offset", 10), End("offset", 5), "after the end"),
        (Start("time", 2_000), End("time", 1_000), "after the end"),
        (Start("last", -1), End(), "positive"),
        (Start("offset", -3), End(), "0 or more"),
        (Start(), End("offset", -1), "0 or more"),
    ],
)
def test_ranges_empty_by_construction_are_refused_before_reading(start: Start, end: End, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_range(start, end)


def v(kind: str, path: str, severity: str = "breaking") -> Violation:
    return Violation(kind, severity, path, path, "integer", "number", requirement="REQ-ORD-3")


def pair(
    partition: int,
    offset: int,
    current: tuple[str | None, tuple[Violation, ...]],
    candidate: tuple[str | None, tuple[Violation, ...]],
    policy: Policy | None = None,
) -> tuple[Checked, Checked]:
    """One message as replay --against folds it: checked and assessed under both contract sets."""
    assessor = Assessor(policy or Policy())
    ref = Ref("orders", partition, offset, None, None, "json")

    def checked(side: tuple[str | None, tuple[Violation, ...]]) -> Checked:
        outcome = Outcome(side[0], None, side[1])
        return ("orders", outcome, 0, assessor.assess(outcome, ref) if outcome.violations else None)

    return checked(current), checked(candidate)


def test_comparison_separates_new_fixed_and_unchanged_rules() -> None:
    c = Comparison(max_examples=2)
    c.add(pair(0, 1, ("OrderCreated", ()), ("OrderCreated", ())))
    c.add(pair(0, 2, ("OrderCreated", (v("type_mismatch", "/total_cents"),)), ("OrderCreated", ())))
    c.add(pair(1, 3, ("OrderCreated", ()), ("OrderCreated", (v("missing_required", "/channel"),))))
    c.add(
        pair(
            1,
            4,
            ("OrderCreated", (v("constraint", "/status"),)),
            ("OrderCreated", (v("constraint", "/status"), v("missing_required", "/channel"))),
        )
    )
    data = c.to_dict()
    assert data["messages"] == 4
    assert data["newly_failing_messages"] == 1  # offset 3 (offset 4 failed before too)
    assert data["newly_passing_messages"] == 1  # offset 2
    rules = {(r["kind"], r["path"]): r for r in data["rules"]}
    channel = rules["missing_required", "/channel"]
    assert (channel["verdict"], channel["new"]) == ("new", 2)
    assert rules["type_mismatch", "/total_cents"]["verdict"] == "fixed"
    assert (rules["constraint", "/status"]["verdict"], rules["constraint", "/status"]["same"]) == ("same", 1)
    assert [e["offset"] for e in channel["examples"]] == [3, 4]
    assert data["by_kind"] == {"new": {"missing_required": 2}, "fixed": {"type_mismatch": 1}, "same": {"constraint": 1}}
    assert c.breaks_anything_new
    assert c.ranked()[0].kind == "missing_required"  # newly broken rules lead the report


def test_comparison_respects_the_severity_floor_on_both_sides() -> None:
    c = Comparison()
    breaking_only = Policy(min_severity="breaking")
    c.add(pair(0, 1, ("OrderCreated", ()), ("OrderCreated", (v("undocumented_field", "/x", "info"),)), breaking_only))
    assert not c.breaks_anything_new
    assert c.to_dict()["newly_failing_messages"] == 0


@pytest.mark.parametrize(
    ("target", "current", "expected"),
    [
        (Target("earliest"), 40, 10),
        (Target("latest"), 40, 90),
        (Target("offset", 5), 40, 10),  # clamped to the log start
        (Target("offset", 500), 40, 90),  # clamped to the end
        (Target("by", -15), 40, 25),
        (Target("by", -100), 40, 10),
        (Target("by", -5), None, 10),  # no committed offset: the worker would start at the log start
        (Target("by", 30), None, 40),
        (Target("time", 0), 40, 90),  # no record at/after the time: the end
    ],
)
def test_rewind_targets_are_clamped_to_the_log(target: Target, current: int | None, expected: int) -> None:
    assert target_offset(target, current, earliest=10, latest=90, for_time=None) == expected


def test_every_bundled_replay_job_parses() -> None:
    import argparse
    from pathlib import Path

    from stream_sentinel.cli import replay as replay_cli

    jobs = sorted((Path(__file__).resolve().parents[2] / "replay" / "jobs").glob("*.yaml"))
    assert jobs
    empty = argparse.Namespace(
        topic=[], partition=[], from_offset=None, from_time=None, last=None, to_offset=None, to_time=None
    )
    for job in jobs:
        loaded = replay_cli._job(str(job))
        (what,) = replay_cli._range(empty, loaded, str(job), NOW)
        assert what.topics == ("orders",)
        assert what.start.kind in ("time", "last")


def test_the_progress_bar_draws_rate_and_eta_on_a_terminal_only() -> None:
    import io

    from stream_sentinel.replay.run import Progress

    ticks = iter([0.0, 1.0, 1.1, 2.0])
    out = io.StringIO()
    bar = Progress(out, total=1000, enabled=True, clock=lambda: next(ticks))
    bar.advance(250)  # t=1.0: 250 msg/s, 750 left
    bar.advance(10)  # t=1.1: under 0.2 s since the last draw, no redraw
    assert out.getvalue() == "\r  250/1,000 records (25%)  250 msg/s  ETA 3 s "
    bar.close()
    quiet = io.StringIO()
    silent = Progress(quiet, total=10, enabled=False, clock=lambda: 5.0)
    silent.advance(10)
    silent.close()
    assert quiet.getvalue() == ""


def test_a_replay_job_with_aliases_is_refused_not_expanded(tmp_path: Path) -> None:
    from stream_sentinel.cli import replay as replay_cli

    lines = ['a0: &a0 "x"'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    job = tmp_path / "bomb.yaml"
    job.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match=r"not valid YAML: .*aliases \(\*name\) are not allowed"):
        replay_cli._job(str(job))
