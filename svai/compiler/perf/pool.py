"""The stationary scale-per-request pool at one Poisson rate, and the queueing formulas."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from svai.compiler.perf.model import PoolState

__all__ = [
    "busy_instances",
    "erlang_b",
    "erlang_c",
    "held_fixed_point",
    "instance_levels",
    "level_laws",
    "levels_needed",
    "stationary_pool",
]

FloatArray = npt.NDArray[np.float64]

# The fixed point of a held cold start: plain steps first (they settle it where the cold-start
# probability barely moves with the holding time), then bracketed secant steps, within this many
# pools.
_PLAIN_STEPS = 2
_FIXED_POINT_STEPS = 60


def _poisson_logpmf(rho: float, n: int) -> FloatArray:
    j = np.arange(n, dtype=np.float64)
    lgam = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n, dtype=np.float64)))))
    if rho <= 0.0:
        out = np.full(n, -np.inf)
        out[0] = 0.0
        return out
    return -rho + j * math.log(rho) - lgam


def levels_needed(rho: float, extra: int) -> int:
    """How many request levels to evaluate at load ``rho`` (far into the Poisson tail)."""
    return math.ceil(rho + 9.0 * math.sqrt(rho) + 40.0) + extra


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/G/servers/servers (insensitive to the service distribution)."""
    if load <= 0.0:
        return 0.0
    if servers <= 0:
        return 1.0
    logp = _poisson_logpmf(load, servers + 1)
    return math.exp(logp[-1] - float(np.logaddexp.reduce(logp)))


def erlang_c(servers: int, load: float) -> float:
    """Probability of waiting in M/M/servers with offered load ``load`` (< servers)."""
    if load <= 0.0:
        return 0.0
    if load >= servers:
        return 1.0
    if load < servers - 12.0 * math.sqrt(servers) - 20.0:
        return 0.0
    # Erlang B = P(X = s) / P(X <= s) for X ~ Poisson(load); computed in log space.
    logp = _poisson_logpmf(load, servers + 1)
    top = logp[-1]
    log_f = float(np.logaddexp.reduce(logp))
    b = math.exp(top - log_f)
    return servers * b / (servers - load * (1.0 - b))


def stationary_pool(
    rate_rps: float,
    mean_service_s: float,
    keep_alive_s: float | None,
    *,
    concurrency: int = 1,
    warm_instances: int = 0,
    max_instances: int | None = None,
    cold_start_s: float = 0.0,
    cold_holds_instance: bool = True,
) -> PoolState:
    """Return the stationary state of a scale-per-request pool at one Poisson rate.

    Implements the LIFO keep-alive model described in the module docstring: the cold-start
    probability is the derivative of the mean window maximum over the keep-alive, divided by
    the rate; the mean instance count is that mean window maximum.

    Args:
        rate_rps: Arrival rate.
        mean_service_s: Mean warm service time.
        keep_alive_s: Idle time before reclaim; ``None`` means never reclaimed.
        concurrency: Requests per instance.
        warm_instances: Instances that are never reclaimed and serve first.
        max_instances: Cap on instances (warm included).
        cold_start_s: Init time; a cold request holds its instance for it when
            ``cold_holds_instance`` (solved as a fixed point).
        cold_holds_instance: See ``cold_start_s``.

    Returns:
        The pool state.
    """
    c = concurrency
    w = warm_instances
    if rate_rps <= 0.0:
        return PoolState(0.0, 0.0, 0.0, 0.0, 0.0)
    t = math.inf if keep_alive_s is None else keep_alive_s
    cap_od = None if max_instances is None else max(0, max_instances - w)
    if cold_holds_instance and cold_start_s > 0:
        state = held_fixed_point(
            lambda p: _pool_once(rate_rps, mean_service_s + p * cold_start_s, t, c, w, cap_od)
        )
    else:
        state = _pool_once(rate_rps, mean_service_s, t, c, w, cap_od)
    if max_instances is not None:
        servers = max_instances * c
        load = rate_rps * (mean_service_s + state.cold_start_prob * cold_start_s)
        if load >= servers:
            return replace(state, wait_prob=1.0, saturated=True)
        pw = erlang_c(servers, load)
        if pw > 0.0:
            return replace(state, wait_prob=pw, wait_rate=(servers - load) / mean_service_s)
    return state


def held_fixed_point(pool_at: Callable[[float], PoolState]) -> PoolState:
    """Solve ``p = pool_at(p).cold_start_prob``: a cold request holds its instance for its init.

    ``pool_at(p)`` is the pool whose requests hold their instance ``p * init`` longer on average.
    Its cold-start probability ``g(p)`` can rise with ``p`` (one instance per request: longer
    holding means more of them, started cold) or fall (many requests per instance: longer holding
    keeps it alive). Either way ``g(0) - 0 >= 0`` and ``g(1) - 1 <= 0``, so a root of
    ``g(p) - p`` lies in ``[0, 1]``. Plain steps ``p <- g(p)`` from 0 settle on it in two or three
    steps where ``g`` is flat, the usual case, but crawl where ``g`` rises steeply (a long init
    at a rate near one per init) and oscillate where it falls steeply (a zero keep-alive, many
    requests per instance). So after two plain steps the solver takes secant steps, kept inside
    a bracket on which ``g(p) - p`` changes sign, bisecting it when a step would leave it.

    Args:
        pool_at: The pool at a given cold-start probability of the holding time.

    Returns:
        The pool at the fixed point: ``|g(p) - p| < 1e-9``, or a bracket narrower than 1e-12.
    """
    lo, hi = 0.0, 1.0
    p, p_prev, h_prev = 0.0, math.nan, math.nan
    for step in range(_FIXED_POINT_STEPS):
        state = pool_at(p)
        h = state.cold_start_prob - p
        if abs(h) < 1e-9:
            break
        if h > 0.0:
            lo = p
        else:
            hi = p
        if hi - lo < 1e-12:
            break
        if step < _PLAIN_STEPS:
            p_next = state.cold_start_prob
        else:
            p_next = p - h * (p - p_prev) / (h - h_prev) if h != h_prev else math.nan
            if not lo < p_next < hi:  # also NaN
                p_next = (lo + hi) / 2.0
        p, p_prev, h_prev = p_next, p, h
    return state


def level_laws(lam: float, s: float, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return, for request levels ``L = 1..n``, the M/M/inf laws the pool model rests on.

    Args:
        lam: Arrival rate.
        s: Mean holding time of a request.
        n: Levels to evaluate.

    Returns:
        ``(pi, f, tau)``: the Poisson(lam*s) pmf at ``0..n-1``, its CDF, and ``tau[L-1]``, the
        mean time to reach level ``L`` from the stationary law below it.
    """
    rho = lam * s
    logpi = _poisson_logpmf(rho, n)
    pi = np.exp(logpi)
    log_f = np.logaddexp.accumulate(logpi)
    f = np.exp(log_f)
    with np.errstate(all="ignore"):
        # sum_{j<L} F(j)^2 / (lam pi_j), accumulated in linear space (terms grow monotonically
        # once j passes the mode, and the early ones are negligible). Far below the mode F
        # underflows and tau is 0/0 (NaN): the pool treats those levels as always held.
        term = np.exp(np.minimum(2.0 * log_f - math.log(lam) - logpi, 700.0))
        acc = np.cumsum(term)
        tau = acc / f  # tau[L-1] = E[hitting time of L]
    return pi, f, tau


def instance_levels(n: int, c: int, w: int, cap_od: int | None) -> npt.NDArray[np.int64]:
    """Request levels at which the m-th on-demand instance is needed: ``w*c + (m-1)*c + 1``."""
    levels = np.arange(w * c + 1, n, c)
    if cap_od is not None:
        levels = levels[:cap_od]
    return levels


def busy_instances(pi: FloatArray, c: int, w: int, cap_od: int | None) -> tuple[float, float]:
    """Mean busy on-demand and warm instances under packing (``ceil(B/c)``, warm pool first)."""
    j = np.arange(len(pi))
    need = np.ceil(j / c)
    busy_warm = float(np.sum(pi * np.minimum(need, w)))
    over = np.maximum(need - w, 0.0)
    if cap_od is not None:
        over = np.minimum(over, cap_od)
    return float(np.sum(pi * over)), busy_warm


def _pool_once(lam: float, s: float, t: float, c: int, w: int, cap_od: int | None) -> PoolState:
    rho = lam * s
    n = levels_needed(rho, w * c + c)
    pi, f, tau = level_laws(lam, s, n)
    busy_od, busy_warm = busy_instances(pi, c, w, cap_od)
    levels = instance_levels(n, c, w, cap_od)
    if levels.size == 0:
        # The cap leaves no on-demand instance: none starts cold, none is kept alive.
        return PoolState(0.0, 0.0, 0.0, busy_od, busy_warm)
    tau_l = tau[levels - 1]
    f_l = f[levels - 1]
    if math.isinf(t):
        # Never reclaimed: the pool holds the all-time maximum; cold starts vanish.
        p_lt = np.where(f_l >= 1.0 - 1e-12, f_l, 0.0)
        cold_rate = 0.0
    else:
        # Where B sits far above a level, tau is 0 (or 0/0, NaN, once F underflows): that level
        # is always held, its instance never idles (no survival, no cold starts through it).
        with np.errstate(all="ignore"):
            can_idle = tau_l > 0
            surv = np.exp(-np.where(can_idle, t / tau_l, np.inf))
            dens = np.where(can_idle, f_l / tau_l * surv, 0.0)
        p_lt = f_l * surv
        cold_rate = float(np.sum(dens))
    # F can round to just above 1: a level no one reaches counts 0 instances, not -1e-16.
    p_ge = np.maximum(1.0 - p_lt, 0.0)
    mean_n = float(np.sum(p_ge))
    p99_n = float(np.count_nonzero(p_ge >= 0.01))
    return PoolState(min(1.0, cold_rate / lam), mean_n, p99_n, busy_od, busy_warm)
