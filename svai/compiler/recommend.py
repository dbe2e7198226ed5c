"""The recommender: per target, the cheapest offering configuration that meets the latency targets.

Pure and table-driven. For each target it

1. works out what the model needs (artifact size, memory, service time, load time): measured by
   ``svai bench`` > declared in the spec > estimated per framework (and says which);
2. decides the API mode when the spec says ``auto`` (async for batches, long inference, large
   payloads);
3. filters the cloud's offerings by hard constraints (runtime override, GPU, memory, package size,
   payload, timeout), keeping every rejection with its reason;
4. for each feasible offering and a few sizes, finds the smallest warm pool that meets p50/p95/p99
   (binary search: more warm instances never add cold starts), and prices it;
5. picks the cheapest configuration that meets every target (or the closest, saying what would
   have to change), honouring ``runtime``/``offering`` overrides with a note when they cost more.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from svai.compiler.catalog import Catalog, GpuRuntime, Offering, Size, load_catalog
from svai.compiler.cost import CostEstimate, estimate_cost, estimate_supporting_cost
from svai.compiler.formatting import format_ms
from svai.compiler.perf import PerfResult, ServiceTime, cold_start_seconds, pool_config, predict
from svai.compiler.recommendation import (
    Alternative,
    Assumptions,
    Choice,
    Prediction,
    Recommendation,
    TargetRecommendation,
)
from svai.compiler.rollout import refusal as rollout_refusal
from svai.compiler.traffic import TrafficProfile, TrafficSpec, build_profile
from svai.errors import UsageError
from svai.spec.resolve import ResolvedSpec, ResolvedTarget, ResolvedTraffic

__all__ = ["Measurements", "ModelNeeds", "model_needs", "recommend", "traffic_profile"]

MB = 1_000_000
_ESTIMATES: dict[str, tuple[float, float]] = {
    # framework: (artifact MB, warm service seconds on one vCPU) when nothing is declared
    "onnx": (50.0, 0.010),
    "sklearn": (20.0, 0.005),
    "xgboost": (20.0, 0.005),
    "lightgbm": (20.0, 0.005),
    "catboost": (20.0, 0.005),
    "pytorch": (200.0, 0.050),
    "transformers": (400.0, 0.060),
    "custom": (100.0, 0.050),
}
_IMPORT_S = {"onnx": 0.2, "sklearn": 0.2, "xgboost": 0.2, "lightgbm": 0.2, "catboost": 0.2}
_TORCH_IMPORT_S = 2.0
_LOAD_MB_PER_S = 200.0
_RUNTIME_MB = 300.0
_IMAGE_BASE_MB = {"cpu": 400.0, "gpu": 3000.0}
_ZIP_DEPS_MB = 60.0
_ASYNC_SERVICE_S = 10.0
_WARM_STEPS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


@dataclass(frozen=True, slots=True)
class Measurements:
    """Figures measured on the real artifact (``svai bench``, or the artifact file's size)."""

    artifact_bytes: int | None = None
    load_time_s: float | None = None
    inference_time_s: float | None = None
    inference_p99_s: float | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ModelNeeds:
    """What the model needs from an instance, with the provenance of each figure."""

    artifact_mb: float
    memory_mb: float
    service_s: float
    service_p99_s: float | None
    load_s: float
    gpu: bool
    gpu_type: str | None
    gpu_count: int
    vram_gb: float
    measured: tuple[str, ...]
    estimated: tuple[str, ...]


def model_needs(spec: ResolvedSpec, measured: Measurements | None = None) -> ModelNeeds:
    """Return the model's needs: measured > declared > estimated per framework."""
    m = measured or Measurements()
    model = spec.model
    est_mb, est_service = _ESTIMATES[model.framework]
    gpu = spec.gpu.required
    if gpu:
        est_mb, est_service = 2200.0, 0.5
    provenance: dict[str, str] = {}

    def pick(name: str, meas: float | None, declared: float | None, estimate: float) -> float:
        if meas is not None:
            provenance[name] = "measured"
            return meas
        if declared is not None:
            provenance[name] = "declared"
            return declared
        provenance[name] = "estimated"
        return estimate

    artifact_mb = pick(
        "model size",
        m.artifact_bytes / MB if m.artifact_bytes is not None else None,
        model.size_bytes / MB if model.size_bytes is not None else None,
        est_mb,
    )
    service_s = pick("inference time", m.inference_time_s, model.inference_time_s, est_service)
    torch_like = model.framework in ("pytorch", "transformers", "custom")
    import_s = _TORCH_IMPORT_S if torch_like else _IMPORT_S.get(model.framework, 0.5)
    # On a GPU the measured GPU components (import torch, CUDA context, weights) come from the
    # catalog's gpu_runtime; the load time here is only what remains on top of them.
    load_estimate = 0.2 if gpu else import_s + artifact_mb / _LOAD_MB_PER_S
    load_s = pick("load time", m.load_time_s, model.load_time_s, load_estimate)
    memory_mb = pick(
        "memory",
        m.memory_bytes / MB if m.memory_bytes is not None else None,
        model.memory_bytes / MB if model.memory_bytes is not None else None,
        _RUNTIME_MB + 2.5 * artifact_mb if not gpu else max(8192.0, 1.5 * artifact_mb),
    )
    vram = spec.gpu.memory_bytes / 1e9 if spec.gpu.memory_bytes else 1.3 * artifact_mb / 1000
    return ModelNeeds(
        artifact_mb=artifact_mb,
        memory_mb=memory_mb,
        service_s=service_s,
        service_p99_s=m.inference_p99_s,
        load_s=load_s,
        gpu=gpu,
        gpu_type=None if spec.gpu.type == "any" else spec.gpu.type,
        gpu_count=spec.gpu.count,
        vram_gb=vram,
        measured=tuple(k for k, v in provenance.items() if v == "measured"),
        estimated=tuple(k for k, v in provenance.items() if v == "estimated"),
    )


def traffic_profile(traffic: ResolvedTraffic) -> TrafficProfile:
    """Map the spec's traffic section onto the traffic model."""
    pattern = traffic.pattern
    return build_profile(
        TrafficSpec(
            pattern="steady" if pattern == "profile" else pattern,
            baseline_rps=traffic.baseline_rps,
            peak_rps=traffic.peak_rps,
            peak_duration_s=traffic.peak_duration_s,
            idle_hours=traffic.idle_hours,
            profile=traffic.profile,
            batch_items=traffic.batch_items,
            batches_per_day=traffic.batches_per_day,
            burst_count=traffic.peaks_per_day if pattern == "spiky" else None,
        )
    )


@dataclass(frozen=True, slots=True)
class _Candidate:
    offering: Offering
    size: Size
    concurrency: int
    warm: int
    max_instances: int
    cold_start_s: float
    components: tuple[tuple[str, float], ...]
    perf: PerfResult
    cost: CostEstimate
    meets: bool
    shortfall: float
    """Worst ratio predicted / target over the percentiles with a target (<= 1 meets)."""


def recommend(
    spec: ResolvedSpec,
    measured: Measurements | None = None,
    catalog: Catalog | None = None,
    buildable: Mapping[str, Collection[str]] | None = None,
) -> Recommendation:
    """Recommend an offering configuration for every target of ``spec``; deterministic.

    Args:
        spec: The resolved spec.
        measured: Figures measured by ``svai bench`` (they replace declared ones).
        catalog: Another catalog (tests); default the shipped one.
        buildable: Per cloud, the offerings a backend can deploy; others are rejected with
            that reason. ``None`` considers every catalog offering.
    """
    catalog = catalog or load_catalog()
    needs = model_needs(spec, measured)
    profile = traffic_profile(spec.traffic)
    mode, mode_note = _mode(spec, needs)
    return Recommendation(
        name=spec.name,
        targets=tuple(
            _recommend_target(
                spec,
                target,
                needs,
                profile,
                mode,
                mode_note,
                catalog,
                None if buildable is None else buildable.get(target.cloud, ()),
            )
            for target in spec.targets
        ),
    )


def _mode(spec: ResolvedSpec, needs: ModelNeeds) -> tuple[Literal["sync", "async"], str | None]:
    if spec.api.mode != "auto":
        return spec.api.mode, None
    if spec.traffic.pattern == "batch":
        return "async", "api.mode auto → async: batch traffic is queued and worked off"
    if needs.service_s > _ASYNC_SERVICE_S:
        return "async", (
            f"api.mode auto → async: one prediction takes {needs.service_s:g} s, too long to "
            "hold a request open"
        )
    if spec.api.max_payload_bytes > 6 * MB:
        return "async", "api.mode auto → async: payloads above 6 MB exceed synchronous limits"
    return "sync", "api.mode auto → sync: predictions are short enough to answer in the request"


def _recommend_target(
    spec: ResolvedSpec,
    target: ResolvedTarget,
    needs: ModelNeeds,
    profile: TrafficProfile,
    mode: Literal["sync", "async"],
    mode_note: str | None,
    catalog: Catalog,
    buildable: Collection[str] | None,
) -> TargetRecommendation:
    alternatives: list[Alternative] = []
    best_per_offering: list[_Candidate] = []
    for offering in catalog.offerings(target.cloud):
        reason = _infeasible(offering, spec, needs, mode)
        if reason is None and buildable is not None and offering.id not in buildable:
            reason = f"svai's {target.cloud} backend does not deploy this offering yet"
        if reason is None and (target.min_instances or 0) > 0 and not offering.warm_pool.available:
            reason = (
                f"overrides.min_instances needs a warm pool; {offering.warm_pool.name} is not one"
            )
        if reason is not None:
            alternatives.append(
                Alternative(offering.id, offering.name, offering.kind, False, reason, None, False)
            )
            continue
        candidate = _best_config(offering, spec, target, needs, profile, catalog.gpu_runtime)
        if candidate is None:
            alternatives.append(
                Alternative(
                    offering.id,
                    offering.name,
                    offering.kind,
                    False,
                    "no size fits the model's memory and GPU needs",
                    None,
                    False,
                )
            )
            continue
        best_per_offering.append(candidate)

    if not best_per_offering:
        raise _nothing_feasible(target, alternatives)
    allowed = [c for c in best_per_offering if _allowed(c.offering, target)]
    notes: list[str] = [mode_note] if mode_note else []
    if not allowed:
        wanted = target.offering or target.runtime
        notes.append(f"no feasible offering matches the override `{wanted}`; ignoring it")
        allowed = best_per_offering
    chosen = _pick(allowed)
    free = _pick(best_per_offering)
    extra = chosen.cost.monthly_usd - free.cost.monthly_usd
    if free is not chosen and (extra > max(1.0, 0.05 * free.cost.monthly_usd) or not chosen.meets):
        notes.append(
            f"the override costs {_usd(extra)}/month more "
            f"than {free.offering.name} ({'meets' if free.meets else 'misses'} the targets at "
            f"{_usd(free.cost.monthly_usd)}/month)"
        )
    if not chosen.meets:
        notes.append(_what_would_help(spec, chosen))
    supporting = _supporting_cost(target.cloud, mode, chosen.cost.requests_per_month, catalog)
    for c in best_per_offering:
        alternatives.append(
            Alternative(
                c.offering.id,
                c.offering.name,
                c.offering.kind,
                True,
                None if c.meets else _miss_reason(spec, c),
                _prediction(c, supporting),
                c.meets,
            )
        )
    order = {o.id: i for i, o in enumerate(catalog.offerings(target.cloud))}
    alternatives.sort(key=lambda a: order[a.offering])
    return TargetRecommendation(
        cloud=target.cloud,
        region=target.region,
        choice=Choice(
            offering=chosen.offering.id,
            name=chosen.offering.name,
            kind=chosen.offering.kind,
            mode=mode,
            memory_mb=chosen.size.memory_mb,
            vcpu=chosen.size.vcpu,
            gpu=chosen.size.gpu,
            gpu_count=chosen.size.gpu_count,
            instance_type=chosen.size.name,
            concurrency_per_instance=chosen.concurrency,
            warm_instances=chosen.warm,
            max_instances=chosen.max_instances,
            package=_package(chosen.offering, needs),
        ),
        predicted=_prediction(chosen, supporting),
        assumptions=Assumptions(
            keep_alive_s=chosen.offering.keep_alive_s or 0.0,
            cold_start_s=chosen.cold_start_s,
            cold_start_components=chosen.components,
            service_ms=chosen.perf.service_mean_s * 1000,
            concurrency_per_instance=chosen.concurrency,
            arrival_rate_rps=profile.mean_rps,
            peak_rps=profile.peak_rps,
            measured=needs.measured,
            estimated=needs.estimated,
        ),
        meets_target=chosen.meets,
        reason=_reason(chosen, best_per_offering),
        notes=tuple(notes),
        alternatives=tuple(alternatives),
    )


def _allowed(offering: Offering, target: ResolvedTarget) -> bool:
    if target.offering is not None:
        return offering.id == target.offering
    return target.runtime in ("auto", offering.kind)


def _infeasible(offering: Offering, spec: ResolvedSpec, needs: ModelNeeds, mode: str) -> str | None:
    lim = offering.limits
    if needs.gpu and not offering.gpu.available:
        return f"no GPU ({offering.kind} without GPU support)"
    if needs.gpu and needs.gpu_type:
        names = [g.name.lower() for g in offering.gpu.types]
        if needs.gpu_type not in names:
            return f"no {needs.gpu_type.upper()} GPU (offers: {', '.join(n.upper() for n in names) or 'none'})"
    if needs.memory_mb > lim.memory_mb_max:
        return f"the model needs {needs.memory_mb:,.0f} MB of memory; the maximum is {lim.memory_mb_max:,} MB"
    package_mb = needs.artifact_mb + (_ZIP_DEPS_MB if offering.kind == "faas" else 0)
    if package_mb > lim.artifact_mb:
        return f"package of ~{package_mb:,.0f} MB exceeds the {lim.artifact_mb:,.0f} MB limit"
    if mode == "sync" and spec.api.max_payload_bytes > lim.request_mb * MB:
        return f"max payload {spec.api.max_payload_bytes / MB:g} MB exceeds the {lim.request_mb:g} MB request limit"
    strategy_refusal = rollout_refusal(spec, offering.id, offering.kind)
    if strategy_refusal is not None:
        return strategy_refusal
    if mode == "async" and offering.kind == "container":
        # Async container workers pull jobs from the queue; the HTTP request timeout does not
        # bound them (the queue's lock / visibility timeout does, and is renewed while working).
        return None
    timeout = spec.reliability.job_timeout_s if mode == "async" else spec.api.timeout_s
    if needs.service_s > lim.timeout_s or timeout > lim.timeout_s:
        return f"timeout {timeout:g} s exceeds the {lim.timeout_s:g} s limit"
    return None


def _sizes(offering: Offering, needs: ModelNeeds, target: ResolvedTarget) -> list[Size]:
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
            try:
                vram = offering.gpu.get(size.gpu).vram_gb
            except KeyError:
                return True
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


def _concurrency(offering: Offering, size: Size, target: ResolvedTarget) -> int:
    if target.concurrency is not None:
        wanted = target.concurrency
    elif size.gpu is not None:
        wanted = 4  # micro-batching keeps a GPU busy with a few requests in flight
    else:
        wanted = max(1, math.floor(size.vcpu))  # CPU-bound inference: one request per core
    return max(1, min(wanted, offering.limits.concurrency_max))


def _best_config(
    offering: Offering,
    spec: ResolvedSpec,
    target: ResolvedTarget,
    needs: ModelNeeds,
    profile: TrafficProfile,
    gpu_runtime: GpuRuntime,
) -> _Candidate | None:
    best: _Candidate | None = None
    for size in _sizes(offering, needs, target):
        candidate = _best_warm_pool(offering, size, spec, target, needs, profile, gpu_runtime)
        if best is None or _better(candidate, best):
            best = candidate
    return best


def _best_warm_pool(
    offering: Offering,
    size: Size,
    spec: ResolvedSpec,
    target: ResolvedTarget,
    needs: ModelNeeds,
    profile: TrafficProfile,
    gpu_runtime: GpuRuntime,
) -> _Candidate:
    concurrency = _concurrency(offering, size, target)
    # A single request uses about one core: fractional-CPU sizes stretch it proportionally.
    slowdown = 1.0 if size.gpu else 1.0 / min(1.0, size.vcpu)
    service = needs.service_s * slowdown
    service_p99 = needs.service_p99_s * slowdown if needs.service_p99_s is not None else None
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
    if target.min_instances is not None:
        steps: Sequence[int] = [max(floor, target.min_instances)]
    elif not offering.warm_pool.available:
        steps = [floor]
    else:
        steps = [w for w in _WARM_STEPS if floor <= w <= min(cap, offering.warm_pool.max or cap)]
    image_mb = (
        0.0
        if _package(offering, needs) == "zip"
        else (_IMAGE_BASE_MB["gpu" if size.gpu else "cpu"] + needs.artifact_mb)
    )
    cold, components = _cold_start(offering, size, needs, image_mb, gpu_runtime)

    def evaluate(warm: int) -> _Candidate:
        pool = pool_config(
            offering,
            cold_start_s=cold,
            warm_instances=warm,
            concurrency=concurrency,
            max_instances=max(cap, warm),
        )
        perf = predict(profile, ServiceTime(service, p99_s=service_p99), pool)
        cost = estimate_cost(
            offering, size, perf, payload_kb=(spec.traffic.payload_bytes or 4000) / 1000
        )
        shortfall = _shortfall(spec, perf)
        return _Candidate(
            offering,
            size,
            concurrency,
            warm,
            max(cap, warm),
            cold,
            components,
            perf,
            cost,
            shortfall <= 1.0,
            shortfall,
        )

    # More warm instances never add cold starts, so the first step that meets is the cheapest
    # meeting pool; binary search over the steps keeps this to a handful of evaluations.
    low, high = 0, len(steps) - 1
    first = evaluate(steps[0])
    if first.meets or len(steps) == 1:
        return first
    last = evaluate(steps[high])
    if not last.meets:
        return min((first, last), key=lambda c: (c.shortfall, c.cost.monthly_usd))
    found = last
    while high - low > 1:
        middle = (low + high) // 2
        candidate = evaluate(steps[middle])
        if candidate.meets:
            high, found = middle, candidate
        else:
            low = middle
    return found


def _cold_start(
    offering: Offering, size: Size, needs: ModelNeeds, image_mb: float, gpu_runtime: GpuRuntime
) -> tuple[float, tuple[tuple[str, float], ...]]:
    # The measured GPU components come from the same catalog the offering came from.
    catalog_gpu = gpu_runtime if size.gpu else None
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
    parts: list[tuple[str, float]] = [
        ("platform", cs.platform_s + cs.node_start_s + (cs.gpu_node_start_s if size.gpu else 0.0))
    ]
    if image_mb and cs.image_pull_mb_per_s:
        parts.append(("image pull", image_mb / cs.image_pull_mb_per_s))
    if cs.artifact_fetch_mb_per_s:
        parts.append(("artifact fetch", needs.artifact_mb / cs.artifact_fetch_mb_per_s))
    parts.append(("model load", max(0.0, total - sum(p for _, p in parts))))
    return total, tuple((name, round(value, 3)) for name, value in parts)


def _shortfall(spec: ResolvedSpec, perf: PerfResult) -> float:
    if perf.saturated:
        return math.inf
    ratios = [
        predicted / target
        for predicted, target in (
            (perf.p50_s, spec.latency.p50_s),
            (perf.p95_s, spec.latency.p95_s),
            (perf.p99_s, spec.latency.p99_s),
        )
        if target is not None
    ]
    return max(ratios, default=0.0)


def _better(a: _Candidate, b: _Candidate) -> bool:
    if a.meets != b.meets:
        return a.meets
    if a.meets:
        return (a.cost.monthly_usd, a.perf.p99_s) < (b.cost.monthly_usd, b.perf.p99_s)
    return (a.shortfall, a.cost.monthly_usd) < (b.shortfall, b.cost.monthly_usd)


def _pick(candidates: Sequence[_Candidate]) -> _Candidate:
    best = candidates[0]
    for candidate in candidates[1:]:
        if _better(candidate, best):
            best = candidate
    return best


def _package(offering: Offering, needs: ModelNeeds) -> Literal["zip", "image", "model"]:
    if offering.kind == "endpoint":
        return "model"
    if offering.id in ("aws.lambda.zip", "aws.lambda.snapstart"):
        return "zip"
    if offering.kind == "faas" and offering.cloud != "aws":
        return "zip"
    return "image"


def _supporting_cost(cloud: str, mode: str, requests: float, catalog: Catalog) -> dict[str, float]:
    wanted = {"gateway"} | ({"queue", "store"} if mode == "async" else set())
    services = [s for s in catalog.supporting(cloud) if s.category in wanted]
    return estimate_supporting_cost(services, requests)


def _prediction(c: _Candidate, supporting: dict[str, float]) -> Prediction:
    breakdown = dict(c.cost.breakdown)
    for name, usd in supporting.items():
        if usd > 0:
            breakdown[name] = breakdown.get(name, 0.0) + usd
    monthly = sum(breakdown.values())
    requests = c.cost.requests_per_month
    return Prediction(
        p50_ms=c.perf.p50_s * 1000,
        p95_ms=c.perf.p95_s * 1000,
        p99_ms=c.perf.p99_s * 1000,
        cold_start_rate=c.perf.cold_start_prob,
        mean_instances=c.perf.mean_instances,
        peak_instances=c.perf.peak_instances,
        monthly_requests=requests,
        monthly_cost_usd=monthly,
        cost_per_1k_usd=monthly / requests * 1000 if requests > 0 else 0.0,
        cost_breakdown=tuple(sorted(breakdown.items())),
    )


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _miss_reason(spec: ResolvedSpec, c: _Candidate) -> str:
    if c.perf.saturated:
        return f"saturated at {c.max_instances} instances: traffic exceeds capacity"
    misses = []
    for name, predicted, target in (
        ("p50", c.perf.p50_s, spec.latency.p50_s),
        ("p95", c.perf.p95_s, spec.latency.p95_s),
        ("p99", c.perf.p99_s, spec.latency.p99_s),
    ):
        if target is not None and predicted > target:
            misses.append(
                f"{name} {format_ms(predicted * 1000)} > {format_ms(target * 1000)} target"
            )
    detail = "; ".join(misses)
    if c.perf.cold_start_prob > 0:
        detail += f" (cold starts {c.perf.cold_start_prob:.2%} at {c.cold_start_s:.2g} s each"
        detail += f", warm pool {c.warm})" if c.warm else ")"
    return detail


def _what_would_help(spec: ResolvedSpec, c: _Candidate) -> str:
    return (
        f"nothing meets the targets; closest: {c.offering.name} — {_miss_reason(spec, c)}. To meet "
        f"them: relax the latency target, cut the inference time ({format_ms(c.perf.service_mean_s * 1000)}) "
        f"or the cold start ({c.cold_start_s:.2g} s: smaller artifact, faster load), or raise "
        "overrides.min_instances"
    )


def _reason(chosen: _Candidate, candidates: Sequence[_Candidate]) -> str:
    meeting = [c for c in candidates if c.meets]
    pool = f" with a warm pool of {chosen.warm}" if chosen.warm else ""
    if not chosen.meets:
        return f"closest to the latency targets{pool}; no option meets them"
    others = sorted((c for c in meeting if c is not chosen), key=lambda c: c.cost.monthly_usd)
    if not others:
        return f"the only option that meets the latency targets{pool}"
    runner = others[0]
    extra = runner.cost.monthly_usd - chosen.cost.monthly_usd
    if extra < 0:
        return f"meets the latency targets{pool} (chosen by the target's override)"
    return (
        f"cheapest option that meets the latency targets{pool}; next: {runner.offering.name} "
        f"at {_usd(extra)}/month more"
    )


def _nothing_feasible(target: ResolvedTarget, alternatives: list[Alternative]) -> UsageError:
    reasons = "; ".join(f"{a.name}: {a.rejected_because}" for a in alternatives)
    return UsageError(f"no {target.cloud} offering can run this model: {reasons}")
