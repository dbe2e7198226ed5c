"""Edits the rule tests make to recorded inputs, one rule's mutant at a time."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
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


def record_once_under_mutmut(recorded: Callable[[str], object], keys: Iterable[str]) -> None:
    """Under ``make mutate``, record the base stacks while the test module is imported.

    ``recorded`` is a cached recording per base. mutmut imports the test modules once in the
    process it forks each mutant's run from, so recordings made at import are inherited by every
    mutant (the rule mutants cannot change them); left to the tests, each mutant would record them
    again, several seconds where its rule tests take under one. Outside mutmut nothing happens.
    """
    if "MUTANT_UNDER_TEST" in os.environ:  # set by mutmut in every process it runs tests in
        for key in keys:
            recorded(key)
