"""The Schema Registry client against the loopback fake, and unmapped ids judged with their writer schema."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from stream_sentinel.config import Settings
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Engine, load_engine
from stream_sentinel.core.check.writers import Unavailable, WriterTable
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.errors import SpecError, UsageError
from stream_sentinel.registry import NOT_FOUND, PROTOCOL, UNREACHABLE, Fetcher, RegistryClient, RegistryError, inline
from stream_sentinel.testing_registry import CONTENT_TYPE, FakeRegistry
from tests.registry_fixtures import (
    STOCK,
    dispatched_record,
    dispatched_without,
    example,
    framed_avro,
    framed_json,
    register_dispatched,
    spec_with_registry,
)


@pytest.fixture
def fake() -> Iterator[tuple[FakeRegistry, str]]:
    registry = FakeRegistry()
    with registry.serve() as url:
        yield registry, url


# -- the fake follows the documented API -------------------------------------------------------


def _raw(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.loads(exc.read())


def test_fake_answers_documented_status_codes_bodies_and_content_type(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    registry.register("inventory-value", {"type": "object"}, schema_type="JSON", schema_id=7)
    assert _raw(url + "/schemas/ids/7") == (200, CONTENT_TYPE, {"schema": '{"type": "object"}', "schemaType": "JSON"})
    assert _raw(url + "/schemas/ids/8") == (404, CONTENT_TYPE, {"error_code": 40403, "message": "Schema 8 not found"})
    assert _raw(url + "/subjects/nope/versions")[2]["error_code"] == 40401
    assert _raw(url + "/subjects/inventory-value/versions/9")[2]["error_code"] == 40402
    assert _raw(url + "/subjects/inventory-value/versions/x")[:2] == (422, CONTENT_TYPE)
    assert _raw(url + "/subjects/inventory-value/versions/latest")[2]["id"] == 7
    assert _raw(url + "/config/inventory-value")[2]["error_code"] == 40408
    assert _raw(url + "/config/inventory-value?defaultToGlobal=true")[2] == {"compatibilityLevel": "BACKWARD"}
    assert _raw(url + "/schemas/ids/7/versions")[2] == [{"subject": "inventory-value", "version": 1}]


def test_avro_schema_type_is_left_out_and_same_text_reuses_the_id(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    first = registry.register("a-value", {"type": "string"})
    assert registry.register("b-value", {"type": "string"}) == first
    assert "schemaType" not in _raw(f"{url}/schemas/ids/{first}")[2]


# -- the client --------------------------------------------------------------------------------


def test_client_reads_subjects_versions_levels_and_schemas(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    schema_id = register_dispatched(registry, dispatched_without("tracking_number"))
    registry.subject_compatibility["com.acme.common.Address"] = "FULL"
    client = RegistryClient(url)
    assert client.subjects() == ["com.acme.common.Address", "shipments-com.acme.logistics.ShipmentDispatched"]
    assert client.versions("com.acme.common.Address") == [1]
    assert client.compatibility() == "BACKWARD"
    assert client.compatibility("com.acme.common.Address") == "FULL"
    assert client.compatibility("shipments-com.acme.logistics.ShipmentDispatched") == "BACKWARD"
    writer = client.schema(schema_id)
    assert writer.schema_type == "AVRO"
    assert writer.subjects == (("shipments-com.acme.logistics.ShipmentDispatched", 1),)
    assert [json.loads(r)["name"] for r in writer.references] == ["Address"]  # referenced schemas fetched


def test_client_errors_carry_the_documented_error_code(fake: tuple[FakeRegistry, str]) -> None:
    _, url = fake
    with pytest.raises(RegistryError) as caught:
        RegistryClient(url).schema(99)
    assert (caught.value.kind, caught.value.status, caught.value.error_code) == (NOT_FOUND, 404, 40403)
    with pytest.raises(RegistryError) as caught:
        RegistryClient(url).versions("nope")
    assert caught.value.error_code == 40401
    assert caught.value.exit_code == 3


@pytest.mark.parametrize(
    ("server", "client"),
    [
        ({"username": "svc", "password": "s3cret"}, {"auth": "basic", "username": "svc", "secret": "s3cret"}),
        ({"token": "t0ken"}, {"auth": "bearer", "secret": "t0ken"}),
    ],
)
def test_basic_and_bearer_auth(server: dict[str, str], client: dict[str, str]) -> None:
    registry = FakeRegistry(**server)
    with registry.serve() as url:
        secret = SecretStr(client.pop("secret"))
        good = RegistryClient(url, secret=secret, **client)  # type: ignore[arg-type]
        assert good.subjects() == []
        with pytest.raises(RegistryError) as caught:
            RegistryClient(url, secret=SecretStr("wrong"), **client).subjects()  # type: ignore[arg-type]
        assert (caught.value.kind, caught.value.status) == ("auth", 401)
        with pytest.raises(RegistryError):
            RegistryClient(url).subjects()  # no credentials at all
        assert "s3cret" not in repr(good)
        assert "t0ken" not in repr(good)


def test_secrets_come_from_settings_and_stay_masked(tmp_path: Path, fake: tuple[FakeRegistry, str]) -> None:
    _, url = fake
    spec = spec_with_registry(tmp_path, url, auth={"kind": "bearer"})
    settings = Settings(registry_token=SecretStr("t0ken"))
    assert "t0ken" not in json.dumps(settings.describe())
    assert "t0ken" not in repr(settings)
    client = RegistryClient.from_spec(load_catalog(spec).registry, settings)  # type: ignore[arg-type]
    assert client.url == url
    assert "t0ken" not in repr(client)


def test_timeouts_and_unreachable_registries_are_one_error() -> None:
    registry = FakeRegistry()
    registry.delay = 1.0
    with registry.serve() as url:
        with pytest.raises(RegistryError) as caught:
            RegistryClient(url, timeout=0.2).subjects()
        assert caught.value.kind == UNREACHABLE
    with pytest.raises(RegistryError) as caught:
        RegistryClient(url, timeout=0.5).subjects()  # the server is gone
    assert caught.value.kind == UNREACHABLE
    assert "unreachable" in str(caught.value)


def test_backend_failure_is_a_protocol_error(fake: tuple[FakeRegistry, str]) -> None:
    registry, url = fake
    registry.failing = True
    with pytest.raises(RegistryError) as caught:
        RegistryClient(url).subjects()
    assert (caught.value.kind, caught.value.error_code) == (PROTOCOL, 50001)


# -- the catalog's registry: section -----------------------------------------------------------


def test_registry_section_is_checked_at_its_pointer(tmp_path: Path) -> None:
    spec = spec_with_registry(tmp_path, "http://127.0.0.1:1", auth={"kind": "basic"})
    with pytest.raises(SpecError) as caught:
        load_catalog(spec)
    assert (caught.value.pointer, caught.value.cause) == ("/registry/auth", "basic auth needs a username")
    spec = spec_with_registry(tmp_path / "b", "ftp://x", auth={"kind": "none"})
    with pytest.raises(SpecError) as caught:
        load_catalog(spec)
    assert caught.value.pointer == "/registry/url"
    spec = spec_with_registry(tmp_path / "c", "http://x", subjects={"s": {"topic": "orders", "event_type": "X"}})
    with pytest.raises(SpecError) as caught:
        load_catalog(spec)
    assert caught.value.pointer == "/registry/subjects/s/topic"  # orders is not a confluent-* topic


def test_registry_section_defaults(tmp_path: Path) -> None:
    spec = spec_with_registry(tmp_path, "https://sr.example:8081/", auth={"kind": "basic", "username": "svc"})
    registry = load_catalog(spec).registry
    assert registry is not None
    assert (registry.url, registry.auth, registry.secret_setting, registry.timeout) == (
        "https://sr.example:8081",
        "basic",
        "registry_password",
        2.0,
    )


# -- judging unmapped ids with their writer schema ---------------------------------------------


@pytest.fixture
def engine(tmp_path: Path, fake: tuple[FakeRegistry, str]) -> tuple[Engine, FakeRegistry, RegistryClient]:
    registry, url = fake
    engine = load_engine(str(spec_with_registry(tmp_path, url)))
    client = inline(engine, Settings())
    assert client is not None
    return engine, registry, client


def test_writer_schema_without_a_field_names_that_field(engine: tuple[Engine, FakeRegistry, RegistryClient]) -> None:
    eng, registry, _ = engine
    doc = dispatched_without("tracking_number", extra="note")
    schema_id = register_dispatched(registry, doc)
    outcome = eng.checker("shipments").check(framed_avro(schema_id, doc, dispatched_record(note="x")), None)  # type: ignore[union-attr]
    found = {(v.kind, v.path, v.severity, v.requirement) for v in outcome.violations}
    assert found == {  # the nearest x-requirement: the field's, else the record's
        (d.MISSING_REQUIRED, "/tracking_number", d.BREAKING, "REQ-SHP-3"),
        (d.UNDOCUMENTED_FIELD, "/note", d.INFO, "REQ-SHP-1"),
    }
    assert outcome.event_type == "ShipmentDispatched"
    assert outcome.schema_id == schema_id
    assert all("shipments-com.acme.logistics.ShipmentDispatched' v1" in v.detail for v in outcome.violations)
    assert outcome.sample(0)["destination"]["street"] == "[REDACTED]"  # the catalog's x-pii still applies


def test_writer_schema_that_fits_is_valid(engine: tuple[Engine, FakeRegistry, RegistryClient]) -> None:
    eng, registry, _ = engine
    doc = example("shipments/shipment-dispatched.v2.avsc")
    doc["doc"] = "registered with other docs: another id"
    schema_id = register_dispatched(registry, doc)
    record = dispatched_record(tracking_number="1Z")
    assert eng.checker("shipments").check(framed_avro(schema_id, doc, record), None).ok  # type: ignore[union-attr]


def test_json_writer_schema_is_judged_against_the_catalog(engine: tuple[Engine, FakeRegistry, RegistryClient]) -> None:
    eng, registry, _ = engine
    schema_id = registry.register("inventory-value", {"title": "StockAdjusted", "type": "object"}, schema_type="JSON")
    outcome = eng.checker("inventory").check(framed_json(schema_id, STOCK), None)  # type: ignore[union-attr]
    assert [(v.kind, v.path) for v in outcome.violations] == [(d.MISSING_REQUIRED, "/reason")]
    assert "registry subject 'inventory-value' v1" in outcome.violations[0].detail


def test_unregistered_id_stays_unknown_and_says_why(engine: tuple[Engine, FakeRegistry, RegistryClient]) -> None:
    eng, registry, _ = engine
    checker = eng.checker("inventory")
    assert checker is not None
    outcome = checker.check(framed_json(4242, STOCK), None)
    (violation,) = outcome.violations
    assert violation.kind == d.UNKNOWN_SCHEMA_ID
    assert "40403" in violation.detail
    checker.check(framed_json(4242, STOCK), None)
    assert registry.requests.count("/schemas/ids/4242") == 1  # the answer is held: asked once


def test_unplaceable_subject_and_wrong_type_stay_unknown(engine: tuple[Engine, FakeRegistry, RegistryClient]) -> None:
    eng, registry, _ = engine
    other = registry.register("payments-value", {"title": "Other", "type": "object"}, schema_type="JSON")
    avro = registry.register("inventory-value", {"type": "record", "name": "R", "fields": []})
    checker = eng.checker("inventory")
    assert checker is not None
    assert (
        "names none of this topic's event types" in checker.check(framed_json(other, STOCK), None).violations[0].detail
    )
    assert "is a AVRO schema" in checker.check(framed_json(avro, STOCK), None).violations[0].detail


def test_without_a_registry_nothing_changes(tmp_path: Path) -> None:
    eng = load_engine(str(Path(__file__).resolve().parents[2] / "spec" / "events"))
    assert inline(eng, Settings()) is None
    (violation,) = eng.checker("inventory").check(framed_json(999, STOCK), None).violations  # type: ignore[union-attr]
    assert (violation.kind, violation.detail) == (d.UNKNOWN_SCHEMA_ID, "")


# -- the background fetcher (worker) -----------------------------------------------------------


def test_fetcher_never_blocks_the_check_and_answers_later(fake: tuple[FakeRegistry, str], tmp_path: Path) -> None:
    registry, url = fake
    eng = load_engine(str(spec_with_registry(tmp_path, url)))
    schema_id = registry.register("inventory-value", {"title": "StockAdjusted"}, schema_type="JSON")
    registry.delay = 0.3
    fetched = threading.Event()
    fetcher = Fetcher(RegistryClient(url), eng.writers, on_fetched=fetched.set)
    fetcher.start()
    try:
        checker = eng.checker("inventory")
        assert checker is not None
        first = checker.check(framed_json(schema_id, STOCK), None)  # returns at once: the fetch is queued
        assert first.violations[0].kind == d.UNKNOWN_SCHEMA_ID
        assert first.violations[0].detail == "asked the schema registry for it"
        assert fetched.wait(5)
        assert fetcher.resolve(schema_id, 5)
        later = checker.check(framed_json(schema_id, STOCK), None)
        assert [v.path for v in later.violations] == ["/reason"]
    finally:
        fetcher.stop()


def test_fetcher_reports_a_down_registry_and_retries(tmp_path: Path) -> None:
    table = WriterTable()
    errors: list[str] = []
    now = [0.0]
    fetcher = Fetcher(
        RegistryClient("http://127.0.0.1:9", timeout=0.3), table, on_error=errors.append, clock=lambda: now[0]
    )
    fetcher.start()
    try:
        assert not fetcher.resolve(5, 5) or isinstance(table.get(5), Unavailable)
        entry = table.get(5)
        assert isinstance(entry, Unavailable)
        assert "could not be asked" in entry.reason
        assert errors == [UNREACHABLE]
        assert "unreachable" in fetcher.detail()
        now[0] = 31.0
        fetcher._expire()
        assert len(table) == 0  # forgotten: the next message asks again
    finally:
        fetcher.stop()


def test_table_is_bounded() -> None:
    table = WriterTable(capacity=2)
    for schema_id in range(5):
        table.put(Unavailable(schema_id, "x"))
    assert len(table) == 2
    assert table.get(0) is None
    assert table.get(4) is not None


def test_missing_credentials_are_a_usage_error(tmp_path: Path) -> None:
    spec = spec_with_registry(tmp_path, "http://127.0.0.1:9", auth={"kind": "bearer"})
    registry = load_catalog(spec).registry
    assert registry is not None
    with pytest.raises(UsageError, match="SENTINEL_REGISTRY_TOKEN"):
        RegistryClient.from_spec(registry, Settings())


def test_writer_enum_symbol_and_type_change_are_named(engine: tuple[Engine, FakeRegistry, RegistryClient]) -> None:
    eng, registry, _ = engine
    doc = example("shipments/shipment-dispatched.v2.avsc")
    for field in doc["fields"]:
        if field["name"] == "carrier":
            field["type"] = {"type": "enum", "name": "Carrier", "symbols": ["DHL", "FEDEX"]}
        elif field["name"] == "parcel_count":
            field["type"] = "string"
    schema_id = register_dispatched(registry, doc, schema_id=1043)
    record = dispatched_record(tracking_number="1Z", carrier="FEDEX", parcel_count="one")
    outcome = eng.checker("shipments").check(framed_avro(schema_id, doc, record), None)  # type: ignore[union-attr]
    found = [(v.kind, v.path, v.actual_value) for v in outcome.violations]
    assert found == [(d.CONSTRAINT, "/carrier", None), (d.TYPE_MISMATCH, "/parcel_count", None)]  # values withheld


def test_a_map_key_never_appears_in_a_writer_drift_path() -> None:
    """Map keys are payload (an email as a key, say): the path names the map and "*", as the Avro check does."""
    from stream_sentinel.core.check.avro_fit import _walk

    found: list[Any] = []
    schema = {"type": "map", "values": "long"}
    _walk({"jane@example.com": "not a long"}, schema, {}, ("visits",), found, 0, (None, None))
    assert [(kind, path) for kind, path, *_ in found] == [("type_mismatch", "/visits/*")]
    assert "jane" not in repr(found)
