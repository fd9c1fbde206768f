"""Protobuf contracts: every ``.proto`` under the spec dir compiled into descriptors at load.

Why protoc (the one bundled in ``grpcio-tools``) and not a pure-Python parser: protoc *is* the
language definition (imports, packages, name resolution, options, proto2/proto3/editions rules,
the well-known types it ships), its error messages name file, line and column, and its
``FileDescriptorSet`` (with source info: the comments our annotations live in) loads straight
into ``google.protobuf``'s descriptor pool. A parser (``proto-schema-parser``) gives a syntax
tree only: name resolution, type checking and descriptor building would be ours to write and to
get wrong. Measured here: compiling the example spec takes ~0.12 s once per start (a child
``python -m grpc_tools.protoc``: the C++ compiler writes its errors to the process' stderr,
which a child process captures cleanly). No generated code is ever written: the descriptor set
goes to a temporary directory and is read back into memory.

Annotations are a documented comment convention (README: Protobuf), read from the descriptor
set's source info: a line ``x-pii``, ``x-requirement: REQ-...`` or ``x-owner: team`` in the
leading or trailing comment of a message or field.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor

from stream_sentinel.core.errors import SpecError

#: The catalog formats whose contracts are ``.proto`` messages.
PROTO_FORMATS: Final = ("protobuf", "confluent-protobuf")
#: The catalog file (as in catalog.CATALOG_FILE; not imported: catalog imports this module).
_CATALOG: Final = "catalog.yaml"
#: Longest protoc may take for a whole spec dir before the load is refused.
PROTOC_TIMEOUT_S: Final = 60.0
_PROTOC_ERROR = re.compile(r"^(?P<file>[^:\s][^:]*\.proto):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")
_PROTOC_PLAIN = re.compile(r"^(?P<file>[^:\s][^:]*\.proto): (?P<msg>.*)$")
_NOTE = re.compile(r"^\s*(x-pii|x-requirement|x-owner)\s*(?::\s*(.*?))?\s*$")
_MESSAGE_TYPE: Final = 4  # FileDescriptorProto.message_type
_NESTED_TYPE: Final = 3  # DescriptorProto.nested_type
_FIELD: Final = 2  # DescriptorProto.field


@dataclass(frozen=True, slots=True)
class ProtoNotes:
    """What the comments of one message or field say: requirement, owner, PII."""

    requirement: str | None = None
    owner: str | None = None
    pii: bool = False


@dataclass(frozen=True, slots=True)
class ProtoSet:
    """Every ``.proto`` of the spec dir, compiled: the pool and the annotations of each element.

    ``notes`` is keyed by a message's full name (``acme.inventory.v1.StockReserved``) and by a
    field's full name (``acme.inventory.v1.StockReserved.customer_email``).
    """

    pool: descriptor_pool.DescriptorPool = field(repr=False)
    files: Mapping[str, descriptor_pb2.FileDescriptorProto] = field(repr=False)
    notes: Mapping[str, ProtoNotes]

    def message(self, name: str) -> Descriptor:
        """The descriptor of a fully-qualified message name (KeyError when there is none)."""
        return self.pool.FindMessageTypeByName(name)

    def top_messages(self, ref: str) -> list[str]:
        """Full names of the top-level messages a file declares, in order."""
        proto = self.files[ref]
        prefix = f"{proto.package}." if proto.package else ""
        return [prefix + m.name for m in proto.message_type]

    def indexes(self, desc: Descriptor) -> tuple[int, ...]:
        """Confluent's message-index path of a message: its position in its file, then nested positions."""
        proto = self.files[desc.file.name]
        prefix = f"{proto.package}." if proto.package else ""
        parts = desc.full_name.removeprefix(prefix).split(".")
        out: list[int] = []
        siblings = list(proto.message_type)
        for part in parts:
            index = next(i for i, m in enumerate(siblings) if m.name == part)
            out.append(index)
            siblings = list(siblings[index].nested_type)
        return tuple(out)


def proto_files(root: Path) -> list[str]:
    """Every ``.proto`` under the spec dir, as spec-relative posix paths, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto") if p.is_file())


def compile_protos(root: Path, refs: list[str]) -> ProtoSet:
    """Compile ``refs`` (spec-relative) with protoc; ``SpecError`` at ``file#/line/N/column/M``."""
    with tempfile.TemporaryDirectory(prefix="sentinel-proto-") as tmp:
        out = Path(tmp) / "set.pb"
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "--proto_path=.",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *refs,
        ]
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, no shell
                command, cwd=root, capture_output=True, text=True, timeout=PROTOC_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise SpecError(refs[0], "", f"protoc took longer than {PROTOC_TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise SpecError(refs[0], "", f"cannot run protoc (grpcio-tools): {exc.strerror or exc}") from None
        if done.returncode != 0 or not out.is_file():
            raise _protoc_error(done.stderr, refs[0])
        data = out.read_bytes()
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    notes: dict[str, ProtoNotes] = {}
    for proto in fds.file:
        try:
            pool.Add(proto)
        except (TypeError, ValueError) as exc:
            raise SpecError(proto.name, "", f"cannot build descriptors: {_first_line(str(exc))}") from None
        files[proto.name] = proto
        notes.update(_file_notes(proto))
    return ProtoSet(pool=pool, files=files, notes=notes)


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else "failed"


def _protoc_error(stderr: str, fallback: str) -> SpecError:
    """Protoc's first error line as a ``SpecError`` (its log chatter skipped)."""
    for line in stderr.splitlines():
        found = _PROTOC_ERROR.match(line.strip())
        if found:
            pointer = f"/line/{found['line']}/column/{found['col']}"
            return SpecError(found["file"], pointer, found["msg"][:300])
    for line in stderr.splitlines():
        plain = _PROTOC_PLAIN.match(line.strip())
        if plain:
            return SpecError(plain["file"], "", plain["msg"][:300])
    meaningful = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("WARNING:", "W0000", "I0000"))]
    return SpecError(fallback, "", f"protoc failed: {_first_line(chr(10).join(meaningful) or 'no output')}")


def _parse_notes(comments: str, where: str, file: str) -> ProtoNotes | None:
    requirement: str | None = None
    owner: str | None = None
    pii = False
    seen = False
    for line in comments.splitlines():
        found = _NOTE.match(line)
        if not found:
            continue
        seen = True
        key, value = found[1], found[2]
        if key == "x-pii":
            if value not in (None, "", "true"):
                raise SpecError(file, where, f"x-pii takes no value (or 'true'), not {value!r}")
            pii = True
        elif not value:
            raise SpecError(file, where, f"{key} needs a value ({key}: ...)")
        elif key == "x-requirement":
            requirement = value
        else:
            owner = value
    return ProtoNotes(requirement, owner, pii) if seen else None


def _file_notes(proto: descriptor_pb2.FileDescriptorProto) -> dict[str, ProtoNotes]:
    """Annotations of every message and field of one file, from its source-info comments."""
    comments: dict[tuple[int, ...], str] = {}
    for loc in proto.source_code_info.location:
        text = loc.leading_comments + "\n" + loc.trailing_comments
        if "x-" in text:
            comments[tuple(loc.path)] = text
    out: dict[str, ProtoNotes] = {}
    prefix = f"{proto.package}." if proto.package else ""
    stack: list[tuple[tuple[int, ...], str, Any]] = [
        ((_MESSAGE_TYPE, i), prefix + m.name, m) for i, m in enumerate(proto.message_type)
    ]
    while stack:
        path, name, message = stack.pop()
        where = "/" + "/".join(name.removeprefix(prefix).split("."))
        found = _parse_notes(comments.get(path, ""), where, proto.name)
        if found is not None:
            out[name] = found
        for i, fld in enumerate(message.field):
            noted = _parse_notes(comments.get((*path, _FIELD, i), ""), f"{where}/{fld.name}", proto.name)
            if noted is not None:
                out[f"{name}.{fld.name}"] = noted
        stack.extend(((*path, _NESTED_TYPE, i), f"{name}.{m.name}", m) for i, m in enumerate(message.nested_type))
    return out


def proto_message(protos: ProtoSet | None, vspec: Mapping[str, Any], vpointer: str, fmt: str) -> str:
    """The full message name a protobuf version names, checked against the compiled files."""
    ref = vspec["schema"]
    if protos is None or ref not in protos.files:
        raise SpecError(_CATALOG, vpointer + "/schema", f"no .proto file {ref!r} in the spec dir (topic format {fmt})")
    if fmt == "confluent-protobuf" and "schema_id" not in vspec:
        raise SpecError(_CATALOG, vpointer, f"{fmt} topics need a schema_id for every version")
    if vspec.get("references"):
        raise SpecError(_CATALOG, vpointer + "/references", "references name Avro files; .proto files use import")
    top = protos.top_messages(ref)
    name = vspec.get("message")
    if name is None:
        if len(top) != 1:
            raise SpecError(_CATALOG, vpointer, f"{ref} declares {len(top)} top-level messages: name one with message:")
        return top[0]
    try:
        desc = protos.message(name)
    except KeyError:
        raise SpecError(
            _CATALOG, vpointer + "/message", f"no message {name!r} (use its full name, package first)"
        ) from None
    if desc.file.name != ref:
        raise SpecError(_CATALOG, vpointer + "/message", f"message {name!r} is declared in {desc.file.name}, not {ref}")
    return str(desc.full_name)


def snapshot(protos: ProtoSet, *roots: str) -> dict[str, Any]:
    """Plain data of every message and enum a message reaches: what ``diff`` compares.

    ``{"messages": {name: {"fields": {number: {...}}, "reserved": [[start, end)...], "reserved_names":
    [...]}}, "enums": {name: {"values": {number: name}, "closed": bool}}}`` (numbers as ints).
    """
    messages: dict[str, Any] = {}
    enums: dict[str, Any] = {}
    stack = [protos.message(root) for root in roots]
    while stack:
        desc = stack.pop()
        if desc.full_name in messages:
            continue
        proto = descriptor_pb2.DescriptorProto()
        desc.CopyToProto(proto)
        fields: dict[int, Any] = {}
        for fld in desc.fields:
            fields[fld.number] = {
                "name": fld.name,
                "type": int(fld.type),
                "label": "repeated" if fld.is_repeated else "required" if fld.is_required else "optional",
                "type_name": (fld.message_type or fld.enum_type).full_name
                if (fld.message_type or fld.enum_type)
                else None,
                "oneof": fld.containing_oneof.name
                if fld.containing_oneof is not None and not fld.containing_oneof.name.startswith("_")
                else None,
            }
            if fld.message_type is not None:
                stack.append(fld.message_type)
            if fld.enum_type is not None and fld.enum_type.full_name not in enums:
                enums[fld.enum_type.full_name] = {
                    "values": {v.number: v.name for v in fld.enum_type.values},
                    "closed": bool(fld.enum_type.is_closed),
                }
        messages[desc.full_name] = {
            "fields": fields,
            "reserved": [[r.start, r.end] for r in proto.reserved_range],
            "reserved_names": list(proto.reserved_name),
        }
    return {"roots": list(roots), "messages": messages, "enums": enums}
