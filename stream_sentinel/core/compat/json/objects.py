"""Object keywords: ``properties``, ``required``, ``additionalProperties``, ``patternProperties``, dependencies."""

from __future__ import annotations

from stream_sentinel.core.compat.json.base import _state
from stream_sentinel.core.compat.json.evaluation import Evaluation
from stream_sentinel.core.compat.json.nodes import Node, _matching_names, _name_list, _true, _unevaluated_around
from stream_sentinel.core.compat.model import all_backward, all_forward


class ObjectRules(Evaluation):
    """The object keywords of the walk."""

    # -- objects ----------------------------------------------------------------------------

    def _object(self, old: Node, new: Node) -> None:
        old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
        old_req, new_req = set(_name_list(old.get("required"))), set(_name_list(new.get("required")))
        for name in [*old_props, *(n for n in new_props if n not in old_props)]:
            if name in old_props and name in new_props:
                self.diff(self.child(old, "properties", name), self.child(new, "properties", name))
            elif name in new_props:
                self._property_added(old, new, name, old_req, new_req)
            else:
                self._property_removed(old, new, name, old_req, new_req)
        for name in sorted(old_req ^ new_req):
            if (name in old_props) != (name in new_props):
                continue  # judged with the property itself
            self._required(old, new, name, name in new_req)
        self._content_keyword(old, new, "additionalProperties", "additional_properties", "properties not listed")
        if old.has("additionalProperties") != new.has("additionalProperties") and _unevaluated_around(old, new):
            # Without additionalProperties, a name no keyword evaluates is left to an
            # unevaluatedProperties here or around the branch, not open: judged that way too (the
            # open reading above stays for the names something else evaluates), so both count.
            before = (
                self.child(old, "additionalProperties") if old.has("additionalProperties") else self.unlisted(old, None)
            )
            after = (
                self.child(new, "additionalProperties") if new.has("additionalProperties") else self.unlisted(new, None)
            )
            if _state(before) != "open" or _state(after) != "open":
                self._content_model(
                    old, new, before, after, "additionalProperties", "additional_properties", "properties not evaluated"
                )
        # Beside additionalProperties every name is evaluated, so unevaluatedProperties never
        # applies: compared as absent there (``{"unevaluatedProperties": false}`` gaining
        # ``"additionalProperties": {...}`` is no longer closed).
        old_view, new_view = (
            node.without("unevaluatedProperties") if node.has("additionalProperties") else node for node in (old, new)
        )
        self._content_keyword(
            old_view, new_view, "unevaluatedProperties", "unevaluated_properties", "properties not listed"
        )
        self._pattern_properties(old, new)
        self._dependencies(old, new)
        if old.has("propertyNames") or new.has("propertyNames"):
            self.diff(self.child(old, "propertyNames"), self.child(new, "propertyNames"))

    def _required(self, old: Node, new: Node, name: str, now_required: bool) -> None:
        holder = new if now_required else old
        names = _name_list(holder.get("required"))
        where = holder.at("required", names.index(name)).where
        if now_required:
            has_default = self.child(new, "properties", name).has("default")
            kind = "required_attribute_with_default_added" if has_default else "required_attribute_added"
            self.sink.emit(kind, where, f"{name} is now required")
        else:
            self.sink.emit("required_attribute_removed", where, f"{name} is no longer required", side="old")

    def _property_added(self, old: Node, new: Node, name: str, old_req: set[str], new_req: set[str]) -> None:
        schema = self.child(new, "properties", name)
        treats = self.unlisted_both(old, name)
        model, backward, forward = self.cover_added(treats[0], schema)
        for other in treats[1:]:
            _, other_backward, other_forward = self.cover_added(other, schema)
            backward, forward = backward and other_backward, forward and other_forward
        required = name in new_req and name not in old_req
        has_default = schema.has("default")
        forward = forward and not (name in old_req and name not in new_req)
        where = new.at("properties", name).where
        what = "required" if required else "optional"
        if model == "partial":
            kind = f"property_added_{'is' if backward else 'not'}_covered_by_partially_open_content_model"
            self.sink.emit(kind, where, f"{what} property {name} added", backward=backward, forward=forward)
            if required:
                self._required(old, new, name, now_required=True)
            return
        if model == "closed":
            if required:
                # A default does not help: the sentinel validates what is on the wire, it never
                # fills defaults in, so old data without the property is rejected all the same.
                kind = f"required_property_{'with_default_' if has_default else ''}added_to_unopen_content_model"
                backward = False
            else:
                kind = "optional_property_added_to_unopen_content_model"
            why = "old data never has it" + (", so new readers reject all of it" if required else "")
        elif required:
            kind, backward = "required_property_added_to_open_content_model", False
            why = "old data may lack it or hold any value there"
        else:
            kind = (
                "property_with_empty_schema_added_to_open_content_model"
                if backward
                else "optional_property_added_to_open_content_model"
            )
            why = "any value was allowed there before" + ("" if backward else ", so old data may not match")
        self.sink.emit(
            kind,
            where,
            f"{what} property {name} added to a{' closed' if model == 'closed' else 'n open'} object: {why}",
            backward=backward,
            forward=forward,
        )

    def _property_removed(self, old: Node, new: Node, name: str, old_req: set[str], new_req: set[str]) -> None:
        schema = self.child(old, "properties", name)
        treats = self.unlisted_both(new, name)
        model, backward, forward = self.cover_removed(schema, treats[0])
        for other in treats[1:]:
            _, other_backward, other_forward = self.cover_removed(schema, other)
            backward, forward = backward and other_backward, forward and other_forward
        backward = backward and not (name in new_req and name not in old_req)
        forward = forward and not (name in old_req and name not in new_req)
        if model == "partial":
            kind = f"property_removed_{'is' if backward else 'not'}_covered_by_partially_open_content_model"
        elif model == "closed":
            kind = (
                "property_with_false_removed_from_closed_content_model"
                if schema.boolean is False
                else "property_removed_from_closed_content_model"
            )
        else:
            kind = "property_removed_from_open_content_model"
        required = " (it was required)" if name in old_req else ""
        self.sink.emit(
            kind,
            old.at("properties", name).where,
            f"property {name}{required} removed from a{'n open' if model == 'open' else ' ' + model} object",
            backward=backward,
            forward=forward,
            side="old",
        )

    def _pattern_properties(self, old: Node, new: Node) -> None:
        old_patterns, new_patterns = old.get("patternProperties") or {}, new.get("patternProperties") or {}
        for pattern in [*old_patterns, *(p for p in new_patterns if p not in old_patterns)]:
            if pattern in old_patterns and pattern in new_patterns:
                self.diff(self.child(old, "patternProperties", pattern), self.child(new, "patternProperties", pattern))
            elif pattern in new_patterns:
                schema = self.child(new, "patternProperties", pattern)
                _, backward, forward = self.cover_added(self.unlisted(old, None), schema)
                if self._outer_may_evaluate(old, pattern):  # those names were open to the branch
                    _, open_backward, open_forward = self.cover_added(_true(old.loc, old.docs), schema)
                    backward, forward = backward and open_backward, forward and open_forward
                # A pattern applies to the names `properties` lists too: old data under a listed
                # name that it matches must fit it.
                backward = backward and all(
                    all_backward(self.sub(self._named(old, name), schema)) for name in _matching_names(new, pattern)
                )
                self.sink.emit(
                    "pattern_property_added",
                    new.at("patternProperties", pattern).where,
                    f"patternProperties {pattern!r} added",
                    backward=backward,
                    forward=forward,
                )
            else:
                schema = self.child(old, "patternProperties", pattern)
                _, backward, forward = self.cover_removed(schema, self.unlisted(new, None))
                if self._outer_may_evaluate(new, pattern):
                    _, open_backward, open_forward = self.cover_removed(schema, _true(new.loc, new.docs))
                    backward, forward = backward and open_backward, forward and open_forward
                # ... and new data under a name the old schema listed must fit the pattern it lost.
                forward = forward and all(
                    all_forward(self.sub(schema, self._named(new, name))) for name in _matching_names(old, pattern)
                )
                self.sink.emit(
                    "pattern_property_removed",
                    old.at("patternProperties", pattern).where,
                    f"patternProperties {pattern!r} removed",
                    backward=backward,
                    forward=forward,
                    side="old",
                )

    def _outer_may_evaluate(self, node: Node, pattern: str) -> bool:
        """Whether schemas around a branch may treat some names ``pattern`` matches their own way.

        ``unlisted`` without a name follows ``outer`` to the first ``additionalProperties`` or
        ``unevaluatedProperties`` around; but a name the parent lists (or matches by a pattern, or
        that another in-place sub-schema may evaluate) is not treated so. For those names the
        branch's pattern is a plain constraint on an open name, so callers judge both ways and keep
        the stricter verdict per direction.
        """
        current = node
        while current.outer is not None and not (
            current.has("additionalProperties") or current.has("unevaluatedProperties")
        ):
            parent, keyword, index = current.outer
            if parent.has("patternProperties") or _matching_names(parent, pattern):
                return True
            if self._subschemas_evaluate(parent, (keyword, index), lambda _node, _depth: True):
                return True
            current = parent
        return False

    def _named(self, node: Node, name: str) -> Node:
        """The schema ``node`` gives the property ``name``: listed, or as it treats unlisted names."""
        if name in (node.get("properties") or {}):
            return self.child(node, "properties", name)
        return self.unlisted(node, name)

    def _dependencies(self, old: Node, new: Node) -> None:
        old_arrays, old_schemas = _dependency_entries(old)
        new_arrays, new_schemas = _dependency_entries(new)
        for name in [*old_arrays, *(n for n in new_arrays if n not in old_arrays)]:
            before, after = old_arrays.get(name), new_arrays.get(name)
            if before is not None and after is not None:
                b, a = set(before[0]), set(after[0])
                if a == b:
                    continue
                kind = (
                    "dependency_array_extended"
                    if a > b
                    else "dependency_array_narrowed"
                    if a < b
                    else "dependency_array_changed"
                )
                self.sink.emit(kind, new.at(after[1], name).where, f"{name} depends on {sorted(b)} -> {sorted(a)}")
            elif after is not None:
                self.sink.emit(
                    "dependency_array_added", new.at(after[1], name).where, f"{name} now needs {sorted(after[0])}"
                )
            elif before is not None:
                self.sink.emit(
                    "dependency_array_removed",
                    old.at(before[1], name).where,
                    f"{name} no longer needs {sorted(before[0])}",
                    side="old",
                )
        for name in [*old_schemas, *(n for n in new_schemas if n not in old_schemas)]:
            if name in old_schemas and name in new_schemas:
                self.diff(self.child(old, old_schemas[name], name), self.child(new, new_schemas[name], name))
            elif name in new_schemas:
                self.sink.emit(
                    "dependency_schema_added",
                    new.at(new_schemas[name], name).where,
                    f"dependent schema for {name} added",
                )
            else:
                self.sink.emit(
                    "dependency_schema_removed",
                    old.at(old_schemas[name], name).where,
                    f"dependent schema for {name} removed",
                    side="old",
                )


def _dependency_entries(node: Node) -> tuple[dict[str, tuple[list[str], str]], dict[str, str]]:
    """(name -> (required names, keyword), name -> keyword) from the draft-07 and 2019+ forms."""
    arrays: dict[str, tuple[list[str], str]] = {}
    schemas: dict[str, str] = {}
    for keyword in ("dependencies", "dependentRequired", "dependentSchemas"):
        for name, value in (node.get(keyword) or {}).items():
            if isinstance(value, list):
                arrays[name] = (_name_list(value), keyword)
            else:
                schemas[name] = keyword
    return arrays, schemas
