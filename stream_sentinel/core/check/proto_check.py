"""The ``protobuf`` and ``confluent-protobuf`` checks of a ``TopicChecker`` (kept out of validate.py).

Each builder returns the topic's ``check`` closure: the same shape as the JSON and Avro checks
(tombstone, size cap, locate the version, fast check, slow explanation only for a failing
message). The checker is typed ``Any``: validate.py imports this module, not the other way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.codecs import DecodeFailure
from stream_sentinel.core.check.compile import CompiledVersion
from stream_sentinel.core.check.outcome import Headers, Outcome
from stream_sentinel.core.check.proto import ProtoCodec, explain, message_indexes
from stream_sentinel.core.contracts.catalog import Catalog

Check = Callable[[bytes | None, Headers], Outcome]


def build(checker: Any) -> Check | None:
    """The check of a Protobuf topic, None for other formats."""
    fmt = checker.topic.format
    if fmt == "protobuf":
        return plain_check(checker)
    if fmt == "confluent-protobuf":
        return framed_check(checker)
    return None


def compile_proto(compiled: CompiledVersion, catalog: Catalog) -> CompiledVersion:
    """A Protobuf version's codec and walker (its message was resolved when the catalog loaded)."""
    assert catalog.protos is not None
    assert compiled.version.message is not None
    codec = ProtoCodec(catalog.protos, compiled.version.message)
    compiled.proto = codec
    compiled.walker = codec.index
    return compiled


def plain_check(checker: Any) -> Check:
    """``protobuf``: the event type and version come from headers (or ``fixed``); the value is the message."""
    tombstone, limit, oversized, locate = checker._tombstone, checker._max, checker._oversized, checker._locate
    # The common case inlined (as the JSON fast path does): event type in a header, no version
    # locator; anything else (absent, odd header types) goes through ``_locate``.
    name = checker._et.value if checker._et.kind == "header" and checker._ver is None else None
    by_key = checker._by_key

    def check_protobuf(value: bytes | None, headers: Headers) -> Outcome:
        if value is None:
            return tombstone  # type: ignore[no-any-return]
        if len(value) > limit:
            return oversized(value)  # type: ignore[no-any-return]
        found: Any = None
        if name is not None and headers:
            key: object = None
            for hname, hvalue in headers:
                if hname == name:
                    key = hvalue
            event = by_key.get(key) if type(key) is bytes else None
            if event is not None:
                found = event.newest
        if found is None:
            found = locate(None, headers)
        if type(found) is not CompiledVersion:
            return found  # type: ignore[no-any-return]
        codec: ProtoCodec = found.proto
        if codec.check(value):
            return found.valid_outcome
        return explained(checker, found, value, value)

    return check_protobuf


def framed_check(checker: Any) -> Check:
    """``confluent-protobuf``: magic byte, schema id, message indexes, then the message."""
    framed = checker._framed

    def check_confluent_protobuf(value: bytes | None, headers: Headers) -> Outcome:  # noqa: ARG001 - one signature
        hit = framed(value)
        if type(hit) is not CompiledVersion:
            return hit  # type: ignore[no-any-return]
        assert value is not None  # _framed answered None with the tombstone outcome
        codec: ProtoCodec = hit.proto
        if len(value) > 5 and value[5] == 0 and codec.indexes == (0,):  # the common frame: one 0 byte for [0]
            body = value[6:]
        else:
            located = _body(checker, hit, value)
            if type(located) is Outcome:
                return located
            assert isinstance(located, bytes)
            body = located
        if codec.check(body):
            return hit.valid_outcome
        return explained(checker, hit, body, value)

    return check_confluent_protobuf


def _body(checker: Any, hit: CompiledVersion, value: bytes) -> bytes | Outcome:
    """The message bytes after the index array, or the outcome of a frame that names another message."""
    found = message_indexes(value)
    if isinstance(found, DecodeFailure):
        return checker._undecodable(found, value, hit)  # type: ignore[no-any-return]
    indexes, start = found
    codec: ProtoCodec = hit.proto
    if indexes != codec.indexes:
        failure = DecodeFailure(
            d.SCHEMA_MISMATCH,
            f"message indexes {list(indexes)} do not name {codec.desc.full_name} "
            f"(schema id {hit.version.schema_id}: {list(codec.indexes)})",
        )
        return checker._undecodable(failure, value, hit)  # type: ignore[no-any-return]
    return value[start:]


def explained(checker: Any, compiled: CompiledVersion, body: bytes, value: bytes) -> Outcome:
    """The slow path: parse again and walk; a non-canonical but valid message is valid."""
    codec: ProtoCodec = compiled.proto
    parsed = codec.parse(body)
    if isinstance(parsed, DecodeFailure):
        return checker._undecodable(parsed, value, compiled)  # type: ignore[no-any-return]
    version, event = compiled.version, compiled.event
    requirement = version.requirement or event.requirement or checker.topic.requirement
    owner = version.owner or event.owner or checker.topic.owner
    violations = explain(codec, parsed, requirement, owner, checker._cap)
    if not violations:
        return compiled.valid_outcome
    try:
        payload = codec.payload(parsed)
    except Exception:  # noqa: BLE001 - the drift event matters more than its sample
        payload = None
    return Outcome(
        version.event_type, version, violations, payload, None if payload is not None else value, codec.index
    )


def proto_keeping(
    check: Check, wants: Callable[[str], bool], versions: list[CompiledVersion], topic_format: str
) -> Check:
    """``check`` whose valid outcomes of wanted event types carry the decoded message (rules read it).

    The message is parsed a second time (the hot path's parse is not kept: a valid message must
    not pay for a payload nobody reads); only topics a behavioural rule reads take this path.
    """
    framed = topic_format == "confluent-protobuf"
    codecs: dict[int, ProtoCodec] = {id(v.version): v.proto for v in versions if v.proto is not None}

    def check_keeping(value: bytes | None, headers: Headers) -> Outcome:
        outcome = check(value, headers)
        version = outcome.version
        if outcome.violations or value is None or version is None or not wants(outcome.event_type or ""):
            return outcome
        walker = outcome.walker
        codec = codecs.get(id(version))
        if codec is None:
            return outcome
        body = value
        if framed:
            found = message_indexes(value)
            if isinstance(found, DecodeFailure):
                return outcome
            body = value[found[1] :]
        parsed = codec.parse(body)
        if isinstance(parsed, DecodeFailure):
            return outcome
        return outcome._replace(payload=codec.payload(parsed), walker=walker or codec.index)

    return check_keeping
