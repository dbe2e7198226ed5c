"""The measurements file (``.svai/measurements.json``): its format, its key and its validation.

``svai bench`` writes one JSON object: what it measured on the built artifact (``load_time_s``,
``p50_s``/``p95_s``/``p99_s``, ``mean_s``, ``memory_bytes``, ``artifact_bytes``, ...), the
``model_version`` it was built as, and the key it applies under::

    "measurement_key": "m-<12 hex>"   the artifact's content, hooks and serving config
                                      (:func:`svai.compiler.version.measurement_key`): the
                                      version less the declared figures, so a ``model.memory``
                                      change keeps the measurements
    "hardware": {...}                 the machine they were taken on (platform, architecture,
                                      CPU count, Python)

The recommender uses the figures while the key matches the spec's. The file is user-editable,
so it is validated like the spec: a problem is a :class:`~svai.errors.SpecError` with the file,
line and column (exit 2, no traceback); NaN, infinities and negative figures are refused.
Files of schema 1 (keyed by the whole version) are still read.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svai.compiler.needs import Measurements
from svai.diagnostics import Diagnostic
from svai.errors import SpecError

__all__ = ["SCHEMA_VERSION", "hardware", "load_measurements", "measurements_document"]

SCHEMA_VERSION = 2
_CODE = "invalid-measurements"
# Figures the recommender reads, and the ones it only shows: all must be finite and >= 0.
_USED = ("load_time_s", "mean_s", "memory_bytes", "artifact_bytes")
_FIGURES = ("p50_s", "p95_s", "p99_s", "requests", "payloads", "package_bytes", *_USED)
_WHOLE = ("memory_bytes", "artifact_bytes", "package_bytes", "requests", "payloads")


def hardware() -> dict[str, Any]:
    """Return the machine the measurements are taken on (part of their key, shown to people)."""
    return {
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def measurements_document(
    figures: Mapping[str, Any], key: str, machine: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the JSON object ``svai bench`` writes: ``figures`` with the key and the hardware."""
    return {
        "schema_version": SCHEMA_VERSION,
        **figures,
        "measurement_key": key,
        "hardware": dict(machine),
    }


def load_measurements(path: Path, key: str, version: str) -> Measurements | None:
    """Return the figures in ``path`` when they apply to the spec, else ``None``.

    Args:
        path: The measurements file.
        key: The spec's :func:`~svai.compiler.version.measurement_key`.
        version: The spec's model version (what schema-1 files are keyed by).

    Returns:
        The measurements, or ``None`` when they were taken on another artifact.

    Raises:
        SpecError: the file is not valid (every problem, located).
    """
    text = path.read_text(encoding="utf-8")
    data = _parse(path, text)
    if data.get("schema_version", 1) == 1:
        applies = data.get("model_version") == version
    else:
        applies = data.get("measurement_key") == key
    if not applies:
        return None
    return Measurements(
        artifact_bytes=int(data["artifact_bytes"]),
        load_time_s=float(data["load_time_s"]),
        # The queueing model wants the mean service time.
        inference_time_s=float(data["mean_s"]),
        # The measured p99 stays in the file but is not passed on: the recommender scales the
        # mean for fractional vCPUs but not the p99, and then rejects p99 < mean.
        inference_p99_s=None,
        memory_bytes=int(data["memory_bytes"]),
    )


def _parse(path: Path, text: str) -> dict[str, Any]:
    def refuse_constant(name: str) -> float:
        raise ValueError(f"{name} is not a number svai accepts")

    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise SpecError(
            [_diag(path, f"not valid JSON: {exc.msg}", exc.lineno, exc.colno, "")]
        ) from None
    except ValueError as exc:
        line, col = _locate_token(text, r"\b(NaN|-?Infinity)\b")
        raise SpecError([_diag(path, str(exc), line, col, "")]) from None
    if not isinstance(data, dict):
        raise SpecError([_diag(path, "must hold one JSON object", 1, 1, "")])
    problems: list[Diagnostic] = []
    schema = data.get("schema_version", 1)
    if schema not in (1, SCHEMA_VERSION):
        problems.append(_at(path, text, "schema_version", f"unknown schema {schema!r}"))
    if schema == SCHEMA_VERSION and not isinstance(data.get("measurement_key"), str):
        problems.append(_at(path, text, "measurement_key", "missing (a string `m-...`)"))
    for name in _FIGURES:
        if name not in data:
            if name in _USED:
                problems.append(_at(path, text, name, "missing"))
            continue
        value = data[name]
        whole = name in _WHOLE
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(_at(path, text, name, f"must be a number, got {value!r}"))
        elif not math.isfinite(value) or value < 0:
            problems.append(_at(path, text, name, f"must be finite and >= 0, got {value!r}"))
        elif whole and value != int(value):
            problems.append(_at(path, text, name, f"must be a whole number, got {value!r}"))
    if problems:
        raise SpecError(problems)
    return data


def _at(path: Path, text: str, name: str, message: str) -> Diagnostic:
    line, col = _locate_token(text, rf'"{re.escape(name)}"\s*:')
    return _diag(path, message, line, col, name)


def _diag(path: Path, message: str, line: int, col: int, where: str) -> Diagnostic:
    return Diagnostic(
        _CODE,
        message,
        file=str(path),
        line=line,
        col=col,
        path=where,
        hint="run `svai bench` again to rewrite the file, or delete it",
    )


def _locate_token(text: str, pattern: str) -> tuple[int, int]:
    """1-based line and column of the first match of ``pattern``; (0, 0) when absent."""
    match = re.search(pattern, text)
    if match is None:
        return 0, 0
    before = text[: match.start()]
    line = before.count("\n") + 1
    return line, match.start() - (before.rfind("\n") + 1) + 1
