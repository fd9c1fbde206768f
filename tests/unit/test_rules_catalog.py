"""The catalog's ``rules:`` section: every mistake is exit 2 at its exact pointer, never a silent rule."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.errors import SpecError

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"


def with_rules(tmp_path: Path, rules: list[dict[str, Any]]) -> Path:
    target = tmp_path / "spec"
    shutil.copytree(SPEC, target)
    catalog = yaml.safe_load((target / "catalog.yaml").read_text())
    catalog["rules"] = copy.deepcopy(rules)
    (target / "catalog.yaml").write_text(_dump(catalog))
    return target


def _dump(data: Any) -> str:
    """YAML without anchors: the catalog loader refuses aliases, and tests share dicts."""
    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False)


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


BASE: dict[str, Any] = {"requirement": "REQ-X-1", "message": "m"}


def test_the_example_catalog_declares_one_rule_of_each_stateful_kind() -> None:
    catalog = load_catalog(SPEC)
    assert {r.kind for r in catalog.rules} >= {"transitions", "unique", "ordered", "follows"}
    lifecycle = next(r for r in catalog.rules if r.id == "order-lifecycle")
    assert lifecycle.entity["payments"] == ("order_id",)
    assert lifecycle.topics["orders"] == frozenset({"OrderCreated", "OrderCancelled"})


@pytest.mark.parametrize(
    ("rule", "pointer", "words"),
    [
        (
            {"id": "a", "kind": "unique", "events": {"nope": ["X"]}, "field": "/id", "horizon": "1h"},
            "/rules/0/events/nope",
            "no topic",
        ),
        (
            {"id": "a", "kind": "unique", "events": {"payments": ["Nope"]}, "field": "/id", "horizon": "1h"},
            "/rules/0/events/payments/0",
            "no event type 'Nope'",
        ),
        (
            {"id": "a", "kind": "unique", "events": {"payments": "*"}, "field": "", "horizon": "1h"},
            "/rules/0/field",
            "",
        ),
        (
            {"id": "a", "kind": "unique", "events": {"payments": "*"}, "field": "/id", "horizon": "0s"},
            "/rules/0/horizon",
            "out of range",
        ),
        (
            {
                "id": "a",
                "kind": "follows",
                "entity": {"orders": "/order_id"},
                "after": "OrderCreated",
                "expect": "PaymentAuthorized",
                "within": "1m",
            },
            "/rules/0/expect",
            "not an event type",
        ),
        (
            {
                "id": "a",
                "kind": "transitions",
                "entity": {"orders": "key"},
                "transitions": {"OrderCreated": ["Shipped"]},
            },
            "/rules/0",
            "state 'Shipped' is not an event type",
        ),
        (
            {
                "id": "a",
                "kind": "transitions",
                "entity": {"orders": "key"},
                "transitions": {"OrderCreated": ["OrderCancelled"]},
                "terminal": ["OrderCreated"],
            },
            "/rules/0/transitions/OrderCreated",
            "terminal",
        ),
        ({"id": "a", "kind": "ordered", "entity": {"orders": "/order_id"}, "horizon": "1h"}, "/rules/0", "horizon"),
        ({"id": "Bad Id", "kind": "ordered", "entity": {"orders": "/order_id"}}, "/rules/0/id", ""),
    ],
)
def test_a_wrong_rule_is_a_spec_error_at_its_pointer(
    tmp_path: Path, rule: dict[str, Any], pointer: str, words: str
) -> None:
    spec = with_rules(tmp_path, [{**BASE, **rule}])
    with pytest.raises(SpecError) as caught:
        load_catalog(spec)
    assert caught.value.pointer == pointer, str(caught.value)
    assert words in caught.value.cause


def test_rule_ids_are_unique(tmp_path: Path) -> None:
    rule = {**BASE, "id": "a", "kind": "ordered", "entity": {"orders": "/order_id"}}
    with pytest.raises(SpecError, match="already used by /rules/0"):
        load_catalog(with_rules(tmp_path, [rule, rule]))


def test_an_event_type_of_two_entity_topics_is_ambiguous_in_a_follows_rule(tmp_path: Path) -> None:
    spec = with_rules(tmp_path, [])
    catalog = yaml.safe_load((spec / "catalog.yaml").read_text())
    catalog["topics"]["orders-copy"] = catalog["topics"]["orders"]
    catalog["rules"] = [
        {
            **BASE,
            "id": "a",
            "kind": "follows",
            "entity": {"orders": "/order_id", "orders-copy": "/order_id"},
            "after": "OrderCreated",
            "expect": "OrderCancelled",
            "within": "1m",
        }
    ]
    (spec / "catalog.yaml").write_text(_dump(catalog))
    with pytest.raises(SpecError, match="ambiguous"):
        load_catalog(spec)


def test_spec_lists_the_rules_REQ_ORD_10() -> None:
    import io

    from stream_sentinel.cli import run

    out, err = io.StringIO(), io.StringIO()
    code = run(["spec", "--spec", str(SPEC)], stdin=io.BytesIO(), stdout=out, stderr=err)
    assert code == 0
    assert "  order-lifecycle  (transitions, breaking, owner team-orders)  [REQ-ORD-10]" in out.getvalue()


def test_spec_refuses_a_cel_expression_that_does_not_compile(tmp_path: Path) -> None:
    import io

    from stream_sentinel.cli import run

    rule = {**BASE, "id": "x", "kind": "expression", "events": {"orders": "*"}, "expression": "self.a <="}
    spec = with_rules(tmp_path, [rule])
    out, err = io.StringIO(), io.StringIO()
    code = run(["spec", "--spec", str(spec)], stdin=io.BytesIO(), stdout=out, stderr=err)
    assert code == 2
    assert err.getvalue().count("\n") == 1
    assert "catalog.yaml#/rules/0/expression: CEL: " in err.getvalue()
