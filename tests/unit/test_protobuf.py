"""Protobuf contracts: loading .proto files, the protobuf/confluent-protobuf checks, annotations, diff."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import message_factory

from stream_sentinel.cli import run
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.proto import encode_indexes, message_indexes
from stream_sentinel.core.check.validate import Engine, load_engine
from stream_sentinel.core.compat.catalog import compare_catalogs
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
RES_H = [("event-type", b"StockReserved")]
REL_H = [("event-type", b"StockReleased")]

PROTO = """syntax = "proto3";
package t.v1;
import "google/protobuf/struct.proto";
import "common/money.proto";

// x-owner: team-t
message Order {
  enum Status { STATUS_UNSPECIFIED = 0; OPEN = 1; }
  message Item {
    string sku = 1;
    // x-requirement: REQ-T-2
    int32 qty = 2;
  }
  string id = 1;
  // x-pii
  string email = 2;
  Status status = 3;
  repeated Item items = 4;
  map<string, Item> by_sku = 5;
  google.protobuf.Struct extra = 6;
  t.common.Money total = 7;
  oneof who { string user = 8; string bot = 9; }
}
"""
MONEY = """syntax = "proto3";
package t.common;
message Money { int64 cents = 1; string currency = 2; }
"""


def make_spec(tmp_path: Path, proto: str = PROTO, fmt: str = "protobuf", message: str | None = "t.v1.Order") -> Path:
    files = {"t/order.v1.proto": proto, "common/money.proto": MONEY}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    version: dict[str, Any] = {"version": 1, "schema": "t/order.v1.proto"}
    if message is not None:
        version["message"] = message
    topic: dict[str, Any] = {"owner": "team-topic", "format": fmt, "event_type": {"fixed": "Order"}}
    if fmt == "confluent-protobuf":
        version["schema_id"] = 7
        topic["event_type"] = {"schema_id": True}
    topic["events"] = {"Order": {"requirement": "REQ-T-1", "versions": [version]}}
    catalog = {"catalog": 1, "topics": {"t": topic}}
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    return tmp_path


def order_class(engine: Engine) -> Any:
    protos = engine.catalog.protos
    assert protos is not None
    return message_factory.GetMessageClass(protos.message("t.v1.Order"))


# -- loading ---------------------------------------------------------------------------------------


def test_example_spec_compiles_imports_nested_messages_maps_oneofs_and_well_known_types() -> None:
    catalog = load_catalog(SPEC)
    assert catalog.protos is not None
    version = catalog.topics["inventory.reservations"].events["StockReleased"].newest
    assert version.kind == "protobuf"
    assert version.message == "acme.inventory.v1.StockReleased"  # the file's only message, not named
    desc = catalog.protos.message("acme.inventory.v1.StockReserved.Line")
    assert catalog.protos.indexes(desc) == (0, 0)
    assert catalog.protos.notes["acme.inventory.v1.StockReserved.customer_email"].pii


def test_proto_syntax_error_is_a_spec_error_at_file_line_and_column(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, PROTO.replace("string id = 1;", "strin id = 1;"))
    with pytest.raises(SpecError) as caught:
        load_catalog(spec)
    assert caught.value.file == "t/order.v1.proto"
    assert caught.value.pointer.startswith("/line/")
    assert "strin" in caught.value.cause


def test_cli_reports_a_bad_proto_in_one_line_with_exit_2(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, PROTO.replace('import "common/money.proto";', 'import "common/nope.proto";'))
    err = io.StringIO()
    code = run(["check", "--spec", str(spec), "/dev/null"], io.BytesIO(), io.StringIO(), err)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert "t/order.v1.proto#/line/" in lines[0] or "common/nope.proto" in lines[0]
    assert "Traceback" not in err.getvalue()


def test_catalog_message_must_exist_in_that_file(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, message="t.common.Money")
    with pytest.raises(SpecError, match=r"declared in common/money\.proto") as caught:
        load_catalog(spec)
    assert caught.value.pointer == "/topics/t/events/Order/versions/0/message"


def test_a_file_with_several_messages_needs_message_named(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, PROTO + "message Other { string x = 1; }\n", message=None)
    with pytest.raises(SpecError, match="2 top-level messages"):
        load_catalog(spec)


def test_an_annotation_without_value_is_a_spec_error(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, PROTO.replace("// x-owner: team-t", "// x-owner:"))
    with pytest.raises(SpecError, match="x-owner needs a value") as caught:
        load_catalog(spec)
    assert caught.value.pointer == "/Order"


# -- checking --------------------------------------------------------------------------------------


def _check(engine: Engine, value: bytes, topic: str = "t") -> Any:
    checker = engine.checker(topic)
    assert checker is not None
    return checker.check(value, None)


def test_valid_message_is_valid_and_non_canonical_order_too(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path)))
    cls = order_class(engine)
    msg = cls(id="o1", email="a@b.c", status=1, user="u")
    msg.items.add(sku="S", qty=2)
    msg.by_sku["S"].qty = 1
    msg.extra.update({"k": "v"})
    assert _check(engine, msg.SerializeToString()).ok
    swapped = cls(status=1).SerializeToString() + cls(id="o1").SerializeToString()  # field 3 before 1
    assert _check(engine, swapped).ok


def test_REQ_T_1_unknown_field_is_undocumented_info_with_field_number_path(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path)))
    outcome = _check(engine, order_class(engine)(id="o1").SerializeToString() + b"\xa0\x06\x01")  # field 100
    (violation,) = outcome.violations
    assert (violation.kind, violation.severity, violation.path) == (d.UNDOCUMENTED_FIELD, d.INFO, "/100")
    assert violation.requirement == "REQ-T-1"
    assert violation.owner == "team-t"  # the message's comment is nearer than the topic's owner


def test_REQ_T_1_unknown_value_of_an_open_enum_is_a_constraint(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path)))
    (violation,) = _check(engine, order_class(engine)(status=5).SerializeToString()).violations
    assert (violation.kind, violation.path, violation.actual_value) == (d.CONSTRAINT, "/status", "5")


def test_REQ_T_2_nested_type_mismatch_takes_the_nearest_requirement(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path)))
    item = b"\x0a\x01S\x12\x01x"  # sku "S", qty as length-delimited
    outcome = _check(engine, b"\x22" + bytes([len(item)]) + item)
    (violation,) = outcome.violations
    assert (violation.kind, violation.path, violation.rule_path) == (d.TYPE_MISMATCH, "/items/0/qty", "/items/*/qty")
    assert violation.requirement == "REQ-T-2"


def test_proto2_required_missing_and_closed_enum(tmp_path: Path) -> None:
    engine = load_engine(str(SPEC))
    checker = engine.checker("inventory.reservations")
    assert checker is not None
    protos = engine.catalog.protos
    assert protos is not None
    released = message_factory.GetMessageClass(protos.message("acme.inventory.v1.StockReleased"))
    outcome = checker.check(released(release_id="r").SerializePartialToString(), REL_H)
    assert [(v.kind, v.path) for v in outcome.violations] == [(d.MISSING_REQUIRED, "/reservation_id")]
    closed = released(release_id="r", reservation_id="s").SerializeToString() + b"\x18\x09"
    outcome = checker.check(closed, REL_H)
    assert [(v.kind, v.path, v.actual_value) for v in outcome.violations] == [(d.CONSTRAINT, "/cause", "9")]


def test_garbage_is_undecodable(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path)))
    (violation,) = _check(engine, b"\xff\xff\xff").violations
    assert violation.kind == d.UNDECODABLE


def test_sample_redacts_pii_and_free_form_structs(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path)))
    msg = order_class(engine)(id="o1", email="a@b.c", status=7)
    msg.extra.update({"secret": "x"})
    msg.items.add(sku="S", qty=1)
    sample = _check(engine, msg.SerializeToString()).sample()
    assert sample["email"] == "[REDACTED]"
    assert sample["extra"] == "[REDACTED]"
    assert sample["id"] == "o1"
    assert sample["items"] == [{"sku": "S", "qty": 1}]
    assert engine.shows("t", "Order", ("id",))
    assert not engine.shows("t", "Order", ("email",))
    assert not engine.shows("t", "Order", ())  # the root holds PII below it


# -- Confluent framing -----------------------------------------------------------------------------


def test_message_index_array_encoding() -> None:
    assert encode_indexes((0,)) == b"\x00"
    assert encode_indexes((1, 0)) == b"\x04\x02\x00"
    head = b"\x00\x00\x00\x00\x07"
    assert message_indexes(head + b"\x00rest") == ((0,), 6)
    assert message_indexes(head + b"\x04\x02\x00rest") == ((1, 0), 8)
    assert not isinstance(message_indexes(head + b"\x04\x02"), tuple)


def test_confluent_protobuf_frames(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path, fmt="confluent-protobuf")))
    body = order_class(engine)(id="o1").SerializeToString()
    head = b"\x00" + (7).to_bytes(4, "big")
    assert _check(engine, head + b"\x00" + body).ok
    assert _check(engine, head + b"\x02\x00" + body).ok  # [0] written in full
    (mismatch,) = _check(engine, head + b"\x02\x02" + body).violations
    assert mismatch.kind == d.SCHEMA_MISMATCH
    (unknown,) = _check(engine, b"\x00" + (8).to_bytes(4, "big") + b"\x00" + body).violations
    assert unknown.kind == d.UNKNOWN_SCHEMA_ID
    (short,) = _check(engine, head).violations
    assert short.kind == d.UNDECODABLE


# -- diff --------------------------------------------------------------------------------------------


def _diff(tmp_path: Path, old: str, new: str) -> dict[str, bool]:
    before = load_catalog(make_spec(tmp_path / "old", old))
    after = load_catalog(make_spec(tmp_path / "new", new))
    return {c.kind: c.breaking for c in compare_catalogs(before, after) if c.kind.startswith("proto_")}


@pytest.mark.parametrize(
    ("edit", "kind", "breaking"),
    [
        (("string id = 1;", "string id = 1; string note = 20;"), "proto_field_added", False),
        (("string id = 1;", ""), "proto_field_deleted", True),
        (("string id = 1;", "reserved 1;"), "proto_field_deleted_reserved", False),
        (("string id = 1;", "bytes id = 1;"), "proto_field_type_widened", False),
        (("string id = 1;", "int64 id = 1;"), "proto_field_type_changed", True),
        (("string id = 1;", "string id = 30;"), "proto_field_number_changed", True),
        (("string id = 1;", "string order_id = 1;"), "proto_field_renamed", False),
        (("string id = 1;", "repeated string id = 1;"), "proto_field_label_changed", True),
        (("OPEN = 1;", "OPEN = 1; CLOSED = 2;"), "proto_enum_value_added", False),
        (("OPEN = 1;", ""), "proto_enum_value_deleted", True),
        (("oneof who { string user = 8;", "string user = 8; oneof who {"), "proto_field_oneof_changed", True),
    ],
)
def test_diff_of_proto_edits(tmp_path: Path, edit: tuple[str, str], kind: str, breaking: bool) -> None:
    found = _diff(tmp_path, PROTO, PROTO.replace(*edit))
    assert kind in found, found
    assert found[kind] is breaking


def test_keeping_hands_rules_the_decoded_message(tmp_path: Path) -> None:
    engine = load_engine(str(make_spec(tmp_path, fmt="confluent-protobuf")))
    keep = engine.keeping_check("t", lambda event_type: event_type == "Order")
    body = order_class(engine)(id="o1", status=1).SerializeToString()
    outcome = keep(b"\x00" + (7).to_bytes(4, "big") + b"\x00" + body, None)
    assert outcome.ok
    assert outcome.payload == {"id": "o1", "status": "OPEN"}
    plain = engine.checker("t")
    assert plain is not None
    assert plain.check(b"\x00" + (7).to_bytes(4, "big") + b"\x00" + body, None).payload is None
