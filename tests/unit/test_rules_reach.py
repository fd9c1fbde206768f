"""Expression rules see only what they can reach, and judge exactly as on the whole message (#15)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from stream_sentinel.core.rules.expression import compile_expression
from stream_sentinel.core.rules.reach import prune, reach


def test_reach_follows_field_chains_and_literal_indexes() -> None:
    assert reach("self.total_cents >= self.items[0].quantity * self.items[0].unit_price_cents") == {
        "total_cents": None,
        "items": {0: {"quantity": None, "unit_price_cents": None}},
    }
    # A method call, a macro or a computed index keeps the whole value it is applied to.
    assert reach("self.items.all(i, i.quantity > 0) && self.items[0].sku != ''") == {"items": None}
    assert reach("self.items[size(self.items) - 1].quantity > 0") == {"items": None}
    assert reach("has(self.coupon) && self.coupon.size() > 2") == {"coupon": None}


@pytest.mark.parametrize(
    "source", ["size(self) > 2", 'self["total_cents"] > 1', '"a" in self', "self.?coupon.hasValue()", "self == {}"]
)
def test_any_other_use_of_self_gets_the_whole_message(source: str) -> None:
    assert reach(source) is None


EXPRESSIONS = [
    "self.total_cents >= self.items[0].quantity * self.items[0].unit_price_cents",
    "self.items[2].quantity > 1 || self.currency == 'EUR'",
    "has(self.coupon) ? self.coupon.size() < 10 : true",
    "size(self.items) > 1 && self.customer.tier != 'gold'",
    "self.items.all(i, i.quantity > 0) && self.items.exists(i, i.sku == 'ABC-1')",
    "self.missing > 1",
    "self.items[7].quantity > 0",
    "self.customer.name.startsWith('J') && self.items[1].sku.size() > 3",
    "self.total_cents.x > 1",
]


def _payload(rng: random.Random) -> dict[str, Any]:
    items = [{"sku": "ABC-1", "quantity": rng.randrange(0, 4), "unit_price_cents": rng.randrange(1, 99)}]
    items *= rng.randrange(0, 4)
    body: dict[str, Any] = {
        "total_cents": rng.choice([rng.randrange(0, 300), "12", None]),
        "items": rng.choice([items, {"0": items}, "none"]),
        "currency": rng.choice(["EUR", "USD"]),
        "customer": {"tier": rng.choice(["gold", "silver"]), "name": rng.choice(["Jane", "Tom"])},
    }
    if rng.random() < 0.5:
        body["coupon"] = rng.choice(["FREE10", "A-VERY-LONG-COUPON"])
    if rng.random() < 0.2:
        del body[rng.choice(sorted(body))]
    return body


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_a_pruned_message_is_judged_exactly_as_the_whole_one(source: str) -> None:
    expression, tree = compile_expression(source), reach(source)
    assert tree is not None
    rng = random.Random(source)
    for _ in range(300):
        payload = _payload(rng)
        assert expression.evaluate(prune(payload, tree)) == expression.evaluate(payload), payload
