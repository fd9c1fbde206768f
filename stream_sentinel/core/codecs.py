"""Bytes -> payload, or a ``DecodeFailure`` value. Never an exception out of this module.

The JSON fast path (``orjson.loads``) is inlined by the checker; this module classifies its
failures, holds the framing and Avro helpers, and turns every way of failing into a classified,
human-readable value. Decoder messages are kept free of payload content (orjson and fastavro
report positions, not values), because they end up in drift events.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any

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
        reason = str(exc)[:_MAX_REASON] or "unexpected end of data"
        return DecodeFailure("undecodable", f"not decodable as Avro: {type(exc).__name__}: {reason}")
    left = len(data) - buffer.tell()
    if left:
        return DecodeFailure(
            "schema_mismatch",
            f"decoded with the contract's schema but {left} of {len(data) - start} bytes were left over",
        )
    return record
