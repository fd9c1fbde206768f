"""The one frozen settings object of the worker (and of anything else that talks to Kafka).

Sources, highest precedence first:

1. keyword overrides passed to :meth:`Settings.load` (the CLI's options),
2. ``SENTINEL_<NAME>`` environment variables (empty values are ignored),
3. an optional YAML file (``--config`` or ``$SENTINEL_CONFIG``) mapping setting names to values,
4. the defaults below.

Every setting is documented where it is defined (``Field(description=...)``), so ``describe()``,
the README table and ``--help`` texts can all come from one place. Secrets are ``SecretStr``:
``repr()``, ``str()`` and :meth:`Settings.describe` show them as ``**********``.

Bad settings are operator errors, so :meth:`Settings.load` turns every problem into a one-line
:class:`~stream_sentinel.core.errors.UsageError` that names where the bad value came from (the
environment variable, the file and key, or the keyword) instead of a pydantic traceback.

This module imports neither faust nor aiokafka (the core stays free of both, see the ruff
TID251 rule): it describes connections as plain values and a standard-library ``SSLContext``;
``stream_sentinel.worker.credentials`` turns them into Faust credential objects.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import ssl
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, Literal, Self

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from typing_extensions import override

from stream_sentinel import alert_settings as alerting
from stream_sentinel import dashboard_settings as dashboard
from stream_sentinel import probe_settings as probing
from stream_sentinel.alert_settings import AlertRoute
from stream_sentinel.core.contracts import yamlsafe
from stream_sentinel.core.errors import UsageError

ENV_PREFIX: Final = "SENTINEL_"
#: Environment variable naming the YAML settings file when ``load()`` is given none.
CONFIG_ENV: Final = "SENTINEL_CONFIG"
#: What a secret looks like wherever settings are shown.
MASK: Final = "**********"
#: Faust's default ``broker_request_timeout`` (s); Faust refuses a session timeout above it.
FAUST_REQUEST_TIMEOUT: Final = 90.0

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_SSL_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
_SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_SECRETS: Final = frozenset({"sasl_password", "ssl_key_password", "alert_routes"})  # routes hold webhook URLs
# Kafka's legal topic characters; the app id is also a topic-name prefix (tallies, changelogs).
_TOPIC_CHARS: Final = re.compile(r"[A-Za-z0-9._-]+")
_MAX_TOPIC: Final = 249
_MAX_APP_ID: Final = 200  # leaves room for Faust's "-<table>-changelog" suffixes

# The parsed config file of the load() in progress. A context variable rather than a class
# attribute so concurrent loads (threads, tasks) cannot see each other's files.
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("sentinel_config_file_values", default=None)


class _FieldError(ValueError):
    """A failure of a check between settings, with the settings involved.

    Model-level validators have no location in pydantic's errors; carrying the fields here lets
    :meth:`Settings.load` name the environment variables or file keys that set them. The message
    names the settings itself, so it reads on its own.
    """

    def __init__(self, fields: tuple[str, ...], message: str) -> None:
        self.fields = fields
        super().__init__(message)


class Settings(BaseSettings):
    """Everything the worker needs to know, validated once, frozen, secrets masked when shown.

    Build it with :meth:`Settings.load` (file + environment + overrides, errors as
    ``UsageError``); ``Settings(**kwargs)`` also works (environment + kwargs) and raises
    pydantic's ``ValidationError``.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        env_ignore_empty=True,  # `SENTINEL_X=` (e.g. an unset compose variable) means "not set"
        hide_input_in_errors=True,  # a raw ValidationError must never print a secret
        validate_default=True,
    )

    # -- Kafka connection ---------------------------------------------------------------------
    bootstrap_servers: str = Field(
        default="localhost:9092",
        description="Kafka bootstrap servers, comma-separated host:port (IPv6 as [addr]:port). "
        "Default: a broker on this machine, the usual development setup.",
    )
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="How clients talk to the brokers: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. "
        "Default PLAINTEXT because local and compose brokers have no TLS; use SASL_SSL in production.",
    )
    sasl_mechanism: SaslMechanism = Field(
        default="PLAIN",
        description="SASL mechanism for the SASL_* protocols: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. "
        "Default PLAIN, what most managed clusters (e.g. Confluent Cloud API keys) expect.",
    )
    sasl_username: str | None = Field(
        default=None,
        description="SASL user name; required with the SASL_* protocols, refused with the others "
        "(credentials that would be silently ignored are a misconfiguration).",
    )
    sasl_password: SecretStr | None = Field(
        default=None,
        description="SASL password (secret: always shown masked); required with the SASL_* protocols.",
    )
    ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the brokers' certificates, for SSL and SASL_SSL. "
        "Default: the system's trusted CAs.",
    )
    ssl_certfile: Path | None = Field(
        default=None,
        description="PEM client certificate for mutual TLS (may also hold the key). Default: no client certificate.",
    )
    ssl_keyfile: Path | None = Field(
        default=None,
        description="PEM private key of ssl_certfile, if not inside it. Needs ssl_certfile.",
    )
    ssl_key_password: SecretStr | None = Field(
        default=None,
        description="Password of an encrypted client key (secret: always shown masked). Needs ssl_certfile.",
    )
    ssl_check_hostname: bool = Field(
        default=True,
        description="Check that broker certificates name the host connected to. On by default; turn it off "
        "only for brokers reached by an address their certificate does not list (the CA is still verified).",
    )

    # -- what to check ------------------------------------------------------------------------
    spec_dir: Path = Field(
        default=Path("spec/events"),
        description="Directory of the contracts (catalog.yaml and schemas). Default: the repository layout.",
    )
    spec_watch: float = Field(
        default=0.0,
        ge=0,
        allow_inf_nan=False,
        description="Seconds between checks of spec_dir for changes (a content hash); a changed spec is loaded "
        "in the background and swapped in between batches, a bad one refused (README: Reload without restart). "
        "0 (default): only SIGHUP reloads.",
    )
    app_id: str = Field(
        default="stream-sentinel",
        description="Faust app id: the consumer group id and the prefix of the sentinel's internal topics. "
        "Workers with the same id share the work; give each independent deployment its own.",
    )
    drift_topic: str = Field(
        default="sentinel.drift",
        description="Topic the drift events and window summaries are published to. Default: the name the "
        "example catalog gives the drift event's own contract.",
    )
    drift_topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of the drift topic when the sentinel creates it; keyed by fingerprint, so "
        "this bounds its consumers' parallelism. 6 suits a few alerting consumers.",
    )
    replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replication factor of every topic the sentinel creates. Default 1 so a single-broker "
        "development cluster works; use 3 on a production cluster.",
    )
    internal_partitions: int = Field(
        default=8,
        ge=1,
        description="Partitions of the sentinel's internal topics (tallies, table changelog): the most "
        "workers that can share the windows stage. Fixed once created; 8 leaves room to scale out.",
    )
    subscribe_pattern: str | None = Field(
        default=None,
        description="Optional regular expression (Python syntax, re.search) of extra topics to consume besides "
        "the catalog's; their messages are counted as uncovered. Matched against the cluster's topics at start "
        "(exit 3 if the brokers cannot be reached then). Default: only the catalog's topics.",
    )

    missing_topics: Literal["warn", "fail"] = Field(
        default="warn",
        description="What the worker does at start when a catalog topic does not exist on the cluster (checked "
        "with a list of all topics, which creates nothing): 'warn' logs one line per missing topic and runs "
        "without it (not subscribed, so a broker with auto-create on cannot create a misspelt topic for the "
        "sentinel; consumed from the next start on), 'fail' exits with code 2 naming them. Exit 2 either way "
        "when no topic is left to consume. Default 'warn': one missing topic should not stop the others' checks.",
    )

    # -- schema registry (the catalog's registry: section says whether one is used) -------------
    registry_url: str | None = Field(
        default=None,
        description="Schema Registry base URL; overrides the catalog's registry.url. Default: the catalog's.",
    )
    registry_username: str | None = Field(
        default=None, description="Schema Registry basic-auth user; overrides the catalog's registry.auth.username."
    )
    registry_password: SecretStr | None = Field(
        default=None, description="Schema Registry basic-auth password (secret: always shown masked), for auth basic."
    )
    registry_token: SecretStr | None = Field(
        default=None, description="Schema Registry bearer token (secret: always shown masked), for auth bearer."
    )
    registry_ca_file: Path | None = Field(
        default=None,
        description="PEM CA file of an https Schema Registry; overrides the catalog's registry.tls.ca_file.",
    )

    # -- alerting -----------------------------------------------------------------------------
    alert_mode: Literal["every", "first", "summary"] = Field(
        default="first",
        description="Which drift events are published besides the window summaries (always published): "
        "'every' violation, the 'first' per rule (fingerprint) and tumbling window, or none ('summary'). "
        "Default 'first': actionable without flooding the drift topic.",
    )
    min_severity: Literal["info", "warning", "breaking"] = Field(
        default="info",
        description="Lowest severity that becomes a drift event. Default 'info': report everything.",
    )
    tumbling_window: float = Field(
        default=60.0,
        gt=0,
        allow_inf_nan=False,
        description="Tumbling window size in seconds (whole seconds): the unit of 'first' alerts and "
        "summaries. One minute is quick to alert yet cheap to keep.",
    )
    hopping_window: float = Field(
        default=3600.0,
        gt=0,
        allow_inf_nan=False,
        description="Hopping window size in seconds, a whole multiple of hopping_step: the longer view of "
        "drift rates. One hour shows trends across deploys.",
    )
    hopping_step: float = Field(
        default=300.0,
        gt=0,
        allow_inf_nan=False,
        description="Hopping window step in seconds (whole seconds, at most hopping_window). Five minutes "
        "keeps the number of open hopping windows per key at 12.",
    )
    # Alerts routed to owners (webhooks): defined and documented in alert_settings.py.
    alert_routes: tuple[AlertRoute, ...] = alerting.ROUTES
    alert_interval: float = alerting.INTERVAL
    alert_queue_size: int = alerting.QUEUE
    alert_retries: int = alerting.RETRIES
    alert_backoff: float = alerting.BACKOFF
    alert_timeout: float = alerting.TIMEOUT
    alert_probes: bool = alerting.PROBES
    dashboard_url: str | None = alerting.DASHBOARD
    # The drift dashboard (worker's / and `stream-sentinel dashboard`): defined in dashboard_settings.py.
    dashboard_enabled: bool = dashboard.ENABLED
    dashboard_lookback: float = dashboard.LOOKBACK
    dashboard_max_records: int = dashboard.MAX_RECORDS
    dashboard_max_bytes: int = dashboard.MAX_BYTES
    dashboard_refresh: int = dashboard.REFRESH
    dashboard_consumers_interval: float = dashboard.CONSUMERS_INTERVAL

    # The built-in drive -> verify probe (README: Probe): defined in probe_settings.py.
    probe_interval: float = probing.INTERVAL
    probe_topic: str | None = probing.TOPIC
    probe_examples: Path = probing.EXAMPLES
    probe_timeout: float = probing.TIMEOUT

    # -- throughput ---------------------------------------------------------------------------
    batch_size: int = Field(
        default=1000,
        ge=1,
        description="Most messages validated per batch. Table writes and publishes happen once per batch, "
        "so bigger batches mean more throughput; 1000 keeps the latency of a batch small.",
    )
    batch_within: float = Field(
        default=0.2,
        gt=0,
        allow_inf_nan=False,
        description="Seconds to wait for a batch to fill before processing what arrived: the added "
        "latency on a quiet topic. 0.2 s is unnoticeable for alerting. The validate stage takes what each "
        "fetch brought without waiting; this still sets the windows' grace (max(2 s, 4 x batch_within)).",
    )
    raw_prefix: int = Field(
        default=0,
        ge=0,
        description="Leading bytes of an undecodable message shown (as hex) in its drift event. Default 0: "
        "raw bytes cannot be redacted and may contain PII.",
    )
    max_violations_per_message: int = Field(
        default=100,
        ge=1,
        description="Most violations listed (drift events) per message; the rest are counted in one 'overflow' "
        "violation. Bounds the cost and output of a message that breaks a rule in every one of thousands of "
        "items; 100 shows every distinct rule a real producer bug breaks.",
    )
    max_payload_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        le=1024 * 1024 * 1024,
        description="Largest payload decoded and validated, in bytes; a larger one is reported as one 'oversized' "
        "violation without being decoded. Bounds the memory and time one message can cost; 16 MiB is far above "
        "Kafka's default message.max.bytes (1 MiB), so only a broken producer reaches it.",
    )

    # -- web server ---------------------------------------------------------------------------
    web_enabled: bool = Field(
        default=True,
        description="Serve /health, /ready, /metrics and /drift over HTTP. On by default: orchestrators "
        "and Prometheus need it.",
    )
    web_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the web server binds to. Loopback by default so /drift is not exposed by "
        "accident; 0.0.0.0 in containers.",
    )
    web_port: int = Field(
        default=6066,
        ge=1,
        le=65535,
        description="Port of the web server. 6066 is Faust's default.",
    )
    web_idle_timeout: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="Seconds an HTTP connection may stay open without a complete request: idle keep-alive "
        "connections, connections that send nothing and half-sent requests are closed after it. 15 s is far more "
        "than a probe or scrape needs to send its request; a scraper whose idle connection was closed opens a new one.",
    )
    web_response_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds to compute and send one HTTP response; a client that has not read it by then is "
        "disconnected, so it cannot pin the response in memory. 30 s is ample for /drift over a slow link.",
    )
    web_error_log_interval: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="Seconds between log lines about bad HTTP requests of one cause (malformed, timed out) or a "
        "failing page; each line counts the repeats, sentinel_http_errors_total counts every one. A minute keeps "
        "a flood of junk to one line per cause and minute.",
    )

    # -- local state and logging ----------------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".sentinel-data"),
        description="Directory of the worker's local state (RocksDB table stores). Rebuilt from the "
        "changelog when lost, but keep it on a volume for fast restarts.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        description="Lowest log level written. 'info' logs start-up, rebalances and publish problems.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log line format: 'text' for people, 'json' (one object per line: ts as RFC 3339 UTC with "
        "milliseconds, level, logger, message) for log shippers.",
    )

    # -- consumer group and producer tuning -----------------------------------------------------
    session_timeout: float = Field(
        default=10.0,
        gt=0,
        le=FAUST_REQUEST_TIMEOUT,
        allow_inf_nan=False,
        description="Seconds without heartbeats after which the broker drops a worker from the group. "
        "10 s (Kafka's default is 45 s) moves a dead worker's partitions quickly. At most 90 s, "
        "Faust's request timeout; Kafka brokers refuse less than 6 s unless group.min.session.timeout.ms "
        "is lowered.",
    )
    heartbeat_interval: float = Field(
        default=3.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds between consumer heartbeats; must be below session_timeout (about a third "
        "of it is the usual rule).",
    )
    rebalance_timeout: float = Field(
        default=60.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds the group waits for every worker to re-join during a rebalance. 60 s leaves "
        "time to flush a batch and commit.",
    )
    producer_max_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Producer batch size in bytes. Default: the client's (16 KiB); the embedded "
        "development broker needs 1.",
    )
    publish_retry_backoff_max: float = Field(
        default=5.0,
        gt=0,
        allow_inf_nan=False,
        description="Longest pause in seconds between retries of a failed publish (the pause doubles up "
        "to this). 5 s recovers quickly once the broker is back without hammering it.",
    )
    producer_max_request_size: int = Field(
        default=1_000_000,
        ge=16 * 1024,
        description="Largest produce request in bytes (Faust's producer_max_request_size, default 1 MB). "
        "Every record the worker writes is kept under a quarter of it: drift events are shrunk (sample "
        "dropped, texts cut) and tally records split. Keep it at or under the broker's message.max.bytes.",
    )
    max_event_types_per_topic: int = Field(
        default=100,
        ge=0,
        description="Event types not in the catalog that get windows of their own, per topic. Event types "
        "are set by producers, so past this many, further unknown ones are counted together under the "
        "event type '~other' (counted in sentinel_bound_hits{bound=\"event_types\"}).",
    )
    max_fingerprints: int = Field(
        default=500,
        ge=1,
        description="Fingerprints (rules) counted per window; further ones are counted together under "
        "'overflow' (counted in sentinel_bound_hits{bound=\"fingerprints\"}). 500 distinct broken rules in one window "
        "of one event type is already a broken producer.",
    )
    max_drift_view_keys: int = Field(
        default=1000,
        ge=1,
        description="Windows keys (topic and event type) shown by /drift; the rest are left out and counted "
        "(the view says how many). Keeps the page small whatever producers send.",
    )
    rules_enabled: bool = Field(
        default=False,
        description="Whether the worker judges the catalog's behavioural rules (expressions in the validate "
        "stage; stateful rules through the internal <app_id>-rules topic and its table). Off: contracts only, "
        "no rules topic or table. Opt-in for now: a fact record and a changelog record per entity and batch "
        "cut throughput sharply on a broker that takes one record per request (README: Behavioural rules in "
        "the worker, Cost).",
    )
    rules_entity_ttl: float = Field(
        default=7 * 86400.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds of event time after which an idle entity's rule state is forgotten (counted in "
        'sentinel_rule_evictions_total{reason="ttl"}). 7 days outlives any order lifecycle of the example '
        "domain while keeping state bounded.",
    )
    rules_max_entities: int = Field(
        default=200_000,
        ge=1,
        description="Rule states (rule and entity) kept per rules partition; past it the soonest due is "
        'forgotten (counted in sentinel_rule_evictions_total{reason="cap"}). 200000 small states are tens '
        "of MB of RocksDB per partition.",
    )
    connect_timeout: float = Field(
        default=15.0,
        gt=0,
        le=FAUST_REQUEST_TIMEOUT,
        allow_inf_nan=False,
        description="Seconds the worker waits at start for a broker to answer before it exits with code 3 "
        "and one line. 15 s rides out a broker that is still starting.",
    )
    shutdown_grace: float = Field(
        default=15.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds a stopping worker (SIGTERM, Ctrl-C) may take to publish and commit what it "
        "holds. Past it, with the broker gone, the worker exits with code 3 and one line counting the "
        "drift records left unpublished and the messages left uncommitted (they are checked again on "
        "restart). 15 s is well inside Kubernetes' default 30 s termination grace.",
    )
    fetch_max_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Most bytes fetched per partition in one request (Faust's consumer_max_fetch_size). "
        "4 MiB, four times Faust's default: the worker is bound by Faust's per-fetch overhead, and "
        "bigger fetches measured ~10% more msg/s on the worker benchmark.",
    )
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description="The worker's event loop: 'asyncio' (the standard library's) or 'uvloop' (libuv, as "
        "Faust's -L uvloop). uvloop measured 4-10% more msg/s on the worker benchmark but 5-30 MiB more peak "
        "RSS (204 MiB once, over the 200 MiB budget), so the standard loop stays the default.",
    )
    stream_buffer: int = Field(
        default=16384,
        ge=1,
        description="Messages Faust may prefetch per source partition before pausing it (its "
        "stream_buffer_maxsize). 16384 keeps a batch of 1000 always ready; memory is bounded by it.",
    )

    # -- normalisation and checks ---------------------------------------------------------------

    @field_validator(
        "log_level", "log_format", "event_loop", "alert_mode", "min_severity", "missing_topics", mode="before"
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        """Accept ``INFO`` for ``info``: environment variables are often written in capitals."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        """Accept ``sasl_ssl`` for ``SASL_SSL``, as Kafka's own clients do."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _join_servers(cls, value: object) -> object:
        """Accept a YAML list of servers as well as the comma-separated string."""
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: str) -> str:
        """Every entry must be host:port, so a typo fails here and not as a connection timeout."""
        entries = [entry.strip() for entry in value.split(",")]
        for entry in entries:
            if not entry:
                raise ValueError("empty entry; expected host:port[,host:port...]")
            if "://" in entry:
                raise ValueError(f"{entry!r}: give host:port without a scheme")
            host, sep, port = entry.rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{entry!r} is not host:port (port 1..65535)")
            if ":" in host and not (host.startswith("[") and host.endswith("]")):
                raise ValueError(f"{entry!r}: write IPv6 addresses as [address]:port")
        return ",".join(entries)

    @field_validator("app_id", "drift_topic")
    @classmethod
    def _check_topic_name(cls, value: str, info: ValidationInfo) -> str:
        """Both become Kafka topic names (the app id as a prefix), so both follow Kafka's rules."""
        limit = _MAX_APP_ID if info.field_name == "app_id" else _MAX_TOPIC
        if not _TOPIC_CHARS.fullmatch(value) or value in {".", ".."} or len(value) > limit:
            raise ValueError(f"must be 1-{limit} characters from A-Z a-z 0-9 . _ - (a legal Kafka topic name)")
        return value

    @field_validator("subscribe_pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        """Compile the regex now: a bad pattern must stop start-up, not the consumer later."""
        if value is None:
            return None
        if not value:
            raise ValueError("empty pattern (it would match every topic); leave the setting unset instead")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("alert_routes")
    @classmethod
    def _unique_routes(cls, value: tuple[AlertRoute, ...]) -> tuple[AlertRoute, ...]:
        return alerting.check_routes(value)

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str | None) -> str | None:
        return alerting.check_dashboard_url(value)

    @field_validator("tumbling_window", "hopping_step")
    @classmethod
    def _whole_seconds(cls, value: float) -> float:
        """Windows are assigned per one-second bucket, so sizes must be whole seconds."""
        if not float(value).is_integer():
            raise ValueError("must be a whole number of seconds")
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        """Checks between settings; each failure names every setting involved."""
        if self.hopping_step > self.hopping_window:
            raise _FieldError(
                ("hopping_step", "hopping_window"),
                f"hopping_step ({self.hopping_step:g} s) must be at most hopping_window ({self.hopping_window:g} s)",
            )
        if math.fmod(self.hopping_window, self.hopping_step) != 0:
            raise _FieldError(
                ("hopping_window", "hopping_step"),
                f"hopping_window ({self.hopping_window:g} s) must be a whole multiple of "
                f"hopping_step ({self.hopping_step:g} s)",
            )
        if self.heartbeat_interval >= self.session_timeout:
            raise _FieldError(
                ("heartbeat_interval", "session_timeout"),
                f"heartbeat_interval ({self.heartbeat_interval:g} s) must be below "
                f"session_timeout ({self.session_timeout:g} s)",
            )
        protocol = self.security_protocol
        for name in ("sasl_username", "sasl_password"):
            if self.uses_sasl and getattr(self, name) is None:
                raise _FieldError((name, "security_protocol"), f"{name} is required with security_protocol {protocol}")
            if not self.uses_sasl and getattr(self, name) is not None:
                # Credentials that would be silently ignored: most likely the protocol was forgotten.
                raise _FieldError(
                    (name, "security_protocol"),
                    f"{name} is set but security_protocol {protocol} does not use SASL "
                    "(use SASL_SSL or SASL_PLAINTEXT)",
                )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_key_password"):
            if not self.uses_ssl and getattr(self, name) is not None:
                raise _FieldError(
                    (name, "security_protocol"),
                    f"{name} is set but security_protocol {protocol} does not use TLS (use SSL or SASL_SSL)",
                )
        for name in ("ssl_keyfile", "ssl_key_password"):
            if getattr(self, name) is not None and self.ssl_certfile is None:
                raise _FieldError((name, "ssl_certfile"), f"{name} needs ssl_certfile")
        return self

    @classmethod
    @override
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment, then the YAML file of ``load()``.

        No dotenv or secrets-dir sources: a stray ``.env`` in the working directory must not
        change what a production worker does.
        """
        file_values = _FILE_VALUES.get()
        if not file_values:
            return init_settings, env_settings
        return init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=dict(file_values))

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def load(cls, config_file: Path | str | None = None, **overrides: Any) -> Self:
        """Settings from overrides > ``SENTINEL_*`` environment > YAML file > defaults.

        ``config_file`` defaults to ``$SENTINEL_CONFIG`` (unset or empty: no file). An override
        of ``None`` is a value like any other (it clears an optional setting); callers leave out
        the options the user did not give. Raises ``UsageError`` with one line naming the
        environment variable, file and key, or keyword at fault.
        """
        unknown = sorted(set(overrides) - set(cls.model_fields))
        if unknown:
            raise UsageError("; ".join(f"{name}: {_unknown_setting(name)}" for name in unknown))
        if config_file is None:
            config_file = os.environ.get(CONFIG_ENV) or None
        path = Path(config_file) if config_file is not None else None
        file_values = _read_config_file(path) if path is not None else {}
        token = _FILE_VALUES.set(file_values)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise UsageError(_explain(exc, overrides, path, file_values)) from exc
        except SettingsError as exc:  # a source could not parse its input
            raise UsageError(f"settings: {' '.join(str(exc).split())}") from exc
        finally:
            _FILE_VALUES.reset(token)

    # -- views --------------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        """Every setting as a JSON-able value, secrets masked: what the worker logs at start-up."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = MASK
            elif isinstance(value, Path):
                out[name] = str(value)
            elif isinstance(value, tuple):  # alert routes: their URLs dump masked
                out[name] = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
            else:
                out[name] = value
        return out

    def bootstrap_list(self) -> list[str]:
        """The bootstrap servers as a list of host:port strings."""
        return self.bootstrap_servers.split(",")

    @property
    def uses_ssl(self) -> bool:
        """Whether the connection is TLS (SSL or SASL_SSL)."""
        return self.security_protocol in _SSL_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        """Whether the connection authenticates with SASL (SASL_PLAINTEXT or SASL_SSL)."""
        return self.security_protocol in _SASL_PROTOCOLS

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context from the ssl_* settings; reads the files, so call it when connecting.

        The standard library's default context (TLS 1.2+, certificate verification required) with
        ``ssl_cafile`` as trust anchors (the system's when unset), the client certificate chain
        if given, and host-name checking per ``ssl_check_hostname``. A file that is missing or
        unusable raises ``UsageError`` naming the setting.
        """
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                raise UsageError(f"{name}: no such file: {path}")
        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"ssl_cafile: cannot load CA certificates from {self.ssl_cafile}: {exc}") from exc
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile is not None:
            password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            try:
                context.load_cert_chain(
                    str(self.ssl_certfile),
                    keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
                    # A callable, so a key that is encrypted but given no password fails at once
                    # instead of prompting on the terminal.
                    password=lambda: password or "",
                )
            except (ssl.SSLError, OSError) as exc:
                raise UsageError(
                    f"ssl_certfile: cannot load the client certificate and key (check ssl_keyfile and "
                    f"ssl_key_password): {exc}"
                ) from exc
        return context

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for aiokafka clients (consumer, producer, admin).

        SASL keys only for the SASL protocols, ``ssl_context`` only for the TLS ones (built now,
        so the certificate files are read here). Contains the plain password: never log it.
        """
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_list(),
            "security_protocol": self.security_protocol,
        }
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.uses_ssl:
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def faust_settings(self) -> dict[str, Any]:
        """Keyword arguments for ``faust.App(app_id, ...)``; pure (no file reads, no faust import).

        ``credentials`` is a neutral description (None for PLAINTEXT; the password stays a
        ``SecretStr``): pop it and pass ``stream_sentinel.worker.credentials.faust_credentials``
        as ``broker_credentials`` instead. ``web_bind`` is set too, because Faust's web server
        binds to ``web_bind`` (default 0.0.0.0), not to ``web_host``.
        """
        options: dict[str, Any] = {
            # faust-streaming splits broker lists on ";" (and ","): faust/utils/urls.py urllist.
            "broker": ";".join(f"kafka://{server}" for server in self.bootstrap_list()),
            "credentials": self._credentials(),
            "datadir": str(self.data_dir),
            "web_enabled": self.web_enabled,
            "web_bind": self.web_host,
            "web_host": self.web_host,
            "web_port": self.web_port,
            "broker_session_timeout": self.session_timeout,
            "broker_heartbeat_interval": self.heartbeat_interval,
            "broker_rebalance_timeout": self.rebalance_timeout,
            "topic_partitions": self.internal_partitions,
            "topic_replication_factor": self.replication_factor,
            "store": "rocksdb://",
            "consumer_max_fetch_size": self.fetch_max_bytes,
            "stream_buffer_maxsize": self.stream_buffer,
            "producer_max_request_size": self.producer_max_request_size,
        }
        if self.producer_max_batch_size is not None:
            options["producer_max_batch_size"] = self.producer_max_batch_size
        return options

    def _credentials(self) -> dict[str, Any] | None:
        if self.security_protocol == "PLAINTEXT":
            return None
        described: dict[str, Any] = {"protocol": self.security_protocol, "ssl": self.uses_ssl}
        if self.uses_sasl:
            described.update(mechanism=self.sasl_mechanism, username=self.sasl_username, password=self.sasl_password)
        return described


# -- helpers for load() -----------------------------------------------------------------------


def _unknown_setting(name: str) -> str:
    close = difflib.get_close_matches(name, list(Settings.model_fields), n=1)
    return "unknown setting" + (f" (did you mean {close[0]}?)" if close else "")


def _read_config_file(path: Path) -> dict[str, Any]:
    """The YAML file as a mapping of known setting names; UsageError naming the file otherwise.

    An empty file (or one of only comments) is an empty mapping. Relative paths inside it are
    relative to the working directory, as they are in environment variables.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: config file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read config file: {exc}") from exc
    try:
        data = yamlsafe.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{path}: {where}not valid YAML: {' '.join(str(problem).split())}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of setting names to values, got {type(data).__name__}")
    problems = []
    for key in data:
        if not isinstance(key, str):
            problems.append(f"{path}: {key!r}: setting names are strings")
        elif key not in Settings.model_fields:
            problems.append(f"{path}: {key}: {_unknown_setting(key)}")
    if problems:
        raise UsageError("; ".join(problems))
    return data


def _env_var(field: str) -> str | None:
    """The environment variable that set ``field``, as spelled in the environment, if any."""
    wanted = f"{ENV_PREFIX}{field}".lower()
    for key, value in os.environ.items():
        if key.lower() == wanted and value != "":
            return key
    return None


def _explain(exc: ValidationError, overrides: dict[str, Any], path: Path | None, file_values: dict[str, Any]) -> str:
    """One line for all of pydantic's errors: where each bad value came from, what is wrong, the value.

    A value is blamed on its source with the highest precedence: the keyword override (named by
    the setting), the environment variable, the file and key. Secrets are never echoed.
    """

    def source(field: str) -> str | None:
        if field in overrides:
            return field
        if (env := _env_var(field)) is not None:
            return env
        if path is not None and field in file_values:
            return f"{path}: {field}"
        return None  # the default

    parts = []
    for error in exc.errors(include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldError):
            labels = [label for field in cause.fields if (label := source(field)) is not None]
            parts.append(f"{', '.join(labels) or cause.fields[0]}: {cause}")
            continue
        loc = error.get("loc") or ()
        field = str(loc[0]) if loc else "settings"
        message = str(cause) if isinstance(cause, ValueError) else str(error.get("msg", "invalid value"))
        if len(loc) > 1:  # inside a list or model (alert routes): say where, e.g. "0.url: ..."
            message = f"{'.'.join(str(part) for part in loc[1:])}: {message}"
        shown = ""
        if field not in _SECRETS and "input" in error:
            got = repr(error["input"])
            shown = f" (got {got[:80]}{'...' if len(got) > 80 else ''})"
        parts.append(f"{source(field) or field}: {message}{shown}")
    return "; ".join(" ".join(part.split()) for part in parts)
