"""``stream-sentinel diff`` driven in-process: exit codes, formats, inputs, git refs."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from stream_sentinel.cli import run
from stream_sentinel.core.compat import KINDS
from stream_sentinel.core.exits import EXIT_DIFF_BREAKING, EXIT_DIFF_COMPATIBLE, EXIT_OK, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "events"
V1 = str(SPEC / "orders" / "order-created.v1.schema.json")
V2 = str(SPEC / "orders" / "order-created.v2.schema.json")


def cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["diff", *args], io.BytesIO(), out, err)
    return code, out.getvalue(), err.getvalue()


def _schema(path: Path, doc: object) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_spec_dir_against_itself_exits_0() -> None:
    code, out, err = cli([str(SPEC), str(SPEC)])
    assert (code, err) == (EXIT_OK, "")
    assert out.strip().endswith("none (exit 0): no changes")


def test_orders_v1_to_v2_is_breaking_under_backward() -> None:
    """v2 makes v1's optional channel required: old data may lack it (the catalog says FORWARD)."""
    code, out, _ = cli([V1, V2])
    assert code == EXIT_DIFF_BREAKING
    first = out.splitlines()[3]
    assert first.split()[:2] == ["breaking", "required_attribute_added"]
    assert "orders/order-created.v2.schema.json#/required/8" in first


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("NONE", EXIT_DIFF_COMPATIBLE), ("forward", EXIT_DIFF_COMPATIBLE), ("FULL_TRANSITIVE", EXIT_DIFF_BREAKING)],
)
def test_mode_decides_what_breaks(mode: str, expected: int) -> None:
    assert cli([V1, V2, "--mode", mode])[0] == expected


def test_fail_on_breaking_lets_compatible_changes_pass() -> None:
    assert cli([V1, V2, "--mode", "NONE", "--fail-on", "breaking"])[0] == EXIT_OK
    assert cli([V1, V2, "--fail-on", "breaking"])[0] == EXIT_DIFF_BREAKING


def test_cosmetic_only_exits_0(tmp_path: Path) -> None:
    old = _schema(tmp_path / "a.schema.json", {"title": "A", "type": "string"})
    new = _schema(tmp_path / "b.schema.json", {"title": "B", "description": "words", "type": "string"})
    code, out, _ = cli([old, new, "--format", "json"])
    report = orjson.loads(out)
    assert (code, report["verdict"], report["exit_code"]) == (EXIT_OK, "cosmetic", 0)
    assert sorted(c["kind"] for c in report["changes"]) == ["description_changed", "title_changed"]


def test_json_format_shape() -> None:
    code, out, _ = cli([V1, V2, "--format", "json"])
    report = orjson.loads(out)
    assert list(report) == ["version", "old", "new", "mode", "verdict", "exit_code", "summary", "changes"]
    assert (report["version"], report["verdict"], report["exit_code"], report["mode"]) == (
        1,
        "breaking",
        code,
        None,  # no --mode override; each change names the mode it was judged under
    )
    assert report["summary"] == {"breaking": 1, "compatible": 0, "cosmetic": 2}
    channel = report["changes"][0]
    assert channel == {
        "kind": "required_attribute_added",
        "severity": "breaking",
        "breaking": True,
        "backward_compatible": False,
        "forward_compatible": True,
        "mode": "BACKWARD",
        "topic": None,
        "event_type": None,
        "version": None,
        "against": None,
        "file": "orders/order-created.v2.schema.json",
        "side": "new",
        "pointer": "/required/8",
        "message": channel["message"],
    }


def test_markdown_fits_a_pull_request_comment() -> None:
    code, out, _ = cli([V1, V2, "--format", "markdown"])
    assert code == EXIT_DIFF_BREAKING
    assert out.startswith("### ❌ Contract diff: **breaking** (exit 20)")
    assert "| ❌ | `required_attribute_added` |" in out
    main, _, folded = out.partition("<details>")
    assert "title_changed" not in main
    assert "2 cosmetic change(s)" in folded
    assert "title_changed" in folded


def test_github_emits_workflow_annotations() -> None:
    _, out, _ = cli([V1, V2, "--format", "github"])
    lines = out.splitlines()
    path = (SPEC / "orders" / "order-created.v2.schema.json").as_posix()
    assert lines[0].startswith(f"::error file={path},title=required_attribute_added (BACKWARD)::")
    assert lines[-1] == "stream-sentinel diff: breaking (exit 20): 1 breaking, 2 cosmetic"
    assert len(lines) == 2  # cosmetic changes are counted, not annotated


def test_github_escapes_properties(tmp_path: Path) -> None:
    old = _schema(tmp_path / "a,b.schema.json", {"type": "object", "properties": {"x": {"type": "string"}}})
    new = _schema(tmp_path / "c.schema.json", {"type": "object"})
    _, out, _ = cli([old, new, "--format", "github"])
    assert "a%2Cb.schema.json" in out.splitlines()[0]


def _odd_names(tmp_path: Path) -> tuple[str, str]:
    """A property whose name holds a newline, and one whose name holds backticks."""
    old = _schema(tmp_path / "old.schema.json", {"type": "object"})
    new = _schema(
        tmp_path / "new.schema.json",
        {"type": "object", "properties": {"a\nb": {"type": "string"}, "c``d`": {"type": "string"}}},
    )
    return old, new


def test_table_escapes_control_characters(tmp_path: Path) -> None:
    _, out, _ = cli([*_odd_names(tmp_path), "--format", "table"])
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("SEVERITY"))
    rows = lines[header + 1 :]
    assert len(rows) == 4  # two changes, each a row and its message: no line broken by a name
    assert [row.split()[0] for row in rows[::2]] == ["breaking", "breaking"]
    assert any("#/properties/a\\nb" in row for row in rows)


def test_markdown_code_spans_survive_backticks(tmp_path: Path) -> None:
    _, out, _ = cli([*_odd_names(tmp_path), "--format", "markdown"])
    rows = [line for line in out.splitlines() if line.startswith("| ❌")]
    assert len(rows) == 2
    assert any("``` new.schema.json#/properties/c``d` ```" in row for row in rows)
    assert any("`new.schema.json#/properties/a\\nb`" in row for row in rows)


def test_catalog_diff_names_event_types_and_versions(tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(SPEC, old)
    catalog = (old / "catalog.yaml").read_text(encoding="utf-8")
    catalog = catalog.replace("          - version: 2\n            schema: orders/order-created.v2.schema.json\n", "")
    (old / "catalog.yaml").write_text(catalog, encoding="utf-8")
    code, out, _ = cli([str(old), str(SPEC)])
    assert code == EXIT_DIFF_COMPATIBLE  # orders is FORWARD in the catalog: v2 narrows v1
    assert "orders/OrderCreated v2 (vs v1)" in out
    assert cli([str(old), str(SPEC), "--mode", "BACKWARD"])[0] == EXIT_DIFF_BREAKING


def test_lone_files_outside_a_catalog(tmp_path: Path) -> None:
    old = _schema(tmp_path / "old.avsc", {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
    new = _schema(tmp_path / "new.avsc", {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]})
    code, out, _ = cli([old, new])
    assert code == EXIT_DIFF_COMPATIBLE
    assert "type_promoted" in out


def test_avro_files_in_the_catalog_resolve_their_references() -> None:
    code, out, _ = cli(
        [str(SPEC / "payments" / "payment-authorized.v1.avsc"), str(SPEC / "payments" / "payment-authorized.v2.avsc")]
    )
    assert code == EXIT_DIFF_COMPATIBLE
    assert "field_added_with_default" in out


def test_load_error_uses_the_spec_loaders_message(tmp_path: Path) -> None:
    """A broken lone file is named as given on the command line, with the side it is on."""
    old = _schema(tmp_path / "old.schema.json", {"type": "string"})
    bad = _schema(tmp_path / "bad.schema.json", {"type": "string", "maxLength": -1})
    code, out, err = cli([old, bad])
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith(f"stream-sentinel: new {bad}#/maxLength: ")
    assert err.count("\n") == 1
    code, _, err = cli([bad, old])
    assert err.startswith(f"stream-sentinel: old {bad}#/maxLength: ")


def test_json_mode_is_the_override_for_two_files_too(tmp_path: Path) -> None:
    old = _schema(tmp_path / "old.schema.json", {"type": "string"})
    new = _schema(tmp_path / "new.schema.json", {"type": "string", "maxLength": 3})
    report = orjson.loads(cli([old, new, "--format", "json"])[1])
    assert report["mode"] is None
    assert report["changes"][0]["mode"] == "BACKWARD"
    report = orjson.loads(cli([old, new, "--format", "json", "--mode", "full"])[1])
    assert report["mode"] == "FULL"


# Each side's $ref must resolve in its own documents when a combinator is added or removed.
_DEFS = {"$defs": {"A": {"type": "integer"}}}
_PROP_A = {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            {**_PROP_A, **_DEFS},
            {
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/B"}},
                "$defs": {"B": {"type": "integer"}},
                "allOf": [{"required": ["a"]}],
            },
        ),
        (
            {"anyOf": [{"type": "object", "required": ["a"]}, {"type": "object", "required": ["b"]}]},
            {**_PROP_A, "$defs": {"A": {"type": "string"}}},
        ),
        (
            {**_PROP_A, **_DEFS},
            {**_PROP_A, "$defs": {"A": {"type": "number"}}, "anyOf": [{"required": ["a"]}, {"required": ["b"]}]},
        ),
    ],
    ids=["allOf-added", "anyOf-removed", "anyOf-added"],
)
def test_refs_resolve_on_their_own_side_around_a_combinator(tmp_path: Path, old: object, new: object) -> None:
    code, _, err = cli([_schema(tmp_path / "old.schema.json", old), _schema(tmp_path / "new.schema.json", new)])
    assert (code, err) == (EXIT_DIFF_BREAKING, "")


def _nested(depth: int, leaf: object) -> object:
    node = leaf
    for _ in range(depth):
        node = {"type": "object", "properties": {"p": node}}
    return node


def test_deeply_nested_schema_is_a_one_line_error(tmp_path: Path) -> None:
    # 2020-12's meta-schema check recurses deepest ($dynamicRef), so 100 levels are too deep for it.
    draft = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    old = _schema(tmp_path / "old.schema.json", {**draft, **_nested(100, {"type": "string"})})  # type: ignore[dict-item]
    new = _schema(tmp_path / "new.schema.json", {**draft, **_nested(100, {"type": "integer"})})  # type: ignore[dict-item]
    code, out, err = cli([old, new])
    assert (code, out) == (EXIT_USAGE, "")
    assert "nested too deeply" in err
    assert err.count("\n") == 1
    spec = tmp_path / "spec"
    spec.mkdir()
    shutil.copy(new, spec / "deep.schema.json")
    catalog = "catalog: 1\ntopics:\n  t:\n    event_type: {fixed: E}\n    events:\n      E:\n"
    catalog += "        versions: [{version: 1, schema: deep.schema.json}]\n"
    (spec / "catalog.yaml").write_text(catalog, encoding="utf-8")
    for args in (["spec", "--spec", str(spec)], ["check", "--spec", str(spec), old]):
        out_, err_ = io.StringIO(), io.StringIO()
        code = run(args, io.BytesIO(), out_, err_)
        assert code == EXIT_USAGE, args
        assert "nested too deeply" in err_.getvalue()
        assert err_.getvalue().count("\n") == 1


def test_unknown_avro_type_in_a_lone_file(tmp_path: Path) -> None:
    old = _schema(tmp_path / "a.avsc", "string")
    bad = _schema(tmp_path / "b.avsc", {"type": "record", "name": "R", "fields": [{"name": "m", "type": "x.Money"}]})
    code, _, err = cli([old, bad])
    assert code == EXIT_USAGE
    assert "b.avsc#" in err
    assert "x.Money" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give OLD and NEW"),
        ([V1], "give OLD and NEW"),
        ([V1, str(SPEC)], "both be schema files or both be spec dirs"),
        ([V1, "nowhere.json"], "nowhere.json does not exist"),
        ([str(ROOT / "pyproject.toml"), str(ROOT / "pyproject.toml")], "end in .json"),
        ([V1, V2, "--against", "HEAD"], "not both"),
        ([V1, V2, "--mode", "SIDEWAYS"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, _, err = cli(args)
    assert code == EXIT_USAGE
    assert message in err
    assert err.count("\n") == 1


def test_kinds_lists_every_kind() -> None:
    code, out, _ = cli(["--kinds"])
    assert code == EXIT_OK
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == list(KINDS)
    assert any(
        line.split()[1:3] == ["breaks", "ok"] for line in out.splitlines() if line.startswith("max_length_added")
    )


# -- --against GIT_REF -----------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:  # pragma: no cover - git is part of the dev setup
        pytest.fail("git is needed for the --against tests")
    repo = tmp_path / "repo"
    shutil.copytree(SPEC, repo / "spec" / "events")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "contracts")
    return repo


def test_against_head_without_changes_exits_0(repo: Path) -> None:
    code, out, err = cli(["--against", "HEAD", "--spec", str(repo / "spec" / "events")])
    assert (code, err) == (EXIT_OK, "")
    assert "HEAD:" in out


def test_against_head_sees_working_tree_edits(repo: Path) -> None:
    path = repo / "spec" / "events" / "inventory" / "stock-adjusted.v2.schema.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["required"].append("lot_number")
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out, _ = cli(["--against", "HEAD", "--spec", str(repo / "spec" / "events"), "--format", "json"])
    report = orjson.loads(out)
    assert code == EXIT_DIFF_BREAKING
    # the edit breaks v2 itself, and v2 no longer reads v1 data (compared again after the edit)
    assert sorted((c["kind"], c["against"]) for c in report["changes"] if c["breaking"]) == [
        ("required_attribute_added", 2),
        ("required_property_added_to_unopen_content_model", 1),
        ("version_not_bumped", None),
    ]


def test_against_a_bad_ref_exits_2(repo: Path) -> None:
    code, _, err = cli(["--against", "no-such-ref", "--spec", str(repo / "spec" / "events")])
    assert code == EXIT_USAGE
    assert err.startswith("stream-sentinel: diff: no-such-ref is not a commit")
    assert err.count("\n") == 1


def _init(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q")


def test_against_a_ref_without_the_spec_dir_reports_everything_added(tmp_path: Path) -> None:
    """The commit that introduces the contracts must pass the pre-commit hook."""
    repo = tmp_path / "repo"
    _init(repo)
    (repo / "README").write_text("x", encoding="utf-8")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "readme")
    shutil.copytree(SPEC, repo / "spec" / "events")
    spec = str(repo / "spec" / "events")
    code, out, err = cli(["--against", "HEAD", "--spec", spec])
    assert (code, err) == (EXIT_DIFF_COMPATIBLE, "")
    assert "topic_added" in out
    assert cli(["--against", "HEAD", "--spec", spec, "--fail-on", "breaking"])[0] == EXIT_OK


def test_against_head_in_a_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _init(repo)
    shutil.copytree(SPEC, repo / "spec" / "events")
    code, _, err = cli(["--against", "HEAD", "--spec", str(repo / "spec" / "events"), "--fail-on", "breaking"])
    assert (code, err) == (EXIT_OK, "")


def test_against_reads_files_marked_export_ignore(repo: Path) -> None:
    """git archive would leave out export-ignore paths; the contracts at the ref are all read."""
    (repo / ".gitattributes").write_text("spec/events/inventory/** export-ignore\n", encoding="utf-8")
    _git(repo, "add", ".gitattributes")
    _git(repo, "commit", "-q", "-m", "attributes")
    code, out, err = cli(["--against", "HEAD", "--spec", str(repo / "spec" / "events")])
    assert (code, err) == (EXIT_OK, ""), out


def test_pre_commit_hook_and_readme_agree_on_where_contracts_are() -> None:
    """The hook's ``files`` filter names spec/events/, so moving the contracts needs both overrides."""
    import yaml

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert hook["files"] == "^spec/events/"
    assert "files: ^contracts/events/" in readme
    assert "args: [--spec, contracts/events]" in readme


def test_against_outside_a_repository_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    shutil.copytree(SPEC, spec)
    code, _, err = cli(["--against", "HEAD", "--spec", str(spec)])
    assert code == EXIT_USAGE
    assert "git rev-parse failed" in err


def test_against_without_git_exits_2(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    code, _, err = cli(["--against", "HEAD", "--spec", str(repo / "spec" / "events")])
    assert code == EXIT_USAGE
    assert "needs git" in err


# -- dialect of a schema without $schema --------------------------------------------------------

DRAFT7_TUPLE = {"type": "array", "items": [{"type": "string"}], "additionalItems": False}


def test_schema_without_dialect_using_draft07_forms_gets_a_verdict(tmp_path: Path) -> None:
    """Array-form items, additionalItems, dependencies: read as draft-07 by default, not a crash."""
    old = _schema(tmp_path / "old.json", {**DRAFT7_TUPLE, "dependencies": {"a": ["b"]}})
    new = _schema(tmp_path / "new.json", {**DRAFT7_TUPLE, "additionalItems": {"type": "string"}})
    code, out, err = cli([old, new, "--format", "json"])
    assert (code, err) == (EXIT_DIFF_COMPATIBLE, ""), err
    kinds = sorted(c["kind"] for c in orjson.loads(out)["changes"])
    assert kinds == ["additional_items_added", "dependency_array_removed"]


def test_dialect_option_reads_a_bare_file_as_that_dialect(tmp_path: Path) -> None:
    old = _schema(tmp_path / "old.json", {"type": "array", "prefixItems": [{"type": "string"}], "items": False})
    new = _schema(tmp_path / "new.json", {"type": "array", "prefixItems": [{"type": "string"}]})
    code, out, err = cli([old, new])
    # read as draft-07, prefixItems would be ignored without a word: refused, one line, exit 2
    assert (code, out) == (EXIT_USAGE, "")
    assert f"old {old}#/prefixItems: prefixItems is not a draft-07 keyword" in err
    assert err.count("\n") == 1
    code, out, err = cli([old, new, "--dialect", "2020-12", "--format", "json"])
    assert (code, err) == (EXIT_DIFF_COMPATIBLE, ""), err
    assert [c["kind"] for c in orjson.loads(out)["changes"]] == ["additional_items_added"]
    code, _, err = cli([old, new, "--dialect", "draft-07"])
    assert code == EXIT_USAGE
    assert 'add "$schema"' in err


def test_a_2020_12_reading_refuses_draft07_tuple_items(tmp_path: Path) -> None:
    old = _schema(tmp_path / "old.json", DRAFT7_TUPLE)
    code, out, err = cli([old, old, "--dialect", "2020-12"])
    assert (code, out) == (EXIT_USAGE, "")
    assert "#/items: items (array form) is not a 2020-12 keyword" in err
    assert err.count("\n") == 1


def test_catalog_default_dialect_decides_and_dialect_option_is_for_files(tmp_path: Path) -> None:
    for side, closed in (("old", False), ("new", True)):
        spec = tmp_path / side
        spec.mkdir()
        schema = {"type": "array", "prefixItems": [{"type": "string"}], **({"items": False} if closed else {})}
        (spec / "e.schema.json").write_text(json.dumps(schema), encoding="utf-8")
        catalog = "catalog: 1\ndefault_dialect: '2020-12'\ntopics:\n  t:\n    event_type: {fixed: E}\n"
        catalog += "    events:\n      E:\n        versions: [{version: 1, schema: e.schema.json}]\n"
        (spec / "catalog.yaml").write_text(catalog, encoding="utf-8")
    code, out, err = cli([str(tmp_path / "old"), str(tmp_path / "new"), "--format", "json"])
    assert (code, err) == (EXIT_DIFF_BREAKING, ""), err  # items: false closes the tuple (2020-12)
    assert sorted(c["kind"] for c in orjson.loads(out)["changes"]) == ["additional_items_removed", "version_not_bumped"]
    code, _, err = cli([str(tmp_path / "old"), str(tmp_path / "new"), "--dialect", "draft-07"])
    assert code == EXIT_USAGE
    assert "--dialect is for schema files" in err
    # a file inside that catalog is read with the catalog's default
    code, _, err = cli([str(tmp_path / "old" / "e.schema.json"), str(tmp_path / "new" / "e.schema.json")])
    assert (code, err) == (EXIT_DIFF_BREAKING, ""), err


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"$schema": 5}, "#/$schema: unsupported dialect 5"),
        ({"$schema": "http://json-schema.org/draft-07/schema#", "items": [1]}, "#/items/0: 1 is not of type"),
        ({"items": [{"type": "string"}], "additionalItems": [1]}, "#/additionalItems: [1] is not of type"),
        ({"$schema": "http://json-schema.org/draft-04/schema#", "dependencies": {"a": 5}}, "#/dependencies/a: "),
    ],
)
def test_malformed_schema_is_a_one_line_load_error(tmp_path: Path, schema: dict[str, object], where: str) -> None:
    """Checked against its meta-schema before the $ref crawl, which crashed on these."""
    path = _schema(tmp_path / "bad.json", schema)
    code, out, err = cli([path, path])
    assert (code, out) == (EXIT_USAGE, "")
    assert f"old {path}{where}" in err, err
    assert err.count("\n") == 1
