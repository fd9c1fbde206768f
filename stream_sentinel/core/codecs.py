"""Bytes -> payload, or a ``DecodeFailure`` value. Never an exception out of this module.

The JSON fast path (``orjson.loads``) is inlined by the checker; this module classifies its
failures, holds the framing and Avro helpers, and turns every way of failing into a classified,
human-readable value. Failure texts are kept free of payload content because they end up in
drift events: orjson's messages are fixed texts with a position; fastavro's are replaced by a
fixed text per exception type (``avro_reason``), since some carry derived values.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final

from fastavro import schemaless_reader

CONFLUENT_MAGIC = 0
CONFLUENT_HEADER = 5  # magic byte + 4-byte big-endian schema id
_MAX_REASON = 160


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why a message could not be turned into a payload.

    ``kind`` is a drift kind: ``undecodable`` (not the declared format at all),
    ``schema_mismatch`` (Avro decoded but bytes were left over: another writer schema) or
    ``unknown_schema_id`` (Confluent framing names a schema the catalog does not have).
    """

    kind: str
    reason: str
    schema_id: int | None = None


def json_failure(data: bytes | memoryview, exc: Exception) -> DecodeFailure:
    """Classify an ``orjson.loads`` failure."""
    if len(data) == 0:
        return DecodeFailure("undecodable", "empty payload (0 bytes; a deleted key would be a null tombstone)")
    text = str(exc)
    if "depth limit" in text:
        text = f"nesting deeper than 1024 levels ({text})"
    elif "NaN" in text or "Infinity" in text:
        text = f"NaN/Infinity are not JSON ({text})"
    return DecodeFailure("undecodable", "not valid JSON: " + text[:_MAX_REASON])


def confluent_schema_id(data: bytes) -> int | DecodeFailure:
    """Schema id of a Confluent-framed message, or why the frame is not one."""
    if len(data) < CONFLUENT_HEADER:
        return DecodeFailure(
            "undecodable",
            f"{len(data)} bytes is too short for the Confluent wire format (magic byte + 4-byte schema id)",
        )
    if data[0] != CONFLUENT_MAGIC:
        return DecodeFailure(
            "undecodable",
            f"wrong magic byte 0x{data[0]:02x}; the Confluent wire format starts with 0x00",
        )
    return int.from_bytes(data[1:CONFLUENT_HEADER], "big")


# Fixed texts by exception type. The decoder's own message is never used: it carries values
# derived from the payload ("year 10183 is out of range" for an x-pii date, the offending byte of
# a bad string, object addresses), and no field-level redaction applies to a decode failure.
_AVRO_REASONS: Final = (
    (EOFError, "unexpected end of data"),
    (UnicodeDecodeError, "a string is not valid UTF-8"),
    (OverflowError, "a value is out of range for its type (an integer, date or timestamp)"),
    (IndexError, "an enum symbol or union branch index is out of range"),
    (ValueError, "a value is out of range for its type (a date, time or decimal logical type)"),
    (MemoryError, "a length prefix is larger than the data"),
)


def avro_reason(exc: BaseException) -> str:
    """Why fastavro failed, in words that carry nothing of the payload."""
    for kind, reason in _AVRO_REASONS:
        if isinstance(exc, kind):
            return reason
    return "the decoder rejected the data"


def decode_avro(data: bytes, parsed_schema: Any, start: int = 0) -> Any | DecodeFailure:
    """Decode one schemaless Avro datum that must use exactly the bytes given.

    Leftover bytes mean the writer used a different schema (typically one with more fields):
    that is ``schema_mismatch``, not success, or a producer's upgrade would go unnoticed.
    """
    buffer = BytesIO(data)
    if start:
        buffer.seek(start)
    try:
        record = schemaless_reader(buffer, parsed_schema, None)
    except Exception as exc:  # noqa: BLE001 - fastavro raises many types on corrupt input; all mean "undecodable"
        return DecodeFailure("undecodable", f"not decodable as Avro: {type(exc).__name__}: {avro_reason(exc)}")
    left = len(data) - buffer.tell()
    if left:
        return DecodeFailure(
            "schema_mismatch",
            f"decoded with the contract's schema but {left} of {len(data) - start} bytes were left over",
        )
    return record
