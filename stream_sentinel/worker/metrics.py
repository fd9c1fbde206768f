"""The worker's Prometheus metrics.

They live in a registry of their own (two apps in one test process must not share counters).
Every update is per batch, never per message: the hot path stays free of metric calls.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Buckets for the mean validation time per message (seconds): 1 µs .. 10 ms.
LATENCY_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)


class Metrics:
    """Counters, gauges and histograms exposed on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "sentinel_messages",
            "Messages consumed, by topic; covered=false: no contract",
            ["topic", "covered"],
            registry=r,
        )
        self.sampled_out = Counter(
            "sentinel_sampled_out", "Messages skipped by the topic's sampling rate", ["topic"], registry=r
        )
        self.drift = Counter("sentinel_drift", "Violations found, by topic and kind", ["topic", "kind"], registry=r)
        self.published = Counter(
            "sentinel_published", "Records published on the drift topic, by type (drift, summary)", ["type"], registry=r
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
        self.late = Counter(
            "sentinel_late_messages", "Messages counted after their window had closed (not in any window)", registry=r
        )
        self.latency = Histogram(
            "sentinel_validation_seconds",
            "Mean decode+validate time per message, one observation per batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch = Histogram(
            "sentinel_batch_size", "Messages per batch", buckets=(1, 10, 100, 500, 1000, 5000), registry=r
        )
        self.lag = Gauge(
            "sentinel_consumer_lag", "High watermark minus next offset to process", ["topic", "partition"], registry=r
        )
        self.ready = Gauge("sentinel_ready", "1 when partitions are assigned and publishing works", registry=r)
        self.http_errors = Counter(
            "sentinel_http_errors",
            "Bad HTTP requests (malformed, timed out) and failed pages, by cause; logged once per interval",
            ["cause"],
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
