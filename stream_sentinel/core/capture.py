"""Captured message sets: kcat ``-J`` JSON lines, or one raw payload per line.

A line is a kcat envelope when it is a JSON object with a ``payload`` key and at least one of
``topic``/``partition``/``offset``; anything else is a raw payload (so a line of broken JSON is a
raw payload that will be reported as ``undecodable``, which is what a developer wants to see).

Envelope fields read: ``topic``, ``partition``, ``offset``, ``ts`` (ms), ``key``, ``headers``
(kcat's flat ``[k1, v1, k2, v2]`` list, or a list of pairs / an object), ``payload`` (string,
or null for a tombstone). Binary payloads that kcat cannot print faithfully are stored by
``stream-sentinel capture`` as base64 with ``"payload_encoding": "base64"`` (an extension kcat
ignores); likewise ``"key_encoding"`` for a key and ``"headers_encoding"`` for header values that
are not UTF-8, so a capture replays byte for byte. Raw lines get partition 0 and offset = line
number - 1.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from stream_sentinel.core.errors import UsageError

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


def _headers(raw: Any, line_no: int, base64_values: bool = False) -> tuple[tuple[str, bytes], ...]:
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
        raise UsageError(f"line {line_no}: headers must be kcat's [k1, v1, k2, v2] list, pairs or an object")
    out = []
    for key, value in pairs:
        if not isinstance(key, str):
            raise UsageError(f"line {line_no}: header names must be strings")
        if value is None:  # a null header value carries nothing: treated as an absent header
            continue
        if base64_values:
            try:
                out.append((key, base64.b64decode(str(value), validate=True)))
            except (binascii.Error, ValueError) as exc:
                raise UsageError(f"line {line_no}: header {key!r} is not valid base64: {exc}") from exc
        else:
            out.append((key, str(value).encode("utf-8", "surrogateescape")))
    return tuple(out)


def parse_line(line: bytes, line_no: int) -> CapturedMessage | None:
    """Parse one capture line (1-based ``line_no``); ``None`` for a blank line."""
    stripped = line.rstrip(b"\r\n")
    if not stripped.strip():
        return None
    try:
        envelope = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        envelope = None
    if not (isinstance(envelope, dict) and "payload" in envelope and any(k in envelope for k in _ENVELOPE_KEYS)):
        return CapturedMessage(None, 0, line_no - 1, None, None, (), stripped)
    payload = envelope["payload"]
    value: bytes | None
    if payload is None:
        value = None
    elif not isinstance(payload, str):
        raise UsageError(f"line {line_no}: payload must be a string or null")
    elif envelope.get("payload_encoding") == "base64":
        try:
            value = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UsageError(f"line {line_no}: payload is not valid base64: {exc}") from exc
    else:
        value = payload.encode("utf-8", "surrogatepass")
    partition, offset, ts = (
        envelope.get("partition", 0),
        envelope.get("offset", line_no - 1),
        envelope.get("ts"),
    )
    if not isinstance(partition, int) or not isinstance(offset, int) or not (ts is None or isinstance(ts, int)):
        raise UsageError(f"line {line_no}: partition, offset and ts must be integers")
    key = envelope.get("key")
    topic = envelope.get("topic")
    return CapturedMessage(
        topic=topic if isinstance(topic, str) else None,
        partition=partition,
        offset=offset,
        timestamp=ts,
        key=None if key is None else str(key),
        headers=_headers(envelope.get("headers"), line_no, envelope.get("headers_encoding") == "base64"),
        value=value,
        key_base64=envelope.get("key_encoding") == "base64",
    )


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
