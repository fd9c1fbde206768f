"""Capture lines: kcat -J envelopes, raw payloads, base64 binaries, tombstones."""

from __future__ import annotations

import base64

import orjson
import pytest

from stream_sentinel.core.capture import CapturedMessage, key_text, parse_line, read_capture, to_envelope


def test_kcat_envelope() -> None:
    line = orjson.dumps(
        {
            "topic": "orders",
            "partition": 2,
            "offset": 41,
            "tstype": "create",
            "ts": 1700000000000,
            "broker": 1,
            "headers": ["event-type", "OrderCreated", "schema-version", "2"],
            "key": "ord_1",
            "payload": '{"a":1}',
        }
    )
    message = parse_line(line + b"\n", 1)
    assert message == CapturedMessage(
        "orders",
        2,
        41,
        1700000000000,
        "ord_1",
        (("event-type", b"OrderCreated"), ("schema-version", b"2")),
        b'{"a":1}',
    )


def test_raw_lines_get_line_offsets_and_blank_lines_are_skipped() -> None:
    messages = list(read_capture([b'{"a":1}\n', b"\n", b"not json\r\n"]))
    assert [(m.topic, m.partition, m.offset, m.value) for m in messages] == [
        (None, 0, 0, b'{"a":1}'),
        (None, 0, 2, b"not json"),
    ]


def test_base64_tombstone_and_round_trip() -> None:
    binary = CapturedMessage("p", 0, 1, None, None, (("h", b"v"),), b"\x00\xff\x10")
    line = to_envelope(binary)
    assert orjson.loads(line)["payload_encoding"] == "base64"
    assert parse_line(line, 1) == binary
    tomb = CapturedMessage("p", 0, 2, 5, "k", (), None)
    assert parse_line(to_envelope(tomb), 1) == tomb
    assert base64.b64decode(orjson.loads(line)["payload"]) == b"\x00\xff\x10"


@pytest.mark.parametrize(
    ("envelope", "problem"),
    [
        ({"topic": "t", "payload": "!!", "payload_encoding": "base64"}, "payload is not valid base64"),
        ({"topic": "t", "payload": 5}, "payload must be a string or null"),
        ({"topic": "t", "payload": "x", "offset": "7"}, "offset must be an integer from 0 to"),
        ({"topic": "t", "payload": "x", "offset": -1}, "offset must be an integer from 0 to"),
        ({"topic": "t", "payload": "x", "partition": True}, "partition must be an integer from 0 to 2147483647"),
        ({"topic": "t", "payload": "x", "partition": 2**31}, "partition must be an integer"),
        ({"topic": "t", "payload": "x", "ts": 1.5}, "ts must be an integer"),
        ({"topic": "t", "payload": "x", "headers": ["only-a-name"]}, "headers must be kcat's"),
        ({"topic": "t", "payload": "x", "headers": "event-type"}, "headers must be kcat's"),
        ({"topic": "t", "payload": "x", "headers": [1, "v"]}, "header names must be strings"),
        ({"topic": "t", "payload": "x", "headers": ["h", {"a": 1}]}, "header 1: values must be strings or null"),
        (
            {"topic": "t", "payload": "x", "headers": ["h", "secret!"], "headers_encoding": "base64"},
            "header 1 is not valid base64",
        ),
        ({"topic": "t", "payload": "x", "key": {"id": 1}}, "key must be a string or null"),
        ({"topic": "t", "payload": "x", "payload_encoding": "hex"}, "payload_encoding must be base64 or absent"),
        ({"topic": ["t"], "payload": "x"}, "topic must be a string or null"),
    ],
)
def test_a_broken_envelope_is_returned_with_its_problem_not_raised(envelope: dict[str, object], problem: str) -> None:
    line = orjson.dumps(envelope)
    message = parse_line(line, 9)
    assert message is not None
    assert message.problem is not None
    assert message.problem.startswith("line 9: ")
    assert problem in message.problem
    assert "secret" not in message.problem
    assert message.value == line
    assert message.topic == (envelope["topic"] if isinstance(envelope["topic"], str) else None)


def test_envelopes_orjson_refuses_but_json_allows_are_envelopes() -> None:
    surrogate = parse_line(
        b'{"topic": "orders", "partition": 1, "offset": 4, "payload": "{\\"a\\": \\"\\ud800\\"}"}', 1
    )
    assert surrogate is not None
    assert (surrogate.topic, surrogate.partition, surrogate.offset, surrogate.problem) == ("orders", 1, 4, None)
    assert surrogate.value == '{"a": "\ud800"}'.encode("utf-8", "surrogatepass")
    huge = parse_line(b'{"topic": "orders", "offset": 100000000000000000000000, "payload": "{}"}', 2)
    assert huge is not None
    assert huge.topic == "orders"
    assert huge.problem is not None
    assert "offset must be an integer" in huge.problem


def test_binary_keys_and_header_values_round_trip_byte_for_byte() -> None:
    key, encoded = key_text(b"\xff\xfe-id")
    assert encoded
    message = CapturedMessage("p", 3, 9, 7, key, (("trace", b"\x00\x9f"), ("kind", b"text")), b"{}", key_base64=True)
    line = to_envelope(message)
    envelope = orjson.loads(line)
    assert (envelope["key_encoding"], envelope["headers_encoding"]) == ("base64", "base64")
    assert parse_line(line, 1) == message
    parsed = parse_line(line, 1)
    assert parsed is not None
    assert base64.b64decode(parsed.key or "") == b"\xff\xfe-id"
    assert key_text(b"ord-1") == ("ord-1", False)
    assert key_text(None) == (None, False)


def test_check_reports_bad_lines_and_reads_on() -> None:
    """Issue #11 3.6: a lone surrogate escape or a broken envelope no longer stops ``check``."""
    import io
    from pathlib import Path

    from stream_sentinel.cli import run

    root = Path(__file__).resolve().parents[2]
    good = (root / "replay" / "captures" / "orders-mixed.jsonl").read_bytes().splitlines()[:2]
    lines = [
        good[0],
        b'{"topic": "orders", "partition": 0, "offset": 900, "headers": ["event-type", "OrderCreated"], '
        b'"payload": "{\\"order_id\\": \\"\\ud800\\"}"}',
        b'{"topic": "orders", "partition": "x", "offset": 901, "payload": "{}"}',
        good[1],
    ]
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(
        ["check", "--spec", str(root / "spec" / "events"), "--format", "jsonl", "-"],
        io.BytesIO(b"\n".join(lines) + b"\n"),
        stdout,
        stderr,
    )
    assert (code, stderr.getvalue()) == (1, "")
    events = [orjson.loads(line) for line in stdout.getvalue().splitlines()]
    assert [(e["kind"], e["source"]["offset"]) for e in events] == [("undecodable", 900), ("undecodable", 2)]
    assert "surrogates not allowed" not in events[0]["detail"]  # orjson's words, for any bad byte
    assert events[0]["detail"].endswith("a UTF-16 surrogate (U+D800 to U+DFFF), which is not text: invalid UTF-8")
    assert "does not write json" in events[0]["suggested_fix"]
    assert events[1]["suggested_fix"].startswith("fix or re-capture this line")  # not the serializer's fault
    assert events[1]["detail"] == "line 3: partition must be an integer from 0 to 2147483647"
    assert events[1]["sample"] == {"size": len(lines[2])}


def test_an_envelope_without_payload_says_which_keys_were_expected() -> None:
    line = b'{"topic": "orders", "partition": 0, "offset": 3, "payload_b64": "e30=", "jane@example.com": 1}'
    message = parse_line(line, 4)
    assert message is not None
    assert (message.topic, message.offset) == ("orders", 3)
    assert message.problem == (
        'line 4: a kcat -J envelope needs "payload" (a string, null for a tombstone; "payload_encoding": '
        '"base64" for binary) with topic, partition, offset, ts, key, headers; this line has offset, partition, '
        "payload_b64, topic and 1 more"
    )
    raw = parse_line(b'{"topic": "t", "offset": 1, "name": "x"}', 1)  # not all of kcat's keys: a raw payload
    assert raw is not None
    assert raw.problem is None
    assert raw.topic is None
