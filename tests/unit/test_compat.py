"""Contract diff model and catalog-level comparison (schema rules are in tests/spec/compat/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_sentinel.core import compat
from stream_sentinel.core.compat import KINDS, Change, breaks_under, compare_catalogs, verdict
from stream_sentinel.core.compat import avro as compat_avro
from stream_sentinel.core.contracts.catalog import COMPATIBILITY_MODES, load_catalog
from stream_sentinel.core.errors import SpecError

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
OPPOSITES = (
    ("_added", "_removed"),
    ("_increased", "_decreased"),
    ("_extended", "_narrowed"),
    ("_promoted", "_demoted"),
)


# Lifecycle kinds are not mirror images: removing a topic strands readers and writers alike.
LIFECYCLE = ("topic_added", "event_type_added", "version_added")


def _inverse_pairs() -> list[tuple[str, str]]:
    pairs = []
    for kind in KINDS:
        if kind in LIFECYCLE:
            continue
        for grow, shrink in OPPOSITES:
            if kind.endswith(grow):
                other = kind.removesuffix(grow) + shrink
                facts = (*KINDS[kind][:2], *KINDS.get(other, KINDS[kind])[:2])
                if other in KINDS and None not in facts:  # computed facts are tested by the corpus
                    pairs.append((kind, other))
    return pairs


@pytest.mark.parametrize(("kind", "inverse"), _inverse_pairs())
def test_forward_of_a_kind_is_backward_of_its_inverse(kind: str, inverse: str) -> None:
    """FORWARD is BACKWARD with the schemas swapped, so a kind and its inverse mirror each other."""
    rule, mirror = KINDS[kind], KINDS[inverse]
    assert (rule.backward, rule.forward) == (mirror.forward, mirror.backward)


def test_inverse_pairs_cover_the_keyword_kinds() -> None:
    assert len(_inverse_pairs()) >= 40


@pytest.mark.parametrize("kind", [k for k, r in KINDS.items() if k.endswith("_changed") and r.backward is not None])
def test_changed_kinds_are_symmetric(kind: str) -> None:
    assert KINDS[kind].backward == KINDS[kind].forward


@pytest.mark.parametrize("kind", [k for k, r in KINDS.items() if r.cosmetic])
def test_cosmetic_kinds_never_break(kind: str) -> None:
    assert (KINDS[kind].backward, KINDS[kind].forward) == (True, True)


@pytest.mark.parametrize(
    ("mode", "backward", "forward", "expected"),
    [
        ("BACKWARD", False, True, True),
        ("BACKWARD_TRANSITIVE", True, False, False),
        ("FORWARD", True, False, True),
        ("FORWARD_TRANSITIVE", False, True, False),
        ("FULL", True, False, True),
        ("FULL_TRANSITIVE", False, True, True),
        ("FULL", True, True, False),
        ("NONE", False, False, False),
    ],
)
def test_breaks_under(mode: str, backward: bool, forward: bool, expected: bool) -> None:
    assert breaks_under(mode, backward, forward) is expected


def _change(kind: str, mode: str = "BACKWARD") -> Change:
    rule = KINDS[kind]
    return Change(kind, "f.json", "/x", "m", bool(rule.backward), bool(rule.forward), mode=mode)


def test_verdict_is_the_worst_severity() -> None:
    assert verdict([]) == "none"
    assert verdict([_change("title_changed")]) == "cosmetic"
    assert verdict([_change("title_changed"), _change("max_length_increased")]) == "compatible"
    assert verdict([_change("max_length_increased"), _change("max_length_added")]) == "breaking"
    assert verdict([_change("max_length_added", mode="NONE")]) == "compatible"


def test_change_json_shape() -> None:
    shape = _change("max_length_added").to_dict()
    assert list(shape) == [
        "kind",
        "severity",
        "breaking",
        "backward_compatible",
        "forward_compatible",
        "mode",
        "topic",
        "event_type",
        "version",
        "against",
        "file",
        "side",
        "pointer",
        "message",
    ]
    assert (shape["severity"], shape["breaking"]) == ("breaking", True)


# -- catalogs --------------------------------------------------------------------------------


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    target = tmp_path / "old"
    shutil.copytree(SPEC, target)
    return target


def _edit_catalog(root: Path, edit: Any) -> None:
    path = root / "catalog.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _edit_json(path: Path, edit: Any) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_example_spec_against_itself_has_no_change() -> None:
    catalog = load_catalog(SPEC)
    assert compare_catalogs(catalog, catalog) == ()


def _drop_newest_versions(data: dict[str, Any]) -> None:
    for topic in data["topics"].values():
        for event in topic["events"].values():
            if len(event["versions"]) > 1:
                event["versions"] = event["versions"][:-1]


def test_new_versions_are_checked_under_each_event_types_mode(spec_copy: Path) -> None:
    _edit_catalog(spec_copy, _drop_newest_versions)
    changes = compare_catalogs(load_catalog(spec_copy), load_catalog(SPEC))
    added = {(c.topic, c.event_type, c.version) for c in changes if c.kind == "version_added"}
    assert added == {
        ("orders", "OrderCreated", 2),
        ("inventory", "StockAdjusted", 2),
        ("payments", "PaymentAuthorized", 2),
        ("payments", "PaymentRefunded", 2),  # authorized_cents with a default: compatible both ways
        ("shipments", "ShipmentDispatched", 2),
    }
    # The catalog declares orders FORWARD (v2 makes v1's optional channel required), the rest BACKWARD.
    assert verdict(changes) == "compatible"
    channel = next(c for c in changes if c.kind == "required_attribute_added")
    assert (channel.kind, channel.mode, channel.version, channel.against) == (
        "required_attribute_added",
        "FORWARD",
        2,
        1,
    )
    assert not channel.breaking


def test_orders_v2_breaks_backward_as_the_catalog_says(spec_copy: Path) -> None:
    _edit_catalog(spec_copy, _drop_newest_versions)
    changes = compare_catalogs(load_catalog(spec_copy), load_catalog(SPEC), "BACKWARD")
    breaking = {(c.event_type, c.kind) for c in changes if c.breaking}
    assert breaking == {("OrderCreated", "required_attribute_added")}
    full = compare_catalogs(load_catalog(spec_copy), load_catalog(SPEC), "FULL")
    assert {c.event_type for c in full if c.breaking} == {"OrderCreated", "StockAdjusted"}


def test_breaking_edit_of_a_published_version_is_version_not_bumped(spec_copy: Path, tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(spec_copy, new)
    _edit_json(
        new / "inventory" / "stock-adjusted.v1.schema.json",
        lambda doc: doc["properties"]["sku"].update(maxLength=8),
    )
    changes = compare_catalogs(load_catalog(spec_copy), load_catalog(new))
    kinds = {(c.kind, c.version, c.file) for c in changes}
    assert kinds == {
        ("max_length_added", 1, "inventory/stock-adjusted.v1.schema.json"),
        ("version_not_bumped", 1, "catalog.yaml"),
    }
    bump = next(c for c in changes if c.kind == "version_not_bumped")
    assert bump.pointer == "/topics/inventory/events/StockAdjusted/versions/0"
    assert bump.breaking
    assert "v3" in bump.message


def test_compatible_edit_in_place_is_not_version_not_bumped(spec_copy: Path, tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(spec_copy, new)
    _edit_json(
        new / "inventory" / "stock-adjusted.v2.schema.json",
        lambda doc: doc["properties"]["lot_number"].pop("pattern"),
    )
    changes = compare_catalogs(load_catalog(spec_copy), load_catalog(new))
    assert [c.kind for c in changes] == ["pattern_removed"]
    assert verdict(changes) == "compatible"


def test_shared_file_change_reaches_every_event_that_uses_it(spec_copy: Path, tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(spec_copy, new)
    _edit_json(new / "common" / "money.schema.json", lambda doc: doc["$defs"]["Cents"].update(maximum=10**9))
    # Under NONE the change is reported but breaks nothing ...
    changes = compare_catalogs(load_catalog(spec_copy), load_catalog(new), "NONE")
    assert {c.kind for c in changes} == {"maximum_decreased"}
    assert verdict(changes) == "compatible"
    # ... under the catalog's modes (orders is FORWARD, but edits in place are judged BACKWARD too:
    # the messages already written as these versions would fail them) and under BACKWARD, every
    # published version that uses Cents was edited in a breaking way.
    for mode in (None, "BACKWARD"):
        changes = compare_catalogs(load_catalog(spec_copy), load_catalog(new), mode)
        bumped = {(c.event_type, c.version) for c in changes if c.kind == "version_not_bumped"}
        assert bumped == {("OrderCreated", 1), ("OrderCreated", 2), ("OrderCancelled", 1)}
        assert {c.file for c in changes if c.kind == "maximum_decreased"} == {"common/money.schema.json"}


def test_topic_and_event_type_removed_and_added(spec_copy: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        del data["topics"]["payments"]
        data.pop("rules", None)  # rules that read payments would make the new catalog invalid
        data["topics"]["orders"]["events"]["OrderShipped"] = {
            "versions": [{"version": 1, "schema": "orders/order-cancelled.v1.schema.json"}]
        }

    _edit_catalog(spec_copy, edit)
    changes = compare_catalogs(load_catalog(SPEC), load_catalog(spec_copy))
    kinds = {(c.kind, c.topic, c.event_type) for c in changes}
    assert ("topic_removed", "payments", None) in kinds
    assert ("event_type_added", "orders", "OrderShipped") in kinds
    assert ("version_added", "orders", "OrderShipped") in kinds
    removed = next(c for c in changes if c.kind == "topic_removed")
    assert (removed.side, removed.pointer, removed.breaking) == ("old", "/topics/payments", True)


def test_topic_settings_changes(spec_copy: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["topics"]["orders"]["tombstones"] = "ignore"
        data["topics"]["orders"]["version"] = {"header": "v"}
        data["topics"]["customers.profile"]["owner"] = "team-other"
        data["topics"]["inventory"]["events"]["StockAdjusted"]["compatibility"] = "FULL"

    _edit_catalog(spec_copy, edit)
    changes = {c.kind: c for c in compare_catalogs(load_catalog(SPEC), load_catalog(spec_copy))}
    assert set(changes) == {
        "tombstones_changed",
        "version_locator_changed",
        "catalog_annotation_changed",
        "compatibility_mode_changed",
        # BACKWARD -> FULL: StockAdjusted v2 adds an optional property to a closed object, which
        # old readers reject, so the published history already breaks the stricter mode.
        "optional_property_added_to_unopen_content_model",
        "mode_violated_by_history",
    }
    assert changes["mode_violated_by_history"].breaking
    tombstones = changes["tombstones_changed"]
    assert (tombstones.backward_compatible, tombstones.forward_compatible) == (True, False)
    assert changes["catalog_annotation_changed"].severity == "cosmetic"


def test_a_severity_setting_change_is_cosmetic_it_changes_reports_not_what_passes(spec_copy: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["topics"]["orders"]["severity"] = {"undocumented_field": "off"}

    _edit_catalog(spec_copy, edit)
    (change,) = compare_catalogs(load_catalog(SPEC), load_catalog(spec_copy))
    assert (change.kind, change.severity, change.message) == (
        "catalog_annotation_changed",
        "cosmetic",
        "topic orders: severity changed",
    )


def test_tightening_the_mode_checks_the_published_versions(spec_copy: Path) -> None:
    """orders is FORWARD because OrderCreated v1 -> v2 breaks BACKWARD: tightening it must say so."""

    def edit(data: dict[str, Any]) -> None:
        data["topics"]["orders"]["compatibility"] = "BACKWARD"

    _edit_catalog(spec_copy, edit)
    changes = compare_catalogs(load_catalog(SPEC), load_catalog(spec_copy))
    assert verdict(changes) == "breaking"
    (history,) = [c for c in changes if c.kind == "mode_violated_by_history"]
    assert (history.event_type, history.mode, history.breaking) == ("OrderCreated", "BACKWARD", True)
    assert "v1 -> v2" in history.message
    assert {(c.version, c.against) for c in changes if c.breaking and c.kind != "mode_violated_by_history"} == {(2, 1)}


def test_loosening_the_compatibility_mode_is_flagged(spec_copy: Path) -> None:
    """BACKWARD -> NONE drops the backward guarantee: not breaking under NONE, but not silent."""

    def edit(data: dict[str, Any]) -> None:
        data["topics"]["inventory"]["events"]["StockAdjusted"]["compatibility"] = "NONE"

    _edit_catalog(spec_copy, edit)
    (change,) = compare_catalogs(load_catalog(SPEC), load_catalog(spec_copy))
    assert change.kind == "compatibility_mode_changed"
    assert (change.backward_compatible, change.forward_compatible, change.breaking) == (False, True, False)
    assert "no longer" in change.message
    (tightened,) = compare_catalogs(load_catalog(spec_copy), load_catalog(SPEC))
    assert (tightened.backward_compatible, tightened.forward_compatible) == (True, True)


def test_avro_document_definitions_win_over_referenced_files() -> None:
    """A named type the version defines itself is not shadowed by one of its references."""
    money = {"type": "record", "name": "Money", "namespace": "x", "fields": [{"name": "a", "type": "int"}]}
    other = {**money, "fields": [{"name": "a", "type": "string"}]}
    doc = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "m", "type": money}, {"name": "n", "type": "x.Money"}],
    }
    widened = {
        **doc,
        "fields": [{"name": "m", "type": {**money, "fields": [{"name": "a", "type": "long"}]}}, doc["fields"][1]],
    }
    references = (("ref.avsc", other),)
    old = compat.SchemaSource("avro", "v.avsc", doc, avro_references=references)
    new = compat.SchemaSource("avro", "v.avsc", widened, avro_references=references)
    assert compat_avro.root_node(old).child("fields", 1, "type").file == "v.avsc"
    (change,) = compat.compare_schemas(old, new)
    assert (change.kind, change.file) == ("type_promoted", "v.avsc")


def test_schema_format_change_is_breaking() -> None:
    old = compat.SchemaSource("json", "a.schema.json", {"type": "string"})
    new = compat.SchemaSource("avro", "a.avsc", "string")
    (change,) = compat.compare_schemas(old, new)
    assert (change.kind, change.breaking) == ("schema_format_changed", True)


def test_unresolvable_ref_is_a_spec_error() -> None:
    old = compat.SchemaSource("json", "a.schema.json", {"$ref": "missing.json"})
    with pytest.raises(SpecError, match=r"a\.schema\.json#/\$ref"):
        compat.compare_schemas(old, old)


def test_every_compatibility_mode_is_judged() -> None:
    old = compat.SchemaSource("json", "a.schema.json", {"type": "integer"})
    new = compat.SchemaSource("json", "a.schema.json", {"type": "number"})
    verdicts = {mode: verdict(compat.compare_schemas(old, new, mode)) for mode in COMPATIBILITY_MODES}
    assert verdicts == {
        "BACKWARD": "compatible",
        "BACKWARD_TRANSITIVE": "compatible",
        "FORWARD": "breaking",
        "FORWARD_TRANSITIVE": "breaking",
        "FULL": "breaking",
        "FULL_TRANSITIVE": "breaking",
        "NONE": "compatible",
    }


def test_rules_added_removed_and_changed_are_changes_not_breaks(spec_copy: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        rules = data["rules"]
        removed = rules.pop(0)
        rules[0]["horizon"] = "1d"
        rules.append({**removed, "id": "order-lifecycle-2"})

    _edit_catalog(spec_copy, edit)
    changes = compare_catalogs(load_catalog(SPEC), load_catalog(spec_copy))
    found = {(c.kind, c.pointer, c.side) for c in changes}
    assert ("rule_removed", "/rules/0", "old") in found
    assert ("rule_changed", "/rules/0", "new") in found
    assert any(kind == "rule_added" for kind, _, _ in found)
    assert not any(c.breaking for c in changes if c.kind.startswith("rule_"))
