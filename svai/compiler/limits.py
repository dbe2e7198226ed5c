"""Limits: why an offering cannot run a model, each reason derived from the catalog row it cites.

Two kinds of limit:

* **hard** (:func:`rejection`): the offering cannot run the model at all in this API mode — no
  size with enough host memory, GPU memory or GPUs, a package or payload over the limit, a
  timeout the platform refuses, a rollout strategy it cannot do. The reason quotes the catalog
  figure it compares against (the largest size's memory, the request limit, ...), so a reviewer
  can check it against the row and its source.
* **soft** (:func:`time_limit`): a configuration that runs, but whose predicted p99 must stay
  under a time limit — the API's request timeout and the platform's request limit for a
  synchronous request, the job timeout and the worker's limit for an asynchronous job. A
  configuration over it never "meets" the targets, whatever the latency targets say: the
  requests past the limit are cut off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from svai.compiler.catalog import Catalog, Offering, Size
from svai.compiler.generation import size_fit
from svai.compiler.needs import MB, ModelNeeds
from svai.compiler.perf import ServiceTime
from svai.compiler.rollout import refusal as rollout_refusal
from svai.spec.resolve import ResolvedSpec

__all__ = ["ZIP_DEPS_MB", "TimeLimit", "largest_size", "rejection", "service_p99", "time_limit"]

Mode = Literal["sync", "async"]

ZIP_DEPS_MB = 60.0
"""What svai's runtime and its dependencies add to a function's .zip package."""
_Z99 = 2.3263478740408408


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """The longest a request (sync) or a job's processing (async) may take.

    Attributes:
        seconds: The limit; ``math.inf`` when nothing bounds it.
        what: What sets it, as people read it (``api.timeout``, ``AWS Lambda's 900 s limit``).
    """

    seconds: float
    what: str


def largest_size(offering: Offering, needs: ModelNeeds) -> Size | None:
    """The size with the most host memory among those of the model's kind (GPU or CPU)."""
    sizes = [s for s in offering.sizes if (s.gpu is not None) == needs.gpu]
    if needs.gpu and needs.gpu_type:
        sizes = [s for s in sizes if s.gpu is not None and s.gpu.lower() == needs.gpu_type]
    return max(sizes, key=lambda s: (s.memory_mb, s.vcpu), default=None)


def _size_name(size: Size) -> str:
    if size.name:
        return size.name
    gpu = f", {size.gpu_count}× {size.gpu}" if size.gpu else ""
    return f"{size.vcpu:g} vCPU{gpu}"


def _vram_gb(offering: Offering, size: Size) -> float:
    if size.gpu is None:
        return 0.0
    vram = offering.vram_per_gpu_gb(size)
    if vram is None:
        return math.inf  # a GPU the catalog does not describe: no VRAM figure to refuse on
    return vram * size.gpu_count


def _token_refusal(
    offering: Offering, gpu_sizes: list[Size], needs: ModelNeeds, catalog: Catalog
) -> str | None:
    """Text generation: why no GPU size holds the weights and one request's KV cache, if none."""
    if needs.tokens is None:
        return None
    fits = [size_fit(offering, s, needs.tokens, 1, catalog.gpu_throughput) for s in gpu_sizes]
    known = [f for f in fits if f is not None]
    if len(known) < len(fits) or any(f.fits for f in known):
        return None
    roomiest = max(zip(gpu_sizes, known, strict=True), key=lambda pair: pair[1].usable_gb)
    return f"no GPU size holds the model: on {_size_name(roomiest[0])} {roomiest[1].summary()}"


def _fetched_at_start(offering: Offering, spec: ResolvedSpec, needs: ModelNeeds) -> bool:
    """Whether the weights ride beside the package, fetched by the runtime at start.

    The package limit then bounds the image without the weights (what svai's build does:
    ``model.fetch: start``, or ``auto`` above the offering's ``start_fetch_above_mb``).
    """
    if offering.kind == "faas":
        return False
    if spec.model.fetch == "start":
        return True
    threshold = offering.cold_start.start_fetch_above_mb
    return spec.model.fetch == "auto" and threshold is not None and needs.artifact_mb > threshold


def rejection(
    offering: Offering, spec: ResolvedSpec, needs: ModelNeeds, mode: Mode, catalog: Catalog
) -> str | None:
    """Return why ``offering`` cannot run the model in ``mode``, or ``None`` when it can.

    Every figure in a reason comes from ``offering``'s catalog row (its sizes, limits and GPU
    types) or from the cloud's queue row, never from a constant here.
    """
    gpu_kind = "GPU" if needs.gpu else "CPU"
    in_region = offering.region_refusal(needs.gpu, needs.gpu_type)
    if in_region is not None:
        return in_region
    if needs.gpu and not offering.gpu.available:
        return f"no GPU ({offering.kind} without GPU support)"
    if needs.gpu and needs.gpu_type:
        names = [g.name.lower() for g in offering.gpu.types]
        if needs.gpu_type not in names:
            offers = ", ".join(n.upper() for n in names) or "none"
            return f"no {needs.gpu_type.upper()} GPU (offers: {offers})"
    largest = largest_size(offering, needs)
    if largest is None:
        return f"no {gpu_kind} size"
    if needs.memory_mb > largest.memory_mb:
        return (
            f"the model needs {needs.memory_mb:,.0f} MB of memory; the largest {gpu_kind} size "
            f"({_size_name(largest)}) has {largest.memory_mb:,} MB"
        )
    if needs.gpu:
        gpu_sizes = [s for s in offering.sizes if s.gpu is not None]
        most = max(gpu_sizes, key=lambda s: s.gpu_count)
        if needs.gpu_count > most.gpu_count:
            return (
                f"the model needs {needs.gpu_count} GPUs; the largest GPU size "
                f"({_size_name(most)}) has {most.gpu_count}"
            )
        roomiest = max(gpu_sizes, key=lambda s: _vram_gb(offering, s))
        tight = _token_refusal(offering, gpu_sizes, needs, catalog)
        if tight is not None:
            return tight
        if needs.vram_gb > _vram_gb(offering, roomiest):
            return (
                f"the model needs {needs.vram_gb:g} GB of GPU memory; the largest GPU size "
                f"({_size_name(roomiest)}) has {_vram_gb(offering, roomiest):g} GB"
            )
    lim = offering.limits
    package_mb = needs.artifact_mb + (ZIP_DEPS_MB if offering.kind == "faas" else 0)
    if package_mb > lim.artifact_mb and not _fetched_at_start(offering, spec, needs):
        return f"package of ~{package_mb:,.0f} MB exceeds the {lim.artifact_mb:,.0f} MB limit"
    if mode == "sync" and spec.api.max_payload_bytes > lim.request_mb * MB:
        return (
            f"max payload {spec.api.max_payload_bytes / MB:g} MB exceeds the "
            f"{lim.request_mb:g} MB request limit"
        )
    strategy_refusal = rollout_refusal(spec, offering.id, offering.kind)
    if strategy_refusal is not None:
        return strategy_refusal
    limit = _platform_limit(offering, mode, catalog)
    if limit is None:
        return None
    timeout = spec.reliability.job_timeout_s if mode == "async" else spec.api.timeout_s
    if needs.service_s > limit.seconds:
        return (
            f"one prediction takes {needs.service_s:g} s, over {limit.what} of {limit.seconds:g} s"
        )
    if timeout > limit.seconds:
        name = "job timeout" if mode == "async" else "timeout"
        return f"{name} {timeout:g} s exceeds {limit.what} of {limit.seconds:g} s"
    return None


def _platform_limit(offering: Offering, mode: Mode, catalog: Catalog) -> TimeLimit | None:
    """What bounds one request (sync) or one job's processing (async) on ``offering``."""
    if mode == "sync":
        return TimeLimit(offering.limits.timeout_s, "the request limit")
    # A container worker is not answering an HTTP request: it pulls jobs and renews its lock
    # (Service Bus, SQS), so nothing bounds it; a function or an endpoint has its own limit.
    # A queue that pushes jobs to the worker (Pub/Sub push) bounds every worker by its deadline.
    limits = []
    if offering.kind != "container":
        limits.append(TimeLimit(offering.limits.timeout_s, "the limit"))
    delivery = catalog.queue_delivery_limit(offering.cloud)
    if delivery is not None:
        limits.append(TimeLimit(delivery[0], f"{delivery[1]}'s delivery limit"))
    return min(limits, key=lambda t: t.seconds, default=None)


def time_limit(offering: Offering, spec: ResolvedSpec, mode: Mode, catalog: Catalog) -> TimeLimit:
    """The longest a request (sync) or a job's processing (async) may take on ``offering``.

    Sync: the smaller of ``api.timeout`` and the platform's request limit (a request is cut off
    at either). Async: the smaller of ``reliability.job_timeout`` and what bounds the worker.
    """
    if mode == "async":
        own = TimeLimit(spec.reliability.job_timeout_s, "reliability.job_timeout")
    else:
        own = TimeLimit(spec.api.timeout_s, "api.timeout")
    platform = _platform_limit(offering, mode, catalog)
    if platform is not None and platform.seconds < own.seconds:
        return platform
    return own


def service_p99(service: ServiceTime) -> float:
    """The 99th percentile of one warm prediction's time (the lognormal the model uses)."""
    if service.p99_s is not None:
        return service.p99_s
    return math.exp(service.mu + _Z99 * service.sigma)
