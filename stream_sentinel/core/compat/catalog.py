"""Compare two schemas or two whole catalogs: dispatch to the JSON Schema and Avro walkers, then judge.

Holds the catalog-level comparison (topics, event types, versions, modes, and a breaking edit of a
published version without a new version, ``version_not_bumped``). It sits above the walkers, so
the model they share (``compat.model``) never imports them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from stream_sentinel.core.compat.avro import diff_avro
from stream_sentinel.core.compat.json import diff_json
from stream_sentinel.core.compat.kinds import KINDS
from stream_sentinel.core.compat.model import (
    DEFAULT_MODE,
    Change,
    ChangeSink,
    SchemaSource,
    Side,
    mode_requirements,
    source_of,
    strictest,
)
from stream_sentinel.core.compat.protobuf import diff_protobuf
from stream_sentinel.core.contracts import pointer as jp
from stream_sentinel.core.contracts.catalog import (
    CATALOG_FILE,
    Catalog,
    EventContract,
    SchemaVersion,
    TopicContract,
)
from stream_sentinel.core.contracts.protobuf import snapshot
from stream_sentinel.core.contracts.rules import RuleSpec


def compare_schemas(old: SchemaSource, new: SchemaSource, mode: str = DEFAULT_MODE) -> tuple[Change, ...]:
    """Every change from ``old`` to ``new``, judged under ``mode``."""
    if old.kind != new.kind:
        sink = ChangeSink()
        sink.emit("schema_format_changed", (new.file, ()), f"{old.kind} schema {old.file} replaced by {new.kind}")
        changes: Iterable[Change] = sink.changes
    elif old.kind == "json":
        changes = diff_json(old, new)
    elif old.kind == "protobuf":
        changes = diff_protobuf(old, new)
    else:
        changes = diff_avro(old, new)
    return tuple(replace(c, mode=mode) for c in _unique(changes))


def _key(change: Change) -> tuple[str, str, str, str, bool, bool]:
    """What makes two reports the same change: where it is, what it is, and both direction facts.

    The facts are part of it so that a repeat can never hide a report that breaks where the
    kept one does not (the same symbol added is compatible against one version, not another).
    """
    return (
        change.kind,
        change.side,
        change.file,
        change.pointer,
        change.backward_compatible,
        change.forward_compatible,
    )


def _unique(changes: Iterable[Change]) -> Iterator[Change]:
    """Drop repeats: a shared definition reached through several ``$ref`` paths changes once."""
    seen: set[tuple[str, str, str, str, bool, bool]] = set()
    for change in changes:
        key = _key(change)
        if key not in seen:
            seen.add(key)
            yield change


# -- catalogs --------------------------------------------------------------------------------


def compare_catalogs(old: Catalog, new: Catalog, mode: str | None = None) -> tuple[Change, ...]:
    """Every change between two catalogs, each judged under its event type's mode or ``mode``.

    Per event type: versions removed break; a version present in both is compared with itself
    (an edit in place) under the stricter of the old and the new mode, so loosening the mode in
    the same change lets no breaking edit through, and if that edit breaks, ``version_not_bumped``
    is reported too; every added version is compared with the version before it, or with every
    earlier version under the ``_TRANSITIVE`` modes. When a published version is edited, the
    versions it is compared with under the mode are compared with it again, and what now breaks
    between them (and did not before) is reported.
    """
    out: list[Change] = []
    for name in _union(old.topics, new.topics):
        old_topic, new_topic = old.topics.get(name), new.topics.get(name)
        if new_topic is None:
            assert old_topic is not None
            out.append(_catalog_change("topic_removed", old_topic, None, f"topic {name} removed", mode, "old"))
            continue
        if old_topic is None:
            out.append(_catalog_change("topic_added", new_topic, None, f"topic {name} added", mode))
            for event in new_topic.events.values():
                out.extend(_version_pairs(new, event, _mode(event, mode)))
            continue
        out.extend(_compare_topics(old, new, old_topic, new_topic, mode))
    out.extend(_compare_rules(old, new, mode))
    return tuple(out)


def _compare_rules(old: Catalog, new: Catalog, mode: str | None) -> Iterator[Change]:
    """Rules added, removed or changed (by id): never a wire incompatibility, always a change."""
    before = {r.id: r for r in old.rules}
    after = {r.id: r for r in new.rules}
    for rule_id in _union(before, after):
        was, now = before.get(rule_id), after.get(rule_id)
        if now is None:
            assert was is not None
            yield _rule_change("rule_removed", was, f"rule {rule_id} removed", mode, "old")
        elif was is None:
            yield _rule_change("rule_added", now, f"rule {rule_id} ({now.kind}) added", mode, "new")
        elif replace(was, pointer="") != replace(now, pointer=""):
            yield _rule_change("rule_changed", now, f"rule {rule_id} changed", mode, "new")


def _rule_change(kind: str, rule: RuleSpec, message: str, mode: str | None, side: Side) -> Change:
    rule_kind = KINDS[kind]
    assert rule_kind.backward is not None
    assert rule_kind.forward is not None
    return Change(
        kind,
        CATALOG_FILE,
        rule.pointer,
        message,
        rule_kind.backward,
        rule_kind.forward,
        side=side,
        mode=mode or DEFAULT_MODE,
        topic=min(rule.topics) if rule.topics else None,
    )


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [*a, *(k for k in b if k not in a)]


def _mode(event: EventContract, override: str | None) -> str:
    return override or event.compatibility


def _catalog_change(
    kind: str,
    topic: TopicContract,
    event: EventContract | None,
    message: str,
    mode: str | None,
    side: Side = "new",
    *rest: str,
    backward: bool | None = None,
    forward: bool | None = None,
) -> Change:
    tokens = ("topics", topic.name, *(("events", event.name) if event else ()), *rest)
    rule = KINDS[kind]
    b = rule.backward if backward is None else backward
    f = rule.forward if forward is None else forward
    assert b is not None
    assert f is not None
    return Change(
        kind,
        CATALOG_FILE,
        jp.to_pointer(tokens),
        message,
        b,
        f,
        side=side,
        mode=(_mode(event, mode) if event else mode or topic.compatibility),
        topic=topic.name,
        event_type=event.name if event else None,
    )


_TOPIC_LOCATORS = (("event_type", "event_type_locator_changed"), ("version", "version_locator_changed"))


def _compare_topics(
    old_cat: Catalog, new_cat: Catalog, old: TopicContract, new: TopicContract, mode: str | None
) -> Iterator[Change]:
    name = new.name
    if old.format != new.format:
        yield _catalog_change(
            "topic_format_changed",
            new,
            None,
            f"topic {name}: format {old.format} -> {new.format}",
            mode,
            "new",
            "format",
        )
    for attr, kind in _TOPIC_LOCATORS:
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            yield _catalog_change(
                kind, new, None, f"topic {name}: {attr} {_loc(before)} -> {_loc(after)}", mode, "new", attr
            )
    if old.tombstones != new.tombstones:
        # drift -> ignore accepts more (null values were violations); ignore -> drift accepts fewer.
        looser = new.tombstones == "ignore"
        yield _catalog_change(
            "tombstones_changed",
            new,
            None,
            f"topic {name}: tombstones {old.tombstones} -> {new.tombstones}",
            mode,
            "new",
            "tombstones",
            backward=looser,
            forward=not looser,
        )
    # A severity setting changes how drift is reported, not what passes: like a description.
    for attr in ("description", "owner", "sample_rate", "severity"):
        if getattr(old, attr) != getattr(new, attr):
            yield _catalog_change(
                "catalog_annotation_changed", new, None, f"topic {name}: {attr} changed", mode, "new", attr
            )
    for event_name in _union(old.events, new.events):
        old_event, new_event = old.events.get(event_name), new.events.get(event_name)
        if new_event is None:
            assert old_event is not None
            yield _catalog_change(
                "event_type_removed", old, old_event, f"event type {name}/{event_name} removed", mode, "old"
            )
        elif old_event is None:
            yield _catalog_change("event_type_added", new, new_event, f"event type {name}/{event_name} added", mode)
            yield from _version_pairs(new_cat, new_event, _mode(new_event, mode))
        else:
            yield from _compare_events(old_cat, new_cat, new, old_event, new_event, mode)


def _loc(locator: Any) -> str:
    return "none" if locator is None else f"{locator.kind}:{locator.value}"


def _compare_events(
    old_cat: Catalog,
    new_cat: Catalog,
    topic: TopicContract,
    old: EventContract,
    new: EventContract,
    override: str | None,
) -> Iterator[Change]:
    mode = _mode(new, override)
    edit_mode = override or _edit_mode(old.compatibility, new.compatibility)
    label = f"{topic.name}/{new.name}"
    if old.compatibility != new.compatibility:
        yield _mode_change(topic, old, new, label)
    for attr in ("description", "owner", "requirement"):
        if getattr(old, attr) != getattr(new, attr):
            yield _catalog_change(
                "catalog_annotation_changed", topic, new, f"{label}: {attr} changed", override, "new", attr
            )
    old_versions = {v.version: (i, v) for i, v in enumerate(old.versions)}
    new_numbers = {v.version for v in new.versions}
    for number, (index, _) in old_versions.items():
        if number not in new_numbers:
            yield _catalog_change(
                "version_removed", topic, old, f"{label} v{number} removed", override, "old", "versions", str(index)
            )
    edited: set[int] = set()
    for index, version in enumerate(new.versions):
        if version.version not in old_versions:
            continue
        before = old_versions[version.version][1]
        if before.schema_id != version.schema_id:
            yield _schema_id_changed(topic, new, before, version, index, override)
        edits = _versioned(
            compare_schemas(_source(old_cat, before), _source(new_cat, version), edit_mode),
            new,
            version,
            version.version,
        )
        yield from edits
        if any(not change.cosmetic for change in edits):
            edited.add(version.version)
        if any(change.breaking for change in edits):
            yield _not_bumped(topic, old, new, version, index, edit_mode, override)
    pairs = tuple(_version_pairs(new_cat, new, mode, old_cat, old, frozenset(edited)))
    yield from pairs
    if override is None and _tightened(old.compatibility, new.compatibility):
        yield from _history(new_cat, topic, old, new, {_pair_key(c) for c in pairs})


def _edit_mode(before: str, after: str) -> str:
    """The mode an edit in place is judged under: the stricter of both, and BACKWARD unless NONE.

    Messages already written under the edited version stay on the topic and are validated against
    it, so an edit that rejects them breaks real traffic (what ``replay --against`` reports)
    under any mode that checks anything: publish a new version instead.
    """
    mode = strictest(before, after)
    return mode if mode == "NONE" else strictest(mode, "BACKWARD")


def _schema_id_changed(
    topic: TopicContract,
    new: EventContract,
    before: SchemaVersion,
    version: SchemaVersion,
    index: int,
    override: str | None,
) -> Change:
    return _catalog_change(
        "schema_id_changed",
        topic,
        new,
        f"{topic.name}/{new.name} v{version.version}: schema_id {before.schema_id} -> {version.schema_id}",
        override,
        "new",
        "versions",
        str(index),
        "schema_id",
    )


def _not_bumped(
    topic: TopicContract,
    old: EventContract,
    new: EventContract,
    version: SchemaVersion,
    index: int,
    edit_mode: str,
    override: str | None,
) -> Change:
    """A published version edited in a way its mode forbids: it should have been a new version."""
    label = f"{topic.name}/{new.name}"
    why = (
        ""
        if override or edit_mode == strictest(old.compatibility, new.compatibility)
        else f" (edits in place are judged BACKWARD too: messages written as v{version.version} stay on the topic)"
    )
    return replace(
        _catalog_change(
            "version_not_bumped",
            topic,
            new,
            f"{label} v{version.version} was changed in a way that breaks under {edit_mode}{why}; "
            f"publish the change as v{new.versions[-1].version + 1} instead of editing v{version.version}",
            edit_mode,
            "new",
            "versions",
            str(index),
        ),
        version=version.version,
    )


def _tightened(before: str, after: str) -> bool:
    """Whether ``after`` requires something ``before`` did not (a direction, or transitivity)."""
    return any(now and not was for was, now in zip(mode_requirements(before), mode_requirements(after), strict=True))


def _pair_key(change: Change) -> tuple[int | None, int | None, tuple[str, str, str, str, bool, bool]]:
    return change.version, change.against, _key(change)


def _earlier(event: EventContract, index: int, mode: str) -> list[SchemaVersion]:
    """The versions ``mode`` compares the version at ``index`` with, newest first."""
    earlier = event.versions[:index] if mode.endswith("_TRANSITIVE") else event.versions[max(index - 1, 0) : index]
    return list(reversed(earlier))


def _history(
    catalog: Catalog,
    topic: TopicContract,
    old: EventContract,
    new: EventContract,
    reported: set[tuple[int | None, int | None, tuple[str, str, str, str, bool, bool]]],
) -> Iterator[Change]:
    """``mode_violated_by_history``: published versions compared again under a stricter mode.

    Consecutive versions, or every pair under ``_TRANSITIVE``; what breaks is reported with its
    version pair, then once as ``mode_violated_by_history``.
    """
    mode = new.compatibility
    published = {v.version for v in old.versions}
    violations: list[Change] = []
    for index, version in enumerate(new.versions):
        if version.version not in published:
            continue  # an added version is compared under the new mode anyway
        for previous in _earlier(new, index, mode):
            if previous.version not in published:
                continue
            changes = compare_schemas(_source(catalog, previous), _source(catalog, version), mode)
            for change in _versioned(changes, new, version, previous.version):
                key = _pair_key(change)
                if change.breaking and key not in reported:
                    reported.add(key)
                    violations.append(
                        replace(change, message=f"{change.message} (published; checked because the mode is now {mode})")
                    )
    yield from violations
    if violations:
        pairs = ", ".join(sorted({f"v{c.against} -> v{c.version}" for c in violations}))
        yield _catalog_change(
            "mode_violated_by_history",
            topic,
            new,
            f"{topic.name}/{new.name}: compatibility {old.compatibility} -> {mode}, but published versions "
            f"already break under {mode} ({pairs}); keep the looser mode or start a new event type",
            None,
            "new",
            "compatibility",
        )


def _mode_change(topic: TopicContract, old: EventContract, new: EventContract, label: str) -> Change:
    """``compatibility_mode_changed``: a direction no longer checked is that direction's fact.

    Judged under the new mode, which by definition no longer requires what was dropped, so it
    never breaks, but it is not silent either (a ``::warning`` in GitHub annotations).
    """
    before, after = mode_requirements(old.compatibility), mode_requirements(new.compatibility)
    transitivity_dropped = before[2] and not after[2]
    backward = not (before[0] and (not after[0] or transitivity_dropped))
    forward = not (before[1] and (not after[1] or transitivity_dropped))
    dropped = [name for name, kept in (("BACKWARD", backward), ("FORWARD", forward)) if not kept]
    note = f"; {' and '.join(dropped)} changes that break are no longer caught" if dropped else ""
    return _catalog_change(
        "compatibility_mode_changed",
        topic,
        new,
        f"{label}: compatibility {old.compatibility} -> {new.compatibility}{note}",
        None,
        "new",
        "compatibility",
        backward=backward,
        forward=forward,
    )


def _version_pairs(
    catalog: Catalog,
    event: EventContract,
    mode: str,
    old_catalog: Catalog | None = None,
    old_event: EventContract | None = None,
    edited: frozenset[int] = frozenset(),
) -> Iterator[Change]:
    """Compare each version with the versions before it that ``mode`` compares it with.

    A version not in ``old_event`` is reported as added and every change against them is
    reported. A version already published is only compared again when it or the earlier one
    was edited in place (``edited``); then only what breaks now and did not before is reported.
    """
    before = {v.version: v for v in old_event.versions} if old_event is not None else {}
    topic = catalog.topics[event.topic]
    for index, version in enumerate(event.versions):
        added = version.version not in before
        if added:
            yield replace(
                _catalog_change(
                    "version_added",
                    topic,
                    event,
                    f"{event.topic}/{event.name} v{version.version} added",
                    mode,
                    "new",
                    "versions",
                    str(index),
                ),
                version=version.version,
            )
        seen: set[tuple[str, str, str, str, bool, bool]] = set()
        for previous in _earlier(event, index, mode):  # newest first, so a repeat names the nearest version
            if added:
                changes: Iterable[Change] = compare_schemas(_source(catalog, previous), _source(catalog, version), mode)
            elif previous.version not in before or {previous.version, version.version} & edited:
                assert old_catalog is not None
                changes = _recheck(old_catalog, catalog, before, previous, version, mode, edited)
            else:
                continue
            for change in _versioned(changes, event, version, previous.version):
                key = _key(change)
                if key not in seen:
                    seen.add(key)
                    yield change


def _recheck(
    old_catalog: Catalog,
    catalog: Catalog,
    before: Mapping[int, SchemaVersion],
    previous: SchemaVersion,
    version: SchemaVersion,
    mode: str,
    edited: frozenset[int],
) -> list[Change]:
    """What breaks between two published versions after an edit in place, and did not before."""
    known: set[tuple[str, str, str, str, bool, bool]] = set()
    if previous.version in before:
        was = compare_schemas(
            _source(old_catalog, before[previous.version]), _source(old_catalog, before[version.version]), mode
        )
        known = {_key(c) for c in was if c.breaking}
    which = (
        " and ".join(f"v{n}" for n in sorted({previous.version, version.version} & edited)) or f"v{previous.version}"
    )
    return [
        replace(c, message=f"{c.message} (compared again because {which} was edited in place)")
        for c in compare_schemas(_source(catalog, previous), _source(catalog, version), mode)
        if c.breaking and _key(c) not in known
    ]


def _source(catalog: Catalog, version: SchemaVersion) -> SchemaSource:
    if version.kind == "protobuf" and catalog.protos is not None and version.message is not None:
        return SchemaSource("protobuf", version.ref, snapshot(catalog.protos, version.message))
    return source_of(catalog, version.ref, version.references)


def _versioned(
    changes: Iterable[Change], event: EventContract, version: SchemaVersion, against: int
) -> tuple[Change, ...]:
    return tuple(
        replace(c, topic=event.topic, event_type=event.name, version=version.version, against=against) for c in changes
    )
