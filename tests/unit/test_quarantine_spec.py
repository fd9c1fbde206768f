"""A topic's ``quarantine:`` setting: read into the catalog, refused at its pointer (exit 2) when wrong."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.contracts.quarantine import Quarantine
from stream_sentinel.core.errors import SpecError
from tests.conftest import CATALOG

SpecFactory = Callable[[dict[str, Any] | None], Path]


def with_quarantine(setting: Any, topic: str = "orders", where: str = "topics") -> dict[str, Any]:
    catalog = copy.deepcopy(CATALOG)
    if where == "defaults":
        catalog["defaults"] = {"quarantine": setting}
    else:
        catalog["topics"][topic]["quarantine"] = setting
    return catalog


def test_the_setting_is_read_with_breaking_as_the_default_floor(spec_factory: SpecFactory) -> None:
    root = spec_factory({"catalog.yaml": with_quarantine({"topic": "orders.quarantine"})})
    catalog = load_catalog(root)
    assert catalog.topics["orders"].quarantine == Quarantine("orders.quarantine", "breaking")
    assert catalog.topics["profiles"].quarantine is None  # per topic: the others copy nothing


def test_min_severity_is_taken_as_written(spec_factory: SpecFactory) -> None:
    setting = {"topic": "crm_dlq-1", "min_severity": "warning"}
    catalog = load_catalog(spec_factory({"catalog.yaml": with_quarantine(setting, "profiles")}))
    assert catalog.topics["profiles"].quarantine == Quarantine("crm_dlq-1", "warning")


BAD: list[tuple[str, Any, str, str]] = [
    ("not-an-object", "orders.quarantine", "/topics/orders/quarantine", "is not of type 'object'"),
    ("no-topic", {"min_severity": "breaking"}, "/topics/orders/quarantine", "'topic' is a required property"),
    ("topic-not-text", {"topic": 7}, "/topics/orders/quarantine/topic", "is not of type 'string'"),
    (
        "bad-severity",
        {"topic": "q", "min_severity": "fatal"},
        "/topics/orders/quarantine/min_severity",
        "'fatal' is not one of",
    ),
    ("unknown-key", {"topic": "q", "partitions": 3}, "/topics/orders/quarantine", "'partitions' was unexpected"),
    ("space-in-name", {"topic": "orders quarantine"}, "/topics/orders/quarantine/topic", "is not a Kafka topic name"),
    ("empty-name", {"topic": ""}, "/topics/orders/quarantine/topic", "is not a Kafka topic name"),
    ("dot", {"topic": ".."}, "/topics/orders/quarantine/topic", "is not a Kafka topic name"),
    ("too-long", {"topic": "q" * 250}, "/topics/orders/quarantine/topic", "is not a Kafka topic name"),
    ("itself", {"topic": "orders"}, "/topics/orders/quarantine/topic", "cannot be its own quarantine"),
    ("a-catalog-topic", {"topic": "profiles"}, "/topics/orders/quarantine/topic", "is a topic of this catalog"),
]


@pytest.mark.parametrize(("name", "setting", "pointer", "cause"), BAD, ids=[case[0] for case in BAD])
def test_a_bad_setting_is_refused_at_its_pointer(
    spec_factory: SpecFactory, name: str, setting: Any, pointer: str, cause: str
) -> None:
    root = spec_factory({"catalog.yaml": with_quarantine(setting)})
    with pytest.raises(SpecError) as caught:
        load_catalog(root)
    assert (caught.value.file, caught.value.pointer) == ("catalog.yaml", pointer), name
    assert cause in caught.value.cause, caught.value.cause
    assert "\n" not in str(caught.value)


def test_quarantine_is_per_topic_not_a_default(spec_factory: SpecFactory) -> None:
    root = spec_factory({"catalog.yaml": with_quarantine({"topic": "q"}, where="defaults")})
    with pytest.raises(SpecError) as caught:
        load_catalog(root)
    assert caught.value.pointer == "/defaults"
    assert "'quarantine' was unexpected" in caught.value.cause


def test_the_cli_says_it_in_one_line_with_exit_2(spec_factory: SpecFactory) -> None:
    root = spec_factory({"catalog.yaml": with_quarantine({"topic": "orders"})})
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(["spec", "--spec", str(root)], io.BytesIO(b""), stdout, stderr)
    assert code == 2
    assert stderr.getvalue().count("\n") == 1
    assert "catalog.yaml#/topics/orders/quarantine/topic: a topic cannot be its own quarantine" in stderr.getvalue()
    assert "Traceback" not in stderr.getvalue()
