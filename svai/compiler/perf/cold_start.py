"""Cold-start time of one instance, and the pool settings of an offering from the catalog."""

from __future__ import annotations

from svai.compiler.catalog import GpuRuntime, Offering, Size
from svai.compiler.perf.model import PoolConfig

__all__ = ["cold_start_seconds", "pool_config"]


def cold_start_seconds(
    offering: Offering,
    size: Size,
    *,
    artifact_mb: float,
    model_load_s: float,
    image_mb: float = 0.0,
    gpu_runtime: GpuRuntime | None = None,
    weights_gb: float = 0.0,
) -> float:
    """Return the cold-start time of one instance of ``offering`` at ``size``.

    Components: platform init (+ node start; + GPU node start for GPU sizes) + image pull
    (``image_mb`` at the offering's pull rate) + artifact fetch (``artifact_mb`` at the fetch
    rate) + model load (``model_load_s``, skipped for snapshot-restore offerings). For GPU sizes
    with ``gpu_runtime`` and ``weights_gb``, the measured GPU components are added: ``import
    torch`` + CUDA context + weights at the measured safetensors rate + first forward.

    Args:
        offering: The offering.
        size: The sizing (a GPU size adds the GPU components).
        artifact_mb: Model artifact size read at start.
        model_load_s: Seconds to load the model once it is local (declared or measured).
        image_mb: Container image bytes read at start (0 for zip packages).
        gpu_runtime: Measured GPU components (``Catalog.gpu_runtime``).
        weights_gb: Weights moved to the GPU at start.

    Returns:
        Seconds.
    """
    cs = offering.cold_start
    total = cs.platform_s + cs.node_start_s
    if size.gpu is not None:
        total += cs.gpu_node_start_s
    if image_mb > 0 and cs.image_pull_mb_per_s:
        total += image_mb / cs.image_pull_mb_per_s
    if artifact_mb > 0 and cs.artifact_fetch_mb_per_s:
        total += artifact_mb / cs.artifact_fetch_mb_per_s
    if not cs.model_load_in_snapshot:
        total += model_load_s
        if size.gpu is not None and gpu_runtime is not None and weights_gb > 0:
            total += (
                gpu_runtime.import_torch_s
                + gpu_runtime.cuda_context_s
                + weights_gb / gpu_runtime.safetensors_gb_per_s
                + gpu_runtime.first_forward_s
            )
    return total


def pool_config(
    offering: Offering,
    *,
    cold_start_s: float,
    warm_instances: int = 0,
    concurrency: int | None = None,
    max_instances: int | None = None,
) -> PoolConfig:
    """Return the :class:`PoolConfig` of ``offering`` from its catalog entry.

    Args:
        offering: The offering.
        cold_start_s: From :func:`cold_start_seconds`.
        warm_instances: Warm pool size (for always-on fleets: the minimum fleet).
        concurrency: Requests per instance; default the offering's default, capped at its max.
        max_instances: Cap; default the offering's limit.

    Returns:
        The pool configuration.

    Raises:
        ValueError: ``warm_instances > 0`` on an offering without a warm pool (SnapStart).
    """
    if warm_instances > 0 and not offering.warm_pool.available:
        raise ValueError(f"{offering.id} has no warm pool ({offering.warm_pool.name})")
    lim = offering.limits
    conc = lim.concurrency_default if concurrency is None else concurrency
    conc = max(1, min(conc, lim.concurrency_max))
    cap = lim.max_instances if max_instances is None else max_instances
    always_on = offering.pricing.billing == "always_on"
    cap = max(cap, warm_instances, 1)
    return PoolConfig(
        cold_start_s=cold_start_s,
        keep_alive_s=offering.keep_alive_s,
        concurrency=conc,
        warm_instances=warm_instances,
        max_instances=cap,
        always_on=always_on,
        overhead_s=offering.overheads.total_s,
    )
