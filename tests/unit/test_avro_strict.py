"""Corrupt Avro that fastavro reads leniently is ``undecodable``, named by field, with no payload.

fastavro wraps longs past 64 bits, reads boolean bytes 2-255 as true, counts negative enum and
union indexes from the end and never checks an array block's byte size. The strict check in
``codecs.AvroCodec`` refuses all of these; valid data of every example schema still passes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fastavro
import fastavro.utils
import pytest

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.codecs import AvroCodec, DecodeFailure, decode_avro
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.contracts.catalog import parse_avro

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
PAY = [("event-type", b"PaymentAuthorized"), ("schema-version", b"2")]


@pytest.fixture(scope="module")
def example() -> Engine:
    return Engine.from_spec_dir(str(SPEC))


def zigzag(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def text(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return zigzag(len(raw)) + raw


SECRET = "Jane Q. Cardholder"


def payment(**raw: bytes) -> bytes:
    """PaymentAuthorized v2 bytes, field by field; ``raw`` replaces a field's encoding."""
    fields = {
        "payment_id": text("pay_abcdefghijkl"),
        "order_id": text("ord_abcdefghijkl"),
        "amount_cents": zigzag(1250),
        "currency": zigzag(0),
        "card_brand": zigzag(1),
        "card_last4": text("4242"),
        "cardholder_name": text(SECRET),
        "authorized_at": zigzag(1_763_632_800_000),
        "three_ds_verified": b"\x01",
    }
    fields.update(raw)
    return b"".join(fields.values())


def test_the_hand_built_payment_is_valid(example: Engine) -> None:
    checker = example.checker("payments")
    assert checker is not None
    assert checker.check(payment(), PAY).ok


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ({"three_ds_verified": b"\x02"}, "a boolean byte is neither 0 nor 1 at /three_ds_verified"),
        ({"three_ds_verified": b"\xff"}, "a boolean byte is neither 0 nor 1 at /three_ds_verified"),
        ({"card_brand": zigzag(-1)}, "negative enum index at /card_brand"),
        ({"card_brand": zigzag(3)}, "enum index past the last of its 3 symbols at /card_brand"),
        ({"currency": zigzag(-4)}, "negative enum index at /amount/currency"),
        ({"amount_cents": b"\xff" * 10 + b"\x01"}, "a long is longer than 10 bytes at /amount/amount_cents"),
        ({"amount_cents": b"\xff" * 9 + b"\x7f"}, "a long does not fit in 64 bits at /amount/amount_cents"),
        ({"cardholder_name": zigzag(-3) + b"abc"}, "negative string length at /cardholder_name"),
        ({"cardholder_name": text(b"Jane \xff\xfe")}, "a string is not valid UTF-8 at /cardholder_name"),
        ({"cardholder_name": text(b"J\xed\xa0\x80")}, "a string is not valid UTF-8 at /cardholder_name"),
        ({"authorized_at": zigzag(2**62)}, "timestamp-millis out of range at /authorized_at"),
    ],
    ids=[
        "bool-2",
        "bool-255",
        "enum-negative",
        "enum-past-end",
        "nested-enum-negative",
        "long-11-bytes",
        "long-overflow",
        "string-negative-length",
        "string-bad-utf8",
        "string-lone-surrogate",
        "timestamp-out-of-range",
    ],
)
def test_corrupt_avro_is_undecodable_naming_the_field(example: Engine, raw: dict[str, bytes], detail: str) -> None:
    checker = example.checker("payments")
    assert checker is not None
    value = payment(**raw)
    outcome = checker.check(value, PAY)
    assert [v.kind for v in outcome.violations] == [d.UNDECODABLE]
    assert outcome.violations[0].detail == "not decodable as Avro: " + detail
    events = outcome.drift_events(d.Source("payments", 0, 0), "avro")
    rendered = repr([e.to_dict() for e in events])
    assert "Jane" not in rendered


def test_confluent_framed_avro_is_checked_strictly_too(example: Engine) -> None:
    checker = example.checker("shipments")
    assert checker is not None
    version = example.catalog.topics["shipments"].events["ShipmentDispatched"].newest
    assert version.schema_id is not None
    framed = b"\x00" + version.schema_id.to_bytes(4, "big")
    parsed = parse_avro(version, example.catalog.avro_documents)
    record = fastavro.utils.generate_one(parsed)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    assert checker.check(framed + buffer.getvalue(), None).ok
    corrupt = framed + b"\xff" * 11 + buffer.getvalue()[1:]
    outcome = checker.check(corrupt, None)
    assert [v.kind for v in outcome.violations] == [d.UNDECODABLE]


def codec(schema: Any) -> AvroCodec:
    return AvroCodec(fastavro.parse_schema(schema))


def record_of(field_type: Any) -> dict[str, Any]:
    return {"type": "record", "name": "R", "fields": [{"name": "f", "type": field_type}]}


@pytest.mark.parametrize(
    ("field_type", "data", "reason"),
    [
        (["null", "string"], zigzag(-1) + text("a"), "negative union branch index at /f"),
        (["null", "string"], zigzag(2), "union branch index past the last of its 2 branches at /f"),
        ("int", b"\x80\x80\x80\x80\x80\x01", "an int is longer than 5 bytes at /f"),
        ("int", b"\xfe\xff\xff\xff\x1f", "an int does not fit in 32 bits at /f"),
        ("bytes", zigzag(-2) + b"ab", "negative bytes length at /f"),
        ("string", zigzag(16) + b"ab", "the string length runs past the end of the data at /f"),
        # count -2 (a block with its byte size), size 3, but the two items take 2 bytes
        ({"type": "array", "items": "int"}, zigzag(-2) + zigzag(3) + b"\x02\x04\x00", "array block size"),
        ({"type": "array", "items": "int"}, zigzag(-2) + zigzag(-1) + b"\x02\x04\x00", "negative array block size"),
        (
            {"type": "array", "items": "boolean"},
            zigzag(2) + b"\x01\x07\x00",
            "a boolean byte is neither 0 nor 1 at /f/1",
        ),
        ({"type": "map", "values": "boolean"}, zigzag(1) + text("secret-key") + b"\x09\x00", "at /f/*"),
        ({"type": "map", "values": "int"}, zigzag(-1) + zigzag(2) + text("k") + b"\x02\x00", "map block size"),
        ({"type": "int", "logicalType": "date"}, zigzag(3_000_000), "date out of range at /f"),
        ({"type": "int", "logicalType": "time-millis"}, zigzag(-1000), "time-millis out of range at /f"),
        ({"type": "string", "logicalType": "uuid"}, text("not-a-uuid"), "uuid is not a UUID at /f"),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 2},
            text(b"\x03\xe8"),
            "more digits than its precision",
        ),
        ("float", b"\x01", "the data ends inside a float at /f"),
        ("long", b"", "the data ends early at /f"),
    ],
)
def test_strict_check_refuses_what_fastavro_lets_through(field_type: Any, data: bytes, reason: str) -> None:
    failure = codec(record_of(field_type)).check(data)
    assert isinstance(failure, DecodeFailure)
    assert failure.kind == "undecodable"
    assert reason in failure.reason
    assert "secret" not in failure.reason


def test_legal_block_encodings_pass() -> None:
    array = codec({"type": "array", "items": "int"})
    # count -2 with byte size 2, then count 1, then the end: legal Avro (Java's blocking encoder).
    data = zigzag(-2) + zigzag(2) + b"\x02\x04" + zigzag(1) + b"\x06" + b"\x00"
    assert array.check(data) is None
    assert array.decode(data) == [1, 2, 3]
    assert codec("long").decode(b"\xfe" + b"\xff" * 8 + b"\x01") == 2**63 - 1
    assert codec("long").decode(b"\xff" * 9 + b"\x01") == -(2**63)
    assert codec("int").decode(b"\xfe\xff\xff\xff\x0f") == 2**31 - 1


@pytest.mark.timeout(10)
def test_a_block_count_of_zero_byte_items_cannot_spin() -> None:
    nulls = codec({"type": "array", "items": "null"})
    failure = nulls.check(zigzag(2**62) + b"\x00")
    assert isinstance(failure, DecodeFailure)
    assert "array block count exceeds the bytes left" in failure.reason


def test_recursive_types_and_deep_nesting() -> None:
    linked = codec({"type": "record", "name": "L", "fields": [{"name": "n", "type": ["null", "L"]}]})
    assert linked.decode(b"\x02\x02\x00") == {"n": {"n": {"n": None}}}
    deep = linked.check(b"\x02" * 100_000 + b"\x00")
    assert isinstance(deep, DecodeFailure)
    assert "nested too deeply" in deep.reason


def test_decoder_messages_carry_no_object_addresses() -> None:
    failure = decode_avro(b"\x01", fastavro.parse_schema("float"))
    assert isinstance(failure, DecodeFailure)
    assert " at 0x" not in failure.reason
    assert failure.reason == "not decodable as Avro: the data ends inside a float"


def test_every_example_schema_accepts_what_fastavro_writes(example: Engine) -> None:
    """The strict check is never stricter than the writer: generated data of every version passes."""
    for version in example.catalog.versions():
        if version.kind != "avro":
            continue
        parsed = parse_avro(version, example.catalog.avro_documents)
        strict = AvroCodec(parsed)
        for record in fastavro.utils.generate_many(parsed, 200):
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, parsed, record)
            data = buffer.getvalue()
            assert strict.check(data) is None, (version.ref, record)
            assert strict.decode(data) == fastavro.schemaless_reader(io.BytesIO(data), parsed, None)


def test_a_top_level_union_of_referenced_types_is_checked(spec_factory: Any) -> None:
    root = spec_factory({"pay/auth.v2.avsc": ["null", "com.acme.common.Money"]})
    checker = Engine.from_spec_dir(str(root)).checker("payments")
    assert checker is not None
    headers = [("event-type", b"PaymentAuthorized"), ("schema-version", b"2")]
    assert checker.check(b"\x02" + zigzag(5) + text("EUR"), headers).ok
    outcome = checker.check(b"\x02" + zigzag(5) + text(b"\xff"), headers)
    assert [v.detail for v in outcome.violations] == ["not decodable as Avro: a string is not valid UTF-8 at /currency"]


def test_the_check_is_never_more_lenient_than_fastavro(example: Engine) -> None:
    """Random byte edits of valid data: whatever the check passes, fastavro reads to the last byte."""
    import random

    rng = random.Random(11)
    for version in example.catalog.versions():
        if version.kind != "avro":
            continue
        parsed = parse_avro(version, example.catalog.avro_documents)
        strict = AvroCodec(parsed)
        for record in fastavro.utils.generate_many(parsed, 60):
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, parsed, record)
            for _ in range(10):
                edited = bytearray(buffer.getvalue())
                at = rng.randrange(len(edited))
                roll = rng.random()
                if roll < 0.6:
                    edited[at] = rng.randrange(256)
                elif roll < 0.8:
                    edited.insert(at, rng.randrange(256))
                else:
                    del edited[at]
                data = bytes(edited)
                if strict.check(data) is not None:
                    continue
                reader = io.BytesIO(data)
                fastavro.schemaless_reader(reader, parsed, None)
                assert reader.tell() == len(data), (version.ref, data.hex())


def test_a_truncated_or_corrupt_avro_payload_gets_its_own_fix_naming_the_field(example: Engine) -> None:
    checker = example.checker("payments")
    assert checker is not None
    whole = payment()
    cut = checker.check(whole[: len(whole) // 2], PAY)
    (violation,) = cut.violations
    assert violation.kind == d.UNDECODABLE
    assert violation.detail is not None
    assert violation.detail.startswith("not decodable as Avro: ")
    assert " at /" in violation.detail  # the field being read when the bytes ran out
    (event,) = cut.drift_events(d.Source("payments", 0, 0), "avro")
    assert "cut short" in event.suggested_fix
    assert "does not write avro" not in event.suggested_fix
    corrupt = checker.check(payment(three_ds_verified=b"\x02"), PAY)
    (event,) = corrupt.drift_events(d.Source("payments", 0, 0), "avro")
    assert "damaged" in event.suggested_fix
    assert "does not write avro" not in event.suggested_fix
