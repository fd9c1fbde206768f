"""The CLI driven in-process: exit codes, formats, input handling."""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from stream_sentinel.cli import run
from stream_sentinel.core.check import drift as d
from tests.conftest import ClosedAfter, valid_order

SpecFactory = Callable[[dict[str, Any] | None], Path]


def envelope(payload: object, offset: int, headers: list[str] | None = None) -> bytes:
    body = payload if isinstance(payload, str) or payload is None else orjson.dumps(payload).decode()
    return orjson.dumps(
        {
            "topic": "orders",
            "partition": 0,
            "offset": offset,
            "ts": 1,
            "key": None,
            "headers": headers if headers is not None else ["event-type", "OrderCreated"],
            "payload": body,
        }
    )


def cli(args: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(args, io.BytesIO(stdin), out, err)
    return code, out.getvalue(), err.getvalue()


def test_clean_capture_exits_0(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    lines = b"\n".join(envelope(valid_order(), i) for i in range(3))
    code, out, err = cli(["check", "--spec", spec], lines)
    assert (code, err) == (0, "")
    assert out.startswith("3 messages, 0 with drift")


def test_drift_exits_1_and_jsonl_streams_events(spec_factory: SpecFactory, tmp_path: Path) -> None:
    spec = str(spec_factory(None))
    capture = tmp_path / "c.jsonl"
    capture.write_bytes(
        b"\n".join(
            [
                envelope(valid_order(), 0),
                envelope(valid_order(total_cents=2.5), 1),
                envelope("{oops", 2),
            ]
        )
    )
    code, out, _ = cli(["check", "--spec", spec, "--format", "jsonl", str(capture)])
    assert code == 1
    events = [orjson.loads(line) for line in out.splitlines()]
    assert [(e["kind"], e["source"]["offset"], e["origin"]) for e in events] == [
        ("type_mismatch", 1, "check"),
        ("undecodable", 2, "check"),
    ]


def test_json_report_shape(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    lines = b"\n".join(envelope(valid_order(total_cents=0.5), i) for i in range(4))
    code, out, _ = cli(["check", "--spec", spec, "--format", "json", "--examples", "1"], lines)
    report = orjson.loads(out)
    assert code == 1
    assert (report["messages"], report["drifting_messages"], report["drift_events"]) == (4, 4, 4)
    (rule,) = report["fingerprints"]
    assert (rule["kind"], rule["path"], rule["count"], rule["requirement"]) == (
        "type_mismatch",
        "/total_cents",
        4,
        "REQ-ORD-3",
    )
    assert (rule["first"], rule["last"]) == (
        {"partition": 0, "offset": 0},
        {"partition": 0, "offset": 3},
    )
    assert len(rule["examples"]) == 1
    assert report["event_types"] == [
        {
            "topic": "orders",
            "event_type": "OrderCreated",
            "messages": 4,
            "drifting": 4,
            "drift_pct": 100.0,
        }
    ]


def test_table_lists_rules_most_severe_first(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    lines = b"\n".join(
        [
            envelope(valid_order(version=1), 0),
            envelope(valid_order(total_cents=0.5), 1),
            envelope(valid_order(total_cents=0.5), 2),
        ]
    )
    code, out, _ = cli(["check", "--spec", spec], lines)
    assert code == 1
    rows = [line.split()[:2] for line in out.splitlines() if line.startswith(("breaking", "warning"))]
    assert rows == [["breaking", "type_mismatch"], ["warning", "version_lag"]]
    assert "fix: producer sends number; contract says integer at /total_cents (REQ-ORD-3)" in out


def test_min_severity_filters_report_and_exit_code(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    code, out, _ = cli(["check", "--spec", spec, "--min-severity", "breaking"], envelope(valid_order(version=1), 0))
    assert code == 0
    assert "0 drift events" in out


def test_raw_payload_lines_need_topic(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    code, _, err = cli(["check", "--spec", spec], b'{"id": "p"}\n')
    assert code == 2
    assert "give --topic" in err
    code, out, _ = cli(
        ["check", "--spec", spec, "--topic", "profiles", "--format", "jsonl"],
        b'{"id": "p"}\n{"id": 1}\n',
    )
    assert code == 1
    (event,) = [orjson.loads(line) for line in out.splitlines()]
    assert (event["source"]["offset"], event["kind"]) == (1, "type_mismatch")


def test_usage_errors_exit_2(spec_factory: SpecFactory, tmp_path: Path) -> None:
    spec = str(spec_factory(None))
    assert cli(["check", "--spec", spec, "--topic", "nope"])[0] == 2
    assert cli(["check", "--spec", spec, str(tmp_path / "missing.jsonl")])[0] == 2
    code, _, err = cli(["check", "--spec", spec, "--format", "yaml"])
    assert code == 2
    assert "invalid choice" in err
    assert cli(["frobnicate"])[0] == 2
    code, _, err = cli(["check", "--spec", spec], orjson.dumps({"topic": "elsewhere", "payload": "{}"}))
    assert code == 2
    assert "'elsewhere' has no contract" in err


def test_help_version_spec_and_kinds(spec_factory: SpecFactory) -> None:
    code, out, _ = cli(["--help"])
    assert code == 0
    assert "check" in out
    assert cli(["--version"])[1].startswith("stream-sentinel ")
    code, out, _ = cli(["spec", "--spec", str(spec_factory(None))])
    assert code == 0
    assert "  OrderCreated: v1, v2  [REQ-ORD-1; BACKWARD]" in out
    code, out, _ = cli(["kinds"])
    assert code == 0
    assert out.count("\n") == len(d.KINDS) == 21
    assert set(d.RULE_KINDS) <= set(d.KINDS)  # behavioural rules' kinds are listed too


def test_check_streams_large_input_in_bounded_memory(spec_factory: SpecFactory, tmp_path: Path) -> None:
    """Memory is bounded by distinct rules, not input size: 12k drifting lines, ~10 MB."""
    import tracemalloc

    spec = str(spec_factory(None))
    capture = tmp_path / "big.jsonl"
    with capture.open("wb") as handle:
        for offset in range(12_000):
            handle.write(envelope(valid_order(total_cents=offset + 0.5, note="x" * 600), offset) + b"\n")
    size = capture.stat().st_size
    tracemalloc.start()
    try:
        code, out, _ = cli(["check", "--spec", spec, "--format", "json", str(capture)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 1
    assert orjson.loads(out)["drift_events"] == 24_000  # a type mismatch and an undocumented field each
    assert size > 10_000_000
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte input"


def _drifting_capture(tmp_path: Path, count: int) -> Path:
    capture = tmp_path / "drift.jsonl"
    capture.write_bytes(b"\n".join(envelope(valid_order(total_cents=2.5), i) for i in range(count)))
    return capture


def test_output_cut_short_keeps_the_drift_exit_code(spec_factory: SpecFactory, tmp_path: Path) -> None:
    spec = str(spec_factory(None))
    capture = str(_drifting_capture(tmp_path, 20))
    for fmt in ("jsonl", "table", "json"):
        out = ClosedAfter(1)
        code = run(["check", "--spec", spec, "--format", fmt, capture], io.BytesIO(), out, io.StringIO())
        assert code == 1, fmt
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(envelope(valid_order(), 0))
    assert run(["check", "--spec", spec, str(clean)], io.BytesIO(), ClosedAfter(0), io.StringIO()) == 0


def test_diff_output_cut_short_keeps_its_verdict() -> None:
    spec = Path(__file__).resolve().parents[2] / "spec" / "events" / "orders"
    v1, v2 = str(spec / "order-created.v1.schema.json"), str(spec / "order-created.v2.schema.json")
    assert run(["diff", v1, v2], io.BytesIO(), ClosedAfter(1), io.StringIO()) == 20


def test_pipefail_pipeline_through_head_sees_drift(spec_factory: SpecFactory, tmp_path: Path) -> None:
    """The real thing: a pipe whose reader exits early. Python ignores SIGPIPE, so the write
    fails with EPIPE; the exit code must still say drift, or `set -o pipefail` CI passes it."""
    spec = str(spec_factory(None))
    capture = _drifting_capture(tmp_path, 400)  # ~600 KB of drift events: far more than a pipe holds
    script = (
        f"set -o pipefail; {shlex.quote(sys.executable)} -m stream_sentinel check --spec {shlex.quote(spec)} "
        f"--format jsonl {shlex.quote(str(capture))} | head -n 1 >/dev/null"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr.decode()
    assert b"Traceback" not in done.stderr


def test_check_raw_payloads_of_a_header_typed_topic_with_event_type_and_version(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    raw = orjson.dumps(valid_order(version=1)) + b"\n"
    # Without them every raw line is unknown_event_type (nothing is validated).
    code, out, err = cli(["check", "--spec", spec, "--topic", "orders", "--format", "jsonl"], raw + raw)
    assert [orjson.loads(line)["kind"] for line in out.splitlines()] == ["unknown_event_type"] * 2
    assert err == (  # said once, not per line
        "stream-sentinel: note: topic 'orders' reads the event type from header 'event-type', which raw payload "
        "lines lack: give --event-type (one of OrderCreated)\n"
    )
    code, out, err = cli(["check", "--spec", spec, "--topic", "orders", "--event-type", "OrderCreated"], raw)
    assert (code, err) == (1, "")  # undeclared: checked against the newest (v2), passes the older v1
    assert "unknown_event_type" not in out
    assert "version_lag" in out
    args = ["check", "--spec", spec, "--topic", "orders", "--event-type", "OrderCreated", "--version", "1"]
    code, out, err = cli(args, raw)
    assert (code, err) == (0, "")
    assert out.startswith("1 messages, 0 with drift")
    # An envelope's own header wins over the flag; one lacking it gets the flag's value.
    both = envelope(valid_order(version=1), 0, ["event-type", "OrderCreated", "schema-version", "2"])
    code, out, _ = cli([*args, "--format", "jsonl"], both + b"\n" + envelope(valid_order(version=1), 1))
    assert [(e["source"]["offset"], e["schema"]["version"]) for e in map(orjson.loads, out.splitlines())] == [(0, 2)]


def test_check_event_type_and_version_are_validated_against_the_catalog(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    base = ["check", "--spec", spec]
    cases = {
        ("--topic", "orders", "--event-type", "Nope"): "known: OrderCreated",
        ("--topic", "orders", "--event-type", "OrderCreated", "--version", "7"): "(known: 1, 2)",
        ("--topic", "orders", "--version", "1"): "--version needs --event-type",
        ("--event-type", "OrderCreated"): "give --topic",
        ("--topic", "typed", "--event-type", "Ping"): "reads the event type from field /type",
        ("--topic", "profiles", "--event-type", "Other"): "no such event type",
        ("--topic", "profiles", "--version", "1"): "declares no version",
    }
    for extra, needle in cases.items():
        code, _, err = cli([*base, *extra], b"{}\n")
        assert code == 2, extra
        assert needle in err, (extra, err)
        assert err.count("\n") == 1


def test_usage_errors_name_the_subcommand_once_and_show_its_usage(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    code, _, err = cli(["check", "--spec", spec, "--bogus", "-"])
    assert code == 2
    assert err.startswith("stream-sentinel: check: unrecognized arguments: --bogus; usage: stream-sentinel check [-h]")
    assert "[--event-type NAME]" in err
    assert err.count("\n") == 1
    code, _, err = cli(["diff", "--format", "yaml"])
    assert code == 2
    assert err.startswith("stream-sentinel: diff: argument --format: invalid choice: 'yaml'")
    assert "; usage: stream-sentinel diff [-h]" in err
    code, _, err = cli(["frobnicate"])
    assert code == 2
    assert err.startswith("stream-sentinel: argument COMMAND: invalid choice: 'frobnicate'")
    assert "stream-sentinel: stream-sentinel" not in err


def test_help_texts_for_spec_kinds_and_diff_format_and_the_spec_default(monkeypatch: Any) -> None:
    assert "requirement and compatibility mode" in " ".join(cli(["spec", "--help"])[1].split())
    assert "severity" in cli(["kinds", "--help"])[1]
    diff_help = " ".join(cli(["diff", "--help"])[1].split())
    assert "markdown (a PR comment)" in diff_help
    assert "github (::error/::warning" in diff_help
    monkeypatch.delenv("SENTINEL_SPEC_DIR", raising=False)
    for command in ("check", "replay", "spec", "diff", "demo"):
        text = " ".join(cli([command, "--help"])[1].split())
        assert "spec/events; $SENTINEL_SPEC_DIR overrides it" in text, command
    monkeypatch.setenv("SENTINEL_SPEC_DIR", "/contracts")
    for command in ("check", "replay", "spec", "diff", "demo"):
        text = " ".join(cli([command, "--help"])[1].split())
        assert "/contracts, from $SENTINEL_SPEC_DIR" in text, command


def test_kinds_prints_each_kinds_severity_as_the_readme_documents() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    documented = dict(
        re.findall(r"^\| `([a-z_]+)` \| ((?:breaking|warning|info)(?: / info)?|per rule) \|", readme, re.M)
    )
    code, out, _ = cli(["kinds"])
    assert code == 0
    printed = {line.split()[0]: " ".join(line.split()[1:4]) for line in out.splitlines()}
    assert set(printed) == set(d.KINDS) == set(documented)
    for kind, severity in documented.items():
        assert printed[kind].startswith(severity), kind


def test_whole_message_path_is_words_in_the_table_and_empty_in_json(spec_factory: SpecFactory) -> None:
    spec = str(spec_factory(None))
    line = envelope(valid_order(), 0, [])  # no event type: a finding about the whole message
    _, table, _ = cli(["check", "--spec", spec], line)
    (row,) = [r.split() for r in table.splitlines() if r.startswith("warning")]
    assert row[1:5] == ["unknown_event_type", "-", "orders/?", "(message)"]
    _, report, _ = cli(["check", "--spec", spec, "--format", "json"], line)
    assert orjson.loads(report)["fingerprints"][0]["path"] == ""
