"""Valid messages with their decoded payload, for the topics behavioural rules read.

The hot path returns one shared, payload-free :class:`Outcome` per schema version for a valid
message: nothing is built that a valid message does not need. Rules do need the payload of
valid messages (an order's state, a payment id), so :func:`keeping` builds a second ``check``
for such a topic whose valid outcomes of the event types a rule reads carry it:

- JSON (header or fixed event type): the checker's own fast path, which decoded the payload
  anyway, hands it out instead of dropping it;
- Avro: one walk of the bytes checks the datum and reads only the fields the rules reach
  (``AvroCodec.reader``), instead of the check's walk followed by a full fastavro decode.
  The partial record is enough for the rules; ``Outcome.whole`` decodes the full one for a
  ``rule_failed`` sample, which is rare;
- anything else (event type in the payload, Confluent JSON, an Avro schema with logical types
  in reach, a message the quick ways do not pass) takes the plain ``check`` and, when valid,
  decodes once more.

Every other message, and every topic no rule reads, keeps the plain path. ``bench/rules.py``
measures what keeping costs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from io import BytesIO
from typing import Any, Protocol

import orjson
from fastavro import schemaless_reader

from stream_sentinel.core.check import codecs
from stream_sentinel.core.check.compile import CompiledVersion
from stream_sentinel.core.check.outcome import Headers, Outcome
from stream_sentinel.core.contracts.catalog import TopicContract

Check = Callable[[bytes | None, Headers], Outcome]
#: Event type -> the part of its payload the rules read (a reach tree; None: all of it).
ReachOf = Callable[[str], Any]


class TopicChecker(Protocol):
    """What keeping needs of ``validate.TopicChecker`` (a protocol: validate imports this module)."""

    topic: TopicContract
    check: Check

    def versions(self) -> list[CompiledVersion]:
        """Every compiled version of the topic."""

    def version_of(self, value: bytes | None, headers: Headers) -> CompiledVersion | None:
        """The version an Avro message must pass, or None."""

    def fast_json(
        self, keep: dict[Any, Callable[[Any], Outcome]] | None, fallback: Callable[..., Outcome] | None = None
    ) -> Check | None:
        """The JSON fast path, handing valid outcomes through ``keep`` (``fallback``: its slow path)."""

    def check_json(self, value: bytes | None, headers: Headers) -> Outcome:
        """The generic JSON check (the fast path's slow path)."""


def keeping(checker: TopicChecker, wants: Callable[[str], bool], reach: ReachOf | None = None) -> Check:
    """``checker.check`` whose valid outcomes carry the decoded payload when ``wants(event_type)``.

    ``reach`` narrows what an Avro payload needs to hold (default: all of it). A payload that
    cannot be decoded again (it passed, so this is not expected) is left out: the rules then
    skip the message rather than guess.
    """
    topic_format = checker.topic.format
    start = codecs.CONFLUENT_HEADER if topic_format.startswith("confluent-") else 0
    versions = checker.versions()
    codec_of = {id(v.version): v.codec for v in versions if v.codec is not None}
    walker_of = {id(v.version): v.walker for v in versions if v.walker is not None}
    wanted = [v for v in versions if wants(v.version.event_type)]
    slow = _decoding_again(checker.check, topic_format, wants, codec_of, walker_of, start)
    if topic_format == "json":
        keep: dict[Any, Callable[[Any], Outcome]] = {v: partial(_valid, v.valid_outcome) for v in versions}
        keep.update({v: partial(_carrying, v.valid_outcome._replace(walker=v.walker)) for v in wanted})
        # Anything the fast path hands on is checked the long way, then decoded again if valid.
        fast = checker.fast_json(keep, _decoding_again(checker.check_json, topic_format, wants, codec_of, walker_of, 0))
        return fast if fast is not None else slow
    if not topic_format.endswith("avro"):
        return slow
    readers: Readers = {}
    for v in wanted:
        assert v.codec is not None
        read = v.codec.reader(reach(v.version.event_type) if reach is not None else None)
        if read is not None:
            readers[v] = (read, v.valid_outcome._replace(walker=v.walker), v.codec)
    return _reading(checker, readers, slow, start) if readers else slow


def _valid(outcome: Outcome, payload: Any) -> Outcome:  # noqa: ARG001 - one signature for both
    return outcome


def _carrying(outcome: Outcome, payload: Any) -> Outcome:
    # Positionally: a NamedTuple's ``_replace`` costs twice as much, per kept message.
    return Outcome(outcome.event_type, outcome.version, (), payload, None, outcome.walker, outcome.schema_id)


#: compiled version -> (its reader, its valid outcome with the walker, its codec)
Readers = dict[CompiledVersion, tuple[Callable[[bytes, int], Any], Outcome, codecs.AvroCodec]]


def _reading(checker: TopicChecker, readers: Readers, slow: Check, start: int) -> Check:
    """Avro: locate the version as ``check`` does, then check and read in one walk."""
    version_of = checker.version_of

    def check_reading(value: bytes | None, headers: Headers) -> Outcome:
        compiled = version_of(value, headers)
        entry = readers.get(compiled) if compiled is not None else None
        if entry is not None:
            assert value is not None  # a tombstone locates no version
            payload = entry[0](value, start)
            if payload is not None:
                valid = entry[1]
                return Outcome(
                    valid.event_type,
                    valid.version,
                    (),
                    payload,
                    None,
                    valid.walker,
                    valid.schema_id,
                    False,
                    partial(_whole, entry[2], value, start),
                )
        return slow(value, headers)

    return check_reading


def _whole(codec: codecs.AvroCodec, value: bytes, start: int) -> Any:
    """The full record of a datum read in part (for a sample); None if fastavro cannot build it."""
    decoded: Any = codec.decode(value, start)
    return None if isinstance(decoded, codecs.DecodeFailure) else decoded


def _decoding_again(
    check: Check,
    topic_format: str,
    wants: Callable[[str], bool],
    codec_of: dict[int, Any],
    walker_of: dict[int, Any],
    start: int,
) -> Check:
    """The plain ``check``; a valid message of a wanted event type is decoded once more."""
    avro = topic_format.endswith("avro")
    loads = orjson.loads

    def check_keeping(value: bytes | None, headers: Headers) -> Outcome:
        outcome = check(value, headers)
        event_type = outcome.event_type
        if outcome.violations or value is None or event_type is None or not wants(event_type):
            return outcome
        payload: Any
        if avro:
            codec = codec_of.get(id(outcome.version))
            if codec is None:
                return outcome
            # The check just walked these exact bytes: only fastavro's build is left to do
            # (``AvroCodec.decode`` would walk them a second time first).
            buffer = BytesIO(value)
            buffer.seek(start)
            try:
                payload = schemaless_reader(buffer, codec.parsed, None)
            except Exception:  # noqa: BLE001 - as AvroCodec.decode: not decodable, so no payload
                return outcome
        else:
            try:
                payload = loads(memoryview(value)[start:] if start else value)
            except orjson.JSONDecodeError:
                return outcome
        return outcome._replace(payload=payload, walker=walker_of.get(id(outcome.version)))

    return check_keeping
