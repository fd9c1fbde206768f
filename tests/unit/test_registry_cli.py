"""``stream-sentinel registry check`` and ``registry import`` against the loopback fake registry."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.testing_registry import FakeRegistry
from tests.registry_fixtures import ADDRESS_SUBJECT, example, spec_with_registry


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), io.BytesIO(), out, err)
    return code, out.getvalue(), err.getvalue()


def _mirror(registry: FakeRegistry) -> None:
    """Register what the example catalog says is registered (inventory and shipments)."""
    registry.register(ADDRESS_SUBJECT, example("common/address.avsc"))
    address = {"name": ADDRESS_SUBJECT, "subject": ADDRESS_SUBJECT, "version": 1}
    for version, schema_id in ((1, 201), (2, 202)):
        doc = example(f"inventory/stock-adjusted.v{version}.schema.json")
        registry.register("inventory-value", doc, schema_type="JSON", schema_id=schema_id)
    for name, ref, schema_id in (
        ("ShipmentDispatched", "shipments/shipment-dispatched.v1.avsc", 301),
        ("ShipmentDispatched", "shipments/shipment-dispatched.v2.avsc", 302),
        ("ShipmentDelivered", "shipments/shipment-delivered.v1.avsc", 311),
    ):
        subject = f"shipments-com.acme.logistics.{name}"
        registry.register(subject, example(ref), references=[address], schema_id=schema_id)


@pytest.fixture
def mirrored(tmp_path: Path) -> Iterator[tuple[FakeRegistry, Path]]:
    registry = FakeRegistry()
    _mirror(registry)
    with registry.serve() as url:
        yield registry, spec_with_registry(tmp_path, url)


def test_registry_check_exit_0_when_catalog_and_registry_agree(mirrored: tuple[FakeRegistry, Path]) -> None:
    _, spec = mirrored
    code, out, err = _cli("registry", "check", "--spec", str(spec))
    assert (code, err) == (0, "")
    assert "agree" in out


def test_registry_check_exit_1_names_every_difference(mirrored: tuple[FakeRegistry, Path]) -> None:
    registry, spec = mirrored
    changed = example("inventory/stock-adjusted.v2.schema.json")
    changed["required"] = changed["required"][:-1]
    registry.register("inventory-value", changed, schema_type="JSON", schema_id=203)  # a v3 the catalog lacks
    registry.register("refunds-value", {"type": "object"}, schema_type="JSON")  # a subject no topic has
    registry.subject_compatibility["inventory-value"] = "FULL"
    registry.schemas[302].schema = json.dumps({**example("shipments/shipment-dispatched.v2.avsc"), "fields": []})
    del registry.schemas[311]
    registry.subjects["shipments-com.acme.logistics.ShipmentDelivered"].clear()
    code, out, _ = _cli("registry", "check", "--spec", str(spec), "--format", "json")
    assert code == 1
    found = {(f["kind"], f["subject"], f["version"], f["schema_id"]) for f in json.loads(out)["findings"]}
    assert found == {
        ("compatibility_differs", "inventory-value", None, None),
        ("version_not_in_catalog", "inventory-value", 3, 203),
        ("subject_not_in_catalog", "refunds-value", None, None),
        ("schema_differs", "shipments-com.acme.logistics.ShipmentDispatched", 2, 302),
        ("not_registered", None, None, 311),
    }
    code, table, _ = _cli("registry", "check", "--spec", str(spec))
    assert code == 1
    assert table.splitlines()[0].split()[:3] == ["KIND", "SUBJECT", "VERSION"]
    assert "5 difference(s)" in table


def test_registry_check_exit_3_when_unreachable_and_2_without_registry(tmp_path: Path) -> None:
    spec = spec_with_registry(tmp_path, "http://127.0.0.1:9")
    code, _, err = _cli("registry", "check", "--spec", str(spec))
    assert code == 3
    assert err.startswith("stream-sentinel: schema registry http://127.0.0.1:9 unreachable")
    assert len(err.splitlines()) == 1  # one line, no traceback
    example_spec = Path(__file__).resolve().parents[2] / "spec" / "events"
    code, _, err = _cli("registry", "check", "--spec", str(example_spec))
    assert code == 2
    assert "no registry" in err


def test_registry_check_refused_credentials_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = FakeRegistry(token="right")
    with registry.serve() as url:
        spec = spec_with_registry(tmp_path, url, auth={"kind": "bearer"})
        monkeypatch.setenv("SENTINEL_REGISTRY_TOKEN", "wrong")
        code, _, err = _cli("registry", "check", "--spec", str(spec))
        assert code == 3
        assert "HTTP 401" in err
        assert "wrong" not in err
        monkeypatch.setenv("SENTINEL_REGISTRY_TOKEN", "right")
        assert _cli("registry", "check", "--spec", str(spec))[0] == 1  # answered: nothing registered


def test_registry_import_writes_a_catalog_that_loads_and_agrees(tmp_path: Path) -> None:
    registry = FakeRegistry()
    _mirror(registry)
    with registry.serve() as url:
        out_dir = tmp_path / "imported"
        code, out, _ = _cli("registry", "import", "--url", url, "--output", str(out_dir))
        assert code == 0
        assert "2 topic(s)" in out
        catalog = load_catalog(out_dir)
        assert sorted(catalog.topics) == ["inventory", "shipments"]
        assert sorted(catalog.topics["shipments"].events) == ["ShipmentDelivered", "ShipmentDispatched"]
        assert sorted(catalog.schema_ids) == [201, 202, 301, 302, 311]
        assert _cli("registry", "check", "--spec", str(out_dir))[0] == 0
        code, _, err = _cli("registry", "import", "--url", url, "--output", str(out_dir))
        assert code == 2
        assert "nothing is overwritten" in err
