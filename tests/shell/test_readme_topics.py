"""The README lists every internal topic the worker's Faust app declares."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from faust.assignor.leader_assignor import LeaderAssignor

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_lists_the_topic_faust_creates_for_the_group_leader() -> None:
    """Faust's LeaderAssignor declares one more internal topic; operators should find it listed."""
    fake = SimpleNamespace(app=SimpleNamespace(conf=SimpleNamespace(id="<app_id>")))
    name = LeaderAssignor.__dict__["_leader_topic_name"].__get__(fake, LeaderAssignor)
    notes = README[README.index("### Operating notes") : README.index("## Replay: re-validate")]
    assert f"`{name}`" in notes
    assert "`<app_id>-tallies`" in notes
