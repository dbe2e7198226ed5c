"""The cold-start components a served runtime logs at load, read back from its log.

The engines (:mod:`svai.runtime.engines`) log one JSON line per load step: ``engine loaded``
with ``import_torch_s``, ``device_s`` and ``weights_s``, ``engine warm`` with ``warmup_s``; the
server logs ``model fetched`` with ``seconds`` when the weights are fetched at start. ``svai
bench`` reads them here so the recommender can use what was measured in place of the catalogued
components (:mod:`svai.compiler.measured_start`).
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeGuard

from svai.compiler.measurements import COLD_START_COMPONENTS

__all__ = ["cold_start_components", "logged_gpu"]

# Log message -> (field in the line, component name), in the order the runtime logs them.
_FIELDS = {
    "model fetched": (("seconds", "fetch_s"),),
    "engine loaded": (
        ("import_torch_s", "import_torch_s"),
        ("device_s", "device_s"),
        ("weights_s", "weights_s"),
    ),
    "engine warm": (("warmup_s", "warmup_s"),),
}


def cold_start_components(log: str) -> dict[str, float]:
    """Return the components of the first load in ``log`` (component name -> seconds).

    Lines that are not the runtime's JSON events are skipped (the engine's libraries print
    too); a component logged twice (a reload) keeps its first, cold, figure.

    Args:
        log: What the runtime wrote to stdout and stderr.

    Returns:
        The components found, in the recommender's order; empty when none was logged.
    """
    found: dict[str, float] = {}
    for line in log.splitlines():
        record = _event(line)
        fields = _FIELDS.get(str(record.get("message")), ())
        for field, name in fields:
            value = record.get(field)
            if name in found or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value) and value >= 0:
                found[name] = float(value)
    return {name: found[name] for name in COLD_START_COMPONENTS if name in found}


def logged_gpu(log: str) -> tuple[str, int, int] | None:
    """The GPU the engine loaded onto: torch's name for it, its memory in bytes, how many.

    ``None`` when the engine ran without one (``SVAI_ENGINE_DEVICE=cpu``) or did not say.
    """
    for line in log.splitlines():
        record = _event(line)
        if record.get("message") != "engine loaded":
            continue
        name, memory, count = (record.get(k) for k in ("gpu", "gpu_memory_bytes", "gpu_count"))
        if not isinstance(name, str) or not name or not _whole(memory) or not _whole(count):
            return None
        return name, memory, count
    return None


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _event(line: str) -> dict[str, Any]:
    line = line.strip()
    if not line.startswith("{"):
        return {}
    try:
        record = json.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
