"""Per-topic ``severity:`` overrides: read and checked by the catalog, applied once by the assessor."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from stream_sentinel.cli import run
from stream_sentinel.core import assess as a
from stream_sentinel.core.check import drift as d
from stream_sentinel.core.check.validate import Outcome
from stream_sentinel.core.contracts import topic_settings as ts
from stream_sentinel.core.contracts.catalog import load_catalog
from stream_sentinel.core.errors import SpecError
from tests.conftest import CATALOG

SpecFactory = Callable[..., Path]
ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "replay" / "captures" / "customers-open.jsonl"


def catalog_with(topic_severity: Any = None, default_severity: Any = None) -> dict[str, Any]:
    catalog: dict[str, Any] = orjson.loads(orjson.dumps(CATALOG))
    if topic_severity is not None:
        catalog["topics"]["orders"]["severity"] = topic_severity
    if default_severity is not None:
        catalog["defaults"] = {"severity": default_severity}
    return catalog


def test_the_kinds_a_topic_may_name_are_the_sentinels_kinds() -> None:
    assert tuple(d.KINDS) == ts.DRIFT_KINDS
    assert set(ts.LEVELS) == set(d.SEVERITY_RANK)


def test_the_topic_overrides_the_defaults_kind_by_kind(spec_factory: SpecFactory) -> None:
    spec = spec_factory(
        {
            "catalog.yaml": catalog_with(
                {"undocumented_field": False, "type_mismatch": "warning"},  # YAML's unquoted off
                {"type_mismatch": "info", "duplicate": "info"},
            )
        }
    )
    topics = load_catalog(spec).topics
    assert dict(topics["orders"].severity) == {
        "type_mismatch": "warning",
        "duplicate": "info",
        "undocumented_field": "off",
    }
    assert dict(topics["profiles"].severity) == {"type_mismatch": "info", "duplicate": "info"}
    out = io.StringIO()
    assert run(["spec", "--spec", str(spec)], io.BytesIO(), out, io.StringIO()) == 0
    listed = out.getvalue()
    assert "severity: type_mismatch warning, duplicate info, undocumented_field off)" in listed
    assert "profiles  (json, owner team-crm, sample 1, severity: type_mismatch info, duplicate info)" in listed
    assert a.topic_severities(load_catalog(spec_factory(None))) == {}  # no setting: nothing to apply


@pytest.mark.parametrize(
    ("catalog", "where", "words"),
    [
        (
            catalog_with({"undocumneted_field": "off"}),
            "/topics/orders/severity/undocumneted_field",
            "unknown drift kind",
        ),
        (catalog_with(None, {"typo": "info"}), "/defaults/severity/typo", "unknown drift kind 'typo'"),
        (catalog_with({"internal_error": "off"}), "/topics/orders/severity/internal_error", "cannot be overridden"),
        (catalog_with({"type_mismatch": "loud"}), "/topics/orders/severity/type_mismatch", "'loud' is not one of"),
    ],
)
def test_a_bad_severity_setting_is_a_spec_error_at_its_pointer(
    spec_factory: SpecFactory, catalog: dict[str, Any], where: str, words: str
) -> None:
    spec = spec_factory({"catalog.yaml": catalog})
    with pytest.raises(SpecError) as caught:
        load_catalog(spec)
    assert caught.value.pointer == where
    assert words in str(caught.value)
    err = io.StringIO()
    assert run(["spec", "--spec", str(spec)], io.BytesIO(), io.StringIO(), err) == 2
    assert f"catalog.yaml#{where}" in err.getvalue()


def v(kind: str, severity: str, path: str = "/x") -> d.Violation:
    return d.Violation(kind, severity, path, path, "e", "string")


OUTCOME = Outcome(
    "OrderCreated",
    None,
    (v(d.TYPE_MISMATCH, d.BREAKING), v(d.UNDOCUMENTED_FIELD, d.INFO), v(d.VERSION_LAG, d.WARNING, "")),
)


def ref(topic: str = "orders") -> a.Ref:
    return a.Ref(topic, 0, 1, 0, None, "json")


def test_off_drops_a_kind_and_a_level_replaces_its_severity_on_that_topic_only() -> None:
    policy = a.Policy(severity={"orders": {"undocumented_field": "off", "version_lag": "breaking"}})
    kept = a.Assessor(policy).assess(OUTCOME, ref())
    assert kept is not None
    assert [(x.kind, x.severity) for x in kept.violations] == [
        (d.TYPE_MISMATCH, d.BREAKING),
        (d.VERSION_LAG, d.BREAKING),
    ]
    assert [e.severity for e in kept.events()] == [d.BREAKING, d.BREAKING]
    other = a.Assessor(policy).assess(OUTCOME, ref("elsewhere"))
    assert other is not None
    assert other.violations == OUTCOME.violations


def test_overrides_apply_before_the_floor() -> None:
    raised = a.Policy(min_severity=d.WARNING, severity={"orders": {"undocumented_field": "warning"}})
    kept = a.Assessor(raised).assess(OUTCOME, ref())
    assert kept is not None
    assert [x.kind for x in kept.violations] == [d.TYPE_MISMATCH, d.UNDOCUMENTED_FIELD, d.VERSION_LAG]
    lowered = a.Policy(min_severity=d.WARNING, severity={"orders": {"type_mismatch": "info", "version_lag": "off"}})
    assert a.Assessor(lowered).assess(OUTCOME, ref()) is None  # everything left is below the floor


def test_rule_violations_are_governed_by_the_same_setting() -> None:
    dup = d.Violation(d.DUPLICATE, d.BREAKING, "/id", "rule:once", "each id once", "duplicate", rule="once")
    assessor = a.Assessor(a.Policy(severity={"orders": {"duplicate": "info"}}))
    assert [x.severity for x in assessor.keep("orders", (dup,))] == [d.INFO]
    assert a.Assessor(a.Policy(severity={"orders": {"duplicate": "off"}})).keep("orders", (dup,)) == ()


def test_an_open_contracts_undocumented_field_made_breaking_is_still_explained_as_open() -> None:
    open_field = d.Violation(
        d.UNDOCUMENTED_FIELD,
        d.BREAKING,  # raised by a topic's severity: setting; the contract allows the field
        "/extra",
        "/extra",
        "only documented fields (the contract allows, but does not describe, this one)",
        "string",
    )
    assert "allowed, but no consumer can rely on it" in d.describe(open_field, "E", 1)
    assert d.suggest_fix(open_field, "E", "json").startswith("document /extra")
    closed = open_field._replace(expected=d.UNDOCUMENTED_CLOSED, severity=d.INFO)
    assert "the contract forbids unlisted fields" in d.describe(closed, "E", 1)


def _check(spec: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = run(["check", "--spec", str(spec), str(CAPTURE)], io.BytesIO(), out, io.StringIO())
    return code, out.getvalue()


def test_REQ_CRM_1_REQ_CRM_6_a_topics_severity_setting_changes_the_report(tmp_path: Path) -> None:
    """The example capture: silencing undocumented_field and lowering type_mismatch on customers.profile."""
    spec = tmp_path / "events"
    shutil.copytree(ROOT / "spec" / "events", spec)
    code, before = _check(spec)
    assert code == 1
    assert "breaking  type_mismatch" in before
    assert "undocumented_field" in before
    catalog = spec / "catalog.yaml"
    text = catalog.read_text()
    assert "\n  customers.profile:\n" in text
    catalog.write_text(
        text.replace(
            "\n  customers.profile:\n",
            "\n  customers.profile:\n    severity: {undocumented_field: off, type_mismatch: info}\n",
        )
    )
    code, after = _check(spec)
    assert code == 1  # drift is still drift, whatever its severity
    assert after.splitlines()[0].startswith("8 messages, 1 with drift, 1 drift events, 1 distinct rules")
    rows = [line.split()[:3] for line in after.splitlines()]
    assert ["info", "type_mismatch", "REQ-CRM-6"] in rows
    assert "undocumented_field" not in after


def test_replay_against_judges_the_candidates_verdicts_by_the_candidates_settings(tmp_path: Path) -> None:
    """A candidate catalog that silences undocumented_field shows those rules as fixed."""
    from stream_sentinel.core.capture import read_capture
    from stream_sentinel.core.check.validate import Engine
    from stream_sentinel.replay.run import ReplayOptions, _start

    current, candidate = tmp_path / "current", tmp_path / "candidate"
    shutil.copytree(ROOT / "spec" / "events", current)
    shutil.copytree(ROOT / "spec" / "events", candidate)
    text = (candidate / "catalog.yaml").read_text()
    (candidate / "catalog.yaml").write_text(
        text.replace("\n  customers.profile:\n", "\n  customers.profile:\n    severity: {undocumented_field: off}\n")
    )
    engines = (Engine.from_spec_dir(str(current)), Engine.from_spec_dir(str(candidate)))
    options = ReplayOptions(spec=str(current), against=str(candidate))
    replay = _start(options, engines, ["customers.profile"], "r1")
    # What replay reads off the broker, with the fields its per-message path uses (a unit test: no aiokafka).
    records: list[Any] = [
        SimpleNamespace(
            topic=m.topic,
            partition=m.partition,
            offset=m.offset,
            timestamp=m.timestamp,
            key=m.key,
            value=m.value,
            headers=m.headers,
        )
        for m in read_capture(CAPTURE.read_bytes().splitlines())
    ]
    replay.batch(records, io.StringIO())
    assert replay.comparison is not None
    verdicts = {(r["kind"], r["verdict"]) for r in replay.comparison.to_dict()["rules"]}
    assert verdicts == {("undocumented_field", "fixed"), ("type_mismatch", "same")}
