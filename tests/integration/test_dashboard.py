"""The drift dashboard in a real browser: a worker's ``/`` on the embedded broker with live drift.

Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) are driven by Selenium
through ``/usr/bin/chromedriver`` named explicitly, so Selenium Manager never downloads a browser
or a driver. Without them the browser test skips and says why. The screenshot is kept under the
test's tmp dir, and in ``$SENTINEL_SCREENSHOT_DIR`` when set (CI artefacts, ``docs/dashboard.png``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stream_sentinel.embedded import free_port
from stream_sentinel.testing import create_topics
from tests.integration.conftest import Harness, order_messages, produce, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROW = re.compile(r'data-topic="([^"]+)" data-status="([^"]+)"')
AUDIT_MESSAGES = 5


def statuses(page: str) -> dict[str, str]:
    return dict(ROW.findall(page))


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        return str(response.read().decode())


def live_drift(harness: Harness) -> tuple[int, str]:
    """A worker reading a contracted topic with drift and an uncovered one; its port and the uncovered topic."""
    audit = f"{harness.topic}-audit"  # matches the pattern, has no contract
    asyncio.run(create_topics(harness.bootstrap, [audit], 1))
    _, port = harness.start_worker(
        alert_mode="first",
        tumbling_window="2",
        hopping_window="4",
        hopping_step="2",
        subscribe_pattern=f"^{audit}$",
        dashboard_refresh="5",
        dashboard_lookback="3600",
    )
    harness.produce(order_messages())
    asyncio.run(produce(harness.bootstrap, audit, [(b'{"who": "admin"}', ())] * AUDIT_MESSAGES))

    def shown() -> bool:
        seen = statuses(fetch(port))
        return seen.get(harness.topic) == "drifting" and seen.get(audit) == "uncovered"

    wait_for(shown, timeout=90, interval=1.0)
    return port, audit


def browser(tmp_path: Path) -> Any:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1800",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def keep_screenshot(driver: Any, tmp_path: Path) -> Path:
    """A full-page screenshot under the tmp dir, copied to $SENTINEL_SCREENSHOT_DIR when set."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(900, int(height) + 40), 6000))
    shot = tmp_path / "dashboard.png"
    assert driver.save_screenshot(str(shot))
    target = os.environ.get("SENTINEL_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / "dashboard.png")
    return shot


def test_dashboard_in_a_browser_shows_drift_owner_rate_and_uncovered_topics_REQ_SEN_5(
    harness: Harness, tmp_path: Path
) -> None:
    driver = browser(tmp_path)
    try:
        port, audit = live_drift(harness)
        from selenium.webdriver.common.by import By

        driver.get(f"http://127.0.0.1:{port}/")
        assert driver.title.startswith("Drift dashboard")
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-topic="{harness.topic}"]')
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        # Topic, status, owner, messages, drift rate, now, trend, open, fixed: what a person reads.
        assert cells[0] == harness.topic
        assert cells[1] == "drifting"
        assert cells[2] == "team-orders"
        assert re.fullmatch(r"\d+\.\d\d %", cells[4]), cells
        assert int(cells[7]) >= 1
        uncovered = driver.find_element(By.CSS_SELECTOR, f'tr[data-topic="{audit}"]')
        assert uncovered.find_elements(By.TAG_NAME, "td")[1].text == "uncovered"
        assert audit in driver.find_element(By.CSS_SELECTOR, "ul.coverage").text
        # Every topic has the anchor alerts link to (core.alerts.TOPIC_ANCHOR), and it lands on the topic.
        for topic in statuses(driver.page_source):
            assert driver.find_elements(By.ID, f"topic-{topic}"), topic
        driver.get(f"http://127.0.0.1:{port}/#topic-{harness.topic}")
        section = driver.find_element(By.ID, f"topic-{harness.topic}")
        assert "REQ-ORD-3" in section.text
        assert "Suggested fix" in section.text
        # Self-contained: reloads itself without JavaScript, nothing fetched from elsewhere.
        source = driver.page_source
        assert driver.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"][content="5"]')
        assert "<script" not in source
        assert not re.search(r'(src|href)="(https?:)?//', source)
        driver.get(f"http://127.0.0.1:{port}/")  # the page from its top for the screenshot
        shot = keep_screenshot(driver, tmp_path)
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_dashboard_command_and_a_second_worker_serve_the_same_page_and_it_stops_on_ctrl_c(
    harness: Harness, tmp_path: Path
) -> None:
    worker_port, audit = live_drift(harness)
    port = free_port()
    env = {**os.environ, "SENTINEL_TUMBLING_WINDOW": "2", "SENTINEL_APP_ID": harness.app_id}
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "stream_sentinel", "dashboard", "--bootstrap", harness.bootstrap),
                *("--port", str(port), "--spec", str(harness.spec), "--drift-topic", harness.drift_topic),
                *("--lookback", "1h"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        page = wait_for(lambda: (p := fetch(port)) and statuses(p).get(audit) == "uncovered" and p, timeout=60)
        # The same cluster view as the worker's own page (both read the whole drift topic), and
        # as a second worker's, which owns other partitions.
        assert statuses(page) == statuses(fetch(worker_port))
        _, second = harness.start_worker("w2", tumbling_window="2", hopping_window="4", hopping_step="2")
        wait_for(lambda: statuses(fetch(second)) == statuses(page), timeout=60, interval=1.0)
        assert statuses(page)[harness.topic] == "drifting"
        assert f'id="topic-{harness.topic}"' in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert f"dashboard: http://127.0.0.1:{port}/" in text
    assert "dashboard stopped" in text
    assert "Traceback" not in text
