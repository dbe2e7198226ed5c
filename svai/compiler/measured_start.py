"""Measured cold-start components in place of the catalogued ones, on the hardware they match.

The recommender predicts a GPU cold start from components named as the runtime logs them
(:mod:`svai.runtime.engines`): ``import_torch_s``, ``device_s``, ``weights_s``, ``warmup_s`` and
``fetch_s``, beside the platform's ``node_start_s`` and ``image_pull_s``. ``svai bench`` records
what the served runtime logged (:mod:`svai.compiler.measurements`); on a size with the same GPU
type, memory and count (:func:`~svai.compiler.hardware.same_gpus`, the rule token timings
follow) those figures replace the catalogued ones. Node start and image pull stay catalogued:
they are platform figures a local bench cannot see. Each component then says where it came from,
so the recommendation's cold-start line reads ``weights_s (measured) 0.8 s``.
"""

from __future__ import annotations

from collections.abc import Sequence

from svai.compiler.catalog import Size
from svai.compiler.hardware import describe_gpus, same_gpus
from svai.compiler.needs import MeasuredColdStart

__all__ = ["CATALOGUED", "MEASURED", "measured_components", "not_applied_note"]

MEASURED = " (measured)"
CATALOGUED = " (catalog)"
_REMAINDER = "model load"
"""What the declared or measured load time adds beyond the named components (not re-marked)."""


def measured_components(
    parts: Sequence[tuple[str, float]],
    measured: MeasuredColdStart | None,
    size: Size,
    vram_gb: float | None,
    *,
    load_measured: bool,
) -> tuple[tuple[str, float], ...] | None:
    """``parts`` with the measured components in place of the catalogued, each marked.

    Args:
        parts: The catalogued GPU cold start by component, ``model load`` last.
        measured: What ``svai bench`` recorded, if anything.
        size: The size the cold start is for.
        vram_gb: Memory of each of its GPUs.
        load_measured: Whether ``model load`` rests on a measured load time: the bench's load
            time already holds the engine's components, so only what it adds beyond them stays.

    Returns:
        The marked components, or ``None`` when no measurement applies to ``size``.
    """
    if measured is None or not measured.components:
        return None
    if not same_gpus(measured.hardware, size, vram_gb):
        return None
    found = dict(measured.components)
    engine_s = sum(s for name, s in measured.components if name != "fetch_s")
    out: list[tuple[str, float]] = []
    for name, seconds in parts:
        if name == _REMAINDER:
            out.append((name, max(0.0, seconds - engine_s) if load_measured else seconds))
        elif name in found:
            out.append((name + MEASURED, found[name]))
        else:
            out.append((name + CATALOGUED, seconds))
    return tuple(out)


def not_applied_note(
    measured: MeasuredColdStart | None,
    components: Sequence[tuple[str, float]],
    size: Size,
    vram_gb: float | None,
) -> str | None:
    """Say so when measured components exist but ``components`` are the catalogued ones."""
    if measured is None or not measured.components:
        return None
    if any(name.endswith(MEASURED) for name, _ in components):
        return None
    where = measured.hardware.describe() if measured.hardware else "unrecorded hardware"
    there = (
        describe_gpus(size.gpu, size.gpu_count, vram_gb)
        if size.gpu is not None
        else f"{size.vcpu:g} vCPU without a GPU"
    )
    names = ", ".join(name for name, _ in measured.components)
    return (
        f"cold-start components measured by svai bench on {where} ({names}) do not apply to "
        f"{there}; the catalogued components are used there"
    )
