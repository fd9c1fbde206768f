"""Captured message sets: kcat ``-J`` JSON lines, or one raw payload per line.

A line is a kcat envelope when it is a JSON object with a ``payload`` key and at least one of
``topic``/``partition``/``offset``; anything else is a raw payload (so a line of broken JSON is a
raw payload that will be reported as ``undecodable``, which is what a developer wants to see).
An object with all of ``topic``, ``partition`` and ``offset`` but no ``payload`` (``payload_b64``,
say) is a broken envelope: reported with the keys expected and the keys found.

Envelope fields read: ``topic``, ``partition``, ``offset``, ``ts`` (ms), ``key``, ``headers``
(kcat's flat ``[k1, v1, k2, v2]`` list, or a list of pairs / an object), ``payload`` (string,
or null for a tombstone). Binary payloads that kcat cannot print faithfully are stored by
``stream-sentinel capture`` as base64 with ``"payload_encoding": "base64"`` (an extension kcat
ignores); likewise ``"key_encoding"`` for a key and ``"headers_encoding"`` for header values that
are not UTF-8, so a capture replays byte for byte. Raw lines get partition 0 and offset = line
number - 1.

A broken envelope (a field of the wrong type, bad base64, a number out of range) does not stop a
run: the line comes back with ``problem`` set, and the command reports it as ``undecodable`` with
its line number, then reads on. Envelopes are parsed by orjson, and by the standard library for
the JSON orjson refuses (a lone surrogate escape, integers past 64 bits).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Outcome
from stream_sentinel.core.contracts.catalog import TopicContract

_ENVELOPE_KEYS = ("topic", "partition", "offset")


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One Kafka record as captured: coordinates, key, headers and the value bytes."""

    topic: str | None
    partition: int
    offset: int
    timestamp: int | None
    key: str | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes | None
    key_base64: bool = False  # ``key`` holds base64 of a key that is not UTF-8
    problem: str | None = None  # an envelope line that cannot be read: why (``value`` is the line)


class _BadLine(Exception):  # noqa: N818 - a finding about one line, turned into a value
    """Why an envelope line cannot be read; the text names no payload content."""


_MAX_PARTITION = 2**31 - 1
_MAX_OFFSET = 2**63 - 1
_ENCODINGS = (None, "base64")


def _integer(envelope: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = envelope.get(name, default)
    if value is None and default is None:
        return None
    if type(value) is not int or not low <= value <= high:
        raise _BadLine(f"{name} must be an integer from {low} to {high}")
    return value


def _headers(raw: Any, base64_values: bool) -> tuple[tuple[str, bytes], ...]:
    if raw is None:
        return ()
    pairs: Iterable[Any]
    if isinstance(raw, dict):
        pairs = raw.items()
    elif isinstance(raw, list) and all(isinstance(h, list) and len(h) == 2 for h in raw) and raw:
        pairs = raw
    elif isinstance(raw, list) and len(raw) % 2 == 0:
        pairs = zip(raw[0::2], raw[1::2], strict=True)
    else:
        raise _BadLine("headers must be kcat's [k1, v1, k2, v2] list, pairs or an object")
    out = []
    for index, (key, value) in enumerate(pairs):
        if not isinstance(key, str):
            raise _BadLine("header names must be strings")
        if value is None:  # a null header value carries nothing: treated as an absent header
            continue
        if not isinstance(value, str):
            raise _BadLine(f"header {index + 1}: values must be strings or null")
        if base64_values:
            try:
                out.append((key, base64.b64decode(value, validate=True)))
            except (binascii.Error, ValueError):
                raise _BadLine(f"header {index + 1} is not valid base64") from None
        else:
            out.append((key, value.encode("utf-8", "surrogatepass")))
    return tuple(out)


def _envelope(stripped: bytes) -> Any:
    """The line as JSON, or None.

    orjson first (fast); then the standard library for what orjson refuses but JSON allows: lone
    surrogate escapes (backslash-u d800) and integers past 64 bits.
    """
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


def parse_line(line: bytes, line_no: int) -> CapturedMessage | None:
    """Parse one capture line (1-based ``line_no``); ``None`` for a blank line.

    A line that is an envelope but a broken one (wrong types, bad base64, numbers out of range)
    is returned with ``problem`` set, so the run reports it and goes on to the next line.
    """
    stripped = line.rstrip(b"\r\n")
    if not stripped.strip():
        return None
    envelope = _envelope(stripped)
    payload_less = (
        isinstance(envelope, dict) and "payload" not in envelope and all(k in envelope for k in _ENVELOPE_KEYS)
    )
    if not payload_less and not (
        isinstance(envelope, dict) and "payload" in envelope and any(k in envelope for k in _ENVELOPE_KEYS)
    ):
        return CapturedMessage(None, 0, line_no - 1, None, None, (), stripped)
    assert isinstance(envelope, dict)
    topic = envelope.get("topic")
    try:
        if payload_less:  # topic, partition and offset: kcat's, but the value is under another name
            raise _BadLine(_no_payload(envelope))
        return _from_envelope(envelope, line_no)
    except _BadLine as exc:
        return CapturedMessage(
            topic if isinstance(topic, str) else None,
            0,
            line_no - 1,
            None,
            None,
            (),
            stripped,
            problem=f"line {line_no}: {exc}",
        )


_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


def _no_payload(envelope: dict[str, Any]) -> str:
    """Which keys were expected and which the line has (names that look like payload are counted, not shown)."""
    names = sorted(k for k in envelope if isinstance(k, str) and _KEY_NAME.fullmatch(k))
    more = len(envelope) - min(len(names), 8)
    shown = ", ".join(names[:8]) + (f" and {more} more" if more else "")
    return (
        'a kcat -J envelope needs "payload" (a string, null for a tombstone; "payload_encoding": "base64" '
        f"for binary) with topic, partition, offset, ts, key, headers; this line has {shown}"
    )


def _from_envelope(envelope: dict[str, Any], line_no: int) -> CapturedMessage:
    encodings = {name: envelope.get(name) for name in ("payload_encoding", "key_encoding", "headers_encoding")}
    for name, encoding in encodings.items():
        if encoding not in _ENCODINGS:
            raise _BadLine(f"{name} must be base64 or absent")
    topic = envelope.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise _BadLine("topic must be a string or null")
    payload = envelope["payload"]
    value: bytes | None
    if payload is None:
        value = None
    elif not isinstance(payload, str):
        raise _BadLine("payload must be a string or null")
    elif encodings["payload_encoding"] == "base64":
        try:
            value = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise _BadLine("payload is not valid base64") from None
    else:
        value = payload.encode("utf-8", "surrogatepass")
    partition = _integer(envelope, "partition", 0, 0, _MAX_PARTITION)
    offset = _integer(envelope, "offset", line_no - 1, 0, _MAX_OFFSET)
    ts = _integer(envelope, "ts", None, -_MAX_OFFSET - 1, _MAX_OFFSET)
    assert partition is not None
    assert offset is not None
    key = envelope.get("key")
    if key is not None and not isinstance(key, str):
        raise _BadLine("key must be a string or null")
    return CapturedMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=ts,
        key=key,
        headers=_headers(envelope.get("headers"), encodings["headers_encoding"] == "base64"),
        value=value,
        key_base64=encodings["key_encoding"] == "base64",
    )


def problem_outcome(message: CapturedMessage, topic: TopicContract) -> Outcome:
    """The ``undecodable`` outcome of a line that could not be read (``message.problem`` set).

    The sample is the line's size only (its bytes cannot be redacted), as for undecodable payloads.
    """
    line = message.value or b""
    violation = d.Violation(
        d.UNDECODABLE,
        d.BREAKING,
        "",
        "",
        d.ENVELOPE_EXPECTED,
        "bytes",
        f"{len(line)} bytes",
        requirement=topic.requirement,
        owner=topic.owner,
        detail=message.problem or "unreadable line",
    )
    return Outcome(None, None, (violation,), raw=line)


def read_capture(lines: Iterable[bytes]) -> Iterator[CapturedMessage]:
    """Stream messages from capture lines in constant memory."""
    for line_no, line in enumerate(lines, start=1):
        message = parse_line(line, line_no)
        if message is not None:
            yield message


def _header_parts(headers: tuple[tuple[str, bytes], ...], record: dict[str, Any]) -> list[str]:
    """The flat header list of kcat; all values base64 (and marked) if any is not UTF-8."""
    try:
        return [part for key, value in headers for part in (key, value.decode("utf-8"))]
    except UnicodeDecodeError:
        record["headers_encoding"] = "base64"
        return [part for key, value in headers for part in (key, base64.b64encode(value).decode("ascii"))]


def key_text(key: bytes | None) -> tuple[str | None, bool]:
    """A record key as capture text: UTF-8 as is, anything else base64 (second item True)."""
    if key is None:
        return None, False
    try:
        return key.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(key).decode("ascii"), True


def to_envelope(message: CapturedMessage) -> bytes:
    """The kcat ``-J`` line for a message (base64 for values that are not UTF-8 text)."""
    record: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "tstype": "create",
        "ts": message.timestamp,
        "broker": -1,
        "headers": [],
        "key": message.key,
    }
    record["headers"] = _header_parts(message.headers, record)
    if message.key_base64:
        record["key_encoding"] = "base64"
    if message.value is None:
        record["payload"] = None
    else:
        try:
            record["payload"] = message.value.decode("utf-8")
        except UnicodeDecodeError:
            record["payload"] = base64.b64encode(message.value).decode("ascii")
            record["payload_encoding"] = "base64"
    return orjson.dumps(record)
