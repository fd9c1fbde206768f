"""The worker's Schema Registry stage: background fetches of unmapped schema ids, metrics, ``/ready`` detail.

Built only when the catalog has a ``registry:`` section and a ``confluent-*`` topic. The
engine's ``WriterTable`` tells the ``Fetcher`` (its own thread) about ids the catalog does not
map; until the registry answers, such messages are classified ``unknown_schema_id`` exactly as
without a registry, so a batch never waits on HTTP. A registry that does not answer is a
metric (``sentinel_registry_errors_total{kind}``) and a detail in ``/ready`` (``registry``),
never a failed readiness: the contracts in the catalog are still checked.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from stream_sentinel.config import Settings
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.registry import Fetcher, RegistryClient
from stream_sentinel.worker.metrics import Metrics


class RegistryStage:
    """The fetcher and its metrics for one worker."""

    def __init__(self, fetcher: Fetcher, metrics: Metrics) -> None:
        self.fetcher = fetcher
        r = metrics.registry
        self.errors = Counter(
            "sentinel_registry_errors",
            "Schema Registry requests that failed, by kind (unreachable, auth, not_found, protocol)",
            ["kind"],
            registry=r,
        )
        self.fetched = Counter(
            "sentinel_registry_fetches", "Writer schemas fetched from the Schema Registry", registry=r
        )
        self.cache = Gauge("sentinel_registry_cache_size", "Schema ids held (writer schemas and misses)", registry=r)
        table = fetcher.table
        self.cache.set_function(lambda: len(table))
        fetcher.on_error = lambda kind: self.errors.labels(kind).inc()
        fetcher.on_fetched = self.fetched.inc

    def detail(self) -> dict[str, object]:
        """The ``registry`` entry of ``/ready``: reachable or the last error, and what is held."""
        error = self.fetcher.detail()
        return {
            "url": self.fetcher.client.url,
            "reachable": not error,
            "detail": error,
            "cached_ids": len(self.fetcher.table),
        }


def registry_stage(settings: Settings, engine: Engine, metrics: Metrics) -> RegistryStage | None:
    """The stage the catalog asks for (started), or None without a registry or confluent topic."""
    spec = engine.catalog.registry
    if spec is None or not any(t.format.startswith("confluent-") for t in engine.catalog.topics.values()):
        return None
    fetcher = Fetcher(RegistryClient.from_spec(spec, settings), engine.writers)
    stage = RegistryStage(fetcher, metrics)
    fetcher.start()
    return stage
