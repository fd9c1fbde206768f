"""Alerts routed to owners, the pure part: routing, rate limiting, rendering (core/alerts.py) and the settings."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_sentinel.alert_settings import core_routes
from stream_sentinel.cli import run
from stream_sentinel.config import MASK, Settings
from stream_sentinel.core import alerts as a
from stream_sentinel.core.assess import Assessor, Policy, Ref
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.errors import UsageError

SPEC = Path(__file__).resolve().parents[2] / "spec" / "events"
HOOK = "https://hooks.example.com/services/T000/B000/s3cr3t-t0ken"


def drift_event(**changes: Any) -> dict[str, Any]:
    """A real drift event of the example orders contract: a customer email of the wrong type (x-pii)."""
    engine = Engine.from_spec_dir(str(SPEC))
    checker = engine.checker("orders")
    assert checker is not None
    value = orjson.dumps(
        {
            "order_id": "ord-1",
            "customer": {"id": "c-1", "email": 42},
            "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 100}],
            "total_cents": 100,
            "currency": "EUR",
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    outcome = checker.check(value, [("event-type", b"OrderCreated"), ("schema-version", b"2")])
    assessment = Assessor(Policy()).assess(outcome, Ref("orders", 3, 17, 1_795_000_000_000, b"k", "json"))
    assert assessment is not None
    [event] = [e.to_dict() for e in assessment.events() if e.path == "/customer/email"]
    event.update(changes)
    return event


def alert(**changes: Any) -> a.Alert:
    fields: dict[str, Any] = {
        "fingerprint": "0123456789abcdef",
        "drift_id": "d" * 32,
        "severity": "breaking",
        "requirement": "REQ-ORD-2",
        "owner": "team-orders",
        "topic": "orders",
        "event_type": "OrderCreated",
        "kind": "type_mismatch",
        "path": "/total_cents",
        "expected": "integer",
        "actual": {"type": "string", "value": '"12.50"'},
        "message": "/total_cents (REQ-ORD-2) should be integer but is string",
        "suggested_fix": "send total_cents as an integer",
        "partition": 0,
        "offset": 7,
        "window": a.Window(3, 120, 1_795_000_020_000, 1_795_000_080_000),
        "link": "https://sentinel.example.com/#topic-orders",
    }
    fields.update(changes)
    return a.Alert(**fields)


# -- routing --------------------------------------------------------------------------------------


def test_a_route_takes_its_owner_or_every_owner_at_its_severity_or_above() -> None:
    team = a.Route("team", owner="team-orders", min_severity="warning")
    every = a.Route("every", owner="*", min_severity="breaking")
    assert team.wants("team-orders", "warning")
    assert team.wants("team-orders", "breaking")
    assert not team.wants("team-orders", "info")
    assert not team.wants("team-payments", "breaking")
    assert not team.wants(None, "breaking")
    assert every.wants(None, "breaking")  # drift without an owner still reaches a catch-all route
    assert not every.wants("team-orders", "warning")
    assert not every.wants("team-orders", "nonsense")


def test_routes_refuse_unknown_styles_and_severities() -> None:
    with pytest.raises(ValueError, match="style"):
        a.Route("r", style="teams")
    with pytest.raises(ValueError, match="severity"):
        a.Route("r", min_severity="fatal")


def test_routed_sends_to_every_matching_route_and_rate_limits_each_on_its_own() -> None:
    routes = [a.Route("orders", owner="team-orders"), a.Route("all", min_severity="info"), a.Route("pay", "team-pay")]
    limiter = a.RateLimiter(interval_ms=60_000)
    assert a.routed(alert(), routes, limiter, 0) == ([0, 1], [])
    assert a.routed(alert(), routes, limiter, 1_000) == ([], [0, 1])
    other = alert(fingerprint="fedcba9876543210")
    assert a.routed(other, routes, limiter, 1_000) == ([0, 1], [])  # another rule is another alert
    assert a.routed(alert(), routes, limiter, 60_000) == ([0, 1], [])  # the interval has passed


def test_probe_drift_alerts_only_when_asked() -> None:
    assert a.alerts_on({"origin": "live"})
    assert a.alerts_on({})  # older events without the field
    assert not a.alerts_on({"origin": a.PROBE})
    assert a.alerts_on({"origin": a.PROBE}, probes=True)
    assert a.alerts_of([{"origin": "live"}, {"origin": "probe"}]) == [{"origin": "live"}]


# -- rate limiting ----------------------------------------------------------------------------------


def test_the_rate_limiter_allows_a_key_once_per_interval_on_the_clock_it_is_given() -> None:
    limiter = a.RateLimiter(interval_ms=1000)
    assert limiter.allow("fp", 5_000)
    assert not limiter.allow("fp", 5_999)
    assert limiter.allow("fp", 6_000)
    assert not limiter.allow("fp", 6_500)
    limiter.forget("fp")
    assert limiter.allow("fp", 6_500)


def test_the_rate_limiter_is_bounded_and_forgets_expired_keys_first() -> None:
    limiter = a.RateLimiter(interval_ms=1000, max_keys=3)
    for n in range(3):
        assert limiter.allow(n, n)
    assert limiter.allow("new", 1_001)  # 0 and 1 expired: dropped, not counted against the bound
    assert len(limiter) == 2
    for n in range(10, 20):
        assert limiter.allow(n, 1_002)
    assert len(limiter) == 3  # never more than max_keys, whatever producers break
    with pytest.raises(ValueError, match="interval"):
        a.RateLimiter(-1)


def test_an_interval_of_zero_alerts_every_first_event() -> None:
    limiter = a.RateLimiter(interval_ms=0)
    assert limiter.allow("fp", 1)
    assert limiter.allow("fp", 1)


def test_a_retry_after_header_in_seconds_is_honoured_up_to_the_ceiling() -> None:
    assert a.retry_after("3", 60.0) == 3.0
    assert a.retry_after(" 120 ", 60.0) == 60.0
    assert a.retry_after(None, 60.0) is None
    assert a.retry_after("Wed, 21 Oct 2026 07:28:00 GMT", 60.0) is None


def test_retries_back_off_exponentially_up_to_a_ceiling() -> None:
    assert a.retry_delays(5, 1.0, 10.0) == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert a.retry_delays(0, 1.0, 10.0) == []
    assert [s for s in (200, 400, 404, 408, 429, 500, 503) if a.retryable(s)] == [408, 429, 500, 503]


# -- what an alert says -------------------------------------------------------------------------------


def test_an_alert_of_a_real_drift_event_says_what_a_person_needs_and_no_payload_value() -> None:
    event = drift_event()
    got = a.Alert.of(event, a.Window(2, 40, 1_795_000_000_000, 1_795_000_060_000), "https://s.example/#topic-orders")
    body = a.json_body(got)
    assert body["type"] == a.ALERT_TYPE
    assert body["requirement"] == event["requirement"]
    assert body["owner"] == event["owner"]
    assert (body["topic"], body["event_type"], body["kind"]) == ("orders", "OrderCreated", event["kind"])
    assert (body["path"], body["expected"], body["actual"]) == (event["path"], event["expected"], event["actual"])
    assert body["suggested_fix"] == event["suggested_fix"]
    assert body["window"] == {
        "start": 1_795_000_000_000,
        "end": 1_795_000_060_000,
        "count": 2,
        "messages": 40,
        "rate": 0.05,
    }
    assert body["dashboard"] == "https://s.example/#topic-orders"
    assert event["actual"].get("redacted") is True  # the email is x-pii: the drift event withholds it
    rendered = orjson.dumps(body) + orjson.dumps(a.slack_body(got))
    assert b"42" not in rendered.replace(b"1795000", b"")  # the email's value appears nowhere
    assert b"2026-01-01T00:00:00Z" not in rendered
    assert b"EUR" not in rendered
    assert b'"k"' not in rendered  # nor the message key


def test_the_text_names_requirement_owner_topic_kind_path_expected_actual_count_rate_fix_and_link() -> None:
    shown = a.text(alert())
    for part in (
        "breaking drift on orders / OrderCreated",
        "requirement: REQ-ORD-2",
        "owner: team-orders",
        "kind: type_mismatch",
        "path: /total_cents",
        "expected: integer",
        'actual: string "12.50"',
        "3 violations of 120 messages (2.50%) in the window 2026-11-18 11:07–11:08 UTC so far",
        "fix: send total_cents as an integer",
        "dashboard: https://sentinel.example.com/#topic-orders",
    ):
        assert part in shown, part


def test_counts_read_well_without_a_window_or_messages() -> None:
    assert a.counted(None) == "see the dashboard"
    assert a.counted(a.Window(1)) == "1 violation in the batch that found it"
    assert a.Window(1).rate is None
    assert a.shown_actual({"type": "string", "redacted": True}) == "string (redacted)"
    assert a.shown_actual({"type": "missing"}) == "missing"
    assert a.shown_actual({"type": "array", "value": "array of 5 items"}) == "array of 5 items"


def test_the_slack_body_is_an_incoming_webhook_body_with_blocks_and_a_dashboard_link() -> None:
    body = a.slack_body(alert())
    assert body["text"].startswith("breaking drift on orders / OrderCreated")
    types = [block["type"] for block in body["blocks"]]
    assert types == ["header", "section", "section", "section", "context"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in body["blocks"][2]["fields"]}
    assert fields["*Requirement*"] == "REQ-ORD-2"
    assert fields["*Owner*"] == "team-orders"
    assert fields["*Expected*"] == "integer"
    assert len(body["blocks"][2]["fields"]) <= 10  # Slack's limit per section
    assert body["blocks"][-1]["elements"][0]["text"].startswith("<https://sentinel.example.com/#topic-orders|")
    assert len(body["blocks"][0]["text"]["text"]) <= 150
    assert "blocks" not in a.json_body(alert())


def test_producer_controlled_text_cannot_mention_or_link_in_slack() -> None:
    nasty = alert(path="/<!channel>", expected="<https://evil.example|click>", message="a & b <@U123>")
    body = orjson.dumps(a.slack_body(nasty)).decode()
    assert "<!channel>" not in body
    assert "<@U123>" not in body
    assert "<https://evil" not in body
    assert "&lt;!channel&gt;" in body
    long = alert(expected="x" * 10_000)
    assert all(len(f["text"]) < 2000 for f in a.slack_body(long)["blocks"][2]["fields"])


def test_topic_links_quote_the_topic_under_the_dashboard_base() -> None:
    assert a.topic_link("https://s.example/", "orders.v1") == "https://s.example/#topic-orders.v1"
    assert a.topic_link("http://h:6066", "a b/c") == "http://h:6066/#topic-a%20b%2Fc"
    assert a.topic_link(None, "orders") is None
    assert orjson.loads(a.body(alert(), "slack"))["blocks"]
    assert orjson.loads(a.body(alert(), "json"))["type"] == a.ALERT_TYPE


# -- settings -----------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SENTINEL_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
def test_routes_come_from_the_environment_as_json_with_the_urls_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = [
        {"owner": "team-orders", "url": HOOK, "style": "slack"},
        {"url": "http://127.0.0.1:9/alerts", "min_severity": "warning", "name": "ops"},
    ]
    monkeypatch.setenv("SENTINEL_ALERT_ROUTES", orjson.dumps(routes).decode())
    settings = Settings.load()
    assert settings.alert_routes[0].url.get_secret_value() == HOOK
    shown = settings.describe()["alert_routes"]
    assert shown == [
        {"url": MASK, "owner": "team-orders", "style": "slack", "min_severity": "breaking", "name": None},
        {"url": MASK, "owner": "*", "style": "json", "min_severity": "warning", "name": "ops"},
    ]
    assert HOOK not in repr(settings)
    assert HOOK not in str(settings)
    assert HOOK not in str(shown)
    assert core_routes(settings.alert_routes) == [
        a.Route("0:team-orders", "team-orders", "slack", "breaking"),
        a.Route("ops", "*", "json", "warning"),
    ]


@pytest.mark.usefixtures("clean_env")
def test_routes_come_from_the_config_file_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text(f"alert_routes:\n  - {{owner: team-orders, url: '{HOOK}', style: slack}}\nalert_interval: 600\n")
    settings = Settings.load(path)
    assert settings.alert_routes[0].owner == "team-orders"
    assert settings.alert_interval == 600


@pytest.mark.parametrize(
    ("routes", "error"),
    [
        ([{"url": "ftp://hooks.example.com/s3cr3t-t0ken"}], "0.url: url must be an absolute http"),
        ([{"url": HOOK, "style": "teams"}], "0.style"),
        ([{"url": HOOK, "colour": "red"}], "0.colour"),
        ([{"owner": "x"}], "0.url"),
        ([{"url": HOOK, "name": "a"}, {"url": HOOK, "name": "a"}], "route names must be unique"),
        ([{"url": HOOK, "name": "has space"}], "0.name"),
    ],
)
@pytest.mark.usefixtures("clean_env")
def test_bad_routes_are_one_line_usage_errors_that_never_echo_a_url(routes: list[Any], error: str) -> None:
    with pytest.raises(UsageError) as info:
        Settings.load(alert_routes=routes)
    message = str(info.value)
    assert error in message
    assert "s3cr3t" not in message
    assert "\n" not in message


@pytest.mark.usefixtures("clean_env")
def test_the_dashboard_url_must_be_http() -> None:
    with pytest.raises(UsageError, match="dashboard_url"):
        Settings.load(dashboard_url="sentinel.example.com")
    assert Settings.load(dashboard_url="https://s.example").dashboard_url == "https://s.example"


def test_the_readmes_json_alert_is_what_a_real_drift_event_gives() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Alerts to owners (webhooks)") :]
    shown = orjson.loads(section[section.index("```json") + 7 : section.index("```\n", section.index("```json"))])
    engine = Engine.from_spec_dir(str(SPEC))
    checker = engine.checker("orders")
    assert checker is not None
    outcome = checker.check(
        b'{"order_id": "ord_8q6r88jdtnla", "total_cents": "12.60"}',
        [("event-type", b"OrderCreated"), ("schema-version", b"2")],
    )
    assessment = Assessor(Policy()).assess(outcome, Ref("orders", 0, 41, 1_795_000_000_000, b"k", "json"))
    assert assessment is not None
    [event] = [e.to_dict() for e in assessment.events() if e.path == "/total_cents"]
    window = a.Window(7, 100, 1_795_000_020_000, 1_795_000_080_000)
    body = a.json_body(a.Alert.of(event, window, a.topic_link("https://sentinel.example.com", "orders")))
    text = body.pop("text")
    assert {k: v for k, v in shown.items() if k != "text"} == body
    head, _, tail = shown["text"].partition("...")
    assert text.startswith(head)
    assert all(line in text for line in tail.split("\n") if line and "..." not in line)


@pytest.mark.usefixtures("clean_env")
def test_print_settings_shows_the_routes_with_their_urls_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_ALERT_ROUTES", orjson.dumps([{"owner": "team-orders", "url": HOOK}]).decode())
    out, err = io.StringIO(), io.StringIO()
    assert run(["worker", "--print-settings"], io.BytesIO(), out, err) == 0
    printed = orjson.loads(out.getvalue())
    assert printed["alert_routes"][0] == {
        "url": MASK,
        "owner": "team-orders",
        "style": "json",
        "min_severity": "breaking",
        "name": None,
    }
    assert "s3cr3t" not in out.getvalue() + err.getvalue()
