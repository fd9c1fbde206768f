"""The health model as JSON, Markdown (an issue body) and HTML (Jinja2, autoescaped, no JavaScript).

No Faust, no broker: the worker's dashboard and the ``report`` command render the same
:class:`~stream_sentinel.core.health.model.HealthReport` through these functions. The HTML is
one self-contained page (inline CSS, server-side SVG sparklines, no CDN): it works offline and
without JavaScript. Every value from a drift-topic record is escaped: Jinja2's autoescape in
HTML, :func:`md` in Markdown. The values themselves were redacted when the drift event was built.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, Final

import jinja2
import orjson

from stream_sentinel.core.health import model as m

FORMATS: Final = ("markdown", "html", "json")
ARROWS: Final = {m.UP: "↑", m.DOWN: "↓", m.FLAT: "→"}
_BLOCKS: Final = "▁▂▃▄▅▆▇█"
_MD_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>|#~])")


def render(report: m.HealthReport, fmt: str, *, refresh: int | None = None) -> str:
    """The report in one of :data:`FORMATS` (``refresh``: HTML only, seconds between reloads)."""
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report, refresh=refresh)
    if fmt == "markdown":
        return render_markdown(report)
    raise ValueError(f"unknown format {fmt!r}")


def render_json(report: m.HealthReport) -> str:
    """The documented JSON form, indented, keys in their documented order, one trailing newline."""
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"


# -- shared helpers ---------------------------------------------------------------------------------


def percent(rate: float | None) -> str:
    """A rate as a percentage for people: ``2.50 %``, ``<0.01 %``, ``-`` without messages."""
    if rate is None:
        return "-"
    if 0 < rate < 0.0001:
        return "<0.01 %"
    return f"{rate * 100:.2f} %"


def spark_text(trend: Sequence[m.Bucket]) -> str:
    """A trend as Unicode blocks (Markdown): the bucket's rate, or its count without messages."""
    values = [_bucket_value(b) for b in trend]
    top = max(values, default=0.0)
    if top <= 0:
        return _BLOCKS[0] * len(values)
    return "".join(_BLOCKS[min(len(_BLOCKS) - 1, round(v / top * (len(_BLOCKS) - 1)))] for v in values)


def _bucket_value(bucket: m.Bucket) -> float:
    return bucket.rate if bucket.rate is not None else float(bucket.drift)


def spark_points(trend: Sequence[m.Bucket], width: int = 120, height: int = 24) -> str:
    """The SVG polyline points of a trend (numbers only: nothing from a message reaches the SVG)."""
    values = [_bucket_value(b) for b in trend]
    if not values:
        return ""
    top = max(values) or 1.0
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 1 - v / top * (height - 2):.1f}" for i, v in enumerate(values))


def sample_json(sample: Any) -> str:
    """A drift event's (redacted) sample, indented for reading."""
    try:
        return orjson.dumps(sample, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return repr(sample)


def by_requirement(rules: Sequence[m.RuleHealth]) -> list[m.RuleHealth]:
    """Rules grouped by requirement, then owner (rules without either last), the most frequent first."""
    return sorted(rules, key=lambda r: (r.requirement or "~", r.owner or "~", r.topic, -r.count, r.fingerprint))


def definitions(report: m.HealthReport) -> str:
    """The sentence that says what open, fixed and now mean for this report's settings."""
    period = report.period
    return (
        f"A rule is *fixed* when its topic and event type had traffic in {period.open_windows} windows "
        f"({period.window_ms // 1000} s each) after it was last seen, without it; otherwise it is *open*. "
        "*Now* is the latest closed window on the drift topic."
    )


# -- Markdown ---------------------------------------------------------------------------------------


def md(value: Any) -> str:
    """Text safe in a Markdown table cell or line: one line, Markdown and HTML characters escaped."""
    text = " ".join(str("" if value is None else value).split())
    return _MD_SPECIAL.sub(r"\\\1", text).replace("&", "&amp;")


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in ``text`` (a sample cannot close it)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(report: m.HealthReport) -> str:
    """The report as Markdown, suitable as a GitHub/GitLab issue body."""
    lines = _md_header(report)
    lines += _md_topics(report)
    lines += _md_rules("Open drift", [r for t in report.topics for r in t.open_rules])
    lines += _md_rules("Drift fixed in the period", [r for t in report.topics for r in t.fixed_rules])
    lines += _md_coverage(report.coverage)
    lines += _md_consumers(report)
    lines += _md_details(report)
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_header(report: m.HealthReport) -> list[str]:
    period = report.period
    breaking = len(report.open_breaking)
    verdict = (
        f"**{breaking} open breaking rule{'s' if breaking != 1 else ''}** (exit 1)"
        if breaking
        else "**No open breaking drift** (exit 0)"
    )
    lines = [
        f"# Drift health report {m.iso(period.since)} to {m.iso(period.until)}",
        "",
        verdict,
        "",
        f"Generated {m.iso(report.generated_at)}; now = the window starting {m.iso(report.now_window) or '-'}. "
        + definitions(report),
    ]
    if not report.coverage.traffic_known:
        lines += [
            "",
            "> The drift topic holds no traffic records in this period: topics without drift show as *unknown* "
            "(ok or silent cannot be told apart) and message counts cover only windows with drift.",
        ]
    if report.rules_dropped:
        lines += ["", f"> {report.rules_dropped} further rules were counted but not listed (the report's bound)."]
    return [*lines, ""]


def _md_topics(report: m.HealthReport) -> list[str]:
    lines = [
        "## Topics",
        "",
        "| Topic | Status | Owner | Messages | Drift rate | Now | Trend | Open | Fixed |",
        "|---|---|---|---:|---:|---:|---|---:|---:|",
    ]
    lines.extend(
        f"| {md(t.topic)} | {t.status} | {md(t.owner or '-')} | {t.messages:,} | {percent(t.rate)} | "
        f"{percent(t.rate_now)} | {ARROWS[t.arrow]} {spark_text(t.trend)} | {len(t.open_rules)} | "
        f"{len(t.fixed_rules)} |"
        for t in report.topics
    )
    return [*lines, ""]


def _md_rules(title: str, rules: Sequence[m.RuleHealth]) -> list[str]:
    lines = [f"## {title}", ""]
    if not rules:
        return [*lines, "None.", ""]
    lines += [
        "| Requirement | Owner | Topic | Event type | Kind | Severity | Path | Count | Rate | First seen | Last seen |",
        "|---|---|---|---|---|---|---|---:|---:|---|---|",
    ]
    for r in by_requirement(rules):
        lines.append(
            f"| {md(r.requirement or '-')} | {md(r.owner or '-')} | {md(r.topic)} | {md(r.event_type or '-')} | "
            f"{r.kind} | {r.severity} | {md(r.rule_path or '(message)')} | {r.count:,} | {percent(r.rate)} | "
            f"{m.iso(r.first_seen)} | {m.iso(r.last_seen)} |"
        )
    return [*lines, ""]


def _md_coverage(coverage: m.Coverage) -> list[str]:
    def names(items: Sequence[str]) -> str:
        return ", ".join(md(i) for i in items) or "none"

    unused = ", ".join(
        f"{md(u.topic)} {md(u.event_type)} (v{', v'.join(map(str, u.versions))})" for u in coverage.unused_event_types
    )
    versions = "; ".join(
        f"{md(topic)} {md(et)}: v{', v'.join(map(str, vs))}"
        for topic, types in coverage.versions_in_drift.items()
        for et, vs in types.items()
    )
    known = "" if coverage.traffic_known else " (unknown: no traffic records)"
    return [
        "## Coverage",
        "",
        f"- Topics with traffic and no contract (uncovered): {names(coverage.uncovered_topics)}",
        f"- Topics with a contract and no traffic (silent): {names(coverage.silent_topics)}{known}",
        f"- Event types with a contract that no traffic used: {unused or 'none'}{known}",
        "- Versions in use: not on the drift topic (traffic is counted per event type); versions seen in drifting "
        f"messages: {versions or 'none'}",
        "",
    ]


def _md_consumers(report: m.HealthReport) -> list[str]:
    lines = ["## Affected consumers", ""]
    drifting = [t for t in report.topics if t.open_rules]
    if not drifting:
        return [*lines, "No topic has open drift.", ""]
    for t in drifting:
        offsets = ", ".join(f"partition {p} offset {o}" for p, o in t.first_drift_offsets.items()) or "unknown"
        lines += [f"**{md(t.topic)}**: first drifting offsets {offsets}.", ""]
        if t.consumers is None:
            lines += ["Consumer groups: not collected.", ""]
        elif not t.consumers:
            lines += ["No consumer group reads this topic.", ""]
        else:
            lines += [
                "| Consumer group | Consumed past the first drift | Drifting messages consumed | Not consumed yet |",
                "|---|---|---:|---:|",
            ]
            lines.extend(
                f"| {md(c.group)} | {'yes' if c.past_first_drift else 'no'} | {_count(c.drifting_messages)} | "
                f"{_count(c.pending)} |"
                for c in t.consumers
            )
            lines.append("")
    return lines


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _md_details(report: m.HealthReport) -> list[str]:
    lines = ["## Open drift in detail", ""]
    rules = [r for t in report.topics for r in t.open_rules]
    if not rules:
        return [*lines, "None.", ""]
    for r in rules:
        lines += [
            f"### {md(r.requirement or 'no requirement')}: {md(r.topic)} {md(r.event_type or '')} {r.kind} "
            f"at {md(r.rule_path or '(message)')}",
            "",
            f"- Owner: {md(r.owner or '-')}; severity {r.severity}; {r.count:,} in the period ({percent(r.rate)}), "
            f"{r.count_now:,} now ({percent(r.rate_now)})",
        ]
        latest = r.latest
        if latest is None:
            lines += ["- No drift event in the period (summaries only: alert mode summary)", ""]
            continue
        sample = sample_json(latest.sample)
        fence = _fence(sample)
        lines += [
            f"- Latest: {md(latest.message)} (partition {latest.partition}, offset {latest.offset}, "
            f"{m.iso(latest.at)})",
            f"- Suggested fix: {md(latest.suggested_fix)}",
            "",
            "<details><summary>Redacted sample of the latest event</summary>",
            "",
            f"{fence}json",
            sample,
            fence,
            "",
            "</details>",
            "",
        ]
    return lines


# -- HTML -------------------------------------------------------------------------------------------


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the package's templates; autoescape on for every template."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("stream_sentinel.core.health", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(percent=percent, iso=m.iso, sample_json=sample_json, spark=spark_points)
    env.globals.update(arrows=ARROWS)
    return env


def render_html(
    report: m.HealthReport, *, refresh: int | None = None, title: str = "Drift health", notices: Sequence[str] = ()
) -> str:
    """One self-contained HTML page; ``refresh`` adds a meta refresh (the dashboard), in seconds.

    ``notices``: what the page must say about itself first (the dashboard's reader failing or
    behind, records its bounds dropped), shown highlighted under the title.
    """
    template = environment().get_template("health.html.j2")
    return template.render(
        report=report,
        refresh=refresh,
        title=title,
        notices=notices,
        definitions=definitions(report).replace("*", ""),
        open_rules=by_requirement([r for t in report.topics for r in t.open_rules]),
        fixed_rules=by_requirement([r for t in report.topics for r in t.fixed_rules]),
    )
