"""Shared fixtures: a small, self-contained spec that exercises every catalog feature.

Unit tests use this instead of spec/events so they pin behaviour, not the example domain.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest
import yaml

from stream_sentinel.core.check.validate import Engine

DRAFT = "https://json-schema.org/draft/2020-12/schema"

CATALOG: dict[str, Any] = {
    "catalog": 1,
    "topics": {
        "orders": {
            "owner": "team-orders",
            "event_type": {"header": "event-type"},
            "version": {"header": "schema-version"},
            "events": {
                "OrderCreated": {
                    "requirement": "REQ-ORD-1",
                    "versions": [
                        {"version": 1, "schema": "orders/created.v1.schema.json"},
                        {"version": 2, "schema": "orders/created.v2.schema.json"},
                    ],
                }
            },
        },
        "profiles": {
            "owner": "team-crm",
            "event_type": {"fixed": "ProfileUpdated"},
            "tombstones": "drift",
            "events": {"ProfileUpdated": {"versions": [{"version": 1, "schema": "crm/profile.schema.json"}]}},
        },
        "typed": {
            "event_type": {"pointer": "/type"},
            "version": {"pointer": "/v"},
            "owner": "team-typed",
            "events": {"Ping": {"versions": [{"version": 1, "schema": "typed/ping.schema.json"}]}},
        },
        "payments": {
            "format": "avro",
            "owner": "team-payments",
            "event_type": {"header": "event-type"},
            "events": {
                "PaymentAuthorized": {
                    "versions": [
                        {
                            "version": 1,
                            "schema": "pay/auth.v1.avsc",
                            "references": ["common/money.avsc"],
                        },
                        {
                            "version": 2,
                            "schema": "pay/auth.v2.avsc",
                            "references": ["common/money.avsc"],
                        },
                    ]
                }
            },
        },
        "shipments": {
            "format": "confluent-avro",
            "owner": "team-logistics",
            "event_type": {"schema_id": True},
            "events": {"Shipped": {"versions": [{"version": 1, "schema": "ship/shipped.avsc", "schema_id": 7}]}},
        },
        "stock": {
            "format": "confluent-json",
            "owner": "team-stock",
            "event_type": {"schema_id": True},
            "events": {
                "Adjusted": {"versions": [{"version": 1, "schema": "stock/adjusted.schema.json", "schema_id": 21}]}
            },
        },
    },
}

COMMON = {
    "$schema": DRAFT,
    "$defs": {
        "Cents": {
            "type": "integer",
            "minimum": 0,
            "maximum": 9223372036854775807,
            "x-requirement": "REQ-ORD-3",
        },
        "Customer": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "email"],
            "x-requirement": "REQ-ORD-6",
            "properties": {
                "id": {"type": "string"},
                "email": {"type": "string", "format": "email", "x-pii": True},
            },
        },
    },
}


def _order(version: int) -> dict[str, Any]:
    required = ["order_id", "customer", "items", "total_cents", "status"] + (["channel"] if version == 2 else [])
    properties: dict[str, Any] = {
        "order_id": {
            "type": "string",
            "pattern": "^ord_[0-9a-z]{6}$",
            "x-requirement": "REQ-ORD-2",
        },
        "customer": {"$ref": "../common/defs.schema.json#/$defs/Customer"},
        "items": {
            "type": "array",
            "minItems": 1,
            "x-requirement": "REQ-ORD-4",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["sku", "quantity"],
                "properties": {
                    "sku": {"type": "string", "maxLength": 12},
                    "quantity": {"type": "integer", "minimum": 1},
                },
            },
        },
        "total_cents": {"$ref": "../common/defs.schema.json#/$defs/Cents"},
        "status": {"enum": ["created", "paid"], "x-requirement": "REQ-ORD-5"},
        "created_at": {"type": "string", "format": "date-time"},
        "discount": {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[A-Z]+$"}]},
    }
    if version == 2:
        properties["channel"] = {"enum": ["web", "app"]}
    return {
        "$schema": DRAFT,
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


PROFILE = {
    "$schema": DRAFT,
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string", "x-pii": True},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "allOf": [{"properties": {"nickname": {"type": "string"}}}],
}

PING = {
    "$schema": DRAFT,
    "type": "object",
    "properties": {"type": {"const": "Ping"}, "v": {"type": "integer"}},
}

STOCK = {
    "$schema": DRAFT,
    "type": "object",
    "additionalProperties": False,
    "required": ["sku", "delta"],
    "properties": {"sku": {"type": "string"}, "delta": {"type": "integer"}},
}

MONEY_AVSC = {
    "type": "record",
    "name": "Money",
    "namespace": "com.acme.common",
    "fields": [{"name": "amount_cents", "type": "long"}, {"name": "currency", "type": "string"}],
}


def _auth(version: int) -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"name": "payment_id", "type": "string"},
        {"name": "amount", "type": "com.acme.common.Money"},
        {"name": "cardholder", "type": "string", "x-pii": True},
    ]
    if version == 2:
        fields.append({"name": "risk_score", "type": "int", "default": 0})
    return {
        "type": "record",
        "name": "PaymentAuthorized",
        "namespace": "com.acme.payments",
        "x-requirement": "REQ-PAY-1",
        "fields": fields,
    }


SHIPPED_AVSC = {
    "type": "record",
    "name": "Shipped",
    "namespace": "com.acme.ship",
    "fields": [{"name": "shipment_id", "type": "string"}, {"name": "parcels", "type": "int"}],
}

FILES: dict[str, Any] = {
    "catalog.yaml": CATALOG,
    "common/defs.schema.json": COMMON,
    "orders/created.v1.schema.json": _order(1),
    "orders/created.v2.schema.json": _order(2),
    "crm/profile.schema.json": PROFILE,
    "typed/ping.schema.json": PING,
    "stock/adjusted.schema.json": STOCK,
    "common/money.avsc": MONEY_AVSC,
    "pay/auth.v1.avsc": _auth(1),
    "pay/auth.v2.avsc": _auth(2),
    "ship/shipped.avsc": SHIPPED_AVSC,
}


def write_spec(root: Path, files: dict[str, Any]) -> Path:
    """Write a spec dir; values are dumped as YAML (catalog) or JSON, strings written as-is."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        elif name.endswith(".yaml"):
            path.write_text(yaml.safe_dump(content, sort_keys=False))
        else:
            path.write_text(json.dumps(content, indent=1))
    return root


@pytest.fixture
def spec_factory(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write FILES with overrides (a value of None deletes the file) and return the dir."""

    def make(overrides: dict[str, Any] | None = None) -> Path:
        files = {**FILES, **(overrides or {})}
        return write_spec(tmp_path / "spec", {k: v for k, v in files.items() if v is not None})

    return make


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine.from_spec_dir(str(write_spec(tmp_path_factory.mktemp("spec"), FILES)))


class ClosedAfter(io.StringIO):
    """A stdout whose reader goes away after ``writes`` writes, as ``| head`` does."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.left = writes

    def write(self, text: str) -> int:
        if self.left <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.left -= 1
        return super().write(text)


def valid_order(version: int = 2, **changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": "ord_abc123",
        "customer": {"id": "cus_1", "email": "jane.doe@example.com"},
        "items": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}],
        "total_cents": 4200,
        "status": "created",
        "created_at": "2026-11-20T10:00:00Z",
    }
    if version == 2:
        order["channel"] = "web"
    order.update(changes)
    return order


def avro_bytes(schema_file: str, record: dict[str, Any]) -> bytes:
    named: dict[str, Any] = {}
    fastavro.parse_schema(MONEY_AVSC, named_schemas=named)
    parsed = fastavro.parse_schema(FILES[schema_file], named_schemas=named)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue()


ORDER_HEADERS = [("event-type", b"OrderCreated")]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite replay/golden/ from the current output instead of comparing (review the diff!)",
    )
