"""Advice: when nothing meets a target's goals, what would help, ranked by its effect.

Every proposal is evaluated, not guessed: svai re-runs the performance and cost model with the
change (the other API mode, another offering or size, a warm pool, a faster model) and keeps the
changes that shrink the miss: those that meet the targets first (cheapest first), then by the
miss that remains. A warm pool is proposed
only where it moves the percentile: a target missed because one prediction is slow is not
helped by keeping instances warm, and the advice says so instead. Loosening a target is always
offered last, with the figure the closest option achieves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from svai.compiler.formatting import format_ms, format_usd
from svai.compiler.options import CLOSE, Option, pick
from svai.compiler.recommendation import Prediction, Proposal
from svai.spec.resolve import ResolvedSpec

__all__ = ["miss_reason", "mode_proposal", "prediction", "proposals", "warm_pool_note"]

_SCALE_TRIES = 4


def prediction(option: Option) -> Prediction:
    """What the models predict for ``option``, its whole bill included."""
    requests = option.cost.requests_per_month
    p = option.perf
    return Prediction(
        p50_ms=p.p50_s * 1000,
        p95_ms=p.p95_s * 1000,
        p99_ms=p.p99_s * 1000,
        cold_start_rate=p.cold_start_prob,
        mean_instances=p.mean_instances,
        peak_instances=p.peak_instances,
        monthly_requests=requests,
        monthly_cost_usd=option.usd,
        cost_per_1k_usd=option.usd / requests * 1000 if requests > 0 else 0.0,
        cost_breakdown=option.bill.breakdown,
        per_release_usd=option.bill.per_release_usd,
    )


def miss_reason(spec: ResolvedSpec, option: Option) -> str:
    """Why ``option`` misses: each percentile over its target, a time limit it runs past."""
    perf = option.perf
    if perf.saturated:
        return f"saturated at {option.max_instances} instances: traffic exceeds capacity"
    misses = [
        f"{name} {format_ms(predicted * 1000)} > {format_ms(target * 1000)} target"
        for name, predicted, target in _percentiles(spec, option)
        if predicted > target
    ]
    if option.limited_s > option.limit.seconds:
        what = "p99" if option.mode == "sync" else "p99 of a job's processing"
        cut = "requests" if option.mode == "sync" else "jobs"
        misses.append(
            f"{what} {format_ms(option.limited_s * 1000)} exceeds {option.limit.what} "
            f"({format_ms(option.limit.seconds * 1000)}): {cut} that long are cut off"
        )
    detail = "; ".join(misses)
    if perf.cold_start_prob > 0:
        detail += f" (cold starts {perf.cold_start_prob:.2%} at {option.cold_start_s:.2g} s each"
        detail += f", warm pool {option.warm})" if option.warm else ")"
    return detail


def mode_proposal(
    spec: ResolvedSpec, options: Sequence[Option], current: Option | None
) -> Proposal | None:
    """The other API mode, when it serves the target where the current one cannot, or better.

    When the other mode would run past the spec's own timeout, the proposal raises it too (to
    the p99 it needs, where the platform allows it).
    """
    if not options:
        return None
    best = pick(options)
    raise_timeout = _timeouts(best)
    meets = best.meets or (bool(raise_timeout) and best.latency_shortfall <= 1.0)
    if current is not None and not meets and best.shortfall >= current.shortfall * (1 - CLOSE):
        return None
    mode = best.mode
    how = (
        "callers submit a job and fetch its result, so no request is held open"
        if mode == "async"
        else "callers get the prediction in the response"
    )
    if best.meets:
        verdict = "meets the targets"
    elif meets:
        verdict = f"meets the targets with {raise_timeout[0].summary.removeprefix('set ')}"
    else:
        verdict = f"closer: {miss_reason(spec, best)}"
    p = prediction(best)
    also = f" and {raise_timeout[0].summary.removeprefix('set ')}" if raise_timeout else ""
    return Proposal(
        change=mode,
        summary=f"set api.mode: {mode} (or auto){also}",
        detail=(
            f"{how}; {best.offering.name}: p95 {format_ms(p.p95_ms)}, p99 {format_ms(p.p99_ms)}"
            f"{' per job' if mode == 'async' else ''}, {format_usd(p.monthly_cost_usd)}/month"
            f" — {verdict}"
        ),
        meets_target=meets,
        predicted=p,
    )


def warm_pool_note(option: Option) -> str | None:
    """Say so when the largest warm pool would not move the percentile that misses."""
    if option.meets or option.max_warm <= option.warm:
        return None
    largest = option.variant(warm=option.max_warm)
    if largest.shortfall < option.shortfall * (1 - CLOSE):
        return None
    return (
        f"a warm pool would not help: with {largest.warm} warm instances p95 is "
        f"{format_ms(largest.perf.p95_s * 1000)} (now {format_ms(option.perf.p95_s * 1000)}) "
        f"at {format_usd(largest.usd)}/month; the miss comes from the time one prediction "
        "takes, not from cold starts"
    )


def proposals(
    spec: ResolvedSpec,
    chosen: Option,
    same_mode: Sequence[Option],
    other_mode: Sequence[Option],
) -> tuple[Proposal, ...]:
    """What would help ``chosen`` meet its targets, ranked by effect.

    The changes that meet the targets come first, cheapest first; then those that only shrink
    the miss, by the miss that remains; raising the user's own timeout and loosening the latency
    targets (which change the goal, not the deployment) last.
    """
    if chosen.meets:
        return ()
    ranked: list[tuple[float, float, Proposal]] = []

    def keep(option: Option | None, proposal: Proposal | None) -> None:
        if proposal is not None:
            after = option.shortfall if option is not None else chosen.shortfall
            ranked.append((after, option.usd if option is not None else chosen.usd, proposal))

    switch = mode_proposal(spec, other_mode, chosen)
    if switch is not None:
        keep(pick(other_mode), switch)
    better = [o for o in same_mode if o.shortfall < chosen.shortfall * (1 - CLOSE)]
    if better:
        other = pick(better)
        size = other.size.name or f"{other.size.memory_mb:,} MB, {other.size.vcpu:g} vCPU"
        change = (
            f"overrides.memory: {other.size.memory_mb}MiB"
            if other.offering is chosen.offering
            else f"overrides.offering: {other.offering.id}"
        )
        keep(other, _numbers(spec, other, "option", change, f"{other.offering.name} at {size}"))
    if chosen.max_warm > chosen.warm:
        warm = chosen.best_warm_pool()
        if warm.warm != chosen.warm and warm.shortfall < chosen.shortfall * (1 - CLOSE):
            keep(warm, _numbers(spec, warm, "warm_pool",
                                f"overrides.min_instances: {warm.warm}", "a larger warm pool"))  # fmt: skip
    faster = _faster_model(chosen)
    if faster is not None:
        now = chosen.perf.service_mean_s / chosen.service_scale
        keep(faster, _numbers(
            spec, faster, "model",
            f"cut the inference time to {format_ms(faster.perf.service_mean_s * 1000)} "
            f"(now {format_ms(now * 1000)})",
            "a smaller, distilled or quantised model, or a faster accelerator",
        ))  # fmt: skip
    # Changes that meet the targets first, cheapest first; then the rest by the miss left.
    ranked.sort(key=lambda r: (r[0] > 1.0, r[0] if r[0] > 1.0 else 0.0, r[1]))
    loosen = [*_timeouts(chosen), *_targets(spec, chosen)]
    return tuple(p for _, _, p in ranked) + tuple(loosen)


def _numbers(
    spec: ResolvedSpec,
    option: Option,
    change: Literal["option", "warm_pool", "model"],
    summary: str,
    what: str,
) -> Proposal:
    p = prediction(option)
    verdict = "meets the targets" if option.meets else f"still misses: {miss_reason(spec, option)}"
    return Proposal(
        change=change,
        summary=summary,
        detail=(
            f"{what}: p95 {format_ms(p.p95_ms)}, p99 {format_ms(p.p99_ms)}, "
            f"{format_usd(p.monthly_cost_usd)}/month — {verdict}"
        ),
        meets_target=option.meets,
        predicted=p,
    )


def _faster_model(chosen: Option) -> Option | None:
    """The same configuration with the inference time cut until it meets (if it can)."""
    if not math.isfinite(chosen.shortfall):
        return None
    scale, option = chosen.service_scale, chosen
    for _ in range(_SCALE_TRIES):
        scale *= 0.97 / option.shortfall
        option = chosen.variant(service_scale=scale)
        if option.meets:
            return option
    return option if option.shortfall < chosen.shortfall * (1 - CLOSE) else None


def _timeouts(chosen: Option) -> list[Proposal]:
    """Raise the user's own timeout when the platform allows what the option needs."""
    if chosen.limited_s <= chosen.limit.seconds:
        return []
    needed = math.ceil(chosen.limited_s / 60) * 60
    field = "api.timeout" if chosen.mode == "sync" else "reliability.job_timeout"
    if chosen.limit.what != field:
        return []  # the platform's own limit: only async, another offering or a faster model
    platform = chosen.offering.limits.timeout_s
    if chosen.mode == "sync" and needed > platform:
        return []
    return [
        Proposal(
            change="timeout",
            summary=f"set {field}: {needed // 60}m",
            detail=(
                f"{'requests' if chosen.mode == 'sync' else 'jobs'} of up to "
                f"{format_ms(chosen.limited_s * 1000)} (the p99) would finish"
            ),
            meets_target=chosen.latency_shortfall <= 1.0 and not chosen.perf.saturated,
            predicted=prediction(chosen),
        )
    ]


def _targets(spec: ResolvedSpec, chosen: Option) -> list[Proposal]:
    """Loosen the missed latency targets to what the closest option achieves."""
    missed = [(n, p, t) for n, p, t in _percentiles(spec, chosen) if p > t]
    if not missed:
        return []
    within = chosen.limited_s <= chosen.limit.seconds and not chosen.perf.saturated
    achieved = ", ".join(
        f"{name} {format_ms(predicted * 1000)} (target {format_ms(target * 1000)})"
        for name, predicted, target in missed
    )
    return [
        Proposal(
            change="target",
            summary="set " + ", ".join(f"latency.{n}: {_round_up(p)}" for n, p, _ in missed),
            detail=f"{chosen.offering.name} achieves {achieved} at {format_usd(chosen.usd)}/month",
            meets_target=within,
            predicted=prediction(chosen),
        )
    ]


def _percentiles(spec: ResolvedSpec, option: Option) -> list[tuple[str, float, float]]:
    perf, latency = option.perf, spec.latency
    return [
        (name, predicted, target)
        for name, predicted, target in (
            ("p50", perf.p50_s, latency.p50_s),
            ("p95", perf.p95_s, latency.p95_s),
            ("p99", perf.p99_s, latency.p99_s),
        )
        if target is not None
    ]


def _round_up(seconds: float) -> str:
    """A duration as a spec would write it, rounded up to two significant figures."""
    if seconds < 1:
        ms = seconds * 1000
        step = 10 ** max(0, math.floor(math.log10(ms)) - 1)
        return f"{math.ceil(ms / step) * step:g}ms"
    if seconds < 120:
        step = 10 ** (math.floor(math.log10(seconds)) - 1)
        return f"{math.ceil(seconds / step) * step:.3g}s"
    return f"{math.ceil(seconds / 60)}m"
