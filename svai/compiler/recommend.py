"""The recommender: per target, the cheapest offering configuration that meets the targets.

Pure and table-driven. For each target it

1. works out what the model needs (:mod:`~svai.compiler.needs`: measured > declared >
   estimated, and says which);
2. filters the cloud's offerings by hard limits (:mod:`~svai.compiler.limits`: GPU, host and GPU
   memory per size, package, payload, timeouts, rollout strategy, what svai's backend builds),
   keeping every rejection with its reason;
3. evaluates each feasible offering at a few sizes and warm pools (:mod:`~svai.compiler.options`)
   and prices each with everything its deployment creates (:mod:`~svai.compiler.bill`);
4. picks the cheapest configuration that meets the latency targets and stays under its time
   limits; when none does, the cheapest of the closest (within 2% of the best achievable miss),
   never the biggest, with what would help ranked by effect (:mod:`~svai.compiler.advice`);
5. decides the API mode: the spec's, or under ``api.mode: auto`` the one the model suits (async
   for batches, long predictions, large payloads) unless only the other serves the target. When
   the spec's mode cannot serve a target, the other mode is evaluated and proposed with its
   numbers;
6. reports each target on its own: a target nothing can serve is named with every reason
   (:class:`~svai.compiler.recommendation.InfeasibleTarget`) and the others are recommended in
   full.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from svai.compiler.advice import miss_reason, mode_proposal, prediction, proposals, warm_pool_note
from svai.compiler.catalog import Catalog, Offering, load_catalog
from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.generation import cold_start_note, generation
from svai.compiler.hardware import describe_gpus, mismatch
from svai.compiler.limits import rejection
from svai.compiler.measured_start import not_applied_note
from svai.compiler.needs import MB, Measurements, ModelNeeds, model_needs
from svai.compiler.options import CLOSE, Context, Option, package_of, pick, size_options
from svai.compiler.recommendation import (
    Alternative,
    Assumptions,
    Choice,
    Generation,
    InfeasibleTarget,
    Proposal,
    Recommendation,
    TargetRecommendation,
)
from svai.compiler.traffic import TrafficProfile, TrafficSpec, build_profile
from svai.spec.resolve import ResolvedSpec, ResolvedTarget, ResolvedTraffic

__all__ = ["Measurements", "ModelNeeds", "model_needs", "recommend", "traffic_profile"]

Mode = Literal["sync", "async"]
_ASYNC_SERVICE_S = 10.0
_SYNC_PAYLOAD_BYTES = 6 * MB


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
            burst_mean_on_s=traffic.burst_mean_on_s,
            burst_mean_off_s=traffic.burst_mean_off_s,
            trace_rpm=traffic.trace_rpm,
        )
    )


def recommend(
    spec: ResolvedSpec,
    measured: Measurements | None = None,
    catalog: Catalog | None = None,
    buildable: Mapping[str, Collection[str]] | None = None,
    async_workers: Mapping[str, Collection[str]] | None = None,
) -> Recommendation:
    """Recommend an offering configuration for every target of ``spec``; deterministic.

    Args:
        spec: The resolved spec.
        measured: Figures measured by ``svai bench`` (they replace declared ones).
        catalog: Another catalog (tests); default the shipped one.
        buildable: Per cloud, the offerings a backend can deploy; others are rejected with
            that reason. ``None`` considers every catalog offering.
        async_workers: Per cloud, the offerings a backend can run as the async worker;
            ``None``: every buildable one.

    Returns:
        The targets that can be served, in the spec's order, and the ones that cannot.
    """
    catalog = catalog or load_catalog()
    needs = model_needs(spec, measured)
    profile = traffic_profile(spec.traffic)
    served: list[TargetRecommendation] = []
    refused: list[InfeasibleTarget] = []
    for index, target in enumerate(spec.targets):
        scope = _Scope(
            index,
            Context(spec, target, needs, profile, catalog),
            None if buildable is None else buildable.get(target.cloud, ()),
            None if async_workers is None else async_workers.get(target.cloud, ()),
        )
        result = _recommend_target(scope)
        if isinstance(result, InfeasibleTarget):
            refused.append(result)
        else:
            served.append(result)
    return Recommendation(name=spec.name, targets=tuple(served), infeasible=tuple(refused))


@dataclass(frozen=True, slots=True)
class _Scope:
    """One target's context and what svai's backend for its cloud builds."""

    index: int
    ctx: Context
    buildable: Collection[str] | None
    async_workers: Collection[str] | None


@dataclass(frozen=True, slots=True)
class _ModeResult:
    """Every offering of a target tried in one API mode."""

    mode: Mode
    options: tuple[Option, ...]
    """The best configuration per feasible offering, in catalog order."""
    sized: tuple[Option, ...]
    """Every size tried of every feasible offering."""
    rejected: tuple[Alternative, ...]

    @property
    def meets(self) -> bool:
        return any(o.meets for o in self.options)


def _preferred_mode(spec: ResolvedSpec, needs: ModelNeeds) -> tuple[Mode, str | None]:
    """The spec's mode, or under ``auto`` the one the model suits, with the reason."""
    if spec.api.mode != "auto":
        return spec.api.mode, None
    if spec.traffic.pattern == "batch":
        return "async", "api.mode auto → async: batch traffic is queued and worked off"
    if needs.service_s > _ASYNC_SERVICE_S:
        return "async", (
            f"api.mode auto → async: one prediction takes {needs.service_s:g} s, too long to "
            "hold a request open"
        )
    if spec.api.max_payload_bytes > _SYNC_PAYLOAD_BYTES:
        return "async", "api.mode auto → async: payloads above 6 MB exceed synchronous limits"
    return "sync", "api.mode auto → sync: predictions are short enough to answer in the request"


def _recommend_target(scope: _Scope) -> TargetRecommendation | InfeasibleTarget:
    ctx = scope.ctx
    spec = ctx.spec
    preferred, why = _preferred_mode(spec, ctx.needs)
    other: Mode = "async" if preferred == "sync" else "sync"
    first = _evaluate(scope, preferred)
    second = None if first.meets else _evaluate(scope, other)
    chosen, alternative = first, second
    notes = [why] if why else []
    if spec.api.mode == "auto" and second is not None and _serves_better(second, first):
        chosen, alternative = second, first
        notes = [_switch_note(spec, first, second, scope.buildable)]
    if not chosen.options:
        return _infeasible(scope, chosen, alternative)
    return _recommendation(scope, chosen, alternative, notes)


def _serves_better(candidate: _ModeResult, current: _ModeResult) -> bool:
    """Whether ``candidate`` serves a target ``current`` cannot: it meets, or only it runs."""
    if not candidate.options:
        return False
    return candidate.meets or not current.options


def _switch_note(
    spec: ResolvedSpec,
    left: _ModeResult,
    taken: _ModeResult,
    buildable: Collection[str] | None,
) -> str:
    if left.options:
        closest = pick(left.options)
        why = f"no {left.mode} option meets the targets (closest: {closest.offering.name}, "
        why += f"{miss_reason(spec, closest)})"
    else:
        built = [a for a in left.rejected if buildable is None or a.offering in buildable]
        first = built[0].rejected_because if built else "nothing is built here"
        why = f"no offering here can serve it {left.mode} ({first})"
    verdict = "meets them" if taken.meets else "can serve it"
    return f"api.mode auto → {taken.mode}: {why}; {taken.mode} {verdict}"


def _evaluate(scope: _Scope, mode: Mode) -> _ModeResult:
    ctx = scope.ctx
    target = ctx.target
    rejected: list[Alternative] = []
    options: list[Option] = []
    sized: list[Option] = []
    for offering in ctx.catalog.offerings(target.cloud):
        reason = _refusal(scope, offering, mode)
        if reason is None:
            tried = size_options(ctx, offering, mode)
            if tried:
                options.append(pick(tried))
                sized.extend(tried)
                continue
            reason = _no_size_reason(ctx.needs, target)
        rejected.append(
            Alternative(offering.id, offering.name, offering.kind, False, reason, None, False)
        )
    return _ModeResult(mode, tuple(options), tuple(sized), tuple(rejected))


def _refusal(scope: _Scope, offering: Offering, mode: Mode) -> str | None:
    ctx = scope.ctx
    reason = rejection(offering, ctx.spec, ctx.needs, mode, ctx.catalog)
    if reason is not None:
        return reason
    cloud = ctx.target.cloud
    if scope.buildable is not None and offering.id not in scope.buildable:
        return f"svai's {cloud} backend does not deploy this offering yet"
    workers = scope.async_workers
    if mode == "async" and workers is not None and offering.id not in workers:
        return f"svai's {cloud} backend does not run async workers on {offering.name}"
    if (ctx.target.min_instances or 0) > 0 and not offering.warm_pool.available:
        return f"overrides.min_instances needs a warm pool; {offering.warm_pool.name} is not one"
    return None


def _no_size_reason(needs: ModelNeeds, target: ResolvedTarget) -> str:
    wanted = [f"{needs.memory_mb:,.0f} MB of memory"]
    if needs.tokens is not None:
        wanted.append(
            f"GPU memory for the weights and a {needs.tokens.context:,}-token KV cache per "
            "request in flight"
        )
    elif needs.gpu:
        wanted.append(f"{needs.vram_gb:g} GB of GPU memory")
    if target.memory_bytes is not None:
        wanted.append(f"overrides.memory ({target.memory_bytes / (1024 * 1024):,.0f} MiB)")
    if target.vcpu is not None:
        wanted.append(f"overrides.vcpu ({target.vcpu:g})")
    if len(wanted) == 1:
        return f"no single size has {wanted[0]}"
    return f"no single size has {', '.join(wanted[:-1])} and {wanted[-1]}"


def _infeasible(
    scope: _Scope, tried: _ModeResult, alternative: _ModeResult | None
) -> InfeasibleTarget:
    ctx = scope.ctx
    spec, target = ctx.spec, ctx.target
    # The other mode is named too when it cannot serve the target either; when it can, it is
    # the proposal.
    results = [tried]
    if alternative is not None and not alternative.options:
        results.append(alternative)
    tagged = len(results) > 1
    reasons = tuple(
        f"{a.name}{f' ({r.mode})' if tagged else ''}: {a.rejected_because}"
        for r in results
        for a in r.rejected
    )
    proposal = None
    if alternative is not None and alternative.options:
        proposal = mode_proposal(spec, alternative.options, None)
    return InfeasibleTarget(
        index=scope.index,
        cloud=target.cloud,
        region=target.region,
        mode="auto" if spec.api.mode == "auto" else tried.mode,
        reasons=reasons,
        alternatives=_ordered(ctx, tried.rejected),
        proposals=(proposal,) if proposal is not None else (),
    )


def _recommendation(
    scope: _Scope, result: _ModeResult, alternative: _ModeResult | None, notes: list[str]
) -> TargetRecommendation:
    ctx = scope.ctx
    spec, target, needs = ctx.spec, ctx.target, ctx.needs
    options = list(result.options)
    allowed = [o for o in options if _allowed(o.offering, target)]
    if not allowed:
        wanted = target.offering or target.runtime
        notes.append(f"no feasible offering matches the override `{wanted}`; ignoring it")
        allowed = options
    chosen = pick(allowed)
    free = pick(options)
    extra = chosen.usd - free.usd
    if free is not chosen and not chosen.meets and free.meets:
        notes.append(
            f"the override misses the targets; {free.offering.name} meets them at "
            f"{format_usd(free.usd)}/month"
        )
    elif free is not chosen and extra > max(1.0, 0.05 * free.usd):
        notes.append(
            f"the override costs {format_usd(extra)}/month more "
            f"than {free.offering.name} ({'meets' if free.meets else 'misses'} the targets at "
            f"{format_usd(free.usd)}/month)"
        )
    ranked = proposals(spec, chosen, result.sized, alternative.options if alternative else ())
    tokens = _generation(spec, needs, chosen, notes)
    hardware = _hardware_note(needs, chosen)
    if hardware is not None:
        notes.append(hardware)
    start = not_applied_note(
        needs.cold_start, chosen.components, chosen.size,
        chosen.offering.vram_per_gpu_gb(chosen.size),
    )  # fmt: skip
    if start is not None:
        notes.append(start)
    if not chosen.meets:
        notes.append(_what_would_help(spec, chosen, ranked))
        quiet = warm_pool_note(chosen)
        if quiet is not None:
            notes.append(quiet)
    alternatives = list(result.rejected) + [
        Alternative(
            o.offering.id, o.offering.name, o.offering.kind, True,
            None if o.meets else miss_reason(spec, o), prediction(o), o.meets,
        )
        for o in options
    ]  # fmt: skip
    size = chosen.size
    return TargetRecommendation(
        cloud=target.cloud,
        region=target.region,
        choice=Choice(
            offering=chosen.offering.id,
            name=chosen.offering.name,
            kind=chosen.offering.kind,
            mode=result.mode,
            memory_mb=size.memory_mb,
            vcpu=size.vcpu,
            gpu=size.gpu,
            gpu_count=size.gpu_count,
            instance_type=size.name,
            concurrency_per_instance=chosen.concurrency,
            warm_instances=chosen.warm,
            max_instances=chosen.max_instances,
            package=package_of(chosen.offering),
        ),
        predicted=prediction(chosen),
        assumptions=Assumptions(
            keep_alive_s=chosen.offering.keep_alive_s or 0.0,
            cold_start_s=chosen.cold_start_s,
            cold_start_components=chosen.components,
            service_ms=chosen.perf.service_mean_s * 1000,
            concurrency_per_instance=chosen.concurrency,
            arrival_rate_rps=ctx.profile.mean_rps,
            peak_rps=ctx.profile.peak_rps,
            measured=needs.measured,
            estimated=needs.estimated,
            unverified=_unverified(chosen, tokens),
        ),
        meets_target=chosen.meets,
        reason=_reason(chosen, options),
        notes=tuple(notes),
        alternatives=_ordered(ctx, alternatives),
        workload=chosen.workload,
        proposals=ranked,
        generation=tokens,
    )


def _generation(
    spec: ResolvedSpec, needs: ModelNeeds, chosen: Option, notes: list[str]
) -> Generation | None:
    """Text generation: the memory fit and token timings, and what a cold start does to TTFT."""
    fit = chosen.setup.fit
    if fit is None:
        return None
    if spec.latency.ttft_s is not None:
        note = cold_start_note(
            spec.latency.ttft_s, chosen.cold_start_s, chosen.components, chosen.warm,
            chosen.perf.cold_start_prob,
        )  # fmt: skip
        if note is not None:
            notes.append(note)
    vram = chosen.offering.vram_per_gpu_gb(chosen.size) or 0.0
    timing = chosen.setup.timing
    measured = needs.tokens.measured if needs.tokens else None
    if measured is not None and (timing is None or timing.measured_on is None):
        where = measured.hardware.describe() if measured.hardware else "unrecorded hardware"
        size = chosen.size
        gpus = describe_gpus(size.gpu or "GPU", size.gpu_count, vram or None)
        why = mismatch(measured.hardware, size, vram or None) or "other hardware"
        notes.append(
            f"token timings measured by svai bench on {where} do not apply to {gpus} ({why}): "
            f"the catalogued card figures are used there; run `svai bench` on {gpus} to use them"
        )
    return generation(fit, timing, chosen.perf, vram)


# What people call the catalog figures a prediction rests on (by the start of their path).
_FIGURE_NAMES = (
    ("keep_alive_s", "keep-alive"),
    ("cold_start.platform_s", "platform start"),
    ("cold_start.node_start_s", "node start"),
    ("cold_start.gpu_node_start_s", "GPU node start"),
    ("cold_start.image_pull_mb_per_s", "image pull rate"),
    ("cold_start.artifact_fetch_mb_per_s", "fetch rate"),
    ("overheads.", "platform overheads"),
)


def _unverified(chosen: Option, tokens: Generation | None) -> tuple[str, ...]:
    """The catalog figures behind ``chosen``'s prediction that no official source confirmed."""
    found: list[str] = []
    for mark in chosen.offering.unverified:
        name = next((n for start, n in _FIGURE_NAMES if mark.path.startswith(start)), None)
        if name is None and "usd" in mark.path:
            name = "prices"
        if name is not None and name not in found:
            found.append(name)
    if tokens is not None and "unverified" in tokens.basis:
        found.append("GPU datasheet figures")
    return tuple(found)


# Measured figures that depend on the machine they were measured on.
_HARDWARE_BOUND = ("inference time", "load time")


def _hardware_note(needs: ModelNeeds, chosen: Option) -> str | None:
    """Flag measured timings taken on other hardware than the chosen size's."""
    bound = [name for name in needs.measured if name in _HARDWARE_BOUND]
    if not bound:
        return None
    size = chosen.size
    why = mismatch(needs.measured_on, size, chosen.offering.vram_per_gpu_gb(size))
    if why is None:
        return None
    return (
        f"{' and '.join(bound)} measured by svai bench on other hardware ({why}): used as "
        "measured, not adjusted to this size; run `svai bench` on matching hardware"
    )


def _ordered(ctx: Context, alternatives: Sequence[Alternative]) -> tuple[Alternative, ...]:
    order = {o.id: i for i, o in enumerate(ctx.catalog.offerings(ctx.target.cloud))}
    return tuple(sorted(alternatives, key=lambda a: order[a.offering]))


def _allowed(offering: Offering, target: ResolvedTarget) -> bool:
    if target.offering is not None:
        return offering.id == target.offering
    return target.runtime in ("auto", offering.kind)


def _what_would_help(spec: ResolvedSpec, chosen: Option, ranked: Sequence[Proposal]) -> str:
    helps = "; ".join(f"{i}) {p.summary}" for i, p in enumerate(ranked, 1))
    return (
        f"nothing meets the targets; closest: {chosen.offering.name} — "
        f"{miss_reason(spec, chosen)}. What would help, by effect: "
        f"{helps or 'nothing svai can evaluate'}"
    )


def _reason(chosen: Option, options: Sequence[Option]) -> str:
    pool = f" with a warm pool of {chosen.warm}" if chosen.warm else ""
    if not chosen.meets:
        return (
            f"closest to the targets{pool}: the cheapest option within {CLOSE:.0%} of the "
            f"smallest miss ({format_ms(chosen.perf.p95_s * 1000)} p95); no option meets them"
        )
    meeting = [o for o in options if o.meets and o is not chosen]
    if not meeting:
        return f"the only option that meets the latency targets{pool}"
    runner = min(meeting, key=lambda o: o.usd)
    extra = runner.usd - chosen.usd
    if extra < 0:
        return f"meets the latency targets{pool} (chosen by the target's override)"
    return (
        f"cheapest option that meets the latency targets{pool}; next: {runner.offering.name} "
        f"at {format_usd(extra)}/month more"
    )
