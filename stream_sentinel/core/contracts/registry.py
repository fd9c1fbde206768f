"""The catalog's ``registry:`` section: a Confluent-compatible Schema Registry as a contract source.

Only reading and checking the section lives here (pure: no HTTP). The shell's client
(``stream_sentinel/registry.py``) talks to the registry; the core judges what it fetched
(``core/check/writers.py``). A typo is exit 2 at ``catalog.yaml#/registry/...`` before anything
connects. Secrets never appear in the catalog: it names which *setting* holds one
(``SENTINEL_REGISTRY_PASSWORD`` / ``SENTINEL_REGISTRY_TOKEN``), so the catalog can be committed.

``subjects`` maps a registry subject to the catalog event type its schemas are judged against,
for subjects the default rules do not place (``subject_event``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from stream_sentinel.core.contracts import pointer as ptr
from stream_sentinel.core.errors import SpecError

CATALOG_FILE: Final = "catalog.yaml"  # as catalog.CATALOG_FILE (the catalog imports this module)
AuthKind = Literal["none", "basic", "bearer"]
#: The settings that may hold a registry secret (config.Settings fields, SecretStr).
SECRET_SETTINGS: Final = ("registry_password", "registry_token")
DEFAULT_TIMEOUT: Final = 2.0

REGISTRY_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "pattern": "^https?://[^/?#@]+(/[^?#]*)?$"},
        "auth": {
            "type": "object",
            "required": ["kind"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["none", "basic", "bearer"]},
                "username": {"type": "string", "minLength": 1},
                "secret_setting": {"enum": list(SECRET_SETTINGS)},
            },
        },
        "tls": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"ca_file": {"type": "string", "minLength": 1}},
        },
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
        "subjects": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["topic", "event_type"],
                "additionalProperties": False,
                "properties": {
                    "topic": {"type": "string", "minLength": 1},
                    "event_type": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    """Where the registry is and how to reach it; the secret is named, never held."""

    url: str
    auth: AuthKind = "none"
    username: str | None = None
    secret_setting: str | None = None
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    #: subject -> (topic, event type), for subjects the naming strategies do not place.
    subjects: Mapping[str, tuple[str, str]] = field(default_factory=lambda: MappingProxyType({}))


def parse_registry(spec: Mapping[str, Any] | None, topics: Mapping[str, Any]) -> RegistrySpec | None:
    """The catalog's registry section (already of :data:`REGISTRY_SCHEMA`'s shape), or None.

    ``topics``: topic name -> its contract (with ``events`` and ``format``); a ``subjects``
    entry must name a ``confluent-*`` topic and one of its event types.
    """
    if spec is None:
        return None
    auth = spec.get("auth", {"kind": "none"})
    kind: AuthKind = auth["kind"]
    secret = auth.get("secret_setting")
    if kind == "basic":
        if "username" not in auth:
            raise SpecError(CATALOG_FILE, "/registry/auth", "basic auth needs a username")
        secret = secret or "registry_password"
    elif kind == "bearer":
        secret = secret or "registry_token"
    elif "username" in auth or secret is not None:
        raise SpecError(CATALOG_FILE, "/registry/auth", "auth kind none takes no username or secret_setting")
    subjects: dict[str, tuple[str, str]] = {}
    for subject, target in spec.get("subjects", {}).items():
        where = ptr.to_pointer(("registry", "subjects", subject))
        topic = topics.get(target["topic"])
        if topic is None or not str(topic.format).startswith("confluent-"):
            raise SpecError(CATALOG_FILE, where + "/topic", f"{target['topic']!r} is not a confluent-* topic")
        if target["event_type"] not in topic.events:
            raise SpecError(
                CATALOG_FILE, where + "/event_type", f"{target['event_type']!r} is not an event type of that topic"
            )
        subjects[subject] = (target["topic"], target["event_type"])
    return RegistrySpec(
        url=spec["url"].rstrip("/"),
        auth=kind,
        username=auth.get("username"),
        secret_setting=secret,
        ca_file=spec.get("tls", {}).get("ca_file"),
        timeout=float(spec.get("timeout", DEFAULT_TIMEOUT)),
        subjects=MappingProxyType(subjects),
    )
