"""``stream-sentinel registry check`` and ``registry import``: the catalog against a Schema Registry.

``check`` fetches every subject version and compatibility level (documented ``GET`` endpoints
only) and compares them with ``spec/events/`` (``core/compat/registry.py``). Exit 0: no
difference, 1: differences found, 2: usage or spec error, 3: the registry cannot be reached (or
refuses the credentials). ``import`` writes a catalog skeleton and one schema file per subject
version into an empty directory, then loads it exactly as the worker would.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, TextIO

import yaml

from stream_sentinel.cli.common import spec_default, spec_default_text
from stream_sentinel.config import Settings
from stream_sentinel.core.compat.registry import Finding, RegisteredVersion, Snapshot, compare, referenced_subjects
from stream_sentinel.core.contracts.catalog import CATALOG_FILE, load_catalog
from stream_sentinel.core.errors import UsageError
from stream_sentinel.core.exits import EXIT_DRIFT, EXIT_OK
from stream_sentinel.registry import RegistryClient, snapshot

_TOPIC_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_EXTENSIONS = {"AVRO": ".avsc", "JSON": ".schema.json"}
_FORMATS = {"AVRO": "confluent-avro", "JSON": "confluent-json"}


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``registry`` with its ``check`` and ``import`` subcommands."""
    registry = sub.add_parser(
        "registry",
        help="compare the contracts with a Schema Registry, or import a catalog skeleton from one",
        description="Work with a Confluent-compatible Schema Registry (the catalog's registry: section, or --url).",
        stdout=stdout,
    )
    commands = registry.add_subparsers(dest="registry_command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="spec-vs-registry drift: subjects/versions missing on either side, differing schemas and levels",
        description="Compare spec/events/ with the registry. Exit 0: none, 1: drift found, 2: usage or spec "
        "error, 3: registry unreachable.",
        stdout=stdout,
    )
    check.add_argument("--spec", default=spec_default(), help=f"contracts dir (default {spec_default_text()})")
    check.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    imported = commands.add_parser(
        "import",
        help="write a catalog skeleton and schema files from the registry's subjects",
        description="Write catalog.yaml and one schema file per subject version into an empty directory. "
        "Exit 0: written and loads, 2: usage, 3: registry unreachable.",
        stdout=stdout,
    )
    imported.add_argument("--output", required=True, metavar="DIR", help="directory to write (new or empty)")
    imported.add_argument("--spec", help="contracts dir whose registry: section says how to reach the registry")
    for parser in (check, imported):
        parser.add_argument("--url", help="registry base URL (default: SENTINEL_REGISTRY_URL, else the catalog's)")
        parser.add_argument("--config", help="settings file (registry secrets: SENTINEL_REGISTRY_PASSWORD/TOKEN)")
    check.set_defaults(run=run_check)
    imported.set_defaults(run=run_import)


def _client(args: argparse.Namespace, spec_dir: str | None) -> RegistryClient:
    """The client the catalog's registry section (if any) and the settings describe."""
    settings = Settings.load(args.config)
    spec = load_catalog(spec_dir).registry if spec_dir else None
    if spec is not None:
        return RegistryClient.from_spec(spec, settings, args.url)
    url = args.url or settings.registry_url
    if not url:
        raise UsageError(
            "no registry: give --url, set SENTINEL_REGISTRY_URL, or add a registry: section to the catalog"
        )
    if settings.registry_token is not None:
        return RegistryClient(url, auth="bearer", secret=settings.registry_token)
    if settings.registry_password is not None:
        return RegistryClient(url, auth="basic", username=settings.registry_username, secret=settings.registry_password)
    ca_file = str(settings.registry_ca_file) if settings.registry_ca_file else None
    return RegistryClient(url, ca_file=ca_file)


def run_check(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Compare the catalog with the registry; exit 1 when they differ."""
    catalog = load_catalog(args.spec)
    client = _client(args, args.spec)
    findings = compare(catalog, snapshot(client))
    if args.format == "json":
        body = {"registry": client.url, "findings": [f.as_dict() for f in findings]}
        stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        _table(findings, client.url, stdout)
    return EXIT_DRIFT if findings else EXIT_OK


def _table(findings: list[Finding], url: str, out: TextIO) -> None:
    if not findings:
        out.write(f"catalog and registry {url} agree\n")
        return
    rows = [
        (
            f.kind,
            f.subject or "-",
            "-" if f.version is None else f"v{f.version}",
            "-" if f.schema_id is None else str(f.schema_id),
            f.catalog or "-",
            f.detail,
        )
        for f in findings
    ]
    header = ("KIND", "SUBJECT", "VERSION", "ID", "CATALOG", "DETAIL")
    widths = [max(len(r[i]) for r in (*rows, header)) for i in range(5)]
    for row in (header, *rows):
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5] + "\n"
        )
    out.write(f"{len(findings)} difference(s) between the catalog and registry {url}\n")


def run_import(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Write a catalog skeleton from the registry's subjects, then load it."""
    output = Path(args.output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"--output {output}: must be a new or empty directory (nothing is overwritten)")
    client = _client(args, args.spec)
    found = snapshot(client)
    topics, files, skipped = _skeleton(client, found)
    for ref, text in files.items():
        path = output / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json.loads(text), indent=2) + "\n", encoding="utf-8")
    catalog = {"catalog": 1, "description": f"Imported from {client.url}", "registry": {"url": client.url}}
    catalog["topics"] = topics
    output.mkdir(parents=True, exist_ok=True)
    (output / CATALOG_FILE).write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")
    for note in skipped:
        stderr.write(f"stream-sentinel: note: {note}\n")
    load_catalog(output) if topics else None  # what was written loads (SpecError: exit 2)
    stdout.write(f"wrote {output / CATALOG_FILE}: {len(topics)} topic(s), {len(files)} schema file(s)\n")
    return EXIT_OK


def _skeleton(client: RegistryClient, found: Snapshot) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Catalog topics, schema files (path -> text) and notes on what was left out."""
    topics: dict[str, Any] = {}
    files: dict[str, str] = {}
    skipped: list[str] = []
    used: set[int] = set()
    referenced = referenced_subjects(found.versions)
    for registered in found.versions:
        where = f"subject {registered.subject!r} v{registered.version}"
        if registered.subject in referenced:
            continue  # a shared type: written under refs/ with the schemas that reference it
        if registered.subject.endswith("-key"):
            skipped.append(f"{where}: a key schema (keys are not imported)")
            continue
        if registered.schema_type not in _EXTENSIONS:
            skipped.append(f"{where}: {registered.schema_type} schemas are not imported")
            continue
        if registered.schema_id in used:
            skipped.append(f"{where}: schema id {registered.schema_id} is already imported under another subject")
            continue
        used.add(registered.schema_id)
        topic_name = _topic_of(registered.subject)
        event = _event_name(registered, topic_name)
        ref = f"{topic_name}/{event}.v{registered.version}{_EXTENSIONS[registered.schema_type]}"
        files[ref] = registered.schema
        version: dict[str, Any] = {"version": registered.version, "schema": ref, "schema_id": registered.schema_id}
        if registered.references and registered.schema_type == "AVRO":
            version["references"] = _references(client, registered.references, files)
        elif registered.references:
            skipped.append(f"{where}: JSON Schema references are not imported; copy them and fix its $ref")
        topic = topics.setdefault(
            topic_name, {"format": _FORMATS[registered.schema_type], "event_type": {"schema_id": True}, "events": {}}
        )
        entry = topic["events"].setdefault(event, {"versions": []})
        level = found.levels.get(registered.subject, found.global_level)
        if level is not None:
            entry["compatibility"] = level
        entry["versions"].append(version)
    return topics, files, skipped


def _topic_of(subject: str) -> str:
    """The topic a subject names: ``<topic>-value`` or ``<topic>-<record full name>``, else the subject."""
    head, _, tail = subject.partition("-")
    topic = subject.removesuffix("-value") if subject.endswith("-value") else head if "." in tail else subject
    return _TOPIC_CHARS.sub("_", topic)


def _event_name(registered: RegisteredVersion, topic: str) -> str:
    """The record's name (Avro) or title (JSON Schema), else the topic's name in CamelCase."""
    try:
        doc = json.loads(registered.schema)
    except ValueError:
        doc = None
    name = ""
    if isinstance(doc, dict):
        name = str(doc.get("name" if registered.schema_type == "AVRO" else "title", "")).rsplit(".", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9_]", "", name)
    return name or "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", topic) if part) or "Event"


def _references(client: RegistryClient, references: tuple[Mapping[str, Any], ...], files: dict[str, str]) -> list[str]:
    """Referenced schemas written under ``refs/`` (dependencies first); their paths, in order."""
    paths: list[str] = []
    for reference in references:
        found = client.version(str(reference["subject"]), int(reference["version"]))
        if found.references:
            paths.extend(p for p in _references(client, found.references, files) if p not in paths)
        ref = f"refs/{_TOPIC_CHARS.sub('_', found.subject)}.v{found.version}.avsc"
        files[ref] = found.schema
        if ref not in paths:
            paths.append(ref)
    return paths
