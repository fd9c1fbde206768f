"""Micro-benchmark: what Faust's per-message hand-over costs, versus a plain await.

faust-streaming's ``Consumer._drain_messages`` delivers each message through
``Service.wait_first(callback(message), suspend_flow.wait())`` (asyncio tasks plus
``asyncio.wait``); stream_sentinel/worker/transport.py races the flow switch once per fetched
batch instead. This prints both costs per message, with a callback that does nothing.

Run: .venv/bin/python bench/handover.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from mode import Service


async def measure(n: int) -> tuple[float, float]:
    service = Service()
    await service.start()
    suspended = asyncio.Event()

    async def callback(_: int) -> None:
        return None

    started = time.perf_counter()
    for i in range(n):
        await service.wait_first(callback(i), suspended.wait())
    raced = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for i in range(n):
        await callback(i)
    plain = (time.perf_counter() - started) / n
    await service.stop()
    return raced, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    raced, plain = asyncio.run(measure(args.messages))
    print(f"Faust wait_first per message: {raced * 1e6:8.2f} us")
    print(f"plain await per message:      {plain * 1e6:8.2f} us")
    print(f"ratio={raced / plain:.1f}")


if __name__ == "__main__":
    main()
