"""Alerts routed to owners: who hears about a drift event, how often, and what the alert says.

The worker decides *what is new* (``first`` mode: a fingerprint's first drift event in its
tumbling window, ``core.aggregate.windows``); this module decides, for such an event, which
routes (owner or ``*`` and a minimum severity -> one webhook) want it, whether that route heard
about the fingerprint within the rate-limit interval, and renders the alert in a route's style:
a Slack incoming-webhook body (``text`` + Block Kit ``blocks``) or a generic JSON body.

Pure like the rest of the core: no network, no clock (``now_ms`` is passed in), no settings
object (the worker turns its settings into :class:`Route` values; the webhook URLs, secrets,
stay in the worker). An alert carries only what the drift event already shows after redaction
(path, expected, ``actual`` as redacted): never the sample, the message key or any other
payload value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import orjson

from stream_sentinel.core.check import drift as d

SLACK: Final = "slack"
JSON: Final = "json"
STYLES: Final = (SLACK, JSON)
#: A route's owner that matches every drift event (also those whose contract names no owner).
ANY_OWNER: Final = "*"
#: The ``origin`` of drift a synthetic probe provoked on purpose: no alert unless asked for.
PROBE: Final = "probe"
#: Where the dashboard shows one topic, appended to its base URL (the topic URL-quoted).
TOPIC_ANCHOR: Final = "/#topic-"
#: ``type`` of the generic JSON body, versioned so receivers can tell future shapes apart.
ALERT_TYPE: Final = "sentinel.alert.v1"
#: (route, fingerprint) pairs the rate limiter remembers; the oldest is forgotten past it.
MAX_LIMITED: Final = 50_000
#: Longest value shown in one Slack field or line, before escaping (Slack allows 2000 per field).
_MAX_FIELD: Final = 300
#: Longest sentence (message, fix) in a Slack section, before escaping (Slack allows 3000).
_MAX_SECTION: Final = 500
#: Slack's limit on a header block's plain text.
_MAX_HEADER: Final = 150


@dataclass(frozen=True, slots=True)
class Route:
    """Who gets which alerts: an owner (or ``*``), a minimum severity and a body style.

    ``name`` labels the route in metrics and logs; the webhook URL is a secret and lives with
    the sender in the worker, by the route's index.
    """

    name: str
    owner: str = ANY_OWNER
    style: str = JSON
    min_severity: str = d.BREAKING

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown alert style {self.style!r} (one of {', '.join(STYLES)})")
        if self.min_severity not in d.SEVERITY_RANK:
            raise ValueError(f"unknown severity {self.min_severity!r}")

    def wants(self, owner: str | None, severity: str) -> bool:
        """Whether an alert of ``owner`` at ``severity`` goes to this route."""
        if self.owner != ANY_OWNER and self.owner != owner:
            return False
        return d.SEVERITY_RANK.get(severity, -1) >= d.SEVERITY_RANK[self.min_severity]


@dataclass(frozen=True, slots=True)
class Window:
    """A fingerprint's violations in the window its alert was decided in (so far: the window is open).

    ``start``/``end`` (ms) are None when the count is a batch's (``every`` mode), ``messages``
    None when the messages of its event type are not known there.
    """

    count: int
    messages: int | None = None
    start: int | None = None
    end: int | None = None

    @property
    def rate(self) -> float | None:
        """Violations per message of the event type, None when the messages are unknown."""
        return round(self.count / self.messages, 6) if self.messages else None


@dataclass(frozen=True, slots=True)
class Alert:
    """What a person needs to act on one drifting rule, from its (redacted) drift event."""

    fingerprint: str
    drift_id: str | None
    severity: str
    requirement: str | None
    owner: str | None
    topic: str
    event_type: str | None
    kind: str
    path: str
    expected: str
    actual: Mapping[str, Any]
    message: str
    suggested_fix: str
    partition: int | None
    offset: int | None
    rule: str | None = None
    window: Window | None = None
    link: str | None = None

    @classmethod
    def of(cls, event: Mapping[str, Any], window: Window | None = None, link: str | None = None) -> Alert:
        """The alert of a drift event (its dict form, as published); the sample and key are left out."""
        source = event.get("source") or {}
        return cls(
            fingerprint=str(event["fingerprint"]),
            drift_id=event.get("drift_id"),
            severity=str(event.get("severity", d.BREAKING)),
            requirement=event.get("requirement"),
            owner=event.get("owner"),
            topic=str(source.get("topic", "")),
            event_type=event.get("event_type"),
            kind=str(event.get("kind", "")),
            path=str(event.get("path", "")),
            expected=str(event.get("expected", "")),
            actual=dict(event.get("actual") or {"type": "unknown"}),
            message=str(event.get("message", "")),
            suggested_fix=str(event.get("suggested_fix", "")),
            partition=source.get("partition"),
            offset=source.get("offset"),
            rule=event.get("rule"),
            window=window,
            link=link,
        )


def alerts_on(event: Mapping[str, Any], *, probes: bool = False) -> bool:
    """Whether a drift event may alert at all: a probe's drift only when ``probes`` is on."""
    return probes or event.get("origin") != PROBE


def topic_link(base: str | None, topic: str) -> str | None:
    """The dashboard's view of ``topic`` under ``base`` (None without a dashboard)."""
    if not base:
        return None
    return f"{base.rstrip('/')}{TOPIC_ANCHOR}{quote(topic, safe='._-')}"


class RateLimiter:
    """At most one alert per key (route, fingerprint) and interval; bounded, clock passed in.

    Keys are kept in the order they last alerted, so expired ones are dropped from the front
    in amortised O(1); past ``max_keys`` the oldest is forgotten even if not expired (it may
    then alert again early: a bounded memory matters more than one duplicate).
    """

    def __init__(self, interval_ms: int, max_keys: int = MAX_LIMITED) -> None:
        if interval_ms < 0 or max_keys < 1:
            raise ValueError("the interval must be >= 0 and the limiter must keep at least one key")
        self.interval_ms = interval_ms
        self.max_keys = max_keys
        self._last: OrderedDict[Hashable, int] = OrderedDict()

    def allow(self, key: Hashable, now_ms: int) -> bool:
        """True (and remembered) when ``key`` has not alerted within the interval before ``now_ms``."""
        self._expire(now_ms)
        last = self._last.get(key)
        if last is not None and now_ms - last < self.interval_ms:
            return False
        self._last[key] = now_ms
        self._last.move_to_end(key)
        while len(self._last) > self.max_keys:
            self._last.popitem(last=False)
        return True

    def forget(self, key: Hashable) -> None:
        """Let ``key`` alert again at once (its alert was dropped before it could be sent)."""
        self._last.pop(key, None)

    def _expire(self, now_ms: int) -> None:
        last = self._last
        while last:
            key, when = next(iter(last.items()))
            if now_ms - when < self.interval_ms:
                break
            del last[key]

    def __len__(self) -> int:
        return len(self._last)


def routed(alert: Alert, routes: Sequence[Route], limiter: RateLimiter, now_ms: int) -> tuple[list[int], list[int]]:
    """The indexes of the routes that send ``alert`` now, and of those that want it but are rate-limited."""
    send: list[int] = []
    limited: list[int] = []
    for index, route in enumerate(routes):
        if route.wants(alert.owner, alert.severity):
            (send if limiter.allow((index, alert.fingerprint), now_ms) else limited).append(index)
    return send, limited


def retryable(status: int) -> bool:
    """Whether a webhook's HTTP status is worth another try (overload, timeouts, server errors)."""
    return status in (408, 425, 429) or status >= 500


def retry_after(header: str | None, most: float) -> float | None:
    """A ``Retry-After`` header in seconds (Slack sends one with its 429s), at most ``most``.

    None when absent or an HTTP date (reading it would need a clock): the backoff applies then.
    """
    if header is None or not header.strip().isdigit():
        return None
    return min(float(header.strip()), most)


def retry_delays(retries: int, first: float, most: float) -> list[float]:
    """The pauses before each retry: ``first`` doubling, each at most ``most`` seconds."""
    return [min(first * 2**n, most) for n in range(retries)]


# -- rendering ------------------------------------------------------------------------------------


def shown_actual(actual: Mapping[str, Any]) -> str:
    """The drift event's ``actual`` in words: its type, its capped value if the event shows one, or (redacted)."""
    kind = str(actual.get("type", "unknown"))
    value = actual.get("value")
    if value is not None:
        text = str(value)
        return text if text.startswith(f"{kind} ") else f"{kind} {text}"
    return f"{kind} (redacted)" if actual.get("redacted") else kind


def subject(alert: Alert) -> str:
    """``topic`` or ``topic / EventType``: where the drift is."""
    return f"{alert.topic} / {alert.event_type}" if alert.event_type else alert.topic


def counted(window: Window | None) -> str:
    """The count and rate line: ``3 of 120 messages (2.5%) in 12:00–12:01 UTC so far``."""
    if window is None:
        return "see the dashboard"
    rate = window.rate
    of = f" of {window.messages} messages ({rate:.2%})" if window.messages and rate is not None else ""
    violations = "violation" if window.count == 1 else "violations"
    if window.start is None or window.end is None:
        return f"{window.count} {violations}{of} in the batch that found it"
    return f"{window.count} {violations}{of} in the window {_span(window.start, window.end)} so far"


def _span(start: int, end: int) -> str:
    first = datetime.fromtimestamp(start / 1000, UTC)
    last = datetime.fromtimestamp(end / 1000, UTC)
    shown = "%H:%M:%S" if first.second or last.second else "%H:%M"
    return f"{first:%Y-%m-%d} {first.strftime(shown)}–{last.strftime(shown)} UTC"


def text(alert: Alert) -> str:
    """The alert as a few plain lines (the Slack fallback ``text`` and the JSON body's ``text``)."""
    lines = [
        f"{alert.severity} drift on {subject(alert)}: {alert.message}",
        f"requirement: {alert.requirement or '-'} · owner: {alert.owner or '-'} · kind: {alert.kind}",
        f"path: {d.shown_path(alert.path)} · expected: {alert.expected} · actual: {shown_actual(alert.actual)}",
        f"count: {counted(alert.window)}",
        f"fix: {alert.suggested_fix}",
    ]
    if alert.link:
        lines.append(f"dashboard: {alert.link}")
    return "\n".join(lines)


def json_body(alert: Alert) -> dict[str, Any]:
    """The generic JSON body: the alert's fields as structured values, plus ``text`` for humans."""
    window = alert.window
    return {
        "type": ALERT_TYPE,
        "fingerprint": alert.fingerprint,
        "drift_id": alert.drift_id,
        "severity": alert.severity,
        "requirement": alert.requirement,
        "owner": alert.owner,
        "topic": alert.topic,
        "event_type": alert.event_type,
        "kind": alert.kind,
        "rule": alert.rule,
        "path": alert.path,
        "expected": alert.expected,
        "actual": dict(alert.actual),
        "message": alert.message,
        "suggested_fix": alert.suggested_fix,
        "window": None
        if window is None
        else {
            "start": window.start,
            "end": window.end,
            "count": window.count,
            "messages": window.messages,
            "rate": window.rate,
        },
        "source": {"partition": alert.partition, "offset": alert.offset},
        "dashboard": alert.link,
        "text": text(alert),
    }


def slack_escape(value: str, limit: int = _MAX_FIELD) -> str:
    """A value for Slack mrkdwn: capped, then ``&<>`` escaped so it cannot form links or mentions."""
    capped = d.cap_text(value, limit)
    return capped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (notifications, fallbacks) and Block Kit ``blocks``."""
    fields = [
        ("Requirement", alert.requirement or "-"),
        ("Owner", alert.owner or "-"),
        ("Topic / event type", subject(alert)),
        ("Kind", alert.kind + (f" (rule {alert.rule})" if alert.rule else "")),
        ("Path", d.shown_path(alert.path)),
        ("Count and rate", counted(alert.window)),
        ("Expected", alert.expected),
        ("Actual", shown_actual(alert.actual)),
    ]
    header = d.cap_text(f"{alert.severity} drift: {subject(alert)}", _MAX_HEADER - 20)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(alert.message, _MAX_SECTION)}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{slack_escape(value)}"} for name, value in fields],
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Suggested fix*\n{slack_escape(alert.suggested_fix, _MAX_SECTION)}"},
        },
    ]
    if alert.link:
        label = slack_escape(f"Open {alert.topic} in the drift dashboard", _MAX_FIELD)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{alert.link}|{label}>"}]})
    return {"text": slack_escape(text(alert), 4 * _MAX_SECTION), "blocks": blocks}


def body(alert: Alert, style: str) -> bytes:
    """The request body of ``alert`` for a route of ``style`` (UTF-8 JSON)."""
    return orjson.dumps(slack_body(alert) if style == SLACK else json_body(alert))


def alerts_of(events: Iterable[Mapping[str, Any]], *, probes: bool = False) -> list[Mapping[str, Any]]:
    """The drift events that may alert (probe drift left out unless ``probes``)."""
    return [event for event in events if alerts_on(event, probes=probes)]


__all__ = [
    "ANY_OWNER",
    "JSON",
    "PROBE",
    "SLACK",
    "Alert",
    "RateLimiter",
    "Route",
    "Window",
    "alerts_of",
    "alerts_on",
    "body",
    "json_body",
    "retry_after",
    "retry_delays",
    "retryable",
    "routed",
    "slack_body",
    "text",
    "topic_link",
]
