"""Benchmark: the two CEL libraries on PyPI, same rule, same payloads, same run (issue #15).

The ``expression`` rule kind needs a CEL interpreter callable from Python. Candidates:
  common-expression-language  the Rust ``cel`` crate behind a PyO3 binding (``import cel``);
                              what stream_sentinel/core/rules/expression.py uses
  cel-python                  a pure-Python interpreter on a Lark parser (``import celpy``)

Workload: the example catalog's refund rule over OrderCancelled-shaped payloads (90% within the
total, 5% above it, 5% without a refund):
    !has(self.refund_cents) || self.refund_cents <= self.total_cents
Both sides start from the decoded JSON payload (a dict), as the rules do: the Rust binding
converts it inside ``execute``; cel-python needs ``celpy.json_to_cel`` first, which is counted
(its evaluate-only time is printed beside). Both must give the same answer on every payload.

Printed figures (best of interleaved rounds): µs per evaluation for each side, evaluations/s, and
the compile time of each library (mean over repeated compiles). Also the product's own call,
``Expression.evaluate``: it hands the binding only the top-level fields the rule reads (the
conversion of the whole message is most of the binding's cost), plus the try/except and the
result check.
The last line is ``ratio=<cel-python time / common-expression-language time>`` per evaluation:
how many times faster the chosen library is.

Named cel_libs.py, not cel.py: run as a script, bench/ is sys.path[0] and a bench/cel.py would
shadow the ``cel`` package it measures.

Run: make bench-cel   (or: .venv/bin/python bench/cel_libs.py [--messages N] [--rounds R])
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

import cel

from stream_sentinel.core.rules.expression import compile_expression

RULE = "!has(self.refund_cents) || self.refund_cents <= self.total_cents"
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def workload(n: int, seed: int = 15) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        total = rng.randrange(500, 200_000)
        payload: dict[str, Any] = {
            "order_id": "ord_" + "".join(rng.choices(ALNUM, k=12)),
            "reason": rng.choice(["customer_request", "payment_failed", "out_of_stock"]),
            "cancelled_at": f"2026-11-{rng.randrange(10, 28)}T{rng.randrange(10, 23)}:{rng.randrange(10, 59)}:00Z",
            "total_cents": total,
            "currency": rng.choice(["EUR", "USD", "GBP"]),
        }
        if i % 20 == 19:
            pass  # no refund: has() keeps the rule true
        elif i % 20 == 18:
            payload["refund_cents"] = total + rng.randrange(1, 1000)  # above the total: false
        else:
            payload["refund_cents"] = rng.randrange(0, total + 1)
        out.append(payload)
    return out


def best_seconds(fn: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def mean_compile_us(compile_once: Callable[[], Any], times: int) -> float:
    start = time.perf_counter()
    for _ in range(times):
        compile_once()
    return (time.perf_counter() - start) / times * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compiles", type=int, default=200)
    args = parser.parse_args()

    payloads = workload(args.messages)
    n = len(payloads)
    program = cel.compile(RULE)
    execute = program.execute
    expression = compile_expression(RULE)
    evaluate = expression.evaluate
    expected = [execute({"self": p}) for p in payloads]
    assert expected.count(False) == n // 20, "the workload has 5% refunds above the total"

    def rust_side() -> None:
        for payload in payloads:
            execute({"self": payload})

    def product_side() -> None:
        for payload in payloads:
            evaluate(payload)

    rust_compile_us = mean_compile_us(lambda: cel.compile(RULE), args.compiles)
    print(f"workload: {n} OrderCancelled-shaped payloads (5% refund above the total, 5% without refund)")
    print(f"rule: {RULE}")

    try:
        import celpy
        from celpy.adapter import json_to_cel
    except ImportError:
        rust_s = best_seconds(rust_side, args.rounds)
        print(f"common-expression-language: {rust_s / n * 1e6:.3f} us/eval, compile {rust_compile_us:.1f} us")
        print("cel-python: not installed (pip install -e '.[dev]' brings it); no comparison in this run")
        print("ratio=nan")
        return

    env = celpy.Environment()
    py_program = env.program(env.compile(RULE))
    py_evaluate, to_cel = py_program.evaluate, json_to_cel
    assert [bool(py_evaluate({"self": to_cel(p)})) for p in payloads] == expected, "the libraries disagree"
    converted = [{"self": to_cel(p)} for p in payloads]

    def python_side() -> None:
        for payload in payloads:
            py_evaluate({"self": to_cel(payload)})

    def python_evaluate_only() -> None:
        for activation in converted:
            py_evaluate(activation)

    def python_compile() -> Any:
        return env.program(env.compile(RULE))

    py_compile_us = mean_compile_us(python_compile, max(1, args.compiles // 10))
    # Rounds interleave the sides so drift in machine load hits both equally.
    rust_s = product_s = python_s = python_eval_s = float("inf")
    for _ in range(args.rounds):
        rust_s = min(rust_s, best_seconds(rust_side, 1))
        product_s = min(product_s, best_seconds(product_side, 1))
        python_s = min(python_s, best_seconds(python_side, 1))
        python_eval_s = min(python_eval_s, best_seconds(python_evaluate_only, 1))

    rust_us, product_us = rust_s / n * 1e6, product_s / n * 1e6
    python_us, python_eval_us = python_s / n * 1e6, python_eval_s / n * 1e6
    print(f"common-expression-language (Program.execute):   {rust_us:8.3f} us/eval  {n / rust_s:>12,.0f} eval/s")
    print(f"  as the rules call it (Expression.evaluate):    {product_us:8.3f} us/eval  {n / product_s:>12,.0f} eval/s")
    print(f"cel-python (json_to_cel + Runner.evaluate):      {python_us:8.3f} us/eval  {n / python_s:>12,.0f} eval/s")
    print(f"  evaluate only (payload converted beforehand):  {python_eval_us:8.3f} us/eval")
    print(f"compile: common-expression-language {rust_compile_us:.1f} us, cel-python {py_compile_us:.1f} us")
    print(f"compile_ratio={py_compile_us / rust_compile_us:.1f}")
    print(f"ratio={python_us / rust_us:.1f}")


if __name__ == "__main__":
    main()
