"""``registry check``: the spec-vs-reality drift between ``spec/events/`` and a Schema Registry.

Pure: the shell (``cli/registry.py``) fetches a ``Snapshot`` of the registry's subjects,
versions and compatibility levels; this module compares it with the catalog. Findings:

- ``subject_not_in_catalog``: a registered subject no catalog event type is placed on (by the
  same rules that judge unmapped ids: ``registry.subjects``, the topic and record name strategies);
- ``version_not_in_catalog``: a registered version of a subject the catalog knows, whose schema
  id no catalog version maps;
- ``not_registered``: a catalog version whose ``schema_id`` no registered subject version holds;
- ``schema_differs``: a catalog version and the registered schema of its id differ after
  normalisation (keys sorted; documentation, ``x-*`` annotations, ``$schema`` and ``$id`` left
  out: the catalog annotates, the registry does not have to);
- ``compatibility_differs``: a subject's compatibility level (its own, else the global one)
  is not the catalog event type's ``compatibility``.

``-key`` subjects (record keys) are not contracts of the catalog and are skipped, and so are
subjects other schemas only reference (shared named types: the catalog lists them under
``references``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stream_sentinel.core.check.writers import WriterSchema, place, record_names
from stream_sentinel.core.contracts.catalog import Catalog, SchemaVersion

SUBJECT_NOT_IN_CATALOG: Final = "subject_not_in_catalog"
VERSION_NOT_IN_CATALOG: Final = "version_not_in_catalog"
NOT_REGISTERED: Final = "not_registered"
SCHEMA_DIFFERS: Final = "schema_differs"
COMPATIBILITY_DIFFERS: Final = "compatibility_differs"
_DOC_KEYS: Final = frozenset({"doc", "description", "$comment", "examples", "title"})


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """One version of a subject as the registry answers ``/subjects/{s}/versions/{v}``."""

    subject: str
    version: int
    schema_id: int
    schema: str
    schema_type: str = "AVRO"
    references: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the registry holds: every version of every subject, and the compatibility levels."""

    versions: Sequence[RegisteredVersion]
    levels: Mapping[str, str] = field(default_factory=dict)  # subject -> level that applies to it
    global_level: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference between the catalog and the registry."""

    kind: str
    subject: str | None
    version: int | None
    schema_id: int | None
    catalog: str | None  # topic/EventType vN of the catalog side, if there is one
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``registry check --format json``)."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "version": self.version,
            "schema_id": self.schema_id,
            "catalog": self.catalog,
            "detail": self.detail,
        }


def referenced_subjects(versions: Sequence[RegisteredVersion]) -> set[str]:
    """Subjects some registered version references (shared types, not topics' contracts)."""
    return {str(ref.get("subject")) for v in versions for ref in v.references}


def normalised(text_or_doc: Any) -> Any:
    """A schema without what does not change what it accepts to a reader, keys sorted."""
    doc = json.loads(text_or_doc) if isinstance(text_or_doc, str) else text_or_doc
    return json.loads(json.dumps(_strip(doc, top=True), sort_keys=True))


def _strip(node: Any, top: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip(v)
            for k, v in node.items()
            if k not in _DOC_KEYS and not k.startswith("x-") and not (top and k in ("$schema", "$id"))
        }
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _named(version: SchemaVersion) -> str:
    return f"{version.topic}/{version.event_type} v{version.version}"


def compare(catalog: Catalog, snapshot: Snapshot) -> list[Finding]:
    """Every finding, in a stable order (kind, subject, version, id)."""
    findings: list[Finding] = []
    registered_ids = {v.schema_id for v in snapshot.versions}
    by_subject: dict[str, list[RegisteredVersion]] = {}
    referenced = referenced_subjects(snapshot.versions)
    for registered in snapshot.versions:
        if not registered.subject.endswith("-key") and registered.subject not in referenced:
            by_subject.setdefault(registered.subject, []).append(registered)
    for subject, versions in by_subject.items():
        findings.extend(_subject(catalog, snapshot, subject, versions))
    findings.extend(
        Finding(
            NOT_REGISTERED,
            None,
            None,
            version.schema_id,
            _named(version),
            f"schema id {version.schema_id} ({version.ref}) is held by no registered subject version",
        )
        for version in catalog.versions()
        if version.schema_id is not None and version.schema_id not in registered_ids
    )
    findings.sort(key=lambda f: (f.kind, f.subject or "", f.version or 0, f.schema_id or 0))
    return findings


def _subject(catalog: Catalog, snapshot: Snapshot, subject: str, versions: list[RegisteredVersion]) -> list[Finding]:
    """Findings of one subject: its versions against the catalog, and its compatibility level."""
    findings: list[Finding] = []
    mapped = [catalog.schema_ids[v.schema_id] for v in versions if v.schema_id in catalog.schema_ids]
    owner = (mapped[0].topic, mapped[0].event_type) if mapped else _placed(catalog, versions[-1])
    if owner is None:
        listed = ", ".join(f"v{v.version} (id {v.schema_id})" for v in versions)
        return [
            Finding(SUBJECT_NOT_IN_CATALOG, subject, None, None, None, f"no catalog event type for {subject}: {listed}")
        ]
    event = catalog.topics[owner[0]].events[owner[1]]
    for registered in versions:
        version = catalog.schema_ids.get(registered.schema_id)
        if version is None:
            findings.append(
                Finding(
                    VERSION_NOT_IN_CATALOG,
                    subject,
                    registered.version,
                    registered.schema_id,
                    f"{owner[0]}/{owner[1]}",
                    f"registered schema id {registered.schema_id} is not a version of {owner[0]}/{owner[1]}",
                )
            )
        elif _differs(version, registered):
            findings.append(
                Finding(
                    SCHEMA_DIFFERS,
                    subject,
                    registered.version,
                    registered.schema_id,
                    _named(version),
                    f"{version.ref} and the registered schema differ (normalised)",
                )
            )
    level = snapshot.levels.get(subject, snapshot.global_level)
    if level is not None and level != event.compatibility:
        findings.append(
            Finding(
                COMPATIBILITY_DIFFERS,
                subject,
                None,
                None,
                f"{owner[0]}/{owner[1]}",
                f"registry {level}, catalog {event.compatibility}",
            )
        )
    return findings


def _differs(version: SchemaVersion, registered: RegisteredVersion) -> bool:
    try:
        return bool(normalised(version.document) != normalised(registered.schema))
    except ValueError:
        return True  # a registered schema that is not JSON differs from every catalog schema


def _placed(catalog: Catalog, registered: RegisteredVersion) -> tuple[str, str] | None:
    """The catalog event type a subject's schemas would be judged against, if any."""
    writer = WriterSchema(
        registered.schema_id, registered.schema_type, registered.schema, ((registered.subject, registered.version),)
    )
    for topic in catalog.topics.values():
        if not topic.format.startswith("confluent-"):
            continue
        event = place(writer, topic, catalog.registry, record_names(topic.events))
        if event is not None:
            return topic.name, event
    return None
