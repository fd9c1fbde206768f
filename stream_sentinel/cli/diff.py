"""``stream-sentinel diff``: the shell around ``core.compat``.

It finds what to compare (two schema files, two spec dirs, or the spec dir against a git ref),
loads each side with the catalog loader (so a broken side fails with the loader's
``file#/pointer: cause`` line and exit 2), runs the comparison and renders it. The exit code is
the verdict: 0 none or cosmetic, 10 compatible changes only, 20 at least one breaking change.

A lone schema file is loaded through the catalog it lives in, when one of its parent
directories holds a ``catalog.yaml``, so cross-file ``$ref`` and Avro references resolve as they
do for the worker. Otherwise it is loaded as a one-file catalog of its own. A load error names
the side (``old``/``new``) and the file as the command line gave it.

``core.compat`` is imported inside the functions that run a diff, not at the top: every command's
parser is built on each start, and only ``diff`` should pay for loading the contract-diff engine.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, TextIO

import orjson
import yaml

from stream_sentinel.cli.common import spec_default, spec_default_text
from stream_sentinel.core.contracts.catalog import (
    CATALOG_FILE,
    COMPATIBILITY_MODES,
    DEFAULT_DIALECT,
    DIALECT_URIS,
    Catalog,
    load_catalog,
)
from stream_sentinel.core.errors import SpecError, UsageError, output_closed_means
from stream_sentinel.core.exits import EXIT_DIFF_BREAKING, EXIT_DIFF_COMPATIBLE, EXIT_OK

if TYPE_CHECKING:
    from stream_sentinel.core import compat

EXIT_CODES: dict[compat.Verdict, int] = {
    "none": EXIT_OK,
    "cosmetic": EXIT_OK,
    "compatible": EXIT_DIFF_COMPATIBLE,
    "breaking": EXIT_DIFF_BREAKING,
}
_SUFFIXES = {".json": "json", ".avsc": "avro"}
_ORDER = {"breaking": 0, "compatible": 1, "cosmetic": 2}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What was compared and what changed; ``roots`` map each side to the dir its files are in."""

    old_label: str
    new_label: str
    mode: str | None
    changes: tuple[compat.Change, ...]
    old_root: Path
    new_root: Path
    fail_on: str = "compatible"

    @property
    def verdict(self) -> compat.Verdict:
        """The worst severity among the changes."""
        from stream_sentinel.core import compat  # lazy: see the module docstring

        return compat.verdict(self.changes)

    @property
    def exit_code(self) -> int:
        """0 / 10 / 20 by the verdict; ``--fail-on breaking`` turns 10 into 0."""
        code = EXIT_CODES[self.verdict]
        return EXIT_OK if self.fail_on == "breaking" and code == EXIT_DIFF_COMPATIBLE else code

    def path_of(self, change: compat.Change) -> str:
        """The file of a change as a path a reader (or GitHub) can open."""
        root = self.old_root if change.side == "old" else self.new_root
        return (root / change.file).as_posix()

    def sorted(self) -> list[compat.Change]:
        """Most severe first, then by event type and location."""
        return sorted(
            self.changes,
            key=lambda c: (_ORDER[c.severity], c.topic or "", c.event_type or "", c.version or 0, c.file, c.pointer),
        )


def add_parser(sub: Any, stdout: TextIO) -> None:
    """Register ``diff``."""
    spec_source = spec_default_text()
    diff = sub.add_parser(
        "diff",
        help="classify contract changes: exit 0 none/cosmetic, 10 compatible, 20 breaking",
        description="Compare two schema files (.json JSON Schema, .avsc Avro), two spec dirs, or the spec dir "
        "against a git ref, and classify every change under the compatibility mode (per event type from the "
        "catalog, or --mode). Exit 0: no change or only cosmetic ones, 10: compatible changes only, "
        "20: at least one breaking change, 2: usage or load error.",
        stdout=stdout,
    )
    diff.add_argument("old", nargs="?", help="old schema file or spec dir")
    diff.add_argument("new", nargs="?", help="new schema file or spec dir")
    diff.add_argument("--against", metavar="GIT_REF", help="compare --spec with the same dir at this git ref")
    diff.add_argument("--spec", default=spec_default(), help=f"contracts dir for --against (default {spec_source})")
    diff.add_argument(
        "--mode",
        type=str.upper,
        choices=COMPATIBILITY_MODES,
        help="mode for every comparison (default: each event type's from the catalog; BACKWARD for two files)",
    )
    diff.add_argument(
        "--dialect",
        choices=tuple(DIALECT_URIS),
        help="JSON Schema dialect of a schema FILE without $schema (default: its catalog's default_dialect, "
        f"else {DEFAULT_DIALECT}); spec dirs use their catalog's",
    )
    diff.add_argument(
        "--format",
        choices=("table", "json", "markdown", "github"),
        default="table",
        help="table (default: one line per change), json (every change with kind, path, verdict and reason), "
        "markdown (a PR comment) or github (::error/::warning workflow annotations)",
    )
    diff.add_argument(
        "--fail-on",
        choices=("compatible", "breaking"),
        default="compatible",
        help="lowest verdict with a non-zero exit: compatible (default: 10 and 20) or breaking (compatible exits 0)",
    )
    diff.add_argument("--kinds", action="store_true", help="list the change kinds and exit")

    diff.set_defaults(run=run)


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: TextIO, stderr: TextIO) -> int:  # noqa: ARG001
    """Run ``stream-sentinel diff`` with parsed arguments; returns the exit code."""
    if args.kinds:
        _print_kinds(stdout)
        return EXIT_OK
    try:
        outcome = _compare(args)
    except RecursionError:
        # The loader rejects schemas too deep to check; this is the walk's own limit.
        raise UsageError("diff: the schemas are nested too deeply to compare") from None
    with output_closed_means(outcome.exit_code):
        RENDERERS[args.format](outcome, stdout)
    return outcome.exit_code


def _compare(args: argparse.Namespace) -> Outcome:
    from stream_sentinel.core import compat  # lazy: see the module docstring

    mode = args.mode
    dialect: str | None = getattr(args, "dialect", None)
    if dialect is not None and (args.against is not None or (args.old is not None and Path(args.old).is_dir())):
        raise UsageError("diff: --dialect is for schema files; a spec dir's catalog.yaml sets default_dialect")
    if args.against is not None:
        if args.old is not None:
            raise UsageError("diff: give either OLD NEW or --against GIT_REF, not both")
        spec = Path(args.spec)
        with tempfile.TemporaryDirectory(prefix="sentinel-diff-") as tmp:
            extracted = extract_at_ref(spec, args.against, Path(tmp))
            if extracted is None:  # nothing there yet: every contract is new
                old = Catalog(Path(tmp), {}, {}, {}, {})
            else:
                with _side("old", lambda file: f"{args.against}:{(spec / file).as_posix()}"):
                    old = load_catalog(extracted)
        with _side("new", lambda file: (spec / file).as_posix()):
            new = load_catalog(spec)
        changes = compat.compare_catalogs(old, new, mode)
        return Outcome(f"{args.against}:{spec.as_posix()}", spec.as_posix(), mode, changes, spec, spec, args.fail_on)
    if args.old is None or args.new is None:
        raise UsageError("diff: give OLD and NEW (two schema files or two spec dirs), or --against GIT_REF")
    old_path, new_path = Path(args.old), Path(args.new)
    for path in (old_path, new_path):
        if not path.exists():
            raise UsageError(f"diff: {path} does not exist")
    if old_path.is_dir() and new_path.is_dir():
        with _side("old", lambda file: (old_path / file).as_posix()):
            old = load_catalog(old_path)
        with _side("new", lambda file: (new_path / file).as_posix()):
            new = load_catalog(new_path)
        changes = compat.compare_catalogs(old, new, mode)
        return Outcome(str(old_path), str(new_path), mode, changes, old_path, new_path, args.fail_on)
    if old_path.is_dir() or new_path.is_dir():
        raise UsageError("diff: OLD and NEW must both be schema files or both be spec dirs")
    old_source, old_root = load_file(old_path, "old", dialect)
    new_source, new_root = load_file(new_path, "new", dialect)
    changes = compat.compare_schemas(old_source, new_source, mode or compat.DEFAULT_MODE)
    # ``mode`` in the JSON output is the override, as for catalogs; each change names its own.
    return Outcome(str(old_path), str(new_path), mode, changes, old_root, new_root, args.fail_on)


@contextmanager
def _side(side: str, locate: Callable[[str], str]) -> Iterator[None]:
    """Name the side and the file as the user knows it in a load error.

    ``locate`` maps the loader's spec-relative file name to that.
    """
    try:
        yield
    except SpecError as exc:
        raise SpecError(f"{side} {locate(exc.file)}", exc.pointer, exc.cause) from exc


def load_file(path: Path, side: str = "new", dialect: str | None = None) -> tuple[compat.SchemaSource, Path]:
    """A schema file as a ``SchemaSource`` and the dir its spec-relative name is relative to.

    ``dialect`` (``--dialect``) is the dialect of a schema without ``$schema``; without it, the
    catalog's ``default_dialect`` (or the loader's default) decides.
    """
    from stream_sentinel.core import compat  # lazy: see the module docstring

    if path.suffix not in _SUFFIXES:
        raise UsageError(f"diff: {path}: schema files end in .json (JSON Schema) or .avsc (Avro)")
    resolved = path.resolve()
    parent = next((p for p in resolved.parents if (p / CATALOG_FILE).is_file()), None)
    if parent is not None:
        ref = resolved.relative_to(parent).as_posix()
        shown_root = path.parent
        for _ in ref.split("/")[1:]:
            shown_root = shown_root.parent
        with _side(side, lambda file: (shown_root / file).as_posix()):
            catalog = load_catalog(parent, dialect)
        return compat.source_of(catalog, ref, _references(catalog, ref)), shown_root
    with _side(side, lambda file: str(path) if file == path.name else file):
        catalog = _lone_catalog(path, dialect)
    return compat.source_of(catalog, path.name), path.parent


def _references(catalog: Catalog, ref: str) -> tuple[str, ...] | None:
    """The Avro references a catalog lists for ``ref``, or None if it is not a version's schema."""
    for version in catalog.versions():
        if version.ref == ref:
            return version.references
    return None


def _lone_catalog(path: Path, dialect: str | None = None) -> Catalog:
    """Load one schema file through the catalog loader, as a catalog of its own.

    The loader is the one place that knows how to check a schema (dialect, meta-schema, every
    ``$ref``, Avro parsing) and how to word the error, so a lone file goes through it too.
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"diff: cannot read {path}: {exc.strerror}") from exc
    with tempfile.TemporaryDirectory(prefix="sentinel-diff-") as tmp:
        root = Path(tmp)
        (root / path.name).write_bytes(text)
        catalog = {
            "catalog": 1,
            "topics": {
                "file": {
                    "format": _SUFFIXES[path.suffix],
                    "event_type": {"fixed": "schema"},
                    "events": {"schema": {"versions": [{"version": 1, "schema": path.name}]}},
                }
            },
        }
        (root / CATALOG_FILE).write_text(yaml.safe_dump(catalog), encoding="utf-8")
        return load_catalog(root, dialect)


def extract_at_ref(spec: Path, ref: str, into: Path) -> Path | None:
    """Write the spec dir as it is at git ``ref`` under ``into``; returns the extracted dir.

    Returns None when there is no catalog there yet: the spec dir (or its ``catalog.yaml``) does
    not exist at ``ref``, or the repository has no commit yet and ``ref`` is its unborn ``HEAD``;
    then every contract is new. The files are read from the commit's tree (``git ls-tree`` and
    ``git cat-file``), so the working tree and the index are never touched and, unlike
    ``git archive``, ``export-ignore`` attributes cannot leave contracts out. A missing git or a
    ref that is not a commit is a usage error.
    """
    spec = spec.resolve()
    if not spec.is_dir():
        raise UsageError(f"diff: spec dir {spec} does not exist")
    top = Path(_git(["rev-parse", "--show-toplevel"], spec).decode().strip()).resolve()
    relative = spec.relative_to(top).as_posix()
    commit = _commit(ref, top)
    if commit is None:
        return None
    listing = _git(["ls-tree", "-r", "-z", commit, "--", relative], top)
    blobs: list[tuple[str, str]] = []
    for entry in filter(None, listing.decode().split("\0")):
        info, name = entry.split("\t", 1)
        mode, kind, oid = info.split()
        if kind == "blob" and mode != "120000":  # symbolic links are not contracts
            blobs.append((oid, name))
    contents = _cat_files([oid for oid, _ in blobs], top)
    for (_, name), data in zip(blobs, contents, strict=True):
        target = into.joinpath(*PurePosixPath(name).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    extracted = into / relative
    return extracted if (extracted / CATALOG_FILE).is_file() else None


def _commit(ref: str, top: Path) -> str | None:
    """The commit ``ref`` names; None for the unborn ``HEAD`` of a repository without commits."""
    if ref.startswith("-"):
        raise UsageError(f"diff: {ref} is not a commit in {top}")
    try:
        return _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top).decode().strip()
    except UsageError:
        pass
    unborn = not _git_ok(["rev-parse", "--verify", "--quiet", "HEAD"], top)
    branch = _git(["symbolic-ref", "--quiet", "HEAD"], top).decode().strip() if unborn else ""
    if unborn and ref in ("HEAD", branch, branch.removeprefix("refs/heads/")):
        return None
    raise UsageError(f"diff: {ref} is not a commit in {top}")


def _cat_files(oids: Sequence[str], top: Path) -> list[bytes]:
    """The contents of blobs, in order, with one ``git cat-file --batch``."""
    out = _git(["cat-file", "--batch"], top, "".join(f"{oid}\n" for oid in oids).encode())
    contents: list[bytes] = []
    at = 0
    for _ in oids:
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        contents.append(out[header_end + 1 : header_end + 1 + size])
        at = header_end + 1 + size + 1
    return contents


def _git_ok(arguments: Sequence[str], cwd: Path) -> bool:
    try:
        _git(arguments, cwd)
    except UsageError:
        return False
    return True


def _git(arguments: Sequence[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    try:
        # git from PATH with fixed arguments; the ref is passed as one argv item, never to a shell.
        done = subprocess.run(  # noqa: S603
            ["git", *arguments],  # noqa: S607
            cwd=cwd,
            input=stdin,
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise UsageError(f"diff --against needs git: {exc.strerror}") from exc
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"diff: git {arguments[0]} failed: {lines[0] if lines else f'exit {done.returncode}'}")
    return done.stdout


# -- rendering -------------------------------------------------------------------------------


def _summary(outcome: Outcome) -> str:
    counts = {s: sum(c.severity == s for c in outcome.changes) for s in _ORDER}
    parts = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"{outcome.verdict} (exit {outcome.exit_code})" + (f": {parts}" if parts else ": no changes")


def _event(change: compat.Change) -> str:
    if change.topic is None:
        return "-"
    label = f"{change.topic}/{change.event_type}" if change.event_type else change.topic
    if change.version is None:
        return label
    against = "" if change.against in (None, change.version) else f" (vs v{change.against})"
    return f"{label} v{change.version}{against}"


_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(text: str) -> str:
    """``text`` with newlines and other unprintable characters escaped: names cannot break rows."""
    return "".join(
        c
        if c.isprintable()
        else _CONTROL_ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        for c in text
    )


def render_table(outcome: Outcome, out: TextIO) -> None:
    """Human-readable: a summary line, then one row per change with its message below."""
    out.write(f"diff {_visible(outcome.old_label)} -> {_visible(outcome.new_label)}: {_summary(outcome)}\n")
    changes = outcome.sorted()
    if not changes:
        return
    rows = [(c.severity, c.kind, _visible(_event(c)), _visible(f"{c.file}#{c.pointer}"), c.mode) for c in changes]
    header = ("SEVERITY", "KIND", "EVENT", "WHERE", "MODE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out.write("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  MODE\n")
    for row, change in zip(rows, changes, strict=True):
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) + f"  {row[-1]}\n")
        out.write(f"    {_visible(change.message)}\n")


def to_json(outcome: Outcome) -> dict[str, object]:
    """The documented, stable JSON shape of a diff (``version`` bumps on breaking shape changes)."""
    from stream_sentinel.core import compat  # lazy: see the module docstring

    counts = {s: sum(c.severity == s for c in outcome.changes) for s in _ORDER}
    return {
        "version": compat.JSON_FORMAT_VERSION,
        "old": outcome.old_label,
        "new": outcome.new_label,
        "mode": outcome.mode,
        "verdict": outcome.verdict,
        "exit_code": outcome.exit_code,
        "summary": counts,
        "changes": [c.to_dict() for c in outcome.sorted()],
    }


def render_json(outcome: Outcome, out: TextIO) -> None:
    """``--format json``: see ``to_json``."""
    out.write(orjson.dumps(to_json(outcome), option=orjson.OPT_INDENT_2).decode() + "\n")


def _md(text: str) -> str:
    return _visible(text).replace("|", "\\|")


def _code(text: str) -> str:
    """``text`` as a markdown code span: fenced with more backticks than it holds in a row."""
    text = _md(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_markdown(outcome: Outcome, out: TextIO) -> None:
    """A pull-request comment: verdict first, breaking and compatible rows, cosmetic folded away."""
    icon = {"breaking": "❌", "compatible": "⚠️", "cosmetic": "✅", "none": "✅"}[outcome.verdict]
    out.write(f"### {icon} Contract diff: **{outcome.verdict}** (exit {outcome.exit_code})\n\n")
    out.write(f"{_code(outcome.old_label)} → {_code(outcome.new_label)}: {_summary(outcome)}\n")
    changes = outcome.sorted()
    main = [c for c in changes if c.severity != "cosmetic"]
    cosmetic = [c for c in changes if c.severity == "cosmetic"]
    header = "\n| | kind | event | where | mode | what |\n|---|---|---|---|---|---|\n"
    mark = {"breaking": "❌", "compatible": "⚠️", "cosmetic": "·"}

    def rows(items: list[compat.Change]) -> str:
        return "".join(
            f"| {mark[c.severity]} | `{c.kind}` | {_md(_event(c))} | {_code(f'{c.file}#{c.pointer}')} | {c.mode} "
            f"| {_md(c.message)} |\n"
            for c in items
        )

    if main:
        out.write(header + rows(main))
    if cosmetic:
        out.write(
            f"\n<details><summary>{len(cosmetic)} cosmetic change(s)</summary>\n{header}{rows(cosmetic)}\n</details>\n"
        )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(outcome: Outcome, out: TextIO) -> None:
    """GitHub Actions workflow commands, one per change, then a summary line.

    ``::error`` for breaking changes, ``::warning`` for compatible ones that break the other
    direction (so they would fail FULL), ``::notice`` for the rest; cosmetic changes are only
    counted in the summary.
    """
    for change in outcome.sorted():
        if change.severity == "cosmetic":
            continue
        if change.breaking:
            level = "error"
        elif not (change.backward_compatible and change.forward_compatible):
            level = "warning"
        else:
            level = "notice"
        title = _escape_property(f"{change.kind} ({change.mode})")
        message = _escape_data(f"{_event(change)}: {change.message} at {change.pointer or '/'}")
        out.write(f"::{level} file={_escape_property(outcome.path_of(change))},title={title}::{message}\n")
    out.write(f"stream-sentinel diff: {_summary(outcome)}\n")


RENDERERS: dict[str, Callable[[Outcome, TextIO], None]] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
    "github": render_github,
}


def _print_kinds(out: TextIO) -> None:
    from stream_sentinel.core import compat  # lazy: see the module docstring

    width = max(len(kind) for kind in compat.KINDS)
    out.write(f"{'KIND'.ljust(width)}  BACKWARD  FORWARD   MEANING\n")
    for kind, rule in compat.KINDS.items():
        backward, forward = (
            "cosmetic" if rule.cosmetic else "computed" if fact is None else "ok" if fact else "breaks"
            for fact in (rule.backward, rule.forward)
        )
        out.write(f"{kind.ljust(width)}  {backward:<8}  {forward:<8}  {rule.meaning}\n")
