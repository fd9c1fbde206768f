"""The pure half of the drive -> verify probe (``stream-sentinel probe``, the worker's built-in probe).

A probe *drives* the sentinel with two canaries marked by the :data:`PROBE_HEADER` (its value is
the probe run id): one valid, one with a known drift, both built here from the contract by the
core's own checker. It then *verifies* each surface the sentinel promises (ADR "cross-store
verifier": one step per surface, each pass / fail / skip with a reason naming what to do, the
worst step deciding the outcome). Everything that can be decided without a broker, a clock or
the network lives here: the canaries, the drift the worker must report (its drift id is
deterministic: topic, partition, offset, event type, kind, path, expected, schema), the step
outcomes and the three renderings (table, JSON, JUnit XML). The shell (``stream_sentinel.prober``)
produces, reads and fetches.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from xml.etree import ElementTree as ET

import orjson

from stream_sentinel.core.capture import CapturedMessage
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.outcome import Outcome
from stream_sentinel.core.errors import UsageError

#: The header marking a canary; its value is the probe run id.
PROBE_HEADER: Final = "sentinel-probe"
#: The ``origin`` of a canary's drift events (alert sinks and the health report leave it out).
ORIGIN: Final = "probe"
#: Longest run id kept from a header: producers could put anything there.
MAX_RUN_ID: Final = 64

PASS: Final = "pass"  # noqa: S105 - a step status, not a password
FAIL: Final = "fail"
SKIP: Final = "skip"
#: The steps of one probe run, in order: the drive, then one verify step per surface.
STEPS: Final = ("drive", "drift_event", "valid_quiet", "metrics", "alert")
#: The worker's counter of canaries, by topic and result (``valid`` / ``drift``).
PROBE_MESSAGES: Final = "sentinel_probe_messages_total"


def probe_run(headers: Any) -> str | None:
    """The probe run id a message's headers carry; None for an ordinary message.

    Called by the worker only for messages that have headers at all (a truthiness test on the
    hot path), so a message without headers costs nothing more.
    """
    if type(headers) is dict:
        headers = headers.items()
    for name, value in headers:
        if name == PROBE_HEADER:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
            return text[:MAX_RUN_ID] or "-"
    return None


@dataclass(frozen=True, slots=True)
class Canary:
    """One message the probe produces: value, headers (with the probe header) and key."""

    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    key: bytes


@dataclass(frozen=True, slots=True)
class Canaries:
    """The valid and the drifting canary, and the drifting one's outcome as the core checks it."""

    valid: Canary
    drifting: Canary
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Expected:
    """A drift event the worker must publish for the drifting canary."""

    drift_id: str
    kind: str
    path: str
    requirement: str | None


def build_canaries(checker: Any, candidates: Iterable[CapturedMessage], run_id: str) -> Canaries:
    """The canaries for a topic: the first candidate valid under its contract, and a drifting copy.

    The drifting copy is the valid one with one top-level field removed: the first removal the
    contract rejects (a required field). Both are checked with the core's checker, so the probe
    never guesses what the worker will say. Raises ``UsageError`` when no candidate fits (exit 2).
    """
    key = f"probe-{run_id}".encode()
    for message in candidates:
        if message.value is None:
            continue
        headers = (*(h for h in message.headers if h[0] != PROBE_HEADER), (PROBE_HEADER, run_id.encode()))
        if checker.check(message.value, headers).violations:
            continue
        drifted = _drifted(checker, message.value, headers)
        if drifted is not None:
            value, outcome = drifted
            return Canaries(Canary(message.value, headers, key), Canary(value, headers, key), outcome)
    raise UsageError(
        "no example message is valid under the topic's contract (or none can be made to drift): "
        "add one to the examples (--examples DIR, capture JSON lines)"
    )


def _drifted(checker: Any, value: bytes, headers: tuple[tuple[str, bytes], ...]) -> tuple[bytes, Outcome] | None:
    """A drifting copy: a JSON object without one required field, else the bytes with one byte more.

    Binary formats (Avro, Protobuf, Confluent-framed) cannot lose a field and stay decodable, so
    their canary carries a trailing zero byte: Avro reports the bytes left over
    (``schema_mismatch``), Protobuf an undecodable tag. Whatever the checker says is what the
    worker will say: the expectation is its outcome, not a guess.
    """
    payload: Any = None
    with contextlib.suppress(orjson.JSONDecodeError):
        payload = orjson.loads(value)
    if isinstance(payload, dict):
        for name in payload:
            changed = orjson.dumps({k: v for k, v in payload.items() if k != name})
            outcome = checker.check(changed, headers)
            if outcome.violations:
                return changed, outcome
    changed = value + b"\x00"
    outcome = checker.check(changed, headers)
    return (changed, outcome) if outcome.violations else None


def expected_drift(outcome: Outcome, topic: str, partition: int, offset: int, topic_format: str) -> list[Expected]:
    """The drift events the drifting canary must draw, once its partition and offset are known."""
    subject = outcome.subject(topic_format)
    source = d.Source(topic, partition, offset)
    return [
        Expected(d.drift_id(source, outcome.event_type, v, subject.schema_ref), v.kind, v.path, v.requirement)
        for v in outcome.violations
    ]


@dataclass(frozen=True, slots=True)
class Step:
    """One step's outcome: pass, fail or skip, with a reason that names what to do."""

    name: str
    status: str
    reason: str


def outcome_of(steps: Sequence[Step]) -> str:
    """Worst step wins: any fail fails the run; skips alone do not."""
    return FAIL if any(s.status == FAIL for s in steps) else PASS


def skipped_after_drive(why: str) -> list[Step]:
    """Every verify step skipped because the drive failed (a drive failure is its own step)."""
    return [Step(name, SKIP, f"the drive failed ({why}): nothing to verify") for name in STEPS[1:]]


def drift_step(events: Sequence[Mapping[str, Any]], expected: Sequence[Expected], run_id: str, waited: str) -> Step:
    """Step 1: every expected drift event arrived, marked as the probe's, with the expected fields."""
    found = {str(e.get("drift_id")): e for e in events}
    for x in expected:
        event = found.get(x.drift_id)
        if event is None:
            return Step(
                STEPS[1],
                FAIL,
                f"no drift event {x.drift_id} ({x.kind} at {d.shown_path(x.path)}) arrived within {waited}: "
                "check that a worker runs and consumes the topic (its /ready, its logs, its consumer lag) "
                "and that --drift-topic is the workers' drift_topic",
            )
        wrong = [
            f"{name} {event.get(name)!r} (expected {want!r})"
            for name, want in (
                ("kind", x.kind),
                ("path", x.path),
                ("requirement", x.requirement),
                ("origin", ORIGIN),
                ("run_id", run_id),
            )
            if event.get(name) != want
        ]
        if wrong:
            return Step(
                STEPS[1],
                FAIL,
                f"drift event {x.drift_id} arrived with {', '.join(wrong)}: the worker runs another contract "
                "or version than the probe; deploy the same spec to both",
            )
    ids = ", ".join(x.drift_id for x in expected)
    return Step(STEPS[1], PASS, f"drift event {ids} arrived within {waited}")


def quiet_step(events: Sequence[Mapping[str, Any]], valid_at: tuple[str, int, int], drift_arrived: bool) -> Step:
    """Step 2: the valid canary drew no drift event (only telling once the drifting one's did)."""
    if not drift_arrived:
        return Step(STEPS[2], SKIP, "the drifting canary's drift event did not arrive, so silence proves nothing")
    topic, partition, offset = valid_at
    for e in events:
        source = e.get("source") or {}
        if (source.get("topic"), source.get("partition"), source.get("offset")) == (topic, partition, offset):
            return Step(
                STEPS[2],
                FAIL,
                f"the valid canary drew {e.get('kind')} at {d.shown_path(str(e.get('path')))}: the worker's "
                "contract differs from the probe's; deploy the same spec to both",
            )
    return Step(STEPS[2], PASS, "the valid canary drew no drift event")


_SAMPLE = re.compile(r"^" + PROBE_MESSAGES + r"\{([^}]*)\}\s+([0-9.eE+-]+)\s*$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def probe_counts(text: str, topic: str) -> dict[str, float]:
    """``result`` -> count of :data:`PROBE_MESSAGES` for ``topic`` in a Prometheus text exposition."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group(1)))
        if labels.get("topic") == topic:
            result = labels.get("result", "")
            out[result] = out.get(result, 0.0) + float(match.group(2))
    return out


def metrics_step(before: Mapping[str, float] | None, after: Mapping[str, float] | None, why: str = "") -> Step:
    """Step 3: the worker's /metrics counted the valid and the drifting canary (skip: no metrics)."""
    if before is None or after is None:
        return Step(STEPS[3], SKIP, why or "no --metrics-url: pass the worker's /metrics URL to verify its counters")
    missing = [r for r in ("valid", "drift") if after.get(r, 0.0) - before.get(r, 0.0) < 1]
    if missing:
        return Step(
            STEPS[3],
            FAIL,
            f"{PROBE_MESSAGES} did not count the {' and '.join(missing)} canary: is the URL the metrics of "
            "the worker that consumes the topic (several workers: each counts its own partitions)?",
        )
    return Step(STEPS[3], PASS, f"{PROBE_MESSAGES} counted the valid and the drifting canary")


def alert_step(body: str | None, expected: Sequence[Expected], why: str = "") -> Step:
    """Step 4: the alert sink's received alerts name the canary's drift id (skip: no sink given)."""
    if body is None:
        return Step(STEPS[4], SKIP, why or "no --alert-receiver: pass a URL listing what the alert sink received")
    missing = [x.drift_id for x in expected if x.drift_id not in body]
    if missing:
        return Step(
            STEPS[4],
            FAIL,
            f"the alert sink did not receive drift {', '.join(missing)}: set alert_probes: true on the worker "
            "(canaries do not alert by default) and check its alert routes",
        )
    return Step(STEPS[4], PASS, "the alert sink received the canary's alert")


@dataclass(frozen=True, slots=True)
class Report:
    """One probe run: what it probed and its steps."""

    run_id: str
    topic: str
    steps: tuple[Step, ...]
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        """``pass`` or ``fail`` (worst step wins)."""
        return outcome_of(self.steps)

    def to_dict(self) -> dict[str, Any]:
        """The JSON rendering's content."""
        return {
            "run_id": self.run_id,
            "topic": self.topic,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "steps": [{"name": s.name, "status": s.status, "reason": s.reason} for s in self.steps],
        }


def render_table(report: Report) -> str:
    """Plain text: one line per step, then the outcome."""
    width = max(len(s.name) for s in report.steps) if report.steps else 4
    lines = [f"probe {report.run_id} on {report.topic}"]
    lines.extend(f"  {s.status.upper():<4}  {s.name:<{width}}  {s.reason}" for s in report.steps)
    lines.append(f"outcome: {report.outcome.upper()} ({report.seconds:.1f} s)")
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    """One JSON document."""
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"


def render_junit(report: Report) -> str:
    """JUnit XML: one testsuite, one testcase per step (``failure`` / ``skipped`` with the reason)."""
    failures = sum(s.status == FAIL for s in report.steps)
    skipped = sum(s.status == SKIP for s in report.steps)
    suite = ET.Element(
        "testsuite",
        name=f"stream-sentinel probe {report.topic}",
        tests=str(len(report.steps)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{report.seconds:.3f}",
    )
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="run_id", value=report.run_id)
    for s in report.steps:
        case = ET.SubElement(suite, "testcase", classname="stream_sentinel.probe", name=s.name, time="0")
        if s.status == FAIL:
            ET.SubElement(case, "failure", message=s.reason).text = s.reason
        elif s.status == SKIP:
            ET.SubElement(case, "skipped", message=s.reason)
        else:
            ET.SubElement(case, "system-out").text = s.reason
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


RENDERERS: Final = {"table": render_table, "json": render_json, "junit": render_junit}
