"""A Schema Registry client, strictly to Confluent's documented REST API, and its background fetcher.

Only documented ``GET`` endpoints are used (``/schemas/ids/{id}``, ``/schemas/ids/{id}/versions``,
``/subjects``, ``/subjects/{s}/versions``, ``/subjects/{s}/versions/{v}``, ``/config``,
``/config/{s}``), with the documented content type, so Confluent, Karapace, Redpanda and
Apicurio's Confluent-compatible API all answer it. The client is synchronous (the standard
library's ``urllib``, no new dependency): the CLI calls it directly, and the worker only ever
calls it from the ``Fetcher``'s own thread, so no batch ever waits on HTTP.

Secrets come from the settings (``registry_password`` / ``registry_token``, ``SecretStr``) and are
only put into the ``Authorization`` header: ``repr`` and every error message leave them out.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import queue
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from pydantic import SecretStr

from stream_sentinel.config import Settings
from stream_sentinel.core.check.validate import Engine
from stream_sentinel.core.check.writers import Unavailable, WriterSchema, WriterTable
from stream_sentinel.core.compat.registry import RegisteredVersion, Snapshot
from stream_sentinel.core.contracts.registry import RegistrySpec
from stream_sentinel.core.errors import SentinelError, UsageError
from stream_sentinel.core.exits import EXIT_BROKER

log = logging.getLogger(__name__)

ACCEPT: Final = (
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; q=0.9, application/json; q=0.5"
)
MAX_BODY: Final = 8 * 1024 * 1024  # one answer; a schema is a contract, not a data dump
MAX_SUBJECTS: Final = 10_000  # registry check / import: subjects read from one registry
MAX_REFERENCES: Final = 64  # referenced schemas fetched for one id (transitively)
#: Error kinds (metric label ``kind``): no answer, refused credentials, not there, anything else.
UNREACHABLE, AUTH, NOT_FOUND, PROTOCOL = "unreachable", "auth", "not_found", "protocol"


class RegistryError(SentinelError):
    """The registry did not give a usable answer; ``kind`` says how (exit 3 from the CLI)."""

    exit_code = EXIT_BROKER

    def __init__(self, kind: str, message: str, status: int | None = None, error_code: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.status, self.error_code = kind, status, error_code


class RegistryClient:
    """Read-only client of one registry: base URL, auth header, TLS context, timeout."""

    def __init__(
        self,
        url: str,
        *,
        auth: str = "none",
        username: str | None = None,
        secret: SecretStr | None = None,
        ca_file: str | None = None,
        timeout: float = 2.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._authorization: str | None = None
        if auth == "basic":
            if username is None or secret is None:
                raise UsageError(
                    "registry auth basic needs a username and registry_password (SENTINEL_REGISTRY_PASSWORD)"
                )
            pair = f"{username}:{secret.get_secret_value()}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()
        elif auth == "bearer":
            if secret is None:
                raise UsageError("registry auth bearer needs registry_token (SENTINEL_REGISTRY_TOKEN)")
            self._authorization = "Bearer " + secret.get_secret_value()
        self._context = ssl.create_default_context(cafile=ca_file) if self.url.startswith("https:") else None

    @classmethod
    def from_spec(cls, spec: RegistrySpec, settings: Settings, url: str | None = None) -> RegistryClient:
        """The client the catalog's registry section and the settings describe (settings override)."""
        secret = getattr(settings, spec.secret_setting) if spec.secret_setting else None
        ca_file = settings.registry_ca_file or spec.ca_file
        return cls(
            url or settings.registry_url or spec.url,
            auth=spec.auth,
            username=settings.registry_username or spec.username,
            secret=secret,
            ca_file=None if ca_file is None else str(ca_file),
            timeout=spec.timeout,
        )

    def __repr__(self) -> str:
        auth = self._authorization.split(" ", 1)[0] if self._authorization else "none"
        return f"RegistryClient({self.url!r}, auth={auth}, timeout={self.timeout})"

    # -- the documented endpoints -----------------------------------------------------------------

    def subjects(self) -> list[str]:
        """``GET /subjects``."""
        return [str(s) for s in self._get("/subjects")]

    def versions(self, subject: str) -> list[int]:
        """``GET /subjects/{subject}/versions``."""
        return [int(v) for v in self._get(f"/subjects/{quote(subject, safe='')}/versions")]

    def version(self, subject: str, version: int | str = "latest") -> RegisteredVersion:
        """``GET /subjects/{subject}/versions/{version}`` (``latest`` allowed)."""
        body = self._get(f"/subjects/{quote(subject, safe='')}/versions/{version}")
        return RegisteredVersion(
            subject=str(body["subject"]),
            version=int(body["version"]),
            schema_id=int(body["id"]),
            schema=str(body["schema"]),
            schema_type=str(body.get("schemaType", "AVRO")),
            references=tuple(body.get("references") or ()),
        )

    def compatibility(self, subject: str | None = None) -> str | None:
        """``GET /config`` or ``GET /config/{subject}?defaultToGlobal=true``: the level that applies."""
        if subject is None:
            return _level(self._get("/config"))
        try:
            return _level(self._get(f"/config/{quote(subject, safe='')}?defaultToGlobal=true"))
        except RegistryError as exc:
            if exc.kind != NOT_FOUND:  # older registries answer 40401/40408 for "no subject level"
                raise
        return _level(self._get("/config"))

    def schema(self, schema_id: int) -> WriterSchema:
        """``GET /schemas/ids/{id}`` and its subject versions, with referenced schemas fetched."""
        body = self._get(f"/schemas/ids/{int(schema_id)}")
        try:
            pairs = self._get(f"/schemas/ids/{int(schema_id)}/versions")
        except RegistryError as exc:
            if exc.kind != NOT_FOUND:  # a registry without the endpoint: the schema is still usable
                raise
            pairs = []
        return WriterSchema(
            schema_id=int(schema_id),
            schema_type=str(body.get("schemaType", "AVRO")),
            schema=str(body["schema"]),
            subjects=tuple((str(p["subject"]), int(p["version"])) for p in pairs),
            references=self._references(body.get("references") or []),
        )

    def _references(self, references: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        """Referenced schema texts, dependencies first (depth-first), each once, bounded."""
        texts: list[str] = []
        seen: set[tuple[str, int]] = set()

        def visit(refs: Sequence[Mapping[str, Any]]) -> None:
            for ref in refs:
                key = (str(ref["subject"]), int(ref["version"]))
                if key in seen:
                    continue
                seen.add(key)
                if len(seen) > MAX_REFERENCES:
                    raise RegistryError(PROTOCOL, f"more than {MAX_REFERENCES} schema references")
                found = self.version(*key)
                visit(found.references)
                texts.append(found.schema)

        visit(references)
        return tuple(texts)

    # -- HTTP ---------------------------------------------------------------------------------

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Accept": ACCEPT})  # noqa: S310 - http(s) only (catalog schema)
        if self._authorization:
            request.add_header("Authorization", self._authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:  # noqa: S310
                data = response.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, path) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(UNREACHABLE, f"schema registry {self.url} unreachable: {reason}") from None
        if len(data) > MAX_BODY:
            raise RegistryError(PROTOCOL, f"{path}: answer over {MAX_BODY} bytes")
        try:
            return json.loads(data)
        except ValueError:
            raise RegistryError(PROTOCOL, f"{path}: the answer is not JSON") from None


def _level(body: Any) -> str | None:
    level = body.get("compatibilityLevel", body.get("compatibility")) if isinstance(body, dict) else None
    return None if level is None else str(level)


def _http_error(exc: urllib.error.HTTPError, path: str) -> RegistryError:
    """A documented error body (``error_code``, ``message``) as a ``RegistryError``."""
    try:
        body = json.loads(exc.read(64 * 1024))
    except (ValueError, OSError):
        body = {}
    code = body.get("error_code") if isinstance(body, dict) else None
    message = str(body.get("message", exc.reason)) if isinstance(body, dict) else str(exc.reason)
    kind = AUTH if exc.code in (401, 403) else NOT_FOUND if exc.code == 404 else PROTOCOL
    where = f"{path}: HTTP {exc.code}" + (f" error {code}" if code is not None else "")
    return RegistryError(kind, f"{where}: {message[:200]}", exc.code, code if isinstance(code, int) else None)


class Fetcher:
    """Fetches unknown schema ids in a thread of its own and puts the answers in a ``WriterTable``.

    ``want`` (the table's ``on_miss``) only queues the id: the worker's batch never waits.
    An id the registry does not have, or could not be asked for, is held as ``Unavailable`` (its
    messages stay ``unknown_schema_id``, saying why) and asked again after ``retry_after`` seconds.
    ``on_error(kind)`` and ``on_fetched()`` feed the metrics; ``detail()`` the ``/ready`` body.
    """

    def __init__(
        self,
        client: RegistryClient,
        table: WriterTable,
        *,
        max_pending: int = 256,
        retry_after: float = 30.0,
        on_error: Callable[[str], None] | None = None,
        on_fetched: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.table = client, table
        self.retry_after = retry_after
        self._queue: queue.Queue[int | None] = queue.Queue(maxsize=max_pending)
        self._pending: set[int] = set()
        self._retry: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self.on_error, self.on_fetched, self._clock = on_error, on_fetched, clock
        self._thread: threading.Thread | None = None
        self.last_error = ""  # empty while the registry answers
        self.dropped = 0  # ids not queued because the queue was full (asked again on a later message)
        table.on_miss = self.want

    def want(self, schema_id: int) -> None:
        """Queue an id for fetching (never blocks; a full queue drops it until a later message)."""
        with self._lock:
            if schema_id in self._pending:
                return
            try:
                self._queue.put_nowait(schema_id)
            except queue.Full:
                self.dropped += 1
                return
            self._pending.add(schema_id)

    def start(self) -> None:
        """Start the fetching thread (a daemon: it never holds the process up)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="registry-fetcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after the fetch in flight (at most one timeout)."""
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout=self.client.timeout * 2 + 1)
            self._thread = None

    def resolve(self, schema_id: int, timeout: float) -> bool:
        """Ask for an id and wait at most ``timeout`` seconds for an answer (check and replay only)."""
        if self.table.get(schema_id) is not None:
            return True
        deadline = self._clock() + timeout
        with self._answered:
            while schema_id in self._pending:
                left = deadline - self._clock()
                if left <= 0 or not self._answered.wait(left):
                    break
        return self.table.get(schema_id) is not None

    def detail(self) -> str:
        """The ``/ready`` detail: empty while the registry answers."""
        return self.last_error

    def _run(self) -> None:
        while True:
            try:
                schema_id = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._expire()
                continue
            if schema_id is None:
                return
            self._fetch(schema_id)
            self._expire()

    def _fetch(self, schema_id: int) -> None:
        entry, error = fetch_entry(self.client, schema_id)
        if error is None:
            self.last_error = ""
            if self.on_fetched is not None:
                self.on_fetched()
        else:
            if error.kind != NOT_FOUND:
                self.last_error = str(error)
                log.warning("registry_error kind=%s detail=%s", error.kind, error)
            if self.on_error is not None:
                self.on_error(error.kind)
            self._retry.append((self._clock() + self.retry_after, schema_id))
        self.table.put(entry)
        with self._answered:
            self._pending.discard(schema_id)
            self._answered.notify_all()

    def _expire(self) -> None:
        """Forget ``Unavailable`` answers whose retry time came: the next message asks again."""
        now = self._clock()
        due = [sid for when, sid in self._retry if when <= now]
        if due:
            self._retry = [(when, sid) for when, sid in self._retry if when > now]
            for schema_id in due:
                self.table.forget(schema_id)


def fetch_entry(client: RegistryClient, schema_id: int) -> tuple[WriterSchema | Unavailable, RegistryError | None]:
    """The registry's answer for an id as a table entry, and the error if it was not a schema."""
    try:
        return client.schema(schema_id), None
    except RegistryError as exc:
        if exc.kind == NOT_FOUND:
            return Unavailable(schema_id, f"the schema registry has no schema {schema_id} ({exc})"), exc
        return Unavailable(schema_id, f"the schema registry could not be asked: {exc}"), exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a body not of the documented shape
        error = RegistryError(
            PROTOCOL, f"the schema registry's answer for {schema_id} is unusable ({type(exc).__name__})"
        )
        return Unavailable(schema_id, str(error)), error


def inline(engine: Engine, settings: Settings, url: str | None = None) -> RegistryClient | None:
    """``check`` and ``replay``: unmapped ids are fetched when first seen, before the message is judged.

    Each request waits at most the catalog's ``registry.timeout``; every answer (a failure too) is
    held for the run, so an unreachable registry costs one timeout per id, not per message.
    None when the catalog has no registry or no ``confluent-*`` topic.
    """
    spec = engine.catalog.registry
    if spec is None or not any(t.format.startswith("confluent-") for t in engine.catalog.topics.values()):
        return None
    client = RegistryClient.from_spec(spec, settings, url)
    table = engine.writers

    def fetch(schema_id: int) -> None:
        table.put(fetch_entry(client, schema_id)[0])

    table.on_miss = fetch
    return client


def snapshot(client: RegistryClient) -> Snapshot:
    """Every version of every subject (at most ``MAX_SUBJECTS``) and the compatibility levels."""
    subjects = client.subjects()
    if len(subjects) > MAX_SUBJECTS:
        raise RegistryError(PROTOCOL, f"{len(subjects)} subjects is over the {MAX_SUBJECTS} read at most")
    versions = [client.version(s, v) for s in subjects for v in client.versions(s)]
    global_level = client.compatibility()
    levels = {s: level for s in subjects if (level := client.compatibility(s)) is not None}
    return Snapshot(versions, levels, global_level)
