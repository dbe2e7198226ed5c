"""The stationary scale-per-request pool at one Poisson rate, and the queueing formulas."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from svai.compiler.perf.model import PoolState

__all__ = [
    "busy_instances",
    "erlang_b",
    "erlang_c",
    "instance_levels",
    "level_laws",
    "levels_needed",
    "stationary_pool",
]

FloatArray = npt.NDArray[np.float64]


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
    p_cold = 0.0
    state = None
    for _ in range(3 if (cold_holds_instance and cold_start_s > 0) else 1):
        s_eff = mean_service_s + (p_cold * cold_start_s if cold_holds_instance else 0.0)
        state = _pool_once(rate_rps, s_eff, t, c, w, cap_od)
        if abs(state.cold_start_prob - p_cold) < 1e-9:
            break
        p_cold = state.cold_start_prob
    assert state is not None
    if max_instances is not None:
        servers = max_instances * c
        load = rate_rps * (mean_service_s + state.cold_start_prob * cold_start_s)
        if load >= servers:
            return replace(state, wait_prob=1.0, wait_rate=0.0, saturated=True)
        pw = erlang_c(servers, load)
        if pw > 0.0:
            rate = (servers - load) / mean_service_s
            return replace(state, wait_prob=pw, wait_rate=rate, saturated=False)
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
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # sum_{j<L} F(j)^2 / (lam pi_j), accumulated in linear space (terms grow monotonically
        # once j passes the mode, and the early ones are negligible).
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
    levels = instance_levels(n, c, w, cap_od)
    if levels.size == 0:
        p_lt = np.zeros(0)
        cold_rate = 0.0
    else:
        idx = levels - 1
        tau_l = tau[idx]
        f_l = f[idx]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if math.isinf(t):
                # Never reclaimed: the pool holds the all-time maximum; cold starts vanish.
                surv = np.where(f_l >= 1.0 - 1e-12, 1.0, 0.0)
                p_lt = f_l * surv
                cold_rate = 0.0
            else:
                ratio = np.where(np.isfinite(tau_l) & (tau_l > 0), t / tau_l, np.inf)
                surv = np.exp(-ratio)
                p_lt = f_l * surv
                dens = np.where(np.isfinite(tau_l) & (tau_l > 0), f_l / tau_l * surv, 0.0)
                cold_rate = float(np.sum(np.nan_to_num(dens)))
    p_ge = np.clip(1.0 - p_lt, 0.0, 1.0)
    mean_n = float(np.sum(p_ge))
    p99_n = float(np.count_nonzero(p_ge >= 0.01))
    busy_od, busy_warm = busy_instances(pi, c, w, cap_od)
    cold_prob = min(1.0, cold_rate / lam)
    if cap_od == 0:
        cold_prob = 0.0
    return PoolState(cold_prob, mean_n, p99_n, busy_od, busy_warm)
