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
import re
from collections.abc import Sequence
from dataclasses import dataclass

from svai.compiler.catalog import GpuCard, Size

__all__ = [
    "DEPLOYED_MACHINES",
    "MeasuredHardware",
    "catalog_gpu",
    "describe_gpus",
    "mismatch",
    "same_gpus",
]

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


def catalog_gpu(device_name: str, memory_bytes: int, cards: Sequence[GpuCard]) -> tuple[str, float]:
    """The GPU type and memory as the catalog names them, from what torch reports.

    torch says ``NVIDIA H100 80GB HBM3`` and the bytes the driver exposes (a little under the
    datasheet's figure, in GiB for some cards and GB for others); the catalog says ``H100``,
    ``80``. The card is the longest catalogued name that is a word of the device's name (``L40S``
    before ``L4``), and the memory its catalogued size nearest the reported one. A GPU the catalog
    does not know keeps torch's name and its memory in GiB, so it matches no size.

    Args:
        device_name: ``torch.cuda.get_device_name()``.
        memory_bytes: ``torch.cuda.get_device_properties().total_memory``.
        cards: The catalogued cards (``Catalog.gpu_throughput.cards``).

    Returns:
        ``(gpu type, GB per GPU)``.
    """
    gib = memory_bytes / 2**30
    words = set(re.split(r"[^a-z0-9]+", device_name.lower()))
    named = sorted({c.name for c in cards if c.name.lower() in words}, key=len, reverse=True)
    if not named:
        return device_name, round(gib, 1)
    sizes = [c.vram_gb for c in cards if c.name == named[0]]
    return named[0], min(sizes, key=lambda gb: abs(gb - gib))


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
