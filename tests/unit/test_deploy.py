"""deploy/: the Prometheus alerting rules (promtool check + promtool unit tests) and the Grafana
dashboard, both held to the metrics the worker really exports (stream_sentinel/worker/metrics.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_sentinel.worker.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "stream-sentinel.json"
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool not on PATH (Debian: apt-get install prometheus; .ci/run installs it as root)"
#: A metric name of ours or of the process collector, as written in PromQL or a series selector.
NAME = re.compile(r"\b((?:sentinel|process)_[a-z0-9_]+)\b")
SELECTOR = re.compile(r"\b((?:sentinel|process)_[a-z0-9_]+)\{([^}]*)\}")
#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",), "info": ("_info",)}


def exported() -> dict[str, set[str]]:
    """Every sample name the worker's registry can expose, with its labels (histograms add ``le``)."""
    names: dict[str, set[str]] = {}
    registry = Metrics().registry
    for collector in list(registry._collector_to_names):
        describe = getattr(collector, "describe", None)
        families = describe() if describe is not None and describe() else collector.collect()
        for family in families:
            labels = set(getattr(collector, "_labelnames", ()))
            for suffix in _SUFFIXES.get(family.type, ("",)):
                names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
            for sample in family.samples:
                names.setdefault(sample.name, set()).update(sample.labels)
    return names


def unknown_names(text: str, metrics: dict[str, set[str]]) -> set[str]:
    """Metric names in ``text`` the worker does not export, and selectors with labels they do not have."""
    problems = {name for name in NAME.findall(text) if name not in metrics}
    for name, matchers in SELECTOR.findall(text):
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
            if name in metrics and label not in metrics[name] | TARGET_LABELS:
                problems.add(f"{name}{{{label}}}")
    return problems


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return exprs + [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


def test_the_exported_names_are_what_the_worker_renders() -> None:
    metrics = exported()
    assert {"sentinel_drift_total", "sentinel_ready", "sentinel_alert_failures_total"} <= set(metrics)
    assert {"topic", "event_type", "kind", "severity"} <= metrics["sentinel_drift_total"]
    assert "sentinel_batch_duration_seconds_bucket" in metrics
    assert "sentinel_drift" not in metrics  # counters are exposed with _total only


def test_every_alert_rule_uses_metrics_and_labels_the_worker_exports() -> None:
    metrics = exported()
    exprs = rule_exprs()
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert {"sentinel_drift_total", "sentinel_ready", "sentinel_publish_failures_total"} <= used
    assert {"sentinel_consumer_lag_messages", "sentinel_alert_failures_total", "sentinel_contract_owner"} <= used
    assert set().union(*(unknown_names(expr, metrics) for expr in exprs)) == set()


def test_every_rule_has_a_severity_and_a_summary() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
                assert rule["annotations"]["summary"], rule["alert"]


def test_the_rule_unit_tests_feed_series_the_worker_exports() -> None:
    metrics = {**exported(), "up": TARGET_LABELS}
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    series = [s["series"] for test in tests for s in test["input_series"]]
    assert set().union(*(unknown_names(s, metrics) for s in series)) == set()
    names = {s.split("{", 1)[0] for s in series}
    assert names - set(metrics) == set()


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_promtool_accepts_the_alerting_rules() -> None:
    assert PROMTOOL is not None
    checked = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_the_alerting_rules_pass_their_promtool_unit_tests() -> None:
    assert PROMTOOL is not None
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, check=False, cwd=RULES.parent
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_grafana_dashboard_is_valid_json_using_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    metrics = exported()
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) > 10
    assert set().union(*(unknown_names(expr, metrics) for expr in exprs)) == set()
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert {"sentinel_drift_total", "sentinel_messages_total", "sentinel_alerts_sent_total"} <= used


def test_the_grafana_dashboard_imports_cleanly() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "stream-sentinel"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "topic"} <= variables
