"""The alerting settings: webhook routes and how alerts are sent (fields of ``config.Settings``).

Kept apart from ``config.py`` so that module stays readable; ``Settings`` declares each field
with the ``Field`` defined here, so they read, validate, document and mask like every other
setting. A route's webhook URL is a ``SecretStr`` (Slack's incoming-webhook URLs are
credentials): masked in ``describe()``, ``repr()`` and in every settings error.

Routes are given as a JSON list in ``SENTINEL_ALERT_ROUTES`` or a YAML list in the config file::

    alert_routes:
      - {owner: team-payments, url: "https://hooks.slack.com/services/...", style: slack}
      - {owner: "*", url: "https://alerts.example.com/sentinel", style: json, min_severity: warning}
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from stream_sentinel.core import alerts as a

#: How route names look: they label metrics, so no spaces, quotes or braces.
_ROUTE_NAME: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def _http_url(value: str, what: str) -> None:
    """Refuse anything but an absolute http(s) URL, without echoing it (it may hold a token)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http:// or https:// URL")


class AlertRoute(BaseModel):
    """One route: alerts of ``owner`` (``*``: every owner) at ``min_severity`` or above go to ``url``."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: SecretStr = Field(description="Webhook URL (secret: always shown masked).")
    owner: str = Field(default=a.ANY_OWNER, min_length=1, description="Owner named by the contract, or '*'.")
    style: Literal["slack", "json"] = Field(default="json", description="Body: Slack incoming webhook or JSON.")
    min_severity: Literal["info", "warning", "breaking"] = Field(default="breaking", description="Lowest severity.")
    name: str | None = Field(default=None, description="Label in metrics and logs; default '<index>:<owner>'.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        _http_url(value.get_secret_value(), "url")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _ROUTE_NAME.fullmatch(value):
            raise ValueError("name must be 1-64 letters, digits or . _ : -")
        return value

    def label(self, index: int) -> str:
        """The route's name in metrics and logs (never its URL)."""
        return self.name or f"{index}:{self.owner}"[:64]


def check_dashboard_url(value: str | None) -> str | None:
    """``dashboard_url``'s validator: None or an absolute http(s) URL."""
    if value is not None:
        _http_url(value, "dashboard_url")
    return value


def check_routes(routes: tuple[AlertRoute, ...]) -> tuple[AlertRoute, ...]:
    """``alert_routes``' validator: route labels must be unique (they are metric label values)."""
    labels = [route.label(index) for index, route in enumerate(routes)]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"route names must be unique (repeated: {', '.join(twice)})")
    return routes


def core_routes(routes: tuple[AlertRoute, ...]) -> list[a.Route]:
    """The routes as the core's pure values (no URL), in order: the sender keeps the URLs by index."""
    return [a.Route(r.label(i), r.owner, r.style, r.min_severity) for i, r in enumerate(routes)]


ROUTES: Any = Field(
    default=(),
    description="Where alerts go: a list of routes {owner, url, style, min_severity, name}. An alert goes to every "
    "route whose owner is the drift's owner (from the contract) or '*' and whose min_severity (default breaking) it "
    "reaches; style 'slack' posts a Slack incoming-webhook body, 'json' (default) the alert as JSON. url is a secret "
    "(masked). JSON list in SENTINEL_ALERT_ROUTES, YAML list in the config file. Default: no alerts (the drift topic "
    "and metrics only).",
)
INTERVAL: Any = Field(
    default=3600.0,
    ge=0,
    le=7 * 86400,
    allow_inf_nan=False,
    description="Seconds during which a route hears about one fingerprint (rule) at most once. A rule that keeps "
    "drifting alerts when it is first seen in a tumbling window, then again once per interval. One hour reminds "
    "without flooding.",
)
QUEUE: Any = Field(
    default=1000,
    ge=1,
    le=1_000_000,
    description="Alerts waiting to be sent, per route; when full, further alerts are dropped and counted "
    "(sentinel_alerts_dropped_total), so a slow or dead webhook never holds up validation. 1000 is hours of "
    "distinct rules.",
)
RETRIES: Any = Field(
    default=4,
    ge=0,
    le=20,
    description="Retries of an alert a webhook did not take (connection error, timeout, 408/425/429 or 5xx), with "
    "exponential backoff from alert_backoff; 4xx answers are not retried. Then the alert is counted as failed.",
)
BACKOFF: Any = Field(
    default=1.0,
    gt=0,
    le=300,
    allow_inf_nan=False,
    description="Seconds before the first retry of an alert; each further pause doubles, up to 60 s. 1 s rides out "
    "a webhook's brief hiccup; 4 retries span about 15 s.",
)
TIMEOUT: Any = Field(
    default=10.0,
    gt=0,
    le=300,
    allow_inf_nan=False,
    description="Seconds one webhook request may take (connect, send, answer) before it counts as failed and is "
    "retried. 10 s is well above what Slack and typical receivers need.",
)
PROBES: Any = Field(
    default=False,
    description="Whether drift marked origin 'probe' (provoked on purpose by a synthetic probe) alerts. Off by "
    "default: a probe checks the pipeline, it is not an incident.",
)
DASHBOARD: Any = Field(
    default=None,
    description="Base URL of the drift dashboard as people reach it (e.g. https://sentinel.example.com); alerts "
    "link to its topic view, <base>/#topic-<topic>. Default: http://<web_host>:<web_port> of this worker "
    "(set it when that address is not reachable by the people alerted).",
)

__all__ = [
    "BACKOFF",
    "DASHBOARD",
    "INTERVAL",
    "PROBES",
    "QUEUE",
    "RETRIES",
    "ROUTES",
    "TIMEOUT",
    "AlertRoute",
    "check_dashboard_url",
    "check_routes",
    "core_routes",
]
