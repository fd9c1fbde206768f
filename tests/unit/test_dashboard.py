"""The dashboard without a broker: its buffer's bounds, the page, the rendering cache and the command's exits."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.capture import read_capture
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.health import model as m
from stream_sentinel.core.health.aggregate import contracts_of
from stream_sentinel.dashboard import reader as r
from stream_sentinel.dashboard.buffer import EXPIRED, MAX_BYTES, MAX_RECORDS, RecordBuffer
from stream_sentinel.dashboard.page import CACHE_SECONDS, Dashboard, DashboardConfig, build_page
from stream_sentinel.dashboard.server import application
from stream_sentinel.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
WEEK = ROOT / "replay" / "drift-topic" / "week.jsonl"
SINCE, UNTIL = 1794564000000, 1795168800000  # the golden week: 2026-11-13T10:00Z to 2026-11-20T10:00Z


def week() -> list[bytes]:
    return [msg.value for msg in read_capture(WEEK.read_bytes().splitlines()) if msg.value is not None]


def contracts() -> dict[str, object]:
    return dict(contracts_of(load_engine(str(SPEC)).catalog, exclude=("sentinel.drift",)))


def config(**overrides: object) -> DashboardConfig:
    values: dict[str, object] = {
        "kwargs": {"bootstrap_servers": ["127.0.0.1:1"]},
        "drift_topic": "sentinel.drift",
        "lookback_ms": UNTIL - SINCE,
        "window_ms": 60_000,
        "max_records": 1000,
        "max_bytes": 1 << 20,
        "refresh": 30,
        "consumers_interval": 0.0,
        "timeout": 1.0,
        "own_groups": "sentinel",
    }
    return DashboardConfig(**{**values, **overrides})  # type: ignore[arg-type]


# -- the buffer -------------------------------------------------------------------------------------


def test_buffer_drops_the_oldest_past_its_record_bound_and_says_from_when_it_is_complete() -> None:
    buffer = RecordBuffer(max_records=3, max_bytes=1000, lookback_ms=1000)
    for ts in range(100, 105):
        buffer.add(ts, b"x", now_ms=500)
    assert buffer.snapshot() == [b"x"] * 3
    assert buffer.dropped[MAX_RECORDS] == 2
    assert buffer.complete_after == 101


def test_buffer_bounds_bytes_skips_old_records_and_expires_with_time() -> None:
    buffer = RecordBuffer(max_records=100, max_bytes=10, lookback_ms=1000)
    buffer.add(0, b"too old", now_ms=5000)
    buffer.add(4500, None, now_ms=5000)  # a tombstone
    assert len(buffer) == 0
    buffer.add(4500, b"12345", now_ms=5000)
    buffer.add(4600, b"67890", now_ms=5000)
    buffer.add(4700, b"abc", now_ms=5000)
    assert buffer.snapshot() == [b"67890", b"abc"]
    assert (buffer.bytes, buffer.dropped[MAX_BYTES]) == (8, 1)
    buffer.add(4800, b"x" * 11, now_ms=5000)  # larger than the whole bound: never kept
    assert buffer.dropped[MAX_BYTES] == 2
    buffer.trim(now_ms=5650)
    assert buffer.snapshot() == [b"abc"]
    assert buffer.dropped[EXPIRED] == 1


# -- the page ---------------------------------------------------------------------------------------


def test_page_has_the_alerts_anchor_for_every_topic_and_escapes_its_notices() -> None:
    period = m.Period(SINCE, UNTIL)
    html, drifting = build_page(week(), contracts(), period, None, ["reader <b>failing</b>"], 30)  # type: ignore[arg-type]
    for topic in ("orders", "payments", "customers.profile", "clickstream", "inventory", "shipments"):
        assert html.count(f'id="topic-{topic}"') == 1, topic  # core.alerts.TOPIC_ANCHOR
    assert '<p class="notice" role="status">reader &lt;b&gt;failing&lt;/b&gt;</p>' in html
    assert '<meta http-equiv="refresh" content="30">' in html
    assert "<script" not in html
    assert set(drifting) == {"orders", "payments", "customers.profile"}
    assert drifting["orders"]  # partition -> drifting offsets, for the consumers' look


def test_page_says_not_collected_for_a_drifting_topic_the_last_look_did_not_cover() -> None:
    period = m.Period(SINCE, UNTIL)
    looked = {"orders": [m.ConsumerImpact("billing", True, 2, "", 0)]}
    html, _ = build_page(week(), contracts(), period, looked, [], 0)  # type: ignore[arg-type]
    assert "<td>billing</td><td>yes</td>" in html
    assert html.count("Consumer groups: not collected.") == 2  # payments, customers.profile
    assert "http-equiv" not in html  # refresh 0: no reload


def test_one_rendering_serves_a_page_storm_until_the_cache_expires() -> None:
    now = [UNTIL / 1000]
    dashboard = Dashboard(config(), contracts(), clock=lambda: now[0])  # type: ignore[arg-type]
    for value in week():
        dashboard.buffer.add(UNTIL - 1000, value, UNTIL)

    async def storm() -> list[str]:
        return list(await asyncio.gather(*(dashboard.page() for _ in range(50))))

    pages = asyncio.run(storm())
    assert dashboard.renderings == 1
    assert len(set(pages)) == 1
    assert 'data-topic="orders" data-status="drifting"' in pages[0]
    assert "Affected consumers: not collected (switched off)." in pages[0]
    now[0] += CACHE_SECONDS + 1
    asyncio.run(dashboard.page())
    assert dashboard.renderings == 2


def test_the_page_says_when_its_reader_fails_waits_or_is_behind() -> None:
    now = [1000.0]
    dashboard = Dashboard(config(), contracts(), clock=lambda: now[0])  # type: ignore[arg-type]
    reader = dashboard.reader
    assert "Connecting to the drift topic sentinel.drift" in dashboard.notices()[0]
    reader._set(r.FAILING, "no answer from the brokers within 1 s")
    assert "failing (no answer from the brokers within 1 s)" in dashboard.notices()[0]
    reader._set(r.WAITING, "")
    assert "does not exist yet" in dashboard.notices()[0]
    reader._set(r.FOLLOWING)
    reader.lag, reader.caught_up_at = 0, now[0]
    assert reader.notice() is None
    reader.lag = 1234
    now[0] += r.BEHIND_AFTER + 1
    assert "1,234 records behind" in (reader.notice() or "")


def test_server_answers_the_page_and_nothing_else() -> None:
    dashboard = Dashboard(config(), contracts())  # type: ignore[arg-type]

    async def scenario() -> tuple[int, str, int, int, int]:
        from aiohttp import web

        runner = web.AppRunner(application(dashboard))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as page:
                    text = await page.text()
                    status = page.status
                async with session.get(f"http://127.0.0.1:{port}/drift") as other:
                    missing = other.status
                async with session.post(f"http://127.0.0.1:{port}/") as post:
                    posted = post.status
                async with session.get(f"http://127.0.0.1:{port}/health") as health:
                    healthy = health.status
            return status, text, missing, posted, healthy
        finally:
            await runner.cleanup()

    status, text, missing, posted, healthy = asyncio.run(scenario())
    assert (status, missing, posted, healthy) == (200, 404, 405, 200)
    assert "<title>Drift dashboard · stream-sentinel</title>" in text


# -- the command ------------------------------------------------------------------------------------


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), io.BytesIO(), out, err)
    return code, out.getvalue(), err.getvalue()


def test_dashboard_command_without_brokers_is_exit_3_in_one_line() -> None:
    code, _, err = cli("dashboard", "--bootstrap", f"127.0.0.1:{free_port()}", "--timeout", "1", "--spec", str(SPEC))
    assert code == 3, err
    assert err.startswith("stream-sentinel: cannot reach the Kafka brokers")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--spec", "/nonexistent-spec"), "/nonexistent-spec"),
        (("--lookback", "soon"), "not a duration"),
        (("--port", "70000"), "not a port"),
    ],
)
def test_dashboard_command_usage_and_spec_errors_are_exit_2(argv: tuple[str, ...], says: str) -> None:
    code, _, err = cli("dashboard", "--bootstrap", f"127.0.0.1:{free_port()}", "--timeout", "1", *argv)
    assert code == 2, err
    assert says in err
    assert "Traceback" not in err


def test_dashboard_command_never_imports_faust() -> None:
    script = (
        "import io, sys\n"
        "from stream_sentinel.cli import run\n"
        f"run(['dashboard', '--bootstrap', '127.0.0.1:{free_port()}', '--timeout', '1', '--spec', {str(SPEC)!r}],"
        " io.BytesIO(), io.StringIO(), io.StringIO())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode', 'rocksdict')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_every_alert_link_lands_on_an_anchor_of_the_page() -> None:
    from urllib.parse import unquote, urlsplit

    from stream_sentinel.core import alerts as a

    html, _ = build_page(week(), contracts(), m.Period(SINCE, UNTIL), None, [], 30)  # type: ignore[arg-type]
    for topic in statuses_of(html):
        fragment = urlsplit(a.topic_link("https://sentinel.example.com", topic) or "").fragment
        assert f'id="{unquote(fragment)}"' in html, topic


def statuses_of(html: str) -> list[str]:
    import re

    return re.findall(r'data-topic="([^"]+)"', html)
