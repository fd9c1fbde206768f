"""Replay, capture and rewind against a real broker (embedded Tansu, or SENTINEL_TEST_BOOTSTRAP).

Every test produces to its own topic (one record per request, see conftest) and drives the CLI
in-process through ``cli.run``, so exit codes and output are exactly what a developer sees.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream_sentinel.cli import run
from stream_sentinel.embedded import free_port
from tests.conftest import ClosedAfter

from .conftest import PARTITIONS, Harness, order_messages, read_all, rename_topic, unique

pytestmark = pytest.mark.integration


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), sys.stdin.buffer, out, err)
    return code, out.getvalue(), err.getvalue()


def replay(harness: Harness, *extra: str) -> tuple[int, str, str]:
    """``stream-sentinel replay`` of the harness topic against the harness contracts."""
    return cli(
        "replay", "--bootstrap", harness.bootstrap, "--topic", harness.topic, "--spec", str(harness.spec), *extra
    )


def without_examples(report: dict[str, Any]) -> dict[str, Any]:
    """A report minus the example drift events (their origin and observed_at differ by command)."""
    return {**report, "fingerprints": [{**f, "examples": len(f["examples"])} for f in report["fingerprints"]]}


def test_replay_of_a_topic_reports_what_check_reports_on_its_capture(harness: Harness) -> None:
    coordinates = harness.produce(order_messages())
    capture = harness.tmp / "capture.jsonl"
    code, _, err = cli("capture", "--bootstrap", harness.bootstrap, "--topic", harness.topic, "--output", str(capture))
    assert code == 0, err
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    assert sorted((r["partition"], r["offset"]) for r in lines) == sorted(coordinates)
    assert f"captured {len(coordinates)} records" in err
    assert err.endswith(f"stream-sentinel: capture written to {capture}\n")

    code, out, err = replay(
        harness,
        "--format",
        "json",
    )
    assert code == 1, err  # the capture has drift
    replayed = json.loads(out)
    code, checked_out, _ = cli("check", "--spec", str(harness.spec), "--format", "json", str(capture))
    assert code == 1
    assert without_examples(replayed["current"]) == without_examples(json.loads(checked_out))
    assert replayed["current"]["messages"] == len(coordinates)
    assert [p["offsets"] for p in replayed["partitions"]] == [
        sum(1 for p, _ in coordinates if p == n) for n in range(PARTITIONS)
    ]
    examples = [e for f in replayed["current"]["fingerprints"] for e in f["examples"]]
    assert examples
    assert all(e["origin"] == "replay" and e["run_id"] == replayed["run_id"] for e in examples)


def test_jsonl_lists_every_drift_event_with_the_ids_check_computes(harness: Harness) -> None:
    harness.produce(order_messages())
    capture = harness.tmp / "capture.jsonl"
    assert cli("capture", "--bootstrap", harness.bootstrap, "--topic", harness.topic, "--output", str(capture))[0] == 0
    code, out, _ = replay(
        harness,
        "--format",
        "jsonl",
    )
    assert code == 1
    _, checked, _ = cli("check", "--spec", str(harness.spec), "--format", "jsonl", str(capture))
    ids = sorted(json.loads(line)["drift_id"] for line in out.splitlines())
    assert ids == sorted(json.loads(line)["drift_id"] for line in checked.splitlines())
    assert len(ids) >= 10
    # `replay ... | head` under pipefail: output cut short still exits 1, streamed or rendered.
    for fmt in ("jsonl", "table"):
        args = ["replay", "--bootstrap", harness.bootstrap, "--topic", harness.topic, "--spec", str(harness.spec)]
        assert run([*args, "--format", fmt], sys.stdin.buffer, ClosedAfter(1), io.StringIO()) == 1, fmt


def test_against_reports_what_the_candidate_newly_breaks_fixes_and_keeps(harness: Harness) -> None:
    harness.produce(order_messages())
    candidate = harness.tmp / "candidate"
    shutil.copytree(harness.spec, candidate)
    schema_file = candidate / "orders" / "order-created.v2.schema.json"
    schema = json.loads(schema_file.read_text())
    schema["properties"]["status"]["enum"].append("backordered")  # fixes the REQ-ORD-5 drift
    schema["properties"]["sales_region"] = {"type": "string", "x-requirement": "REQ-ORD-99"}
    schema["required"].append("sales_region")  # breaks every OrderCreated on the topic
    schema_file.write_text(json.dumps(schema))

    code, out, err = replay(
        harness,
        "--against",
        str(candidate),
        "--format",
        "json",
    )
    assert code == 1, err  # the candidate newly breaks messages
    comparison = json.loads(out)["comparison"]
    rules = {(r["kind"], r["path"]): r for r in comparison["rules"]}
    assert rules["missing_required", "/sales_region"]["verdict"] == "new"
    assert rules["missing_required", "/sales_region"]["requirement"] == "REQ-ORD-99"
    assert rules["constraint", "/status"]["verdict"] == "fixed"
    assert rules["constraint", "/status"]["fixed"] == 1
    assert rules["undecodable", ""]["verdict"] == "same"
    [created] = [e for e in comparison["event_types"] if e["event_type"] == "OrderCreated"]
    # Every v2 OrderCreated lacks the new field; the capture's one v1 message is untouched.
    assert created["drifting_candidate"] == created["messages"] - 1
    assert (
        created["drifting_candidate"]
        == created["drifting_current"] + created["newly_failing"] - created["newly_passing"]
    )
    code, table, _ = replay(
        harness,
        "--against",
        str(candidate),
    )
    assert re.search(r"^breaks +missing_required +REQ-ORD-99 ", table, re.MULTILINE)
    assert re.search(r"^fixes +constraint +REQ-ORD-5 ", table, re.MULTILINE)
    code, markdown, _ = replay(
        harness,
        "--against",
        str(candidate),
        "--format",
        "markdown",
    )
    assert "| ❌ breaks | `missing_required` | REQ-ORD-99 |" in markdown

    # A candidate identical to the current contracts newly breaks nothing: exit 0 despite the drift.
    code, _, _ = replay(
        harness,
        "--against",
        str(harness.spec),
    )
    assert code == 0


def test_offset_ranges_partitions_and_last_n_read_exactly_what_was_asked(harness: Harness) -> None:
    coordinates = harness.produce(order_messages())
    per_partition = {n: sorted(o for p, o in coordinates if p == n) for n in range(PARTITIONS)}
    busiest = max(per_partition, key=lambda n: len(per_partition[n]))

    def offsets(*extra: str) -> list[tuple[int, int]]:
        code, out, err = cli("capture", "--bootstrap", harness.bootstrap, "--topic", harness.topic, *extra)
        assert code == 0, err
        return sorted((r["partition"], r["offset"]) for r in map(json.loads, out.splitlines()))

    assert offsets("--partition", str(busiest), "--from-offset", "2", "--to-offset", "5") == [
        (busiest, o) for o in (2, 3, 4)
    ]
    assert offsets("--last", "2") == sorted((n, o) for n, os in per_partition.items() for o in os[-2:])
    assert offsets("--partition", str(busiest), "--from-offset", "3", "--to-offset", "3") == []
    # A start past the end of the shorter partitions reads the longer ones (and says so).
    lengths = sorted(len(os) for os in per_partition.values())
    cut = lengths[0] + 1
    assert offsets("--from-offset", str(cut)) == sorted((n, o) for n, os in per_partition.items() for o in os[cut:])
    code, out, _ = replay(harness, "--from-offset", str(cut))
    assert code in (0, 1)
    assert "start beyond end" in out


def test_time_ranges_use_the_first_offset_at_or_after_the_time(harness: Harness) -> None:
    early = harness.produce(order_messages()[:12])
    time.sleep(1.5)  # the embedded broker indexes append time: separate the two batches in time
    boundary = time.time() - 0.5
    late = harness.produce(order_messages()[:8])
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(boundary)) + f".{int(boundary % 1 * 1000):03d}Z"

    def read(*bounds: str) -> list[tuple[int, int]]:
        code, out, err = cli("capture", "--bootstrap", harness.bootstrap, "--topic", harness.topic, *bounds)
        assert code == 0, err
        return sorted((r["partition"], r["offset"]) for r in map(json.loads, out.splitlines()))

    assert read("--from-time", iso) == sorted(late)
    assert read("--to-time", iso) == sorted(early)
    assert read("--from-time", "-10m", "--to-time", iso) == sorted(early)
    assert read("--from-time", "now") == []  # nothing at or after now: an empty replay, not an error


def test_publish_sends_replay_drift_events_with_the_run_id(harness: Harness) -> None:
    harness.produce(order_messages())
    code, out, _ = replay(
        harness,
        "--publish",
        "--drift-topic",
        harness.drift_topic,
        "--format",
        "json",
    )
    assert code == 1
    report = json.loads(out)
    expected = report["current"]["drift_events"]
    assert report["published"] == {"topic": harness.drift_topic, "drift_events": expected}
    records = asyncio.run(read_all(harness.bootstrap, harness.drift_topic, expected, 30, 1.0, None))
    assert len(records) == expected
    assert {(r["origin"], r["run_id"]) for r in records} == {("replay", report["run_id"])}


def test_usage_and_broker_errors_have_their_exit_codes_and_one_line(harness: Harness, tmp_path: Path) -> None:
    harness.produce(order_messages()[:4])
    base = ("replay", "--bootstrap", harness.bootstrap, "--spec", str(harness.spec))
    cases = [
        ((*base, "--topic", harness.topic, "--partition", "17"), 2, "has no partition 17"),
        ((*base, "--topic", harness.topic, "--from-offset", "500"), 2, "is after the end"),
        ((*base, "--topic", harness.topic, "--from-time", "last tuesday"), 2, "unparsable time"),
        ((*base, "--topic", harness.topic, "--spec", str(tmp_path / "missing")), 2, "missing"),
    ]
    for argv, expected, message in cases:
        code, _, err = cli(*argv)
        assert (code, err.count("\n")) == (expected, 1), err
        assert message in err
    # A topic with a contract that does not exist on the cluster.
    spec = harness.tmp / "spec-missing-topic"
    shutil.copytree(harness.spec, spec)
    catalog = rename_topic((spec / "catalog.yaml").read_text(), harness.topic, "never-created-topic")
    (spec / "catalog.yaml").write_text(catalog)
    code, _, err = cli(
        "replay", "--bootstrap", harness.bootstrap, "--spec", str(spec), "--topic", "never-created-topic"
    )
    assert code == 2
    assert "does not exist on the brokers" in err

    started = time.monotonic()
    code, _, err = cli(
        "replay",
        "--bootstrap",
        f"127.0.0.1:{free_port()}",
        "--topic",
        harness.topic,
        "--spec",
        str(harness.spec),
        "--timeout",
        "3",
    )
    assert code == 3
    assert err.startswith("stream-sentinel: cannot reach the Kafka brokers")
    assert err.count("\n") == 1
    assert time.monotonic() - started < 10


def test_output_files_are_replaced_only_by_a_successful_run(harness: Harness) -> None:
    harness.produce(order_messages())
    report = harness.tmp / "report.txt"
    report.write_text("the previous report\n")
    down = ("replay", "--bootstrap", f"127.0.0.1:{free_port()}", "--topic", harness.topic, "--spec", str(harness.spec))
    code, _, err = cli(*down, "--timeout", "2", "--output", str(report))
    assert code == 3
    assert "written to" not in err
    assert report.read_text() == "the previous report\n"
    assert [p.name for p in harness.tmp.iterdir() if p.name.startswith(".report")] == []  # no partial file left
    code, out, err = replay(harness, "--output", str(report))
    assert code == 1
    assert out == ""
    assert err.endswith(f"stream-sentinel: table report written to {report}\n")  # says where it went
    assert report.read_text().startswith("replay ")
    assert replay(harness, "--output", "/dev/null")[0] == 1
    assert Path("/dev/null").is_char_device()  # written to, never replaced


def test_a_replay_job_file_gives_the_range_and_contracts(harness: Harness) -> None:
    coordinates = harness.produce(order_messages())
    job = harness.tmp / "job.yaml"
    job.write_text(f"topics: [{harness.topic}]\nfrom: {{offset: 1}}\nto: end\nspec: {harness.spec}\nformat: json\n")
    code, out, err = cli("replay", "--bootstrap", harness.bootstrap, "--job", str(job))
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["current"]["messages"] == len(coordinates) - sum(
        1 for n in range(PARTITIONS) if any(p == n for p, _ in coordinates)
    )
    bad = harness.tmp / "bad-job.yaml"
    bad.write_text("topics: [x]\nform: {offset: 1}\n")
    code, _, err = cli("replay", "--bootstrap", harness.bootstrap, "--job", str(bad))
    assert code == 2
    assert "#/form: unknown key" in err


def test_rewind_plans_for_an_active_group_and_refuses_to_execute(harness: Harness) -> None:
    harness.produce(order_messages()[:20])
    harness.start_worker()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the worker committed everything
        committed = asyncio.run(committed_offsets(harness.bootstrap, harness.topic, harness.app_id))
        if sum(committed.values()) == 20:
            break
        time.sleep(0.5)
    base = ("rewind", "--bootstrap", harness.bootstrap, "--group", harness.app_id, "--spec", str(harness.spec))
    for plan_only in ((), ("--dry-run",)):
        code, out, err = cli(*base, "--to-earliest", *plan_only)
        assert (code, err) == (0, "")
        assert re.search(rf"^{re.escape(harness.topic)}\[0\] +\d+ +0 +-\d+$", out, re.MULTILINE)  # the plan
        assert "active member(s): --execute is refused until its workers stop" in out
        assert "plan only: no offsets changed" in out
    code, out, err = cli(*base, "--to-earliest", "--execute")
    assert code == 2
    assert "active member" in err
    assert err.count("\n") == 1
    assert out == ""
    assert asyncio.run(committed_offsets(harness.bootstrap, harness.topic, harness.app_id)) == committed


def test_rewind_moves_a_stopped_group_by_shift_time_and_earliest(harness: Harness) -> None:
    # The embedded broker keeps a stopped member in DescribeGroups, so the stopped group here is
    # one whose offsets were committed by a client that never joined (as after a clean shutdown
    # on Kafka, the group is Empty with its offsets).
    early = harness.produce(order_messages()[:12])
    time.sleep(1.5)
    boundary = time.time() - 0.5
    harness.produce(order_messages()[:8])
    group = unique("stopped")
    ends = asyncio.run(commit_ends(harness.bootstrap, harness.topic, group))
    base = ("rewind", "--bootstrap", harness.bootstrap, "--group", group, "--topic", harness.topic)

    for plan_only in ((), ("--dry-run",)):
        code, out, err = cli(*base, "--by", "-3", *plan_only)
        assert code == 0, err
        assert "plan only: no offsets changed (apply it with --execute)" in out
        assert asyncio.run(committed_offsets(harness.bootstrap, harness.topic, group)) == ends

    code, out, err = cli(*base, "--shift-by", "-3", "--execute")
    assert code == 0, err
    assert asyncio.run(committed_offsets(harness.bootstrap, harness.topic, group)) == {
        p: max(0, end - 3) for p, end in ends.items()
    }
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(boundary)) + f".{int(boundary * 1000) % 1000:03d}"
    code, out, err = cli(*base, "--to-datetime", iso, "--execute")
    assert code == 0, err
    early_counts = {p: sum(1 for q, _ in early if q == p) for p in range(PARTITIONS)}
    assert asyncio.run(committed_offsets(harness.bootstrap, harness.topic, group)) == early_counts
    assert cli(*base, "--to-earliest", "--execute")[0] == 0
    assert asyncio.run(committed_offsets(harness.bootstrap, harness.topic, group)) == dict.fromkeys(
        range(PARTITIONS), 0
    )


async def commit_ends(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.commit(dict(ends))
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        found = await admin.list_consumer_group_offsets(group, partitions=tps)
        return {tp.partition: meta.offset for tp, meta in found.items() if meta.offset >= 0}
    finally:
        await admin.close()


def test_sample_applies_the_catalog_rate_by_partition_and_offset_like_the_worker(harness: Harness) -> None:
    from stream_sentinel.core.assess import sampled

    from .conftest import topic_spec

    harness.spec = topic_spec(harness.tmp / "sampled", harness.topic, harness.drift_topic, sample_rate=0.5)
    coordinates = harness.produce(order_messages(repeat=2))
    kept = [c for c in coordinates if sampled(*c, 0.5)]
    assert 0 < len(kept) < len(coordinates)
    code, out, _ = replay(harness, "--sample", "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["current"]["messages"] == len(kept)
    assert report["sampled_out"] == len(coordinates) - len(kept)
    code, out, _ = replay(harness, "--format", "json")
    assert (json.loads(out)["current"]["messages"], json.loads(out)["sampled_out"]) == (len(coordinates), None)


def test_max_violations_per_message_caps_replay_from_the_flag_or_the_setting(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    value, headers = order_messages()[0]
    order = json.loads(value or b"{}")
    order["items"] = [{"sku": "bad", "name": "x", "quantity": 0, "unit_price_cents": 1}] * 30  # 60 violations
    harness.produce([(json.dumps(order).encode(), headers)])
    code, out, err = replay(harness, "--format", "jsonl", "--max-violations", "5")
    assert code == 1, err
    assert [json.loads(line)["kind"] for line in out.splitlines()][5:] == ["overflow"]
    assert json.loads(out.splitlines()[-1])["actual"]["value"] == "55"
    monkeypatch.setenv("SENTINEL_MAX_VIOLATIONS_PER_MESSAGE", "3")
    code, out, err = replay(harness, "--format", "jsonl")
    assert code == 1, err
    assert len(out.splitlines()) == 4
    assert json.loads(out.splitlines()[-1])["actual"]["value"] == "57"
