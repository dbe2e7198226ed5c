"""Always-on fleets (endpoints, Fargate): a fleet per segment, no cold starts, Erlang C."""

from __future__ import annotations

import math

from svai.compiler.perf.latency import SATURATED_S, Component, quantiles
from svai.compiler.perf.model import PerfResult, PoolConfig, ServiceTime
from svai.compiler.perf.pool import erlang_c
from svai.compiler.traffic import DAY_S, TrafficProfile

__all__ = ["predict_fleet"]


def predict_fleet(traffic: TrafficProfile, service: ServiceTime, pool: PoolConfig) -> PerfResult:
    """Predict an always-on fleet that tracks each traffic segment.

    Args:
        traffic: One day of traffic.
        service: Warm service time per request.
        pool: The fleet's configuration (``always_on``).

    Returns:
        The prediction for one day.
    """
    c = pool.concurrency
    s_mean = service.mean_s
    lo = max(pool.warm_instances, 0)
    comps: list[Component] = []
    req_day = alive = busy = wait_sum = 0.0
    peak = 0.0
    saturated = False
    cold_day = 0.0
    notes = ["always-on fleet: autoscaling assumed to track each traffic segment"]
    prev_n = None
    for seg in traffic.segments:
        load = seg.rate_rps * s_mean
        need = math.ceil(load / (c * pool.target_utilisation)) if load > 0 else 0
        n = max(lo, need)
        if pool.max_instances is not None:
            n = min(n, pool.max_instances)
        alive += n * seg.duration_s
        peak = max(peak, float(n))
        if prev_n is not None and n > prev_n and prev_n == 0 and seg.rate_rps > 0:
            # Scale from zero: requests during the node start wait for it.
            cold_day += n
        prev_n = n
        if seg.rate_rps <= 0:
            continue
        n_req = seg.requests
        req_day += n_req
        servers = n * c
        if servers <= 0 or load >= servers:
            saturated = True
            comps.append(Component(n_req, SATURATED_S))
            wait_sum += SATURATED_S * n_req
            busy += n * seg.duration_s
            continue
        pw = erlang_c(servers, load)
        rate = (servers - load) / s_mean
        comps.append(Component(n_req, 0.0, pw, rate))
        wait_sum += (pw / rate if pw > 0 else 0.0) * n_req
        j_need = load / c
        busy += min(float(n), j_need) * seg.duration_s
    for b in traffic.batches:
        n = max(lo, 1) if pool.max_instances is None else min(max(lo, 1), pool.max_instances)
        per_wave = n * c
        waves = math.ceil(b.items / per_wave)
        req_day += b.items
        groups = min(waves, 48)
        edges = [round(waves * g / groups) for g in range(groups + 1)]
        for g in range(groups):
            lo_w, hi_w = edges[g], edges[g + 1]
            items = min(b.items, hi_w * per_wave) - lo_w * per_wave
            if hi_w <= lo_w or items <= 0:
                continue
            shift = 0.5 * (lo_w + hi_w - 1) * s_mean
            comps.append(Component(float(items), shift))
            wait_sum += items * shift
        busy += b.items * s_mean / c
        notes.append(f"batch of {b.items}: queued on {n} instance(s), {waves} wave(s)")
    if saturated:
        notes.append("fleet too small for the offered load: requests queue without bound")
    if comps:
        p50, p95, p99 = (q + pool.overhead_s for q in quantiles(comps, service, (0.5, 0.95, 0.99)))
    else:
        p50 = p95 = p99 = 0.0
    return PerfResult(
        requests_per_day=req_day,
        cold_starts_per_day=cold_day,
        cold_start_prob=0.0,
        p50_s=p50,
        p95_s=p95,
        p99_s=p99,
        mean_instances=alive / DAY_S,
        peak_instances=peak,
        mean_busy_instances=busy / DAY_S,
        warm_instances=pool.warm_instances,
        service_s_per_day=req_day * s_mean,
        init_s_per_day=cold_day * pool.cold_start_s,
        ondemand_busy_s_per_day=busy,
        ondemand_alive_s_per_day=alive,
        warm_busy_s_per_day=0.0,
        warm_alive_s_per_day=0.0,
        mean_wait_s=wait_sum / req_day if req_day > 0 else 0.0,
        saturated=saturated,
        service_mean_s=s_mean,
        cold_start_s=pool.cold_start_s,
        notes=tuple(notes),
        overhead_s=pool.overhead_s,
        components=tuple(comps),
    )
