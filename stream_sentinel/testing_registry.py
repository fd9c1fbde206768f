"""A fake Confluent Schema Registry on loopback, for tests and the demo.

No real registry can be installed here (none is on PyPI, Debian or npm), so the client
(``stream_sentinel/registry.py``) is tested against this server, which implements the
*documented* read subset of the Confluent Schema Registry REST API (Confluent Platform "Schema
Registry API Reference") as faithfully as we can read it:

- ``GET /schemas/ids/{id}``: ``{"schema", "schemaType"?, "references"?}``; ``schemaType`` is
  left out for Avro, as Confluent does; unknown id: 404 ``{"error_code": 40403}``;
- ``GET /schemas/ids/{id}/versions``: ``[{"subject", "version"}]``;
- ``GET /subjects``; ``GET /subjects/{subject}/versions`` (404 40401);
  ``GET /subjects/{subject}/versions/{version}`` with ``latest`` or ``-1`` (404 40401 / 40402,
  422 42202 for a version that is not a number);
- ``GET /config`` and ``GET /config/{subject}`` (``compatibilityLevel``; a subject without its
  own level: 404 40408, or the global level with ``?defaultToGlobal=true``);
- every body is ``application/vnd.schemaregistry.v1+json``; errors are
  ``{"error_code": ..., "message": ...}``; bad credentials: 401 ``{"error_code": 401}``.

Registering (``register``) is a Python call, not the REST ``POST``: tests set the registry's
content up; the sentinel only reads. The same schema text under two subjects gets one id, as
in Confluent's registry.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"


@dataclass
class _Version:
    subject: str
    version: int
    schema_id: int


@dataclass
class _Schema:
    schema_id: int
    schema: str
    schema_type: str
    references: list[dict[str, Any]] = field(default_factory=list)


class FakeRegistry:
    """The registry's content and behaviour knobs; ``serve()`` runs it on 127.0.0.1."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        compatibility: str = "BACKWARD",
    ) -> None:
        self.username, self.password, self.token = username, password, token
        self.compatibility = compatibility
        self.subject_compatibility: dict[str, str] = {}
        self.schemas: dict[int, _Schema] = {}
        self.subjects: dict[str, list[_Version]] = {}
        self.requests: list[str] = []  # request paths, in order (tests count fetches)
        self.delay = 0.0  # seconds before every answer (timeouts)
        self.failing = False  # answer 500 / 50001 (backend datastore failure)
        self._lock = threading.Lock()
        self._next_id = 1

    def register(
        self,
        subject: str,
        schema: str | dict[str, Any],
        schema_type: str = "AVRO",
        references: Sequence[dict[str, Any]] = (),
        schema_id: int | None = None,
    ) -> int:
        """Register a schema under a subject (next version); its id, reused for the same text."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        with self._lock:
            found = next((s for s in self.schemas.values() if s.schema == text and s.schema_type == schema_type), None)
            if found is None:
                new_id = schema_id if schema_id is not None else self._next_id
                self._next_id = max(self._next_id, new_id + 1)
                found = self.schemas[new_id] = _Schema(new_id, text, schema_type, list(references))
            versions = self.subjects.setdefault(subject, [])
            versions.append(_Version(subject, len(versions) + 1, found.schema_id))
            return found.schema_id

    # -- answering ---------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]], authorization: str | None) -> tuple[int, Any]:
        """Status and JSON body of a GET (the HTTP handler only moves bytes)."""
        self.requests.append(path)
        if self.delay:
            time.sleep(self.delay)
        if not self._authorised(authorization):
            return 401, {"error_code": 401, "message": "Unauthorized"}
        if self.failing:
            return 500, {"error_code": 50001, "message": "Error in the backend datastore"}
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        with self._lock:
            return self._route(parts, query)

    def _authorised(self, authorization: str | None) -> bool:
        if self.token is not None:
            return authorization == f"Bearer {self.token}"
        if self.username is not None:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return authorization == f"Basic {expected}"
        return True

    def _route(self, parts: list[str], query: dict[str, list[str]]) -> tuple[int, Any]:
        match parts:
            case ["schemas", "ids", ident]:
                return self._schema(ident)
            case ["schemas", "ids", ident, "versions"]:
                return self._id_versions(ident)
            case ["subjects"]:
                return 200, sorted(self.subjects)
            case ["subjects", subject, "versions"]:
                if subject not in self.subjects:
                    return _subject_not_found(subject)
                return 200, [v.version for v in self.subjects[subject]]
            case ["subjects", subject, "versions", version]:
                return self._version(subject, version)
            case ["config"]:
                return 200, {"compatibilityLevel": self.compatibility}
            case ["config", subject]:
                return self._config(subject, query)
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _schema(self, ident: str) -> tuple[int, Any]:
        found = self.schemas.get(int(ident)) if ident.isdigit() else None
        if found is None:
            return 404, {"error_code": 40403, "message": f"Schema {ident} not found"}
        body: dict[str, Any] = {"schema": found.schema}
        if found.schema_type != "AVRO":
            body["schemaType"] = found.schema_type
        if found.references:
            body["references"] = found.references
        return 200, body

    def _id_versions(self, ident: str) -> tuple[int, Any]:
        if not ident.isdigit() or int(ident) not in self.schemas:
            return 404, {"error_code": 40403, "message": f"Schema {ident} not found"}
        pairs = [
            {"subject": v.subject, "version": v.version}
            for versions in self.subjects.values()
            for v in versions
            if v.schema_id == int(ident)
        ]
        return 200, pairs

    def _version(self, subject: str, version: str) -> tuple[int, Any]:
        versions = self.subjects.get(subject)
        if versions is None:
            return _subject_not_found(subject)
        if version in ("latest", "-1"):
            chosen = versions[-1]
        elif version.isdigit() and 1 <= int(version) <= len(versions):
            chosen = versions[int(version) - 1]
        elif version.lstrip("-").isdigit():
            return 404, {"error_code": 40402, "message": f"Version {version} not found."}
        else:
            return 422, {
                "error_code": 42202,
                "message": "The specified version '" + version + "' is not a valid version id. Allowed values are "
                'between [1, 2^31-1] and the string "latest"',
            }
        schema = self.schemas[chosen.schema_id]
        body: dict[str, Any] = {
            "subject": subject,
            "version": chosen.version,
            "id": chosen.schema_id,
            "schema": schema.schema,
        }
        if schema.schema_type != "AVRO":
            body["schemaType"] = schema.schema_type
        if schema.references:
            body["references"] = schema.references
        return 200, body

    def _config(self, subject: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        level = self.subject_compatibility.get(subject)
        if level is None and query.get("defaultToGlobal", ["false"])[0] == "true":
            level = self.compatibility
        if level is None:
            return 404, {
                "error_code": 40408,
                "message": f"Subject '{subject}' does not have subject-level compatibility configured",
            }
        return 200, {"compatibilityLevel": level}

    # -- serving -----------------------------------------------------------------------------

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on an ephemeral 127.0.0.1 port until the block ends; yields the base URL."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="fake-registry", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def _subject_not_found(subject: str) -> tuple[int, Any]:
    return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found."}


def _handler_for(registry: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Moves bytes between HTTP and ``FakeRegistry.answer``."""

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = registry.answer(parts.path, parse_qs(parts.query), self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``registry.requests``."""

    return Handler
