"""The spec's scalar types: values with units (durations, sizes) and shaped strings."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from svai.spec.units import DURATION_PATTERN, SIZE_PATTERN, parse_duration, parse_size, quote

__all__ = [
    "REL_PATH_PATTERN",
    "Duration",
    "EntryPoint",
    "Fraction",
    "Framework",
    "Name",
    "Rate",
    "RelPath",
    "Requirement",
    "RuntimeKind",
    "Size",
    "check_rel_path",
]


def _unit_checker(kind: str, parse: Any, example: str) -> Any:
    def check(value: object) -> object:
        if isinstance(value, bool) or value is None:
            return value  # let the str validator report the wrong type
        if isinstance(value, int | float):
            raise ValueError(
                f"a bare number is ambiguous for a {kind}; write it with a unit, e.g. "
                f"{example.format(value=value)}"
            )
        if isinstance(value, str):
            parse(value)
        return value

    return check


Duration = Annotated[
    str,
    BeforeValidator(_unit_checker("duration", parse_duration, "`{value}ms` or `{value}s`")),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["250ms", "30s", "10m", "7d"]}
    ),
]
"""A duration with its unit: ``250ms``, ``30s``, ``10m``, ``2h``, ``7d``."""

Size = Annotated[
    str,
    BeforeValidator(_unit_checker("size", parse_size, "`{value}MB` or `{value}MiB`")),
    WithJsonSchema(
        {"type": "string", "pattern": SIZE_PATTERN, "examples": ["256KB", "512MiB", "2GB", "16Gi"]}
    ),
]
"""A size with its unit: ``256KB``, ``512MiB``, ``2GB``, ``16Gi`` (KB decimal, KiB binary)."""

_REL_PATH_RE = re.compile(r"^(?!/)(?![A-Za-z]:)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_.\-/]{1,255}$")
REL_PATH_PATTERN = _REL_PATH_RE.pattern


def check_rel_path(value: object) -> object:
    """Refuse a path that is absolute, climbs out with ``..`` or has odd characters.

    Raises:
        ValueError: with what is wrong and the accepted form.
    """
    if isinstance(value, str) and not _REL_PATH_RE.fullmatch(value):
        if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
            raise ValueError(
                f"{quote(value)} is absolute; paths are relative to the svai.yaml folder"
            )
        if ".." in value.split("/"):
            raise ValueError(f"{quote(value)} climbs out of the project folder with `..`")
        raise ValueError(
            f"{quote(value)} is not a plain relative path (letters, digits, `_ . - /`, at most 255)"
        )
    return value


RelPath = Annotated[
    str,
    BeforeValidator(check_rel_path),
    WithJsonSchema({"type": "string", "pattern": REL_PATH_PATTERN}),
]
"""A path relative to the folder of ``svai.yaml``; it may not be absolute or climb out with ``..``."""

_ENTRY_RE = re.compile(
    r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_.\-/]{1,200}\.py:[A-Za-z_][A-Za-z0-9_]{0,79}$"
)


def _check_entry(value: object) -> object:
    if isinstance(value, str) and not _ENTRY_RE.fullmatch(value):
        raise ValueError(
            f"{quote(value)} is not an entry point; write `relative/path.py:function` "
            "(no absolute paths, no `..`)"
        )
    return value


EntryPoint = Annotated[
    str,
    BeforeValidator(_check_entry),
    WithJsonSchema(
        {"type": "string", "pattern": _ENTRY_RE.pattern, "examples": ["src/pre.py:prepare"]}
    ),
]
"""A Python function in the project: ``src/pre.py:prepare``."""

_REQUIREMENT_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?)"
    r"(?:\[[A-Za-z0-9._,-]{1,100}\])?==(?P<version>[A-Za-z0-9.!+_-]{1,64})$"
)


def _check_requirement(value: object) -> object:
    if isinstance(value, str) and not _REQUIREMENT_RE.fullmatch(value.strip()):
        raise ValueError(
            f"{quote(value)} is not a pinned requirement; write `name==version` "
            "(`pip show NAME` gives the installed version), so every build installs the same code"
        )
    return value.strip() if isinstance(value, str) else value


Requirement = Annotated[
    str,
    BeforeValidator(_check_requirement),
    WithJsonSchema(
        {"type": "string", "pattern": _REQUIREMENT_RE.pattern, "examples": ["tokenizers==0.21.1"]}
    ),
]
"""A Python package pinned to one version: ``name==version`` (extras allowed: ``name[x]==1.0``)."""

Name = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$", examples=["sentiment", "doc-embed"])
]

RuntimeKind = Literal["auto", "faas", "container", "endpoint"]
Framework = Literal[
    "onnx", "sklearn", "xgboost", "lightgbm", "catboost", "pytorch", "transformers", "custom"
]
Rate = Annotated[float, Field(ge=0, le=1_000_000)]
Fraction = Annotated[float, Field(ge=0, le=1)]
