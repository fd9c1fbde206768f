"""Valid messages of event types a rule reads carry their decoded payload; nothing else changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from stream_sentinel.core.check.validate import Engine

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"


def _engine() -> Engine:
    return Engine.from_spec_dir(str(SPEC))


def test_a_valid_message_a_rule_reads_carries_its_payload() -> None:
    engine = _engine()
    checker = engine.checker("orders")
    assert checker is not None
    plain = checker.check
    value = _order_created()
    headers = [("event-type", b"OrderCreated")]
    assert plain(value, headers).ok
    assert plain(value, headers).payload is None  # the plain path builds nothing
    kept = engine.keeping_check("orders", lambda et: et == "OrderCreated")(value, headers)
    assert kept.ok
    assert kept.payload == orjson.loads(value)
    skipped = engine.keeping_check("orders", lambda et: False)(value, headers)
    assert skipped.payload is None


def test_an_invalid_message_is_returned_as_the_plain_check_returns_it() -> None:
    engine = _engine()
    headers = [("event-type", b"OrderCreated")]
    bad = b'{"order_id": 5}'
    kept = engine.keeping_check("orders", lambda et: True)(bad, headers)
    checker = engine.checker("orders")
    assert checker is not None
    assert kept == checker.check(bad, headers)
    assert kept.violations


def _order_created() -> bytes:
    """The first valid OrderCreated of the bundled captures."""
    capture = SPEC.parents[1] / "replay" / "captures" / "orders-mixed.jsonl"
    checker = _engine().checker("orders")
    assert checker is not None
    for line in capture.read_text().splitlines():
        record = orjson.loads(line)
        if "OrderCreated" in record.get("headers", []):
            value = record["payload"].encode()
            if checker.check(value, [("event-type", b"OrderCreated")]).ok:
                return bytes(value)
    raise AssertionError("no valid OrderCreated in the captures")


def test_an_avro_message_is_decoded_with_the_version_it_passed() -> None:
    import base64

    engine = _engine()
    capture = SPEC.parents[1] / "replay" / "captures" / "payments-avro.jsonl"
    record = orjson.loads(capture.read_text().splitlines()[0])
    value = base64.b64decode(record["payload"])
    names = record["headers"]
    headers = [(names[i], names[i + 1].encode()) for i in range(0, len(names), 2)]
    kept = engine.keeping_check("payments", lambda et: True)(value, headers)
    assert kept.ok
    assert isinstance(kept.payload, dict)
    assert kept.payload["order_id"] == record["key"]


def test_a_confluent_avro_message_is_decoded_after_its_frame_as_the_codec_decodes_it() -> None:
    import base64

    engine = _engine()
    capture = SPEC.parents[1] / "replay" / "captures" / "shipments-confluent.jsonl"
    checker = engine.checker("shipments")
    assert checker is not None
    keep = engine.keeping_check("shipments", lambda et: True)
    kept_any = 0
    for line in capture.read_text().splitlines():
        record = orjson.loads(line)
        value = base64.b64decode(record["payload"])
        kept = keep(value, None)
        assert kept.violations == checker.check(value, None).violations
        if kept.ok:
            # keeping skips the codec's second strict walk: the record is the one decode() builds
            codec = next(v.codec for v in checker.versions() if v.version is kept.version)
            assert codec is not None
            assert kept.payload == codec.decode(value, 5)
            kept_any += 1
    assert kept_any


def _avro_records(name: str) -> list[tuple[bytes, list[tuple[str, bytes]] | None]]:
    import base64

    capture = SPEC.parents[1] / "replay" / "captures" / name
    out = []
    for line in capture.read_text().splitlines():
        record = orjson.loads(line)
        names = record.get("headers") or []
        headers = [(names[i], names[i + 1].encode()) for i in range(0, len(names), 2)] or None
        out.append((base64.b64decode(record["payload"]), headers))
    return out


def test_an_avro_reach_reads_only_those_fields_with_fastavros_values() -> None:
    """One walk reads the fields the rules reach: exactly what fastavro builds there, nothing else."""
    engine = _engine()
    checker = engine.checker("shipments")
    assert checker is not None
    reach = {"order_id": None, "destination": {"city": None}, "parcel_count": None}
    keep = engine.keeping_check("shipments", lambda et: True, lambda et: reach)
    read = 0
    for value, headers in _avro_records("shipments-confluent.jsonl"):
        kept = keep(value, headers)
        assert kept.violations == checker.check(value, headers).violations
        if not kept.ok:
            continue
        codec = next(v.codec for v in checker.versions() if v.version is kept.version)
        assert codec is not None
        full = codec.decode(value, 5)
        assert isinstance(full, dict)
        assert kept.whole is not None
        assert kept.whole() == full  # a sample is built from the whole record
        wanted = {k: full[k] for k in ("order_id", "parcel_count") if k in full}
        if "destination" in full:
            wanted["destination"] = {"city": full["destination"]["city"]}
        assert kept.payload == wanted
        read += 1
    assert read


def test_the_avro_reader_passes_exactly_what_the_check_passes() -> None:
    """Corrupted bytes: the reader never reads what the check refuses, and never refuses what it passes."""
    import random

    from fastavro import parse_schema

    from stream_sentinel.core.check.codecs import AvroCodec

    schema = parse_schema(
        {
            "type": "record",
            "name": "R",
            "fields": [
                {"name": "id", "type": "string"},
                {"name": "n", "type": ["null", "long"]},
                {"name": "flag", "type": "boolean"},
                {"name": "f", "type": "float"},
                {"name": "tags", "type": {"type": "array", "items": "string"}},
                {"name": "attrs", "type": {"type": "map", "values": "int"}},
                {"name": "color", "type": {"type": "enum", "name": "C", "symbols": ["RED", "BLUE"]}},
                {"name": "raw", "type": {"type": "fixed", "name": "F", "size": 2}},
                {"name": "inner", "type": {"type": "record", "name": "I", "fields": [{"name": "x", "type": "int"}]}},
            ],
        }
    )
    codec = AvroCodec(schema)
    whole, part = codec.reader(None), codec.reader({"id": None, "inner": {"x": None}})
    assert whole is not None
    assert part is not None
    import io

    from fastavro import schemaless_writer

    buffer = io.BytesIO()
    datum = {
        "id": "abc",
        "n": 7,
        "flag": True,
        "f": 1.5,
        "tags": ["a", "b"],
        "attrs": {"k": 3},
        "color": "BLUE",
        "raw": b"xy",
        "inner": {"x": -4},
    }
    schemaless_writer(buffer, schema, datum)
    good = buffer.getvalue()
    assert whole(good, 0) == codec.decode(good) == datum
    assert part(good, 0) == {"id": "abc", "inner": {"x": -4}}
    rng = random.Random(5)
    for _ in range(3000):
        data = bytearray(good)
        for _ in range(rng.randrange(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data
        mutated = bytes(data)
        passes = codec.check(mutated) is None
        assert (whole(mutated, 0) is not None) == passes
        assert (part(mutated, 0) is not None) == passes
        if passes:
            assert repr(whole(mutated, 0)) == repr(codec.decode(mutated))  # repr: NaN is not equal to itself


def test_a_logical_type_in_reach_falls_back_to_fastavro() -> None:
    from fastavro import parse_schema

    from stream_sentinel.core.check.codecs import AvroCodec

    schema = parse_schema(
        {
            "type": "record",
            "name": "T",
            "fields": [
                {"name": "id", "type": "string"},
                {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            ],
        }
    )
    codec = AvroCodec(schema)
    assert codec.reader({"at": None}) is None  # fastavro builds a datetime there
    assert codec.reader(None) is None
    assert codec.reader({"id": None}) is not None  # the timestamp is only passed over


def test_an_oversized_avro_message_is_reported_as_the_plain_check_reports_it() -> None:
    engine = Engine.from_spec_dir(str(SPEC), max_payload_bytes=16)
    for name, topic in (("payments-avro.jsonl", "payments"), ("shipments-confluent.jsonl", "shipments")):
        checker = engine.checker(topic)
        assert checker is not None
        keep = engine.keeping_check(topic, lambda et: True, lambda et: {"order_id": None})
        value, headers = _avro_records(name)[0]
        assert len(value) > 16
        kept = keep(value, headers)
        assert kept == checker.check(value, headers)
        assert [v.kind for v in kept.violations] == ["oversized"]


def test_a_negative_block_size_is_refused_by_the_reader_as_by_the_check() -> None:
    from fastavro import parse_schema

    from stream_sentinel.core.check.codecs import AvroCodec

    schema = parse_schema(
        {"type": "record", "name": "R", "fields": [{"name": "arr", "type": {"type": "array", "items": "int"}}]}
    )
    codec = AvroCodec(schema)
    data = bytes([0x01, 0x01, 0x02, 0x00])  # count -1, byte size -1, item 1, end
    assert codec.check(data) is not None
    for reach in (None, {"arr": None}):
        read = codec.reader(reach)
        assert read is not None
        assert read(data, 0) is None


def test_a_json_message_valid_the_long_way_keeps_its_payload_too(tmp_path: Path) -> None:
    """Documented findings (an open schema's strict variant fails) and the slow path keep the payload."""
    import shutil

    spec = tmp_path / "events"
    shutil.copytree(SPEC, spec)
    engine = Engine.from_spec_dir(str(spec))
    value = _order_created()
    keep = engine.keeping_check("orders", lambda et: True)
    # A header value of another type takes the generic path.
    header_lists: list[Any] = [[("event-type", bytearray(b"OrderCreated"))], [("event-type", b"OrderCreated")]]
    for headers in header_lists:
        kept = keep(value, headers)
        assert kept.ok
        assert kept.payload == orjson.loads(value)
