"""Capture lines: kcat -J envelopes, raw payloads, base64 binaries, tombstones."""

from __future__ import annotations

import base64

import orjson
import pytest

from stream_sentinel.core.capture import CapturedMessage, key_text, parse_line, read_capture, to_envelope
from stream_sentinel.core.errors import UsageError


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
    "envelope",
    [
        {"topic": "t", "payload": "!!", "payload_encoding": "base64"},
        {"topic": "t", "payload": 5},
        {"topic": "t", "payload": "x", "offset": "7"},
        {"topic": "t", "payload": "x", "headers": ["only-a-name"]},
    ],
)
def test_broken_envelopes_are_usage_errors_with_line_numbers(envelope: dict[str, object]) -> None:
    with pytest.raises(UsageError, match="line 9"):
        parse_line(orjson.dumps(envelope), 9)


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
