"""Combinators and conditionals: ``allOf``/``anyOf``/``oneOf`` branches paired, ``not``, ``if``/``then``/``else``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from stream_sentinel.core.compat.json.base import DiffBase
from stream_sentinel.core.compat.json.nodes import (
    _COMBINATORS,
    _UNEVALUATED,
    _VALIDATION,
    Node,
    _allowed_values,
    _name_list,
    _true,
    _unevaluated_around,
)
from stream_sentinel.core.compat.kinds import KINDS
from stream_sentinel.core.compat.model import Change, all_backward, all_forward


class CombinatorRules(DiffBase):
    """The combinator and conditional keywords of the walk."""

    # -- combinators ------------------------------------------------------------------------

    def _combinators(self, old: Node, new: Node) -> None:
        old_kws = [k for k in _COMBINATORS if old.has(k)]
        new_kws = [k for k in _COMBINATORS if new.has(k)]
        if len(old_kws) == 1 and len(new_kws) == 1 and old_kws != new_kws:
            self._branches(old, new, old_kws[0], new_kws[0])
            return
        for keyword in _COMBINATORS:
            if keyword in old_kws and keyword in new_kws:
                self._branches(old, new, keyword, keyword)
            elif keyword in new_kws:
                self._combinator_added(old, new, keyword)
            elif keyword in old_kws:
                self._combinator_removed(old, new, keyword)

    def _branches(self, old: Node, new: Node, old_kw: str, new_kw: str) -> None:
        """Same or switched combinator: pair branches up as the registry does (maximum matching)."""
        # An unevaluated* keyword here or around sees what the branches evaluate: a branch more
        # or less, or another combinator (anyOf counts only the branches that pass), changes what
        # it accepts in ways the pairing below does not see, so neither direction is proven.
        unproven = _unevaluated_around(old, new)
        note = " (unevaluated* sees what the branches evaluate)" if unproven else ""
        old_dropped: list[Node] = []
        new_dropped: list[Node] = []
        old_branches = self._branch_nodes(old, old_kw, old_dropped, keep_empty=unproven)
        new_branches = self._branch_nodes(new, new_kw, new_dropped, keep_empty=unproven)
        if old_kw == new_kw == "allOf" and len(old_branches) != len(new_branches) and not unproven:
            old_branches, new_branches = self._allof_padded(
                old, new, old_branches, new_branches, old_dropped, new_dropped
            )
        pairs = {(i, j): self.sub(o, n) for i, o in enumerate(old_branches) for j, n in enumerate(new_branches)}
        if old_kw != new_kw and "oneOf" not in (old_kw, new_kw):
            self._switched(old, new, (old_kw, new_kw), pairs, unproven, note)
            for i, j in _report_pairs(pairs):
                self.sink.extend(pairs[i, j])
            return
        if old_kw != new_kw:
            singles = (len(old_branches) == 1, len(new_branches) == 1)
            backward = _criterion_ok(old_kw, new_kw, *singles) and not unproven
            forward = _criterion_ok(new_kw, old_kw, singles[1], singles[0]) and not unproven
            kind = "combined_type_extended" if backward else "combined_type_changed"
            self._emit(kind, old, new, new_kw, f"{old_kw} -> {new_kw}{note}", backward=backward, forward=forward)
        size = min(len(old_branches), len(new_branches))
        backward = _matching(pairs, all_backward) >= size
        forward = _matching(pairs, all_forward) >= size
        # oneOf rejects a value matching two branches: once its branches change, old data may
        # match two new branches (BACKWARD) or new data two old ones (FORWARD) unless they are
        # provably disjoint.
        overlap_new = new_kw == "oneOf" and not self.disjoint(new_branches)
        overlap_old = old_kw == "oneOf" and not self.disjoint(old_branches)
        why = _overlap_note(overlap_new, overlap_old)
        if len(old_branches) != len(new_branches):
            counts = (len(old_branches), len(new_branches))
            self._count_changed(old, new, new_kw, counts, why + note, overlap_new or unproven, overlap_old or unproven)
        elif any(not c.cosmetic for changes in pairs.values() for c in changes):
            backward, forward = backward and not overlap_new, forward and not overlap_old
        if not (backward and forward):
            self._emit(
                "combined_type_subschemas_changed",
                old,
                new,
                new_kw,
                f"{new_kw}: some branches no longer pair with a compatible branch{why}",
                backward=backward,
                forward=forward,
            )
        for i, j in _report_pairs(pairs):
            self.sink.extend(pairs[i, j])

    def _allof_padded(
        self,
        old: Node,
        new: Node,
        old_branches: list[Node],
        new_branches: list[Node],
        old_dropped: list[Node],
        new_dropped: list[Node],
    ) -> tuple[list[Node], list[Node]]:
        """The ``allOf`` branches padded to one count where that pairs them one-to-one, else as they are."""
        # allOf [X...] is allOf [X..., {}]: with the shorter side padded by empty branches
        # (those it dropped first, where they are written) a one-to-one pairing may prove
        # what the branch count cannot, e.g. a branch that accepts everything old data held.
        old_padded = self._padded(old, old_branches, old_dropped, len(new_branches))
        new_padded = self._padded(new, new_branches, new_dropped, len(old_branches))
        padded = {(i, j): self.sub(o, n) for i, o in enumerate(old_padded) for j, n in enumerate(new_padded)}
        size = len(old_padded)
        grew = len(new_branches) > len(old_branches)
        if (_matching(padded, all_backward) >= size) if grew else (_matching(padded, all_forward) >= size):
            return old_padded, new_padded
        return old_branches, new_branches

    def _count_changed(
        self,
        old: Node,
        new: Node,
        new_kw: str,
        counts: tuple[int, int],
        why: str,
        unsure_backward: bool,
        unsure_forward: bool,
    ) -> None:
        """A branch more or fewer: its kind's directions, unless the branches may overlap or are unproven."""
        grew = counts[1] > counts[0]
        kind = f"{'product' if new_kw == 'allOf' else 'sum'}_type_{'extended' if grew else 'narrowed'}"
        rule = KINDS[kind]
        self._emit(
            kind,
            old,
            new,
            new_kw,
            f"{new_kw}: {counts[0]} -> {counts[1]} branches{why}",
            backward=bool(rule.backward) and not unsure_backward,
            forward=bool(rule.forward) and not unsure_forward,
        )

    def _padded(self, node: Node, branches: list[Node], dropped: list[Node], size: int) -> list[Node]:
        """``branches`` of an allOf made up to ``size`` with empty ones (its dropped ones first)."""
        pads = [*dropped, *(_true(node.at("allOf"), node.docs) for _ in range(size))]
        return [*branches, *pads[: max(0, size - len(branches))]]

    def _switched(
        self,
        old: Node,
        new: Node,
        keywords: tuple[str, str],
        pairs: Mapping[tuple[int, int], list[Change]],
        unproven: bool,
        note: str,
    ) -> None:
        """``allOf`` <-> ``anyOf``, judged by what each accepts, not by how many branches.

        Data written under ``allOf: [W...]`` is valid under ``anyOf: [R...]`` if one ``W`` fits in
        one ``R`` (the conjunction is inside each of its branches, each ``R`` inside the
        disjunction); data written under ``anyOf: [W...]`` is valid under ``allOf: [R...]`` if every
        ``W`` fits in every ``R``. Pair verdicts come from comparing the branches one to one.
        """
        old_kw, new_kw = keywords
        sizes = {i for i, _ in pairs}, {j for _, j in pairs}

        def holds(writer: str, fits: set[tuple[int, int]], writers: set[int], readers: set[int]) -> bool:
            if writer == "allOf":  # the reader is anyOf
                return bool(fits)
            return all((w, r) in fits for w in writers for r in readers)

        back_fits = {(i, j) for (i, j), changes in pairs.items() if all_backward(changes)}
        fore_fits = {(j, i) for (i, j), changes in pairs.items() if all_forward(changes)}
        backward = holds(old_kw, back_fits, sizes[0], sizes[1]) and not unproven
        forward = holds(new_kw, fore_fits, sizes[1], sizes[0]) and not unproven
        kind = "combined_type_extended" if backward else "combined_type_changed"
        self._emit(kind, old, new, new_kw, f"{old_kw} -> {new_kw}{note}", backward=backward, forward=forward)

    def _combinator_added(self, old: Node, new: Node, keyword: str) -> None:
        # Distribute: the old schema plus one branch's constraints, per branch.
        base = old.without(*_COMBINATORS)
        branches = self._branch_nodes(new, keyword)
        results = [self.sub(base, _overlay(base, branch)) for branch in branches]
        backward_each = [all_backward(r) for r in results]
        forward_each = [all_forward(r) for r in results]
        overlap = keyword == "oneOf" and not self.disjoint(branches)
        if keyword == "allOf":
            kind, backward, forward = "product_type_added", all(backward_each), any(forward_each)
        else:
            kind, backward, forward = "sum_type_added", any(backward_each) and not overlap, all(forward_each)
        inexact = _inexact_overlay(old, new, base, branches)
        if inexact:
            backward = forward = False
        self._emit(
            kind,
            old,
            new,
            keyword,
            f"{keyword} added with {len(results)} branch(es){_overlap_note(overlap, False)}{inexact}",
            backward=backward,
            forward=forward,
        )

    def _combinator_removed(self, old: Node, new: Node, keyword: str) -> None:
        base = new.without(*_COMBINATORS)
        branches = self._branch_nodes(old, keyword)
        results = [self.sub(_overlay(base, branch), base) for branch in branches]
        backward_each = [all_backward(r) for r in results]
        forward_each = [all_forward(r) for r in results]
        overlap = keyword == "oneOf" and not self.disjoint(branches)
        if keyword == "allOf":
            kind, backward, forward = "product_type_removed", any(backward_each), all(forward_each)
        else:
            kind, backward, forward = "sum_type_removed", all(backward_each), any(forward_each) and not overlap
        inexact = _inexact_overlay(old, new, base, branches)
        if inexact:
            backward = forward = False
        self._emit(
            kind,
            old,
            new,
            keyword,
            f"{keyword} removed{_overlap_note(False, overlap)}{inexact}",
            backward=backward,
            forward=forward,
        )

    def disjoint(self, branches: list[Node]) -> bool:
        """Whether no value can match two of ``branches`` (so ``oneOf`` acts as ``anyOf``).

        Provably disjoint only: distinct types, disjoint ``enum``/``const`` values, or objects
        that both require a property whose values or types are disjoint (a discriminator).
        """
        return all(self._apart(a, b) for index, a in enumerate(branches) for b in branches[index + 1 :])

    def _apart(self, a: Node, b: Node) -> bool:
        common = self.types_of(a) & self.types_of(b)
        if not common or _values_apart(a, b):
            return True
        if not common <= {"object"}:
            return False
        for name in set(_name_list(a.get("required"))) & set(_name_list(b.get("required"))):
            left, right = self.child(a, "properties", name), self.child(b, "properties", name)
            if not (self.types_of(left) & self.types_of(right)) or _values_apart(left, right):
                return True
        return False

    def _not(self, old: Node, new: Node) -> None:
        if old.has("not") and new.has("not"):
            inner = self.sub(self.child(old, "not"), self.child(new, "not"))
            if all(c.cosmetic for c in inner):
                self.sink.extend(inner)
                return
            # The new schema rejects what its `not` matches: it accepts old data when the new
            # `not` matches less, i.e. when the inner change is compatible the other way.
            backward, forward = all_forward(inner), all_backward(inner)
            kind = "not_type_narrowed" if backward else "not_type_extended"
            self._emit(kind, old, new, "not", "the schema under not changed", backward=backward, forward=forward)
        elif old.has("not") or new.has("not"):
            kind = "not_type_added" if new.has("not") else "not_type_removed"
            self._emit(kind, old, new, "not", kind.replace("_type_", " ").replace("_", " "))

    def _conditional(self, old: Node, new: Node) -> None:
        if old.has("if") and new.has("if"):
            inner = self.sub(self.child(old, "if"), self.child(new, "if"))
            if not all(c.cosmetic for c in inner):
                self._emit("conditional_changed", old, new, "if", "the if of if/then/else changed")
                return
            self.sink.extend(inner)
            for keyword in ("then", "else"):
                if old.has(keyword) or new.has(keyword):
                    self.diff(self.child(old, keyword), self.child(new, keyword))
        elif (old.has("if") and (old.has("then") or old.has("else"))) or (
            new.has("if") and (new.has("then") or new.has("else"))
        ):
            kind = "conditional_added" if new.has("if") else "conditional_removed"
            self._emit(kind, old, new, "if", f"if/then/else {'added' if new.has('if') else 'removed'}")


def _values_apart(a: Node, b: Node) -> bool:
    left, right = _allowed_values(a), _allowed_values(b)
    return left is not None and right is not None and not (left & right)


def _overlap_note(new_side: bool, old_side: bool) -> str:
    if not (new_side or old_side):
        return ""
    side = "new and old" if new_side and old_side else "new" if new_side else "old"
    return f" (the {side} oneOf branches may overlap: a value matching two is rejected)"


# A keyword that reads siblings -> the siblings it reads, when one of them keeps it from
# applying: beside the base's, a branch's keyword would exempt more (``additionalProperties``,
# ``items``) or count differently (``contains`` with ``minContains: 0`` passes always).
_LOOSENED_BY = {
    "additionalProperties": ("properties", "patternProperties"),
    "items": ("prefixItems",),
    "contains": ("minContains", "maxContains"),
}


def _inexact_overlay(old: Node, new: Node, base: Node, branches: list[Node]) -> str:
    """Why ``_overlay`` may not stand for "base and branch" here (a note for the message), or "".

    A combinator added or removed is judged branch by branch: ``base`` with the branch's keywords
    on top (``O``) against ``base``. Every verdict that can come out compatible rests on "all of
    ``base`` is in ``O``", which must imply "all of ``base`` is in the branch": it does while the
    branch's keywords assert in ``O`` at least what they assert alone. A base keyword the branch
    replaces, or a base keyword reading the branch's siblings, only changes the base side, which
    is fine. Not so when a branch keyword would read the base's siblings and be loosened by them
    (``_LOOSENED_BY``), or when ``unevaluated*`` is in play (in a branch; on either schema or
    around it, ``outer``: it sees what every branch evaluates, not one at a time). Then neither
    direction is proven and both are judged breaking (``allOf`` of one branch is merged exactly
    by ``_flattened`` before this, where it can be).
    """
    if _unevaluated_around(old, new):
        return " (unevaluated* sees what every branch evaluates: not judged branch by branch)"
    own = {key for key in base.keywords if key in _VALIDATION}
    for branch in branches:
        theirs = {key for key in branch.keywords if key in _VALIDATION}
        if theirs & _UNEVALUATED:
            return " (a branch has its own unevaluated*: not judged branch by branch)"
        for reader, read in _LOOSENED_BY.items():
            if reader in theirs and any(key in own and key not in theirs for key in read):
                return f" (a branch's {reader} would read the siblings' {'/'.join(read)}: not judged branch by branch)"
    return ""


def _overlay(base: Node, branch: Node) -> Node:
    """``base`` with a branch's keywords on top (the branch wins where both constrain)."""
    if branch.boolean is False:
        return branch
    entries = {spot: e for spot, e in base.entries.items() if spot[0] not in branch.keywords} | dict(branch.entries)
    keywords = {**base.keywords, **branch.keywords}
    return Node(branch.loc, keywords, None, branch.target, branch.docs, base.outer, entries)


def _criterion_ok(writer: str, reader: str, writer_single: bool, reader_single: bool) -> bool:
    """Whether data valid under ``writer``'s combinator is valid under ``reader``'s (registry rule)."""
    if writer == reader or reader == "anyOf":
        return True
    if reader == "oneOf":
        return writer_single
    return writer_single and reader_single


def _matching(pairs: Mapping[tuple[int, int], list[Change]], ok: Callable[[list[Change]], bool]) -> int:
    """Size of a maximum matching over the compatible (old, new) branch pairs (Kuhn's algorithm)."""
    edges: dict[int, list[int]] = {}
    for (i, j), changes in pairs.items():
        if ok(changes):
            edges.setdefault(i, []).append(j)
    owner: dict[int, int] = {}

    def augment(i: int, visited: set[int]) -> bool:
        for j in edges.get(i, ()):
            if j in visited:
                continue
            visited.add(j)
            if j not in owner or augment(owner[j], visited):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in edges)


def _report_pairs(pairs: Mapping[tuple[int, int], list[Change]]) -> list[tuple[int, int]]:
    """Pair each branch with its closest counterpart (fewest changes) to report what changed inside."""
    chosen: list[tuple[int, int]] = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for (i, j), changes in sorted(pairs.items(), key=lambda item: (len(item[1]), item[0])):
        if i in used_old or j in used_new:
            continue
        if changes and not (all_backward(changes) or all_forward(changes)):
            continue  # unrelated branches: what differs inside them is noise
        chosen.append((i, j))
        used_old.add(i)
        used_new.add(j)
    return sorted(chosen)
