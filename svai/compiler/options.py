"""Options: one offering, sized, with its warm pool, evaluated against the targets and priced.

For an offering that can run the model, :func:`size_options` tries a few sizes (the smallest that
fits, and the first with a whole vCPU) and for each the warm pools the offering allows, and
keeps the best configuration:

* the cheapest that meets every target — the first warm-pool step that meets, found by binary
  search (more warm instances never add cold starts);
* when none meets, the **closest, not the biggest**: the cheapest configuration whose miss is
  within :data:`CLOSE` of the best this offering can achieve. Buying the largest warm pool for
  a fraction of a percent is never the answer.

Each option carries its prediction (:mod:`~svai.compiler.perf`), its whole-deployment bill
(:mod:`~svai.compiler.bill`, on the plan the option lowers to) and its miss ratio
(``shortfall``: the worst predicted/target over the latency targets and the time limit).
:func:`Option.variant` re-evaluates it with one thing changed, which is how the advice finds
what would help.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from svai.compiler.bill import Bill, deployment_cost
from svai.compiler.catalog import Catalog, GpuThroughput, Offering, Size, load_catalog
from svai.compiler.cost import CostEstimate, estimate_cost
from svai.compiler.generation import size_fit, size_timing, ttft_p95_s
from svai.compiler.limits import TimeLimit, service_p99, time_limit
from svai.compiler.lower import sketch
from svai.compiler.measured_start import measured_components
from svai.compiler.needs import ModelNeeds
from svai.compiler.perf import PerfResult, ServiceTime, cold_start_seconds, pool_config, predict
from svai.compiler.perf.tokens import MemoryFit, TokenTiming
from svai.compiler.recommendation import Choice, Workload
from svai.compiler.traffic import TrafficProfile
from svai.ir import DeploymentPlan
from svai.spec.resolve import ResolvedSpec, ResolvedTarget

__all__ = ["CLOSE", "Context", "Option", "package_of", "pick", "size_options", "sizes"]

Mode = Literal["sync", "async"]

CLOSE = 0.02
"""How close to the best achievable miss an option must be to count as the closest (2%)."""
_IMAGE_BASE_MB = {"cpu": 400.0, "gpu": 3000.0}
_WARM_STEPS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


@dataclass(frozen=True, slots=True)
class Context:
    """Everything an option of one target is evaluated against.

    ``catalog`` is the catalog as seen from the target's region (:meth:`Catalog.in_region`):
    whatever is built with a Context offers, limits and prices what that region has.
    """

    spec: ResolvedSpec
    target: ResolvedTarget
    needs: ModelNeeds
    profile: TrafficProfile
    catalog: Catalog

    def __post_init__(self) -> None:
        regional = self.catalog.in_region(self.target.cloud, self.target.region)
        object.__setattr__(self, "catalog", regional)  # frozen: set once, at construction


@dataclass(frozen=True, slots=True)
class _Setup:
    """One offering at one size in one mode: what every warm-pool step shares."""

    ctx: Context
    offering: Offering
    size: Size
    mode: Mode
    concurrency: int
    cap: int
    steps: tuple[int, ...]
    """The warm pools searched (one when the target pins ``min_instances``)."""
    pool_steps: tuple[int, ...]
    """Every warm pool the offering allows here, whatever the target pins."""
    image_mb: float
    cold_start_s: float
    components: tuple[tuple[str, float], ...]
    limit: TimeLimit
    plan: DeploymentPlan
    service: ServiceTime
    fit: MemoryFit | None = None
    """Text generation: weights + KV cache on this size's GPUs."""
    timing: TokenTiming | None = None
    """Text generation: warm TTFT and time per token on this size."""

    def evaluate(self, warm: int, service_scale: float = 1.0) -> Option:
        """Predict, price and judge this configuration with ``warm`` warm instances."""
        ctx, offering = self.ctx, self.offering
        pool = pool_config(
            offering,
            cold_start_s=self.cold_start_s,
            warm_instances=warm,
            concurrency=self.concurrency,
            max_instances=max(self.cap, warm),
        )
        service = self.service
        if service_scale != 1.0:
            p99 = service.p99_s * service_scale if service.p99_s is not None else None
            service = ServiceTime(service.mean_s * service_scale, p99_s=p99)
        perf = predict(ctx.profile, service, pool)
        payload_kb = (ctx.spec.traffic.payload_bytes or 4000) / 1000
        cost = estimate_cost(offering, self.size, perf, payload_kb=payload_kb)
        workload = Workload(
            predictions=cost.requests_per_month,
            model_latency_s=perf.service_mean_s
            + perf.mean_wait_s
            + perf.cold_start_prob * perf.cold_start_s,
            artifact_mb=ctx.needs.artifact_mb,
            image_mb=self.image_mb,
            compute=tuple(cost.breakdown.items()),
        )
        bill = deployment_cost(_warmed(self.plan, warm), workload, ctx.catalog)
        # A request (sync) is cut off at the timeout; a job's processing (async) at its limit.
        limited = perf.p99_s if self.mode == "sync" else service_p99(service)
        latency = _latency_shortfall(ctx.spec, perf, self.timing)
        shortfall = max(latency, limited / self.limit.seconds)
        return Option(self, warm, max(self.cap, warm), perf, cost, workload, bill, shortfall,
                      latency, limited, service_scale)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration of one offering, predicted and priced.

    Attributes:
        setup: The offering, size and mode it belongs to.
        warm: Warm instances (the always-on minimum for fleets).
        max_instances: The guard on instances.
        perf: The performance model's prediction for one day.
        cost: The model service's own compute cost.
        workload: What the whole bill is priced for.
        bill: The whole deployment's monthly cost.
        shortfall: Worst predicted/target over the latency targets and predicted/limit over
            the time limit; at most 1 meets.
        latency_shortfall: The same over the latency targets alone.
        limited_s: What the time limit bounds: the p99 of a request (sync) or of a job's
            processing (async).
        service_scale: How much the inference time was scaled (1 except in advice).
    """

    setup: _Setup = field(repr=False)
    warm: int
    max_instances: int
    perf: PerfResult
    cost: CostEstimate
    workload: Workload
    bill: Bill
    shortfall: float
    latency_shortfall: float
    limited_s: float
    service_scale: float = 1.0

    @property
    def offering(self) -> Offering:
        """The offering."""
        return self.setup.offering

    @property
    def size(self) -> Size:
        """The size."""
        return self.setup.size

    @property
    def mode(self) -> Mode:
        """The API mode it was evaluated in."""
        return self.setup.mode

    @property
    def meets(self) -> bool:
        """Whether it meets every latency target and stays within its time limit."""
        return self.shortfall <= 1.0

    @property
    def usd(self) -> float:
        """The option's total monthly cost, everything the deployment creates included."""
        return self.bill.monthly_usd

    @property
    def limit(self) -> TimeLimit:
        """The time limit its requests (sync) or jobs (async) must stay under."""
        return self.setup.limit

    @property
    def concurrency(self) -> int:
        """Requests one instance serves at once."""
        return self.setup.concurrency

    @property
    def cold_start_s(self) -> float:
        """Seconds of one cold start."""
        return self.setup.cold_start_s

    @property
    def components(self) -> tuple[tuple[str, float], ...]:
        """The cold start by component."""
        return self.setup.components

    @property
    def max_warm(self) -> int:
        """The largest warm pool this offering allows here."""
        return self.setup.pool_steps[-1]

    def best_warm_pool(self) -> Option:
        """The same configuration with the warm pool searched over all the offering allows."""
        return _best_warm_pool(dataclasses.replace(self.setup, steps=self.setup.pool_steps))

    def variant(self, *, warm: int | None = None, service_scale: float | None = None) -> Option:
        """The same configuration with a different warm pool or inference time."""
        return self.setup.evaluate(
            self.warm if warm is None else warm,
            self.service_scale if service_scale is None else service_scale,
        )


def size_options(ctx: Context, offering: Offering, mode: Mode) -> list[Option]:
    """The best configuration of ``offering`` in ``mode`` at each size worth trying."""
    return [
        _best_warm_pool(_setup(ctx, offering, size, mode))
        for size in sizes(offering, ctx.needs, ctx.target, ctx.catalog.gpu_throughput)
    ]


def pick(options: Sequence[Option]) -> Option:
    """The cheapest option that meets its targets; else the cheapest of the closest ones."""
    meeting = [o for o in options if o.meets]
    if meeting:
        return min(meeting, key=lambda o: (o.usd, o.perf.p99_s))
    return min(_closest(options), key=lambda o: (o.usd, o.shortfall))


def _closest(options: Sequence[Option]) -> list[Option]:
    """The options within :data:`CLOSE` of the smallest miss."""
    best = min(o.shortfall for o in options)
    if not math.isfinite(best):
        return list(options)
    return [o for o in options if o.shortfall <= best * (1.0 + CLOSE)]


def sizes(
    offering: Offering,
    needs: ModelNeeds,
    target: ResolvedTarget,
    throughput: GpuThroughput | None = None,
) -> list[Size]:
    """The sizes worth trying: the smallest that fits, and the first with a whole vCPU.

    A text-generation model fits a GPU size when its weights and the KV cache of every request
    in flight fit the GPUs' memory (:func:`~svai.compiler.generation.size_fit`).
    """
    cards = throughput or load_catalog().gpu_throughput

    def fits(size: Size) -> bool:
        if size.memory_mb < needs.memory_mb:
            return False
        if target.memory_bytes is not None and size.memory_mb * 1024 * 1024 < target.memory_bytes:
            return False
        if target.vcpu is not None and size.vcpu < target.vcpu:
            return False
        if needs.gpu:
            if size.gpu is None or size.gpu_count < needs.gpu_count:
                return False
            if needs.gpu_type and size.gpu.lower() != needs.gpu_type:
                return False
            vram = offering.vram_per_gpu_gb(size)
            if vram is None:
                return True
            if needs.tokens is not None:
                concurrency = _concurrency(offering, size, target)
                fit = size_fit(offering, size, needs.tokens, concurrency, cards)
                if fit is not None and not fit.fits:
                    return False
            return vram * size.gpu_count >= needs.vram_gb
        return size.gpu is None

    fitting = [s for s in offering.sizes if fits(s)]
    if not fitting:
        return []
    chosen = [fitting[0]]
    # Fractional-CPU sizes slow inference down; also try the first size with a whole vCPU.
    whole = next((s for s in fitting if s.vcpu >= 1.0), None)
    if whole is not None and whole is not fitting[0]:
        chosen.append(whole)
    return chosen


def package_of(offering: Offering) -> Literal["zip", "image", "model"]:
    """How the model ships to ``offering``: a .zip, a container image, or a model package."""
    return load_catalog().builds.package(offering.id, offering.kind)


def _concurrency(offering: Offering, size: Size, target: ResolvedTarget) -> int:
    if target.concurrency is not None:
        wanted = target.concurrency
    elif size.gpu is not None:
        wanted = 4  # micro-batching keeps a GPU busy with a few requests in flight
    else:
        wanted = max(1, math.floor(size.vcpu))  # CPU-bound inference: one request per core
    return max(1, min(wanted, offering.limits.concurrency_max))


def _setup(ctx: Context, offering: Offering, size: Size, mode: Mode) -> _Setup:
    spec, target, needs, profile = ctx.spec, ctx.target, ctx.needs, ctx.profile
    concurrency = _concurrency(offering, size, target)
    # A single request uses about one core: fractional-CPU sizes stretch it proportionally.
    slowdown = 1.0 if size.gpu else 1.0 / min(1.0, size.vcpu)
    fit, timing = _tokens(ctx, offering, size, concurrency)
    declared = needs.service_s
    if timing is not None and needs.tokens is not None and "inference time" in needs.estimated:
        # Nothing declared or measured: the generation's own time on this card is the estimate.
        declared = timing.generation_s(needs.tokens.output)
    service = declared * slowdown
    p99 = needs.service_p99_s * slowdown if needs.service_p99_s is not None else None
    peak_busy = profile.peak_rps * service / concurrency
    # The guard (reserved concurrency / max instances) leaves room for Poisson peaks above the
    # busiest segment's mean, and still stops a runaway bill or a retry storm.
    cap = max(10, math.ceil(2.5 * peak_busy) + 5)
    t = spec.traffic
    if t.batch_items and t.batch_window_s:
        # A batch must be worked off within its window: size the guard for that, with headroom.
        cap = max(cap, math.ceil(1.25 * t.batch_items * service / (t.batch_window_s * concurrency)))
    if spec.reliability.max_concurrency is not None:
        cap = max(1, math.ceil(spec.reliability.max_concurrency / concurrency))
    cap = target.max_instances or min(offering.limits.max_instances, cap)
    always_on = offering.pricing.billing == "always_on"
    floor = 0 if (offering.limits.scale_to_zero and not always_on) else 1
    allowed: tuple[int, ...] = (floor,)
    if offering.warm_pool.available:
        top = min(cap, offering.warm_pool.max or cap)
        allowed = tuple(w for w in _WARM_STEPS if floor <= w <= top) or (floor,)
    steps = allowed
    if target.min_instances is not None:
        steps = (max(floor, target.min_instances),)
    package = package_of(offering)
    image_mb = (
        0.0
        if package == "zip"
        else _IMAGE_BASE_MB["gpu" if size.gpu else "cpu"] + needs.artifact_mb
    )
    cold, components = _cold_start(offering, size, needs, image_mb, ctx.catalog)
    choice = Choice(
        offering.id, offering.name, offering.kind, mode, size.memory_mb, size.vcpu, size.gpu,
        size.gpu_count, size.name, concurrency, 0, cap, package,
    )  # fmt: skip
    plan = sketch(spec, target, choice, peak_rps=max(profile.peak_rps, profile.mean_rps))
    return _Setup(
        ctx, offering, size, mode, concurrency, cap, steps, allowed, image_mb, cold, components,
        time_limit(offering, spec, mode, ctx.catalog), plan, ServiceTime(service, p99_s=p99),
        fit, timing,
    )  # fmt: skip


def _warmed(plan: DeploymentPlan, warm: int) -> DeploymentPlan:
    """The sketch with ``warm`` instances kept by the services that run the model.

    The sketch is lowered before the warm pool is chosen; the bill's per-release figure prices
    the instances the previous version keeps, which are these.
    """
    services = tuple(
        dataclasses.replace(s, compute=dataclasses.replace(s.compute, min_instances=warm))
        if s.role in ("api", "worker")
        else s
        for s in plan.services
    )
    return dataclasses.replace(plan, services=services)


def _tokens(
    ctx: Context, offering: Offering, size: Size, concurrency: int
) -> tuple[MemoryFit | None, TokenTiming | None]:
    """Text generation: the memory fit and token timings of ``size``, else ``(None, None)``."""
    tokens = ctx.needs.tokens
    if tokens is None or size.gpu is None:
        return None, None
    cards = ctx.catalog.gpu_throughput
    fit = size_fit(offering, size, tokens, concurrency, cards)
    if fit is None:
        return None, None
    return fit, size_timing(offering, size, fit, tokens, cards)


def _best_warm_pool(setup: _Setup) -> Option:
    """The cheapest warm pool that meets; else the smallest within CLOSE of the best miss."""
    steps = setup.steps
    first = setup.evaluate(steps[0])
    if first.meets or len(steps) == 1:
        return first
    last = setup.evaluate(steps[-1])
    # More warm instances never add cold starts: the largest pool misses least, and the first
    # step that is good enough is the cheapest good-enough pool.
    if last.meets:
        good = 1.0
    else:
        good = last.shortfall * (1.0 + CLOSE)
        if first.shortfall <= good or not math.isfinite(last.shortfall):
            return first
    low, high, found = 0, len(steps) - 1, last
    while high - low > 1:
        middle = (low + high) // 2
        option = setup.evaluate(steps[middle])
        if option.shortfall <= good:
            high, found = middle, option
        else:
            low = middle
    return found


def _cold_start(
    offering: Offering, size: Size, needs: ModelNeeds, image_mb: float, catalog: Catalog
) -> tuple[float, tuple[tuple[str, float], ...]]:
    # The measured GPU components come from the same catalog the offering came from.
    catalog_gpu = catalog.gpu_runtime if size.gpu else None
    weights_gb = needs.artifact_mb / 1000 if size.gpu else 0.0
    total = cold_start_seconds(
        offering,
        size,
        artifact_mb=needs.artifact_mb,
        model_load_s=needs.load_s,
        image_mb=image_mb,
        gpu_runtime=catalog_gpu,
        weights_gb=weights_gb,
    )
    cs = offering.cold_start
    gpu = catalog_gpu is not None and weights_gb > 0 and not cs.model_load_in_snapshot
    # A GPU cold start is named as the runtime logs it (svai/runtime/engines: import_torch_s,
    # device_s, weights_s, warmup_s), so a measured start reads against the same components.
    names = _GPU_NAMES if gpu else _CPU_NAMES
    parts: list[tuple[str, float]] = [
        (names[0], cs.platform_s + cs.node_start_s + (cs.gpu_node_start_s if size.gpu else 0.0))
    ]
    if image_mb and cs.image_pull_mb_per_s:
        parts.append((names[1], image_mb / cs.image_pull_mb_per_s))
    if cs.artifact_fetch_mb_per_s:
        parts.append((names[2], needs.artifact_mb / cs.artifact_fetch_mb_per_s))
    if gpu and catalog_gpu is not None:
        parts += [
            ("import_torch_s", catalog_gpu.import_torch_s),
            ("device_s", catalog_gpu.cuda_context_s),
            ("weights_s", weights_gb / catalog_gpu.safetensors_gb_per_s),
            ("warmup_s", catalog_gpu.first_forward_s),
        ]
    parts.append((names[3], max(0.0, total - sum(p for _, p in parts))))
    if gpu:
        # svai bench's logged components replace the catalogued ones on the same GPUs.
        measured = measured_components(
            parts, needs.cold_start, size, offering.vram_per_gpu_gb(size),
            load_measured="load time" in needs.measured,
        )  # fmt: skip
        if measured is not None:
            parts = list(measured)
            total = sum(seconds for _, seconds in parts)
    return total, tuple((name, round(value, 3)) for name, value in parts)


_CPU_NAMES = ("platform", "image pull", "artifact fetch", "model load")
_GPU_NAMES = ("node_start_s", "image_pull_s", "fetch_s", "model load")
"""The GPU start's names; ``model load`` is what the declared load time adds beyond them."""


def _latency_shortfall(spec: ResolvedSpec, perf: PerfResult, timing: TokenTiming | None) -> float:
    if perf.saturated:
        return math.inf
    pairs = [
        (perf.p50_s, spec.latency.p50_s),
        (perf.p95_s, spec.latency.p95_s),
        (perf.p99_s, spec.latency.p99_s),
    ]
    if timing is not None:
        pairs += [
            (ttft_p95_s(perf, timing), spec.latency.ttft_s),
            (timing.tpot_s, spec.latency.tpot_s),
        ]
    ratios = [predicted / target for predicted, target in pairs if target is not None]
    return max(ratios, default=0.0)
