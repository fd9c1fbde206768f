"""The worker's Prometheus metrics.

They live in a registry of their own (two apps in one test process must not share counters).
Every update is per batch (or per tick), never per message: the hot path stays free of metric calls.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping
from importlib.metadata import version

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from stream_sentinel import __version__
from stream_sentinel.core.contracts.catalog import TopicContract

#: Buckets for the wall time of one batch (seconds): 100 µs .. 10 s (a batch holds up to ``batch_size``).
BATCH_SECONDS_BUCKETS = (1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: The samples a counter or histogram adds for its creation time, left out of ``/metrics``.
_CREATED_TYPES = frozenset({"counter", "histogram", "summary", "gaugehistogram"})


class _WithoutCreated(Collector):
    """A registry's metrics without the ``_created`` samples.

    prometheus_client switches those off only process-wide (``disable_created_metrics()`` or
    ``PROMETHEUS_DISABLE_CREATED_SERIES``), which would change every other registry in the
    process; filtering here keeps it to this registry, at scrape time only.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            if family.type in _CREATED_TYPES:
                created = family.name + "_created"
                kept = Metric(family.name, family.documentation, family.type, family.unit)
                kept.samples = [s for s in family.samples if s.name != created]
                yield kept
            else:
                yield family


class Metrics:
    """Counters, gauges and histograms exposed on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.build_info = Gauge(
            "sentinel_build_info",
            "Always 1; the labels say which sentinel, Python and Faust this worker runs",
            ["version", "python", "faust"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version(), version("faust-streaming")).set(1)
        self._count_messages(r)
        self._count_records(r)
        self._measure_runtime(r)
        self._count_rules(r)
        self._count_alerts(r)
        self._count_probes(r)
        self.spec_reloads = Counter(
            "sentinel_spec_reload",
            "Spec reloads (SIGHUP or spec_watch), by result: loaded (swapped in), refused (bad spec, the running "
            "contracts stay), unchanged (same revision)",
            ["result"],
            registry=r,
        )
        self._exposed = _WithoutCreated(r)
        self._lag_series: set[tuple[str, int]] = set()

    def _count_messages(self, r: CollectorRegistry) -> None:
        """Messages consumed, sampled out, and the violations found in them."""
        self.messages = Counter(
            "sentinel_messages",
            "Messages consumed, by topic; covered=false: no contract",
            ["topic", "covered"],
            registry=r,
        )
        self.sampled_out = Counter(
            "sentinel_sampled_out", "Messages skipped by the topic's sampling rate", ["topic"], registry=r
        )
        self.drift = Counter(
            "sentinel_drift",
            "Violations found, by topic, event type (catalog types, at most max_event_types_per_topic unknown "
            "ones per topic, then ~other; empty: unreadable), kind and severity",
            ["topic", "event_type", "kind", "severity"],
            registry=r,
        )

    def _count_records(self, r: CollectorRegistry) -> None:
        """Records published, failures, and the bounds that bit."""
        self.published = Counter(
            "sentinel_published",
            "Records published on the drift topic, by type (drift, summary, traffic)",
            ["type"],
            registry=r,
        )
        self.publish_failures = Counter(
            "sentinel_publish_failures", "Failed attempts to publish drift records (each is retried)", registry=r
        )
        self.internal_errors = Counter(
            "sentinel_internal_errors", "Messages whose handling raised (reported as internal_error drift)", registry=r
        )
        self.unwritable = Counter(
            "sentinel_unwritable_records",
            "Records the broker can never accept (too large, invalid or unauthorised topic), not retried, by "
            "record (drift: replaced by an internal_error drift event; summary, tally: dropped; stand_in: "
            "the replacement failed too) and error class",
            ["record", "error"],
            registry=r,
        )
        self.bound_hits = Counter(
            "sentinel_bound_hits",
            "Times a bound bit, by bound: event_types (messages counted under ~other), fingerprints "
            "(counts added to a window's overflow), drift_view_keys (keys left out of /drift), "
            "record_shrunk (drift events shrunk to fit), record_split (extra tally records), state_trimmed "
            "(fingerprints folded into overflow to keep a key's table state under the record limit)",
            ["bound"],
            registry=r,
        )
        self.quarantined = Counter(
            "sentinel_quarantined",
            "Copies of drifting records handed to the producer for the topic's quarantine topic, by source topic",
            ["topic"],
            registry=r,
        )
        self.late = Counter(
            "sentinel_late_messages", "Messages counted after their window had closed (not in any window)", registry=r
        )

    def _measure_runtime(self, r: CollectorRegistry) -> None:
        """Batch timing and size, consumer lag, readiness, HTTP errors."""
        self.batch_seconds = Histogram(
            "sentinel_batch_duration_seconds",
            "Wall time to decode, validate and tally one batch (sum / sentinel_batch_size_sum: mean per message)",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.batch = Histogram(
            "sentinel_batch_size", "Messages per batch", buckets=(1, 10, 100, 500, 1000, 5000), registry=r
        )
        self.lag = Gauge(
            "sentinel_consumer_lag_messages",
            "Messages behind the high watermark, per assigned source partition",
            ["topic", "partition"],
            registry=r,
        )
        self.ready = Gauge("sentinel_ready", "1 when partitions are assigned and publishing works", registry=r)
        self.http_errors = Counter(
            "sentinel_http_errors",
            "Bad HTTP requests (malformed, timed out) and failed pages, by cause; logged once per interval",
            ["cause"],
            registry=r,
        )

    def _count_rules(self, r: CollectorRegistry) -> None:
        """Behavioural rules: findings, forgotten entity states and the states held (worker/rules.py)."""
        self.rule_findings = Counter(
            "sentinel_rule_findings",
            "Behavioural rule violations found by the rules stage, by rule id (catalog words) and kind "
            "(published as drift events like contract violations; expression rules count in sentinel_drift)",
            ["rule", "kind"],
            registry=r,
        )
        self.rule_evictions = Counter(
            "sentinel_rule_evictions",
            "Entity rule states forgotten, by reason: ttl (idle longer than rules_entity_ttl), cap (a rules "
            "partition held rules_max_entities)",
            ["reason"],
            registry=r,
        )
        self.rule_entities = Gauge(
            "sentinel_rule_entities", "Entity rule states held by this worker's rules partitions", registry=r
        )

    def _count_probes(self, r: CollectorRegistry) -> None:
        """Canaries (messages with the probe header) and the built-in probe's runs (README: Probe)."""
        self.probe_messages = Counter(
            "sentinel_probe_messages",
            "Canaries consumed (messages with the sentinel-probe header), by topic and result (valid, drift); "
            "never counted in sentinel_messages, the windows or the health report",
            ["topic", "result"],
            registry=r,
        )
        self.probe_runs = Counter(
            "sentinel_probe_runs",
            "Built-in probe runs (probe_interval), by result (pass, fail)",
            ["result"],
            registry=r,
        )
        self.probe_last_success = Gauge(
            "sentinel_probe_last_success_timestamp_seconds",
            "When the built-in probe last passed (seconds since the epoch; 0: not yet)",
            registry=r,
        )

    def _count_alerts(self, r: CollectorRegistry) -> None:
        """Alerts to webhooks (worker/alerts.py), by sink: the route's name (never its URL)."""
        self.alerts_sent = Counter(
            "sentinel_alerts_sent", "Alerts a webhook accepted (2xx answer), by sink (route name)", ["sink"], registry=r
        )
        self.alert_failures = Counter(
            "sentinel_alert_failures",
            "Alerts not delivered, by sink: refused (4xx) or still failing after alert_retries retries",
            ["sink"],
            registry=r,
        )
        self.alert_retries = Counter(
            "sentinel_alert_retries",
            "Failed webhook attempts that were retried (connection error, timeout, 408/425/429, 5xx), by sink",
            ["sink"],
            registry=r,
        )
        self.alerts_dropped = Counter(
            "sentinel_alerts_dropped",
            "Alerts dropped unsent because the alert queue (alert_queue_size) was full, by sink",
            ["sink"],
            registry=r,
        )
        self.alerts_limited = Counter(
            "sentinel_alerts_rate_limited",
            "Alerts not sent because the sink had one for the same fingerprint within alert_interval, by sink",
            ["sink"],
            registry=r,
        )
        self.alert_queue = Gauge("sentinel_alert_queue", "Alerts waiting to be sent to webhooks", registry=r)
        self.contract_owner = Gauge(
            "sentinel_contract_owner",
            "Always 1: the owner the catalog names per contracted topic and event type (event_type empty: the topic's "
            "own owner, for drift without a known event type); join sentinel_drift_total on topic and event_type",
            ["topic", "event_type", "owner"],
            registry=r,
        )

    def set_owners(self, topics: Mapping[str, TopicContract]) -> None:
        """The catalog's owners as ``sentinel_contract_owner`` series, set once at start (no owner: no series)."""
        for name, topic in topics.items():
            for event_type, owner in [("", topic.owner), *((e, c.owner) for e, c in topic.events.items())]:
                if owner:
                    self.contract_owner.labels(name, event_type, owner).set(1)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """One partition's lag (never below 0)."""
        self.lag.labels(topic, str(partition)).set(max(0, lag))
        self._lag_series.add((topic, partition))

    def keep_lag(self, assigned: Iterable[tuple[str, int]]) -> None:
        """Remove the lag series of partitions not in ``assigned`` (revoked in a rebalance)."""
        for topic, partition in self._lag_series - set(assigned):
            self.lag.remove(topic, str(partition))
            self._lag_series.discard((topic, partition))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (without ``_created`` samples)."""
        return generate_latest(self._exposed)
