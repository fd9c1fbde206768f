"""The one YAML loader for everything the sentinel reads: catalogs, settings files, replay jobs.

PyYAML's ``safe_load`` builds no Python objects beyond plain data, but it still expands
aliases: nine nested aliases of nine items each make a "billion laughs" document of a few
hundred bytes that takes gigabytes to build (and every later walk expands it again). None of
our files needs aliases (``*name``, also behind ``<<:`` merge keys), so they are refused
outright, as are duplicate keys, which YAML itself resolves silently to the last one.
"""

from __future__ import annotations

from typing import Any

import yaml


class AliasRefused(yaml.MarkedYAMLError):
    """A YAML alias: refused, because a few of them nested expand exponentially."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases and duplicate keys."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Refuse an alias before PyYAML composes (and later expands) it."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise AliasRefused(None, None, "aliases (*name) are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Refuse a key that appears twice in one mapping."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(text: str | bytes) -> Any:
    """Plain data from YAML text; raises ``yaml.YAMLError`` (``AliasRefused`` for an alias)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader
