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
from typing import Any

import orjson

from stream_sentinel.core.check import codecs
from stream_sentinel.core.check.codecs import DecodeFailure
from stream_sentinel.core.check.outcome import Headers, Outcome

Check = Callable[[bytes | None, Headers], Outcome]


def keeping(check: Check, topic_format: str, wants: Callable[[str], bool], codecs_by_version: dict[int, Any]) -> Check:
    """``check`` whose valid outcomes carry the decoded payload when ``wants(event_type)``.

    ``codecs_by_version``: ``id(SchemaVersion)`` -> its Avro codec (Avro formats only).
    A payload that cannot be decoded again (it passed, so this is not expected) is left out:
    the rules then skip the message rather than guess.
    """
    start = codecs.CONFLUENT_HEADER if topic_format.startswith("confluent-") else 0
    avro = topic_format.endswith("avro")
    loads = orjson.loads

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
            payload = codec.decode(value, start)
            if isinstance(payload, DecodeFailure):
                return outcome
        else:
            try:
                payload = loads(memoryview(value)[start:] if start else value)
            except orjson.JSONDecodeError:
                return outcome
        return outcome._replace(payload=payload)

    return check_keeping
