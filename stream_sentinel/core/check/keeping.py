"""Valid messages with their decoded payload, for the topics behavioural rules read.

The hot path returns one shared, payload-free :class:`Outcome` per schema version for a valid
message: nothing is built that a valid message does not need. Rules do need the payload of
valid messages (an order's state, a payment id), so :func:`keeping` wraps a topic's ``check``:
only a valid message of an event type a rule reads is decoded once more and carries its
payload. Every other message, and every topic no rule reads, keeps the plain path.

Decoding again instead of threading the payload out of each wire-format path keeps the
measured hot path of ``validate.py`` untouched; ``bench/rules.py`` measures what it costs.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

import orjson
from fastavro import schemaless_reader

from stream_sentinel.core.check import codecs
from stream_sentinel.core.check.outcome import Headers, Outcome

Check = Callable[[bytes | None, Headers], Outcome]


def keeping(
    check: Check,
    topic_format: str,
    wants: Callable[[str], bool],
    codecs_by_version: dict[int, Any],
    walkers_by_version: dict[int, Any] | None = None,
) -> Check:
    """``check`` whose valid outcomes carry the decoded payload when ``wants(event_type)``.

    ``codecs_by_version``: ``id(SchemaVersion)`` -> its Avro codec (Avro formats only).
    ``walkers_by_version``: ``id(SchemaVersion)`` -> its annotation walker, carried too, so a
    ``rule_failed`` drift event's sample is redacted like a contract violation's.
    A payload that cannot be decoded again (it passed, so this is not expected) is left out:
    the rules then skip the message rather than guess.
    """
    start = codecs.CONFLUENT_HEADER if topic_format.startswith("confluent-") else 0
    avro = topic_format.endswith("avro")
    loads = orjson.loads
    walkers = walkers_by_version or {}

    def check_keeping(value: bytes | None, headers: Headers) -> Outcome:
        outcome = check(value, headers)
        event_type = outcome.event_type
        if outcome.violations or value is None or event_type is None or not wants(event_type):
            return outcome
        payload: Any
        if avro:
            codec = codecs_by_version.get(id(outcome.version))
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
        return outcome._replace(payload=payload, walker=walkers.get(id(outcome.version)))

    return check_keeping
