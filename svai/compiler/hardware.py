"""The hardware measurements were taken on, and whether it is the hardware a size runs on.

``svai bench`` records the machine it measured on (:mod:`svai.compiler.measurements`). A
figure measured on one machine says little about another: onnxruntime spreads one request over
every core, so a latency measured on a 16-core laptop is optimistic for a 2-vCPU function, and
token timings depend on the GPU model, its memory and how many share the weights. The
recommender therefore uses a measured figure as it is only where the hardware matches, and says
so where it does not (:func:`mismatch`); measured token timings replace the catalogued card
figures only on the same GPU type, memory and count (:func:`same_gpus`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from svai.compiler.catalog import Size

__all__ = ["DEPLOYED_MACHINES", "MeasuredHardware", "describe_gpus", "mismatch", "same_gpus"]

DEPLOYED_MACHINES = frozenset({"x86_64", "amd64"})
"""The architecture every svai target runs on (zip wheels and images are built for x86_64)."""


@dataclass(frozen=True, slots=True)
class MeasuredHardware:
    """The machine a measurement was taken on (the ``hardware`` object of the file).

    Attributes:
        machine: The CPU architecture (``x86_64``, ``arm64``).
        cpu_count: CPUs the measuring process could use; ``None`` when not recorded.
        gpu: The GPU type (``H100``), ``None`` when measured without one.
        gpu_vram_gb: Memory of each GPU.
        gpu_count: GPUs the model was spread over.
    """

    machine: str
    cpu_count: int | None = None
    gpu: str | None = None
    gpu_vram_gb: float | None = None
    gpu_count: int = 0

    def describe(self) -> str:
        """One phrase people read: ``x86_64, 16 CPUs, 1× H100 80 GB``."""
        parts = [self.machine]
        if self.cpu_count is not None:
            parts.append(f"{self.cpu_count} CPU{'s' if self.cpu_count != 1 else ''}")
        if self.gpu is not None:
            parts.append(describe_gpus(self.gpu, self.gpu_count, self.gpu_vram_gb))
        return ", ".join(parts)


def describe_gpus(gpu: str, count: int, vram_gb: float | None) -> str:
    """``1× L4 24 GB``."""
    memory = f" {vram_gb:g} GB" if vram_gb is not None else ""
    return f"{count}× {gpu}{memory}"


def same_gpus(measured: MeasuredHardware | None, size: Size, vram_gb: float | None) -> bool:
    """Whether ``measured`` had the GPU type, memory per GPU and count of ``size``."""
    if measured is None or measured.gpu is None or size.gpu is None:
        return False
    return (
        measured.gpu.lower() == size.gpu.lower()
        and measured.gpu_count == size.gpu_count
        and vram_gb is not None
        and measured.gpu_vram_gb is not None
        and math.isclose(measured.gpu_vram_gb, vram_gb, rel_tol=0.05)
    )


def mismatch(measured: MeasuredHardware | None, size: Size, vram_gb: float | None) -> str | None:
    """Why figures measured on ``measured`` may not hold on ``size``; ``None`` when they match.

    A measurement on fewer CPUs than the size has is conservative and not flagged; one on more
    CPUs, another architecture or other GPUs is.
    """
    if measured is None:
        return "the measurements do not record the hardware they were taken on"
    if measured.machine.lower() not in DEPLOYED_MACHINES:
        return f"measured on {measured.machine}; the target runs x86_64"
    if size.gpu is not None:
        wanted = describe_gpus(size.gpu, size.gpu_count, vram_gb)
        if measured.gpu is None:
            return f"measured without a GPU; the size has {wanted}"
        if not same_gpus(measured, size, vram_gb):
            got = describe_gpus(measured.gpu, measured.gpu_count, measured.gpu_vram_gb)
            return f"measured on {got}; the size has {wanted}"
        return None
    if measured.gpu is not None:
        return f"measured on a GPU ({measured.gpu}); the size has none"
    if measured.cpu_count is not None and measured.cpu_count > max(1, math.ceil(size.vcpu)):
        return f"measured on {measured.cpu_count} CPUs; the size has {size.vcpu:g} vCPU"
    return None
