"""Edits the rule tests make to recorded inputs, one rule's mutant at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DELETE = object()
"""A :func:`set_path` value that removes the key (or list item) instead of setting it."""


def set_path(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Return an edit that sets the dotted ``path`` (``a.0.b``) of recorded inputs to ``value``."""

    def change(inputs: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = inputs
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        slot: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[slot]
        else:
            node[slot] = value

    return change
