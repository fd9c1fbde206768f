"""The result of checking one message, and what its drift events are built from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.annotate import AvroSchemaIndex, JsonSchemaIndex, json_type
from stream_sentinel.core.check.proto_annotate import ProtoIndex
from stream_sentinel.core.contracts.catalog import SchemaVersion

Headers = Sequence[tuple[str, bytes]] | None


class Outcome(NamedTuple):
    """The result of checking one message.

    ``violations`` is empty for a valid message; ``tombstone`` marks a null value that the
    catalog says to ignore. ``payload``/``raw`` are kept only for invalid messages, to build
    the redacted sample of their drift events. A NamedTuple (immutable, cheap to build): valid
    messages share one pre-built instance per schema version, invalid ones build one each.
    """

    event_type: str | None
    version: SchemaVersion | None
    violations: tuple[d.Violation, ...] = ()
    payload: Any = None
    raw: bytes | None = None
    walker: JsonSchemaIndex | AvroSchemaIndex | ProtoIndex | None = None
    schema_id: int | None = None
    tombstone: bool = False
    #: ``payload`` holds only the part rules read (``keeping``): this decodes all of it, for a sample.
    whole: Callable[[], Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the message needs no drift event."""
        return not self.violations

    def subject(self, topic_format: str) -> d.Subject:
        """Event type and schema the violations refer to, for drift events."""
        version = self.version
        return d.Subject(
            event_type=self.event_type,
            schema_ref=version.ref if version else None,
            schema_version=version.version if version else None,
            schema_id=self.schema_id if self.schema_id is not None else (version.schema_id if version else None),
            topic_format=topic_format,
        )

    def drift_events(
        self,
        source: d.Source,
        topic_format: str,
        *,
        origin: str = "live",
        run_id: str | None = None,
        observed_at: int | None = None,
        min_severity: str = d.INFO,
        raw_prefix: int = 0,
    ) -> list[d.DriftEvent]:
        """The drift events this message leads to (none for a valid one); sample built once.

        ``raw_prefix``: how many leading bytes of an undecodable message to show (hex). Zero by
        default: raw bytes cannot be redacted and may contain PII.
        """
        if not self.violations:
            return []
        floor = d.SEVERITY_RANK[min_severity]
        violations = tuple(v for v in self.violations if d.SEVERITY_RANK[v.severity] >= floor)
        if not violations:
            return []
        return d.build_drift_events(
            violations,
            self.subject(topic_format),
            source,
            self.sample(raw_prefix),
            origin=origin,
            run_id=run_id,
            observed_at=observed_at,
        )

    def sample(self, raw_prefix: int = 0) -> Any:
        """Redacted, size-capped view of the message for drift events (computed on demand).

        Names are capped and the whole sample bounded (``drift.bound_sample``); a sample that
        cannot be built is replaced by a note rather than failing the message's report. Without
        a walker nothing proves any value is not PII, so only the type is shown.
        """
        payload = self.payload if self.whole is None else self.whole()
        if payload is not None:
            if self.walker is None:
                return f"[UNDOCUMENTED {json_type(payload)}]"
            try:
                return d.bound_sample(self.walker.redact(payload))
            except Exception as exc:  # noqa: BLE001 - the drift event matters more than its sample
                return f"[sample unavailable: {type(exc).__name__}]"
        if self.raw is not None:
            sample: dict[str, Any] = {"size": len(self.raw)}
            if raw_prefix > 0:
                sample["prefix_hex"] = self.raw[:raw_prefix].hex()
            return sample
        return None
