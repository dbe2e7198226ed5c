"""Drift features checked against the request schema: a path the schema cannot hold is a typo.

``observability.drift.features`` name fields of the request body by dotted path. When the spec
has an ``api.input_schema``, each path is walked through it (``properties`` for names, ``items``
for ``*`` and indexes); a name the schema's ``properties`` do not list is refused at the line
of the feature, with the names it does list. Where the schema says nothing (no ``properties``,
or the file is unreadable, which the build reports), the path is accepted.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from svai.spec.model import Spec
from svai.spec.paths import project_file

__all__ = ["unknown_features"]


def unknown_features(spec: Spec, project: Path) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield ``(key path in svai.yaml, message)`` for each drift feature the input schema lacks.

    Args:
        spec: The validated spec.
        project: The folder of ``svai.yaml``.
    """
    drift, relative = spec.observability.drift, spec.api.input_schema
    if not drift.features or relative is None:
        return
    try:
        schema = json.loads(project_file(project, relative, "api.input_schema").read_text("utf-8"))
    except (OSError, ValueError):  # UsageError is a ValueError: the build names the problem
        return
    for index, path in enumerate(drift.features):
        problem = _walk(schema, path)
        if problem is not None:
            yield ("observability", "drift", "features", index), problem


def _walk(schema: Any, path: str) -> str | None:
    node = schema
    for depth, segment in enumerate(path.split(".")):
        if not isinstance(node, dict):
            return None
        if segment == "*" or segment.isdigit():
            node = node.get("items")
            continue
        properties = node.get("properties")
        if not isinstance(properties, dict):
            return None
        if segment not in properties:
            where = ".".join(path.split(".")[:depth]) or "the request body"
            known = sorted(str(k) for k in properties)
            close = difflib.get_close_matches(segment, known, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            return (
                f"feature `{path}`: api.input_schema has no `{segment}` in {where} "
                f"(it has {', '.join(known) or 'no fields'}){hint}"
            )
        node = properties[segment]
    return None
