"""Shared pieces of the Schema Registry tests: a spec with a registry: section and framed messages.

The registry is ``stream_sentinel.testing_registry.FakeRegistry`` on loopback (no real registry
can be installed here); the spec is a copy of ``spec/events`` with a ``registry:`` section.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import fastavro
import yaml

from stream_sentinel.testing_registry import FakeRegistry

EXAMPLE_SPEC = Path(__file__).resolve().parents[1] / "spec" / "events"
ADDRESS_SUBJECT = "com.acme.common.Address"
DISPATCHED_SUBJECT = "shipments-com.acme.logistics.ShipmentDispatched"


def spec_with_registry(tmp: Path, url: str, **registry: Any) -> Path:
    """A copy of the example spec whose catalog has ``registry: {url, ...}``."""
    root = tmp / "spec"
    shutil.copytree(EXAMPLE_SPEC, root)
    catalog = yaml.safe_load((root / "catalog.yaml").read_text())
    catalog["registry"] = {"url": url, "timeout": 2, **registry}
    (root / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    return root


def example(ref: str) -> dict[str, Any]:
    """An example schema document."""
    doc: dict[str, Any] = json.loads((EXAMPLE_SPEC / ref).read_text())
    return doc


def dispatched_without(field: str, extra: str | None = None) -> dict[str, Any]:
    """ShipmentDispatched v2 as a producer might register it: ``field`` dropped, ``extra`` added."""
    doc = example("shipments/shipment-dispatched.v2.avsc")
    doc["fields"] = [f for f in doc["fields"] if f["name"] != field]
    if extra is not None:
        doc["fields"].append({"name": extra, "type": "string"})
    return doc


def register_dispatched(registry: FakeRegistry, doc: dict[str, Any], schema_id: int = 1042) -> int:
    """Register the shared Address and a ShipmentDispatched writer schema that references it."""
    if ADDRESS_SUBJECT not in registry.subjects:
        registry.register(ADDRESS_SUBJECT, example("common/address.avsc"))
    reference = {"name": ADDRESS_SUBJECT, "subject": ADDRESS_SUBJECT, "version": 1}
    return registry.register(DISPATCHED_SUBJECT, doc, references=[reference], schema_id=schema_id)


def dispatched_record(**extra: Any) -> dict[str, Any]:
    """A ShipmentDispatched record (v2 fields, no tracking number), plus ``extra``."""
    return {
        "shipment_id": "shp_abcdefabcdef",
        "order_id": "ord_1",
        "carrier": "DHL",
        "destination": {"street": "Main 1", "city": "Utrecht", "postcode": "1234AB", "country": "NL"},
        "parcel_count": 1,
        "dispatched_at": 1_700_000_000_000,
        "estimated_delivery": None,
        **extra,
    }


def framed_avro(schema_id: int, doc: dict[str, Any], record: dict[str, Any]) -> bytes:
    """A Confluent-framed Avro message written with ``doc`` (Address from the example spec)."""
    named: dict[str, Any] = {}
    fastavro.parse_schema(example("common/address.avsc"), named_schemas=named)
    parsed = fastavro.parse_schema(doc, named_schemas=named)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    return b"\0" + struct.pack(">I", schema_id) + out.getvalue()


def framed_json(schema_id: int, payload: Any) -> bytes:
    """A Confluent-framed JSON message."""
    return b"\0" + struct.pack(">I", schema_id) + json.dumps(payload).encode()


STOCK = {
    "sku": "ABC-12345",
    "warehouse_id": "WH-AMS1",
    "delta": 1,
    "quantity_on_hand": 3,
    "adjusted_at": "2024-01-01T00:00:00Z",
}
