"""One day of a scale-per-request pool: stationary segments, transitions between them, batches.

:func:`predict` is the entry point; an always-on fleet goes to :mod:`svai.compiler.perf.fleet`.
A pool's day is computed in steps: the stationary state of each segment
(:func:`~svai.compiler.perf.pool.stationary_pool`), the transitions between segments
(:func:`_transitions`), the segments' and the batches' contributions to one :class:`_Day`, and
the result with its latency percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from svai.compiler.perf.bursts import onoff_pool
from svai.compiler.perf.fleet import predict_fleet
from svai.compiler.perf.latency import SATURATED_S, Component, quantiles
from svai.compiler.perf.model import PerfResult, PoolConfig, PoolState, ServiceTime
from svai.compiler.perf.pool import erlang_b, stationary_pool
from svai.compiler.traffic import DAY_S, OnOff, Segment, TrafficProfile

__all__ = ["predict"]


def predict(traffic: TrafficProfile, service: ServiceTime, pool: PoolConfig) -> PerfResult:
    """Predict cold starts, latency percentiles, instances and billed units for one day.

    Args:
        traffic: One day of traffic (segments and batches).
        service: Warm service time per request.
        pool: The offering configuration.

    Returns:
        The prediction; deterministic for equal inputs.
    """
    if pool.always_on:
        return predict_fleet(traffic, service, pool)
    return _predict_pool(traffic, service, pool)


@dataclass
class _Transitions:
    """What the pool carried into each segment adds to it (one entry per segment).

    Attributes:
        extra: Instances created to grow the pool at the segment's start.
        affected: Requests delayed by those cold starts.
        linger: Instance-seconds of instances alive above the segment's own level.
        top: Pool size right after the segment's start.
        quiet: Fraction of the segment without new stationary cold starts.
    """

    extra: list[float]
    affected: list[float]
    linger: list[float]
    top: list[float]
    quiet: list[float]


@dataclass
class _Day:
    """Running totals of one day, added to segment by segment and batch by batch."""

    comps: list[Component] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    req: float = 0.0
    cold: float = 0.0
    cold_req: float = 0.0
    od_busy: float = 0.0
    od_alive: float = 0.0
    warm_busy: float = 0.0
    wait_sum: float = 0.0
    saturated: bool = False
    peak: float = 0.0


def _predict_pool(traffic: TrafficProfile, service: ServiceTime, pool: PoolConfig) -> PerfResult:
    states = [_segment_state(seg, traffic.bursts, service, pool) for seg in traffic.segments]
    trans = _transitions(traffic.segments, states, pool, service.mean_s)
    day = _Day()
    _add_segments(day, traffic.segments, states, trans, pool.cold_start_s)
    _add_batches(day, traffic, states, pool, service.mean_s)
    return _pool_result(day, service, pool)


def _segment_state(
    seg: Segment, bursts: OnOff | None, service: ServiceTime, pool: PoolConfig
) -> PoolState:
    """The long-run pool of one segment: Poisson at its rate, or the day's on/off bursts."""
    solve: Callable[..., PoolState] = partial(stationary_pool, seg.rate_rps)
    if bursts is not None and seg.rate_rps > 0.0:
        solve = partial(onoff_pool, bursts)
    return solve(
        service.mean_s,
        pool.keep_alive_s,
        concurrency=pool.concurrency,
        warm_instances=pool.warm_instances,
        max_instances=pool.max_instances,
        cold_start_s=pool.cold_start_s,
        cold_holds_instance=pool.cold_holds_instance,
    )


def _transitions(
    segs: Sequence[Segment], states: Sequence[PoolState], pool: PoolConfig, s_mean: float
) -> _Transitions:
    """Return what the pool alive at each segment's start adds to that segment.

    The day is cyclic, so it goes round twice. A rise adds the instances needed to reach the
    new level (an abrupt burst: at least the instances created while the first new ones start);
    a fall leaves the surplus alive for one keep-alive; an idle stretch longer than the
    keep-alive empties the pool.
    """
    c = pool.concurrency
    w = pool.warm_instances
    cold_s = pool.cold_start_s
    t_keep = math.inf if pool.keep_alive_s is None else pool.keep_alive_s
    cap_od = None if pool.max_instances is None else pool.max_instances - w
    # The pool carried between segments: ``recent`` instances used at the end of the previous
    # segment (they live a full keep-alive) and ``old`` ones left over from a ramp, which expire
    # ``life`` seconds later (LIFO never touches them again).
    recent = old = 0.0
    life = 0.0
    n = len(segs)
    out = _Transitions([0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n)
    for sweep in range(2):
        for i, (seg, st) in enumerate(zip(segs, states, strict=True)):
            d = seg.duration_s
            if seg.rate_rps <= 0.0:
                if sweep == 1:
                    out.linger[i] = recent * min(t_keep, d) + old * min(life, d)
                life = max(0.0, life - d)
                old = old if life > 0 else 0.0
                recent = recent if d < t_keep else 0.0
                continue
            alive_prev = recent + old
            target = st.mean_instances
            if seg.abrupt:
                # Requests the ready instances cannot take (Erlang B of their slots) pile onto
                # new instances until the first of them is ready.
                slots = round((w + alive_prev) * c)
                overflow = seg.rate_rps * erlang_b(slots, seg.rate_rps * s_mean)
                target = max(target, alive_prev + overflow * (cold_s + s_mean) / c)
            else:
                overflow = 0.0
            if cap_od is not None:
                target = min(target, float(cap_od))
            grow = max(0.0, target - alive_prev)
            start_pool = alive_prev + grow
            # Above the segment's own level: ramp surplus and old instances fade out unused.
            excess = max(0.0, start_pool - st.mean_instances)
            from_old = min(excess, old)
            from_new = excess - from_old
            if sweep == 1:
                out.extra[i] = grow
                out.affected[i] = grow
                if seg.abrupt and c > 1:
                    out.affected[i] = min(grow * c, max(grow, overflow * cold_s))
                out.linger[i] = from_old * min(life, d) + from_new * min(t_keep, d)
                out.top[i] = start_pool
                # A pool above its usual maximum sees no new records for a keep-alive.
                if start_pool >= st.p99_instances and d > 0:
                    out.quiet[i] = min(t_keep, d) / d
            new_life = max(0.0, t_keep - d)
            old_life = max(0.0, life - d)
            recent = st.mean_instances
            # Leftovers: ramp surplus (fresh) and older leftovers, both still alive if the
            # segment was short; keep the later expiry for simplicity.
            old = (from_new if new_life > 0 else 0.0) + (from_old if old_life > 0 else 0.0)
            life = max(new_life if from_new > 0 else 0.0, old_life if from_old > 0 else 0.0)
            if old <= 0.0:
                life = 0.0
    return out


def _add_segments(
    day: _Day,
    segs: Sequence[Segment],
    states: Sequence[PoolState],
    trans: _Transitions,
    cold_s: float,
) -> None:
    """Add each segment's requests, cold starts, instance-seconds and latency components."""
    for i, (seg, st, ext, aff) in enumerate(
        zip(segs, states, trans.extra, trans.affected, strict=True)
    ):
        day.od_alive += trans.linger[i]
        n_req = seg.requests
        if n_req <= 0.0:
            continue
        day.req += n_req
        stat_cold = st.cold_start_prob * n_req * (1.0 - trans.quiet[i])
        day.cold += stat_cold + ext
        cold_req = min(n_req, stat_cold + aff)
        day.cold_req += cold_req
        p_cold = cold_req / n_req
        if st.saturated:
            day.saturated = True
        day.od_busy += st.mean_busy_ondemand * seg.duration_s
        day.od_alive += max(st.mean_instances, st.mean_busy_ondemand) * seg.duration_s
        day.warm_busy += st.mean_busy_warm * seg.duration_s
        day.peak = max(day.peak, st.p99_instances, trans.top[i])
        wait_mean = st.wait_prob / st.wait_rate if st.wait_rate > 0 else 0.0
        if st.saturated:
            wait_mean = SATURATED_S
        day.wait_sum += wait_mean * n_req
        shift = SATURATED_S if st.saturated else 0.0
        day.comps.append(Component(n_req * (1 - p_cold), shift, st.wait_prob, st.wait_rate))
        if p_cold > 0:
            day.comps.append(Component(n_req * p_cold, shift + cold_s, st.wait_prob, st.wait_rate))


def _add_batches(
    day: _Day,
    traffic: TrafficProfile,
    states: Sequence[PoolState],
    pool: PoolConfig,
    s_mean: float,
) -> None:
    """Add each batch: waves on ``min(items/c, cap)`` instances, the missing ones cold."""
    c = pool.concurrency
    w = pool.warm_instances
    cold_s = pool.cold_start_s
    t_keep = math.inf if pool.keep_alive_s is None else pool.keep_alive_s
    for b in traffic.batches:
        if b.items <= 0:
            continue
        cap_total = pool.max_instances if pool.max_instances is not None else 10**9
        k = max(1, min(math.ceil(b.items / c), cap_total))
        base = _segment_at(traffic.segments, states, b.start_s)
        alive_prev = w + base
        gap = DAY_S / max(1, len(traffic.batches))
        if gap < t_keep and len(traffic.batches) > 1:
            alive_prev = max(alive_prev, float(k))
        cold_inst = max(0.0, k - alive_prev)
        frac_cold = cold_inst / k
        per_wave = k * c
        waves = math.ceil(b.items / per_wave)
        day.req += b.items
        day.cold += cold_inst
        day.cold_req += cold_inst * min(c, b.items / k)
        groups = min(waves, 48)
        edges = [round(waves * g / groups) for g in range(groups + 1)]
        for g in range(groups):
            lo, hi = edges[g], edges[g + 1]
            if hi <= lo:
                continue
            items = min(b.items, hi * per_wave) - lo * per_wave
            if items <= 0:
                continue
            shift = 0.5 * (lo + hi - 1) * s_mean
            day.comps.append(Component(items * (1 - frac_cold), shift))
            if frac_cold > 0:
                day.comps.append(Component(items * frac_cold, shift + cold_s))
            day.wait_sum += items * shift
        busy = b.items * s_mean / c + cold_inst * cold_s
        day.od_busy += busy
        day.od_alive += busy + (0.0 if math.isinf(t_keep) else k * t_keep)
        day.peak = max(day.peak, float(k))
        day.notes.append(
            f"batch of {b.items}: {k} instances, {waves} wave(s), {cold_inst:.0f} cold"
        )


def _pool_result(day: _Day, service: ServiceTime, pool: PoolConfig) -> PerfResult:
    """Turn the day's totals into the prediction (init time, percentiles, notes)."""
    w = pool.warm_instances
    cold_s = pool.cold_start_s
    s_mean = service.mean_s
    notes = day.notes
    if pool.keep_alive_s is None or math.isinf(pool.keep_alive_s):
        notes.append("instances are never reclaimed for idleness")
    init_day = day.cold * cold_s
    od_busy, od_alive = day.od_busy, day.od_alive
    if pool.cold_holds_instance:
        od_busy += init_day
        od_alive += init_day
    total_w = sum(comp.weight for comp in day.comps)
    if total_w > 0:
        p50, p95, p99 = (
            q + pool.overhead_s for q in quantiles(day.comps, service, (0.5, 0.95, 0.99))
        )
    else:
        p50 = p95 = p99 = 0.0
    if day.saturated:
        notes.append("offered load exceeds max_instances x concurrency: requests queue/throttle")
    req_day = day.req
    return PerfResult(
        requests_per_day=req_day,
        cold_starts_per_day=day.cold,
        cold_start_prob=day.cold_req / req_day if req_day > 0 else 0.0,
        p50_s=p50,
        p95_s=p95,
        p99_s=p99,
        mean_instances=w + od_alive / DAY_S,
        peak_instances=w + day.peak,
        mean_busy_instances=(od_busy + day.warm_busy) / DAY_S,
        warm_instances=w,
        service_s_per_day=req_day * s_mean,
        init_s_per_day=init_day,
        ondemand_busy_s_per_day=od_busy,
        ondemand_alive_s_per_day=od_alive,
        warm_busy_s_per_day=day.warm_busy,
        warm_alive_s_per_day=w * DAY_S,
        mean_wait_s=day.wait_sum / req_day if req_day > 0 else 0.0,
        saturated=day.saturated,
        service_mean_s=s_mean,
        cold_start_s=cold_s,
        notes=tuple(notes),
        overhead_s=pool.overhead_s,
        components=tuple(day.comps),
    )


def _segment_at(segs: Sequence[Segment], states: Sequence[PoolState], t: float) -> float:
    for seg, st in zip(segs, states, strict=True):
        if seg.start_s <= t < seg.start_s + seg.duration_s:
            return st.mean_instances
    return 0.0
