"""Bytes -> payload, or a ``DecodeFailure`` value. Never an exception out of this module.

The JSON fast path (``orjson.loads``) is inlined by the checker; this module classifies its
failures, holds the framing and Avro helpers, and turns every way of failing into a classified,
human-readable value. Decoder messages are kept free of payload content and of anything that
changes from run to run (object addresses): they end up in drift events and reports, and two
runs over the same input must print the same bytes.

Avro is checked by a strict reader of our own (``AvroCodec``) before fastavro sees the bytes:
fastavro is lenient by design (longs past 64 bits wrap, boolean bytes 2-255 read as true,
negative enum and union indexes count from the end, a block size is never checked, a huge
block count of zero-byte items spins). The strict reader walks the parsed schema over the
bytes without building values, which is also cheaper than fastavro's decode, so the hot path
runs only the check and fastavro decodes only when a record is needed (slow path).
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader

from stream_sentinel.core.contracts import pointer as jp

CONFLUENT_MAGIC = 0
CONFLUENT_HEADER = 5  # magic byte + 4-byte big-endian schema id
_MAX_REASON = 160


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why a message could not be turned into a payload.

    ``kind`` is a drift kind: ``undecodable`` (not the declared format at all),
    ``schema_mismatch`` (Avro decoded but bytes were left over: another writer schema) or
    ``unknown_schema_id`` (Confluent framing names a schema the catalog does not have).
    """

    kind: str
    reason: str
    schema_id: int | None = None


#: orjson's position suffix, ``: line 1 column 7 (char 6)``, kept as ``(line 1, column 7)``.
_POSITION = re.compile(r":? line (\d+) column (\d+) \(char \d+\)$")


def json_failure(data: bytes | memoryview, exc: Exception) -> DecodeFailure:
    """Classify an ``orjson.loads`` failure, in the user's words where orjson's are its own."""
    if len(data) == 0:
        return DecodeFailure("undecodable", "empty payload (0 bytes; a deleted key would be a null tombstone)")
    text = str(exc)
    found = _POSITION.search(text)
    where = f" (line {found[1]}, column {found[2]})" if found else ""
    said = text[: found.start()] if found else text
    if "depth limit" in text:
        text = f"nesting deeper than 1024 levels ({text})"
    elif "NaN" in text or "Infinity" in text:
        text = f"NaN/Infinity are not JSON ({text})"
    elif "not valid UTF-8" in said:  # orjson says "surrogates not allowed" for any bad byte
        text = _not_utf8(bytes(data))
    elif "surrogate" in said:
        text = (
            "a \\u escape is half of a UTF-16 surrogate pair (\\ud800 to \\udfff without its partner), "
            f"which is not text{where}"
        )
    elif said.startswith("unexpected end of data"):
        text = f"the JSON text ends early{where}: the payload is cut short"
    return DecodeFailure("undecodable", "not valid JSON: " + text[:_MAX_REASON])


def _not_utf8(data: bytes) -> str:
    """Where and how the bytes stop being UTF-8 (JSON text must be UTF-8)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        lead = data[exc.start : exc.start + 2]
        if len(lead) == 2 and lead[0] == 0xED and lead[1] >= 0xA0:
            return f"byte {exc.start} starts a UTF-16 surrogate (U+D800 to U+DFFF), which is not text: invalid UTF-8"
        return f"byte {exc.start} is not valid UTF-8 (JSON text must be UTF-8)"
    return "the bytes are not valid UTF-8 (JSON text must be UTF-8)"


def confluent_schema_id(data: bytes) -> int | DecodeFailure:
    """Schema id of a Confluent-framed message, or why the frame is not one."""
    if len(data) < CONFLUENT_HEADER:
        return DecodeFailure(
            "undecodable",
            f"{len(data)} bytes is too short for the Confluent wire format (magic byte + 4-byte schema id)",
        )
    if data[0] != CONFLUENT_MAGIC:
        return DecodeFailure(
            "undecodable",
            f"wrong magic byte 0x{data[0]:02x}; the Confluent wire format starts with 0x00",
        )
    return int.from_bytes(data[1:CONFLUENT_HEADER], "big")


def decode_failure_of(exc: BaseException) -> str:
    """A decoder exception as text without run-dependent parts or payload content.

    Only the exception type is kept: library messages may quote the value they failed on
    (fastavro's date conversion names the year) or carry object addresses.
    """
    return f"the decoder failed ({type(exc).__name__})"


class _Corrupt(Exception):  # noqa: N818 - a finding carried up the walk, not an error of ours
    """Why the bytes are not a datum of the schema; ``path`` is filled in on the way up."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


# A check step: (bytes, position) -> position after the datum; raises _Corrupt or IndexError.
_Step = Callable[[bytes, int], int]

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _US
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _US
_MIN_DAYS = 1 - date(1970, 1, 1).toordinal()
_MAX_DAYS = date.max.toordinal() - date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint long at ``pos`` and the position after it; at most 64 bits."""
    byte = data[pos]
    pos += 1
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos
    value = byte & 0x7F
    shift = 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise _Corrupt("a long is longer than 10 bytes")
    if value >> 64:
        raise _Corrupt("a long does not fit in 64 bits")
    return (value >> 1) ^ -(value & 1), pos


def _skip_long(data: bytes, pos: int) -> int:
    """Check a varint long without computing it: at most 10 bytes, the 10th at most 1."""
    if data[pos] < 0x80:
        return pos + 1
    end = pos + 9
    pos += 1
    while data[pos] >= 0x80:
        pos += 1
        if pos > end:
            raise _Corrupt("a long is longer than 10 bytes")
    if pos == end and data[pos] > 1:
        raise _Corrupt("a long does not fit in 64 bits")
    return pos + 1


def _skip_int(data: bytes, pos: int) -> int:
    """Check a varint int: at most 5 bytes and 32 bits (the 5th byte at most 0x0f)."""
    if data[pos] < 0x80:
        return pos + 1
    end = pos + 4
    pos += 1
    while data[pos] >= 0x80:
        pos += 1
        if pos > end:
            raise _Corrupt("an int is longer than 5 bytes")
    if pos == end and data[pos] > 0x0F:
        raise _Corrupt("an int does not fit in 32 bits")
    return pos + 1


def _int(data: bytes, pos: int) -> tuple[int, int]:
    _skip_int(data, pos)
    return _long(data, pos)


def _null(data: bytes, pos: int) -> int:  # noqa: ARG001 - every step has the same signature
    return pos


def _boolean(data: bytes, pos: int) -> int:
    if data[pos] > 1:
        raise _Corrupt("a boolean byte is neither 0 nor 1")
    return pos + 1


def _sized(width: int, what: str) -> _Step:
    def step(data: bytes, pos: int) -> int:
        pos += width
        if pos > len(data):
            raise _Corrupt(f"the data ends inside a {what}")
        return pos

    return step


def _length(data: bytes, pos: int, what: str) -> tuple[int, int]:
    byte = data[pos]
    if byte < 0x80:
        size, pos = (byte >> 1) ^ -(byte & 1), pos + 1
    else:
        size, pos = _long(data, pos)
    if size < 0:
        raise _Corrupt(f"negative {what} length")
    if pos + size > len(data):
        raise _Corrupt(f"the {what} length runs past the end of the data")
    return size, pos


def _bytes(data: bytes, pos: int) -> int:
    size, pos = _length(data, pos, "bytes")
    return pos + size


def _string(data: bytes, pos: int) -> int:
    size, pos = _length(data, pos, "string")
    end = pos + size
    try:
        data[pos:end].decode("utf-8")
    except UnicodeDecodeError:
        raise _Corrupt("a string is not valid UTF-8") from None
    return end


def _blocks(item: _Step, what: str, keyed: bool) -> _Step:
    """Array or map blocks: count, (byte size if the count is negative), items; 0 ends."""

    def step(data: bytes, pos: int) -> int:
        index = 0
        while True:
            count, pos = _long(data, pos)
            if count == 0:
                return pos
            size = -1
            if count < 0:
                count = -count
                size, pos = _long(data, pos)
                if size < 0:
                    raise _Corrupt(f"negative {what} block size")
            if count > len(data) - pos:
                raise _Corrupt(f"{what} block count exceeds the bytes left")
            begin, stop = pos, index + count
            try:
                while index < stop:
                    if keyed:
                        pos = _string(data, pos)
                    pos = item(data, pos)
                    index += 1
            except _Corrupt as exc:
                exc.path.append("*" if keyed else str(index))  # a map key is payload: never shown
                raise
            if size >= 0 and pos - begin != size:
                raise _Corrupt(f"{what} block size does not match its items")

    return step


def _enum(count: int) -> _Step:
    def step(data: bytes, pos: int) -> int:
        index, pos = _long(data, pos)
        if index < 0:
            raise _Corrupt("negative enum index")
        if index >= count:
            raise _Corrupt(f"enum index past the last of its {count} symbols")
        return pos

    return step


def _union(branches: tuple[_Step, ...]) -> _Step:
    count = len(branches)

    def step(data: bytes, pos: int) -> int:
        index, pos = _long(data, pos)
        if index < 0:
            raise _Corrupt("negative union branch index")
        if index >= count:
            raise _Corrupt(f"union branch index past the last of its {count} branches")
        return branches[index](data, pos)

    return step


def _record(fields: tuple[tuple[str, _Step], ...]) -> _Step:
    def step(data: bytes, pos: int) -> int:
        name = ""
        try:
            for name, field_step in fields:  # noqa: B007 - name says which field failed
                pos = field_step(data, pos)
        except _Corrupt as exc:
            exc.path.append(name)
            raise
        except IndexError:
            corrupt = _Corrupt("the data ends early")
            corrupt.path.append(name)
            raise corrupt from None
        return pos

    return step


def _ranged(read: Callable[[bytes, int], tuple[int, int]], low: int, high: int, what: str) -> _Step:
    def step(data: bytes, pos: int) -> int:
        value, pos = read(data, pos)
        if not low <= value <= high:
            raise _Corrupt(f"{what} out of range")
        return pos

    return step


def _uuid(data: bytes, pos: int) -> int:
    size, pos = _length(data, pos, "string")
    end = pos + size
    try:
        uuid.UUID(data[pos:end].decode("utf-8"))
    except UnicodeDecodeError:
        raise _Corrupt("a string is not valid UTF-8") from None
    except ValueError:
        raise _Corrupt("uuid is not a UUID") from None
    return end


def _bytes_decimal(precision: int) -> _Step:
    """A bytes decimal; more digits than its precision would be rounded by fastavro: data lost."""
    bound = 10**precision

    def step(data: bytes, pos: int) -> int:
        size, pos = _length(data, pos, "bytes")
        if abs(int.from_bytes(data[pos : pos + size], "big", signed=True)) >= bound:
            raise _Corrupt("a decimal has more digits than its precision")
        return pos + size

    return step


def _fixed(width: int, precision: int | None) -> _Step:
    bound = 10**precision if precision is not None else 0

    def step(data: bytes, pos: int) -> int:
        end = pos + width
        if end > len(data):
            raise _Corrupt("the data ends inside a fixed")
        if bound and abs(int.from_bytes(data[pos:end], "big", signed=True)) >= bound:
            raise _Corrupt("a decimal has more digits than its precision")
        return end

    return step


_TIMESTAMPS = {
    "timestamp-millis": 1000,
    "local-timestamp-millis": 1000,
    "timestamp-micros": 1,
    "local-timestamp-micros": 1,
}


class _Compiler:
    """Turns a fastavro-parsed schema into nested check steps (named types resolved lazily)."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = dict(named)
        self.steps: dict[str, list[_Step]] = {}

    def compile(self, schema: Any) -> _Step:
        if isinstance(schema, list):
            return _union(tuple(self.compile(branch) for branch in schema))
        if isinstance(schema, str):
            return self._by_name(schema)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if kind in ("record", "error"):
            cell = self._cell(schema["name"])  # before the fields: they may refer to it
            cell.append(_record(tuple((f["name"], self.compile(f["type"])) for f in schema["fields"])))
            return cell[0]
        if kind == "enum":
            cell = self._cell(schema["name"])
            cell.append(_enum(len(schema["symbols"])))
            return cell[0]
        if kind == "fixed":
            cell = self._cell(schema["name"])
            precision = int(schema["precision"]) if logical == "decimal" else None
            cell.append(_fixed(int(schema["size"]), precision))
            return cell[0]
        if kind == "array":
            return _blocks(self.compile(schema["items"]), "array", keyed=False)
        if kind == "map":
            return _blocks(self.compile(schema["values"]), "map", keyed=True)
        if kind == "int" and logical == "date":
            return _ranged(_int, _MIN_DAYS, _MAX_DAYS, "date")
        if kind == "int" and logical == "time-millis":
            return _ranged(_int, 0, _DAY_MS - 1, "time-millis")
        if kind == "long" and logical == "time-micros":
            return _ranged(_long, 0, _DAY_MS * 1000 - 1, "time-micros")
        if kind == "long" and logical in _TIMESTAMPS:
            unit = _TIMESTAMPS[logical]
            return _ranged(_long, -(-_MIN_US // unit), _MAX_US // unit, logical)
        if kind == "string" and logical == "uuid":
            return _uuid
        if kind == "bytes" and logical == "decimal":
            return _bytes_decimal(int(schema["precision"]))
        return self._by_name(kind)

    def _cell(self, name: str) -> list[_Step]:
        cell: list[_Step] = []
        self.steps[name] = cell
        return cell

    def _by_name(self, name: str) -> _Step:
        primitive = _PRIMITIVES.get(name)
        if primitive is not None:
            return primitive
        cell = self.steps.get(name)
        if cell is None:
            return self.compile(self.named[name])
        if cell:
            return cell[0]

        def later(data: bytes, pos: int) -> int:  # a recursive type, still being compiled
            return cell[0](data, pos)

        return later


# A read step: (bytes, position) -> (value, position after it); raises like a check step.
_Read = Callable[[bytes, int], tuple[Any, int]]
#: Nesting beyond which a reader is not built (a recursive type read whole): fastavro decodes.
_MAX_READ_DEPTH = 32


def _read_null(data: bytes, pos: int) -> tuple[Any, int]:  # noqa: ARG001 - every step has the same signature
    return None, pos


def _read_boolean(data: bytes, pos: int) -> tuple[Any, int]:
    byte = data[pos]
    if byte > 1:
        raise _Corrupt("a boolean byte is neither 0 nor 1")
    return byte == 1, pos + 1


def _read_number(fmt: str, width: int, what: str) -> _Read:
    unpack = struct.Struct(fmt).unpack_from

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        if pos + width > len(data):
            raise _Corrupt(f"the data ends inside a {what}")
        return unpack(data, pos)[0], pos + width

    return read


def _read_string(data: bytes, pos: int) -> tuple[Any, int]:
    size, pos = _length(data, pos, "string")
    end = pos + size
    try:
        return data[pos:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise _Corrupt("a string is not valid UTF-8") from None


def _read_bytes(data: bytes, pos: int) -> tuple[Any, int]:
    size, pos = _length(data, pos, "bytes")
    return bytes(data[pos : pos + size]), pos + size


_READ_PRIMITIVES: dict[str, _Read] = {
    "null": _read_null,
    "boolean": _read_boolean,
    "int": _int,
    "long": _long,
    "float": _read_number("<f", 4, "float"),
    "double": _read_number("<d", 8, "double"),
    "bytes": _read_bytes,
    "string": _read_string,
}


class _Reader:
    """Builds read steps that decode only the parts of a datum a reach names.

    Values are exactly what fastavro builds (dicts, lists, str, int, float, bytes, enum
    symbols), so a rule sees the same payload either way; anything whose fastavro value is
    richer (a logical type: datetime, Decimal, UUID) makes the build give up (None) and the
    caller falls back to fastavro. Everything passed over is checked by the check's own steps,
    so a datum read here is a datum the check would pass.
    """

    def __init__(self, compiler: _Compiler) -> None:
        self.compiler = compiler
        self.whole: dict[str, _Read | None] = {}  # named type -> its whole read (built once per name)

    def build(self, schema: Any, reach: Any, depth: int = 0) -> _Read | None:
        """A read step for ``schema`` keeping what ``reach`` names (None: all of it)."""
        if depth > _MAX_READ_DEPTH:
            return None
        if isinstance(schema, list):
            branches = [self.build(branch, reach, depth + 1) for branch in schema]
            return None if any(b is None for b in branches) else _read_union(tuple(branches))  # type: ignore[arg-type]
        if isinstance(schema, str):
            primitive = _READ_PRIMITIVES.get(schema)
            if primitive is not None:
                return primitive
            named = self.compiler.named.get(schema)
            if named is None:
                return None
            if reach is not None:
                return self.build(named, reach, depth + 1)
            if schema not in self.whole:
                self.whole[schema] = None  # a recursive use while building: give up (fastavro decodes)
                self.whole[schema] = self.build(named, None, depth + 1)
            return self.whole[schema]
        if "logicalType" in schema:
            return None
        kind = schema["type"]
        if kind in ("record", "error"):
            return self._record(schema, reach, depth)
        if kind == "enum":
            return _read_enum(tuple(schema["symbols"]))
        if kind == "fixed":
            return _read_fixed(int(schema["size"]))
        if kind in ("array", "map"):
            item = self.build(schema["items" if kind == "array" else "values"], None, depth + 1)
            return None if item is None else _read_blocks(item, kind, kind == "map")
        return self.build(kind, reach, depth + 1)

    def _record(self, schema: Any, reach: Any, depth: int) -> _Read | None:
        wanted = reach if isinstance(reach, dict) else None
        fields: list[tuple[str, Any, bool]] = []
        for field in schema["fields"]:
            name = field["name"]
            if wanted is None or name in wanted:
                read = self.build(field["type"], None if wanted is None else wanted[name], depth + 1)
                if read is None:
                    return None
                fields.append((name, read, True))
            else:
                fields.append((name, self.compiler.compile(field["type"]), False))
        return _read_record(tuple(fields))


def _read_union(branches: tuple[_Read, ...]) -> _Read:
    count = len(branches)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        index, pos = _long(data, pos)
        if not 0 <= index < count:
            raise _Corrupt("union branch index out of range")
        return branches[index](data, pos)

    return read


def _read_enum(symbols: tuple[str, ...]) -> _Read:
    count = len(symbols)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        index, pos = _long(data, pos)
        if not 0 <= index < count:
            raise _Corrupt("enum index out of range")
        return symbols[index], pos

    return read


def _read_fixed(width: int) -> _Read:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + width
        if end > len(data):
            raise _Corrupt("the data ends inside a fixed")
        return bytes(data[pos:end]), end

    return read


def _read_blocks(item: _Read, what: str, keyed: bool) -> _Read:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        out: Any = {} if keyed else []
        while True:
            count, pos = _long(data, pos)
            if count == 0:
                return out, pos
            if count < 0:
                count = -count
                size, pos = _long(data, pos)
                if size < 0:
                    raise _Corrupt(f"negative {what} block size")
                begin = pos
            else:
                size = -1
            if count > len(data) - pos:
                raise _Corrupt(f"{what} block count exceeds the bytes left")
            for _ in range(count):
                if keyed:
                    key, pos = _read_string(data, pos)
                    out[key], pos = item(data, pos)
                else:
                    value, pos = item(data, pos)
                    out.append(value)
            if size >= 0 and pos - begin != size:
                raise _Corrupt(f"{what} block size does not match its items")

    return read


def _read_record(fields: tuple[tuple[str, Any, bool], ...]) -> _Read:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        out: dict[str, Any] = {}
        for name, step, keep in fields:
            if keep:
                out[name], pos = step(data, pos)
            else:
                pos = step(data, pos)
        return out, pos

    return read


_PRIMITIVES: dict[str, _Step] = {
    "null": _null,
    "boolean": _boolean,
    "int": _skip_int,
    "long": _skip_long,
    "float": _sized(4, "float"),
    "double": _sized(8, "double"),
    "bytes": _bytes,
    "string": _string,
}


class AvroCodec:
    """Strict check and decode of schemaless Avro datums of one parsed schema.

    ``check`` is the hot path: it walks the bytes and builds nothing. ``decode`` checks, then
    has fastavro build the record (only where a record is needed: older-version fallbacks).
    Both need the datum to use exactly the bytes given: leftover bytes mean the writer used
    another schema (typically one with more fields), ``schema_mismatch``, not success.
    """

    __slots__ = ("_named", "_step", "parsed")

    def __init__(self, parsed: Any, named: Mapping[str, Any] | None = None) -> None:
        """Compile the check; ``named`` maps full names to named types (a parsed record has its own).

        Needed when ``parsed`` is not a record: a top-level union naming types from references.
        """
        self.parsed = parsed
        if named is None:
            named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
        self._named = named
        self._step = _Compiler(named).compile(parsed)

    def check(self, data: bytes, start: int = 0) -> DecodeFailure | None:
        """None when ``data[start:]`` is exactly one valid datum, else why not."""
        try:
            end = self._step(data, start)
        except _Corrupt as exc:
            where = f" at {jp.to_pointer(reversed(exc.path))}" if exc.path else ""
            return DecodeFailure("undecodable", f"not decodable as Avro: {exc.reason}{where}")
        except IndexError:
            return DecodeFailure("undecodable", "not decodable as Avro: the data ends early")
        except RecursionError:
            return DecodeFailure("undecodable", "not decodable as Avro: nested too deeply to check")
        left = len(data) - end
        if left:
            return DecodeFailure(
                "schema_mismatch",
                f"decoded with the contract's schema but {left} of {len(data) - start} bytes were left over",
            )
        return None

    def reader(self, reach: Any) -> Callable[[bytes, int], Any] | None:
        """Check and read in one walk the parts of a datum ``reach`` names (None: all of them).

        The returned function gives the (partial) record, or None when the bytes are not
        exactly one valid datum: the caller then runs ``check`` for the reason. None instead
        of a function when the schema cannot be read to fastavro's values here (logical
        types, deep recursion): the caller decodes with fastavro.
        """
        compiler = _Compiler(self._named)
        read = _Reader(compiler).build(self.parsed, reach)
        if read is None:
            return None

        def read_all(data: bytes, start: int = 0) -> Any:
            try:
                value, end = read(data, start)
            except (_Corrupt, IndexError, RecursionError):
                return None
            return value if end == len(data) else None

        return read_all

    def decode(self, data: bytes, start: int = 0) -> Any | DecodeFailure:
        """The record of a datum that passes ``check``, or the ``DecodeFailure``."""
        failure = self.check(data, start)
        if failure is not None:
            return failure
        buffer = BytesIO(data)
        buffer.seek(start)
        try:
            return schemaless_reader(buffer, self.parsed, None)
        except Exception as exc:  # noqa: BLE001 - a value the strict check let through but fastavro cannot build
            return DecodeFailure("undecodable", "not decodable as Avro: " + decode_failure_of(exc))


def decode_avro(data: bytes, parsed_schema: Any, start: int = 0) -> Any | DecodeFailure:
    """Check and decode one datum with a codec built for this call (tests, one-off use)."""
    return AvroCodec(parsed_schema).decode(data, start)
