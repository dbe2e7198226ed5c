"""The measurements file (``.svai/measurements.json``): its format, its key and its validation.

``svai bench`` writes one JSON object: what it measured on the built artifact (``load_time_s``,
``p50_s``/``p95_s``/``p99_s``, ``mean_s``, ``memory_bytes``, ``artifact_bytes``, ...), the
``model_version`` it was built as, and the key it applies under::

    "measurement_key": "m-<12 hex>"   the artifact's content, hooks and serving config
                                      (:func:`svai.compiler.version.measurement_key`): the
                                      version less the declared figures, so a ``model.memory``
                                      change keeps the measurements
    "hardware": {...}                 the machine they were taken on (platform, architecture,
                                      CPU count, Python; ``gpu``: {name, vram_gb, count} when
                                      measured on GPUs)

A text-generation model also carries its warm token timings, streamed from its server by
``svai bench`` (:mod:`svai.build.token_bench`): ``ttft_s`` (median, at the ``prompt_tokens`` the
server counted) and ``tpot_s`` (median time per output token), all three or none, each > 0;
shown beside them, ``output_tokens`` and ``token_requests`` (medians and count), and
``ttft_p95_s`` / ``itl_p95_s`` (inter-chunk time) where 20 values or more gave a p95. They
replace the catalogued card figures only on sizes with the same GPU type, memory and count
(:mod:`svai.compiler.hardware`): timings taken without a GPU replace none.

``cold_start`` holds the load components the served runtime logged (``import_torch_s``,
``device_s``, ``weights_s``, ``warmup_s``; ``fetch_s`` when the model was fetched at start), in
seconds. They replace the catalogued GPU cold-start components on the same GPUs, as token
timings do.

The recommender uses the figures while the key matches the spec's, and flags a size whose
hardware differs from the measuring machine's. The file is user-editable,
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

from svai.compiler.hardware import MeasuredHardware
from svai.compiler.needs import MeasuredColdStart, MeasuredTokens, Measurements
from svai.diagnostics import Diagnostic
from svai.errors import SpecError

__all__ = [
    "COLD_START_COMPONENTS",
    "SCHEMA_VERSION",
    "hardware",
    "load_measurements",
    "measurements_document",
]

SCHEMA_VERSION = 2
_CODE = "invalid-measurements"
# Figures the recommender reads, and the ones it only shows: all must be finite and >= 0.
_USED = ("load_time_s", "mean_s", "memory_bytes", "artifact_bytes")
_TOKENS = ("ttft_s", "tpot_s", "prompt_tokens")
_TOKENS_SHOWN = ("ttft_p95_s", "itl_p95_s", "output_tokens", "token_requests")
_FIGURES = (
    "p50_s", "p95_s", "p99_s", "requests", "payloads", "package_bytes", *_USED, *_TOKENS,
    *_TOKENS_SHOWN,
)  # fmt: skip
COLD_START_COMPONENTS = ("import_torch_s", "device_s", "weights_s", "warmup_s", "fetch_s")
"""The cold-start components the runtime logs at load, as the recommender names them."""
_WHOLE = (
    "memory_bytes",
    "artifact_bytes",
    "package_bytes",
    "requests",
    "payloads",
    "prompt_tokens",
    "output_tokens",
    "token_requests",
)


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
    machine = _hardware(data.get("hardware"))
    tokens = None
    if all(name in data for name in _TOKENS):
        tokens = MeasuredTokens(
            ttft_s=float(data["ttft_s"]),
            tpot_s=float(data["tpot_s"]),
            prompt_tokens=int(data["prompt_tokens"]),
            hardware=machine,
        )
    cold_start = None
    if data.get("cold_start"):
        found = data["cold_start"]
        cold_start = MeasuredColdStart(
            components=tuple(
                (name, float(found[name])) for name in COLD_START_COMPONENTS if name in found
            ),
            hardware=machine,
        )
    return Measurements(
        artifact_bytes=int(data["artifact_bytes"]),
        load_time_s=float(data["load_time_s"]),
        # The queueing model wants the mean service time.
        inference_time_s=float(data["mean_s"]),
        # The measured p99 stays in the file but is not passed on: the recommender scales the
        # mean for fractional vCPUs but not the p99, and then rejects p99 < mean.
        inference_p99_s=None,
        memory_bytes=int(data["memory_bytes"]),
        hardware=machine,
        tokens=tokens,
        cold_start=cold_start,
    )


def _hardware(found: Any) -> MeasuredHardware | None:
    """The validated ``hardware`` object as the recommender compares it (``None``: absent)."""
    if not isinstance(found, dict) or not isinstance(found.get("machine"), str):
        return None
    gpu = found.get("gpu")
    cpus = found.get("cpu_count")
    return MeasuredHardware(
        machine=found["machine"],
        cpu_count=cpus if isinstance(cpus, int) else None,
        gpu=gpu["name"] if gpu else None,
        gpu_vram_gb=float(gpu["vram_gb"]) if gpu else None,
        gpu_count=int(gpu["count"]) if gpu else 0,
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
        problem = _figure_problem(path, text, name, data[name], whole=name in _WHOLE)
        if problem is not None:
            problems.append(problem)
    present = [name for name in _TOKENS if name in data]
    if present and len(present) != len(_TOKENS):
        missing = ", ".join(n for n in _TOKENS if n not in data)
        problems.append(_at(path, text, present[0], f"token timings need {missing} too"))
    for name in _TOKENS:  # a zero would be a measurement of nothing (and a division by it)
        if not isinstance(data.get(name), bool) and data.get(name) == 0:
            problems.append(_at(path, text, name, "must be > 0"))
    problems += _cold_start_problems(path, text, data.get("cold_start"))
    problems += _hardware_problems(path, text, data.get("hardware"))
    if problems:
        raise SpecError(problems)
    return data


def _cold_start_problems(path: Path, text: str, found: Any) -> list[Diagnostic]:
    """What is wrong with the ``cold_start`` object (absent is fine: nothing was logged)."""
    if found is None:
        return []
    if not isinstance(found, dict):
        return [_at(path, text, "cold_start", "must be an object {component: seconds}")]
    problems = []
    known = ", ".join(COLD_START_COMPONENTS)
    for name, value in found.items():
        if name not in COLD_START_COMPONENTS:
            problems.append(_at(path, text, name, f"unknown cold-start component (one of {known})"))
        elif (problem := _figure_problem(path, text, name, value)) is not None:
            problems.append(problem)
    return problems


def _figure_problem(
    path: Path, text: str, name: str, value: Any, *, whole: bool = False
) -> Diagnostic | None:
    """What is wrong with one figure: not a number, not finite, negative, or not whole."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _at(path, text, name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        return _at(path, text, name, f"must be finite and >= 0, got {value!r}")
    if whole and value != int(value):
        return _at(path, text, name, f"must be a whole number, got {value!r}")
    return None


def _hardware_problems(path: Path, text: str, found: Any) -> list[Diagnostic]:
    """What is wrong with the ``hardware`` object (absent is fine: schema 1 files lack it)."""
    if found is None:
        return []
    if not isinstance(found, dict):
        return [_at(path, text, "hardware", "must be an object")]
    problems = []
    if not isinstance(found.get("machine", ""), str):
        problems.append(_at(path, text, "machine", "must be a string (x86_64, arm64)"))
    cpus = found.get("cpu_count")
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1):
        problems.append(_at(path, text, "cpu_count", f"must be a whole number >= 1, got {cpus!r}"))
    gpu = found.get("gpu")
    if gpu is None:
        return problems
    if not isinstance(gpu, dict):
        return [*problems, _at(path, text, "gpu", "must be an object {name, vram_gb, count}")]
    if not isinstance(gpu.get("name"), str) or not gpu["name"]:
        problems.append(_at(path, text, "gpu", "needs a name (the GPU type, e.g. H100)"))
    vram = gpu.get("vram_gb")
    if isinstance(vram, bool) or not isinstance(vram, int | float) or not 0 < vram < math.inf:
        problems.append(_at(path, text, "vram_gb", f"must be a number > 0, got {vram!r}"))
    count = gpu.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        problems.append(_at(path, text, "count", f"must be a whole number >= 1, got {count!r}"))
    return problems


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
