r"""On/off bursts (a two-state Markov-modulated Poisson process) through the same pool model.

Arrivals come at ``on_rps`` during bursts and at ``off_rps`` between them; burst and gap lengths
are exponential with means ``mean_on_s`` and ``mean_off_s``. The pool is still the window
maximum of the requests in service, :math:`N(t)=\max_{[t-T,t]}\lceil B/c\rceil`, but the
chance that the window stays below a level :math:`L` now depends on how much of the window was
spent in bursts. Per level, the hitting time of :math:`L` is exponential with the M/M/∞ mean of
the current state (:math:`\tau_{on}(L)`, :math:`\tau_{off}(L)`), so "not reached yet" is a
two-state chain with killing rates :math:`k_s = 1/\tau_s(L)`:

.. math:: P(M_T < L) = \pi_0^\top e^{(Q-K)T}\mathbf 1,\qquad
          \pi_0 = (p_{on}F_{on}(L-1),\ p_{off}F_{off}(L-1))

with :math:`Q` the on/off generator and :math:`K=\mathrm{diag}(k)`: the 2×2 exponential has a
closed form, so every level is evaluated at once. As for Poisson, the cold-start rate is
:math:`\frac{d}{dT}E[N_T] = \sum_L \pi_0^\top e^{(Q-K)T}k`, and its split by state gives the
cold-start probability during bursts, which lengthens the holding time there (a cold request
holds its instance for the init too; solved as a fixed point per state). With equal rates, or
with bursts much longer than the keep-alive, it reduces to the stationary Poisson pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from svai.compiler.perf.model import PoolState
from svai.compiler.perf.pool import (
    busy_instances,
    erlang_c,
    instance_levels,
    level_laws,
    levels_needed,
)
from svai.compiler.traffic import OnOff

__all__ = ["onoff_pool"]

FloatArray = npt.NDArray[np.float64]

# The fixed point of a held cold start by state: plain steps first (as many as before Newton
# steps were added, so a pool they settle is unchanged), then Newton steps, within this budget.
_PLAIN_STEPS = 3
_HELD_STEPS = 30


def onoff_pool(
    bursts: OnOff,
    mean_service_s: float,
    keep_alive_s: float | None,
    *,
    concurrency: int = 1,
    warm_instances: int = 0,
    max_instances: int | None = None,
    cold_start_s: float = 0.0,
    cold_holds_instance: bool = True,
) -> PoolState:
    """Return the long-run state of a scale-per-request pool under on/off bursts.

    Args:
        bursts: The arrival process.
        mean_service_s: Mean warm service time.
        keep_alive_s: Idle time before reclaim; ``None``: never reclaimed.
        concurrency: Requests per instance.
        warm_instances: Instances never reclaimed, used first.
        max_instances: Cap on instances (warm included).
        cold_start_s: Init time a cold request adds to its holding time.
        cold_holds_instance: Whether the cold request holds its instance during init.

    Returns:
        The pool state, averaged over time (cold-start probability per request).
    """
    lam = bursts.mean_rps
    if lam <= 0.0:
        return PoolState(0.0, 0.0, 0.0, 0.0, 0.0)
    c, w = concurrency, warm_instances
    t = math.inf if keep_alive_s is None else keep_alive_s
    cap_od = None if max_instances is None else max(0, max_instances - w)

    def pool_at(p: FloatArray) -> tuple[PoolState, FloatArray]:
        holding = (mean_service_s + p[0] * cold_start_s, mean_service_s + p[1] * cold_start_s)
        state, by_state = _onoff_once(bursts, holding, t, c, w, cap_od)
        return state, np.array(by_state)

    if cold_holds_instance and cold_start_s > 0:
        state = _held_by_state(pool_at)
    else:
        state = pool_at(np.zeros(2))[0]
    if max_instances is not None:
        state = _with_queueing(state, bursts, mean_service_s, cold_start_s, max_instances * c)
    return state


def _held_by_state(pool_at: Callable[[FloatArray], tuple[PoolState, FloatArray]]) -> PoolState:
    """Solve ``p = g(p)`` for the cold-start probabilities during bursts and between them.

    ``pool_at(p)`` is the pool whose requests hold their instance ``p[state] * init`` longer,
    with ``g(p)``, its cold-start probability by state. As with one rate
    (:func:`~svai.compiler.perf.pool.held_fixed_point`), plain steps ``p <- g(p)`` settle it
    where ``g`` is flat and crawl or swing where it is steep. So after three plain steps, Newton
    steps on ``g(p) - p`` (forward-difference Jacobian), each halved until it shrinks the
    residual, or a plain step where none does.

    Args:
        pool_at: The pool and its cold-start probabilities by state, at given ones.

    Returns:
        The pool at the fixed point (``max |g(p) - p| < 1e-9``), or after the step budget.
    """
    p = np.zeros(2)
    state, g = pool_at(p)
    for step in range(_HELD_STEPS):
        residual = g - p
        size = float(np.max(np.abs(residual)))
        if size < 1e-9:
            break
        if step >= _PLAIN_STEPS:
            trial = _newton_step(pool_at, p, residual, size)
            if trial is not None:
                p, state, g = trial
                continue
        p = g
        state, g = pool_at(p)
    return state


def _newton_step(
    pool_at: Callable[[FloatArray], tuple[PoolState, FloatArray]],
    p: FloatArray,
    residual: FloatArray,
    size: float,
) -> tuple[FloatArray, PoolState, FloatArray] | None:
    """A damped Newton step on ``g(p) - p`` that shrinks the residual, or None."""
    jacobian = np.empty((2, 2))
    for k in range(2):
        h = 1e-7 if p[k] + 1e-7 <= 1.0 else -1e-7
        nudged = p.copy()
        nudged[k] += h
        jacobian[:, k] = (pool_at(nudged)[1] - nudged - residual) / h
    try:
        delta = np.linalg.solve(jacobian, -residual)
    except np.linalg.LinAlgError:
        return None
    for _ in range(6):
        trial = np.clip(p + delta, 0.0, 1.0)
        state, g = pool_at(trial)
        if float(np.max(np.abs(g - trial))) < size:
            return trial, state, g
        delta = delta / 2.0
    return None


def _onoff_once(
    bursts: OnOff, holding: tuple[float, float], t: float, c: int, w: int, cap_od: int | None
) -> tuple[PoolState, tuple[float, float]]:
    rates = (bursts.on_rps, bursts.off_rps)
    shares = (bursts.on_share, 1.0 - bursts.on_share)
    n = max(levels_needed(lam * s, w * c + c) for lam, s in zip(rates, holding, strict=True))
    laws = [_laws(lam, s, n) for lam, s in zip(rates, holding, strict=True)]
    levels = instance_levels(n, c, w, cap_od)
    idx = levels - 1
    f = [law[1][idx] for law in laws]
    kill = [np.where(np.isfinite(law[2][idx]) & (law[2][idx] > 0), 1.0 / law[2][idx], 0.0)
            for law in laws]  # fmt: skip
    start = [share * fs for share, fs in zip(shares, f, strict=True)]
    if math.isinf(t):
        # Never reclaimed: the pool holds the all-time maximum; cold starts vanish.
        below = [np.where((k <= 0) & (fs >= 1.0 - 1e-12), p, 0.0)
                 for k, fs, p in zip(kill, f, start, strict=True)]  # fmt: skip
        cold_by_state = (0.0, 0.0)
    else:
        below = _survive(start, kill, 1.0 / bursts.mean_on_s, 1.0 / bursts.mean_off_s, t)
        cold_by_state = (float(np.sum(below[0] * kill[0])), float(np.sum(below[1] * kill[1])))
    p_ge = np.clip(1.0 - (below[0] + below[1]), 0.0, 1.0)
    busy_od = busy_warm = 0.0
    for share, law in zip(shares, laws, strict=True):
        od, warm = busy_instances(law[0], c, w, cap_od)
        busy_od += share * od
        busy_warm += share * warm
    arrivals = [share * lam for share, lam in zip(shares, rates, strict=True)]
    p_by_state = tuple(
        min(1.0, cold / a) if a > 0 else 0.0
        for cold, a in zip(cold_by_state, arrivals, strict=True)
    )
    total = sum(arrivals)
    cold_prob = 0.0 if cap_od == 0 else min(1.0, sum(cold_by_state) / total)
    state = PoolState(
        cold_prob, float(np.sum(p_ge)), float(np.count_nonzero(p_ge >= 0.01)), busy_od, busy_warm
    )
    return state, (p_by_state[0], p_by_state[1])


def _laws(lam: float, s: float, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    if lam <= 0.0:
        # No arrivals in this state: nothing in service, no level is ever reached.
        pi = np.zeros(n)
        pi[0] = 1.0
        return pi, np.ones(n), np.full(n, np.inf)
    return level_laws(lam, s, n)


def _survive(
    start: list[FloatArray], kill: list[FloatArray], a: float, b: float, t: float
) -> list[FloatArray]:
    """Per level, ``start^T exp((Q - K) t)`` split by the state at ``t`` (closed-form 2x2).

    ``Q = [[-a, a], [b, -b]]`` (on -> off at rate ``a``, off -> on at ``b``), ``K = diag(kill)``.
    """
    m11 = -a - kill[0]
    m22 = -b - kill[1]
    half = 0.5 * (m11 + m22)
    d = np.sqrt(0.25 * (m11 - m22) ** 2 + a * b)
    # exp(M t) = e^{half t} [cosh(d t) I + sinh(d t)/d (M - half I)], written with the two
    # (non-positive) eigenvalues so nothing overflows.
    e_hi = np.exp((half + d) * t)
    e_lo = np.exp((half - d) * t)
    ch = 0.5 * (e_hi + e_lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        sh_d = np.where(d > 0, 0.5 * (e_hi - e_lo) / np.where(d > 0, d, 1.0), t * e_hi)
    x11 = ch + sh_d * (m11 - half)
    x22 = ch + sh_d * (m22 - half)
    x12 = sh_d * a
    x21 = sh_d * b
    on = start[0] * x11 + start[1] * x21
    off = start[0] * x12 + start[1] * x22
    return [np.maximum(on, 0.0), np.maximum(off, 0.0)]


def _with_queueing(
    state: PoolState, bursts: OnOff, service_s: float, cold_s: float, servers: int
) -> PoolState:
    """Queueing behind the cap, by state (the burst is what saturates), weighted by requests."""
    from dataclasses import replace

    waits = []
    for lam, share in ((bursts.on_rps, bursts.on_share), (bursts.off_rps, 1 - bursts.on_share)):
        load = lam * (service_s + state.cold_start_prob * cold_s)
        if lam <= 0:
            continue
        if load >= servers:
            return replace(state, wait_prob=1.0, wait_rate=0.0, saturated=True)
        waits.append((share * lam, erlang_c(servers, load), (servers - load) / service_s))
    total = sum(weight for weight, _, _ in waits)
    if total <= 0:
        return state
    wait_prob = sum(weight * pw for weight, pw, _ in waits) / total
    if wait_prob <= 0:
        return state
    # The slowest tail (the burst's) stands for all: conservative.
    rate = min(r for _, pw, r in waits if pw > 0)
    return replace(state, wait_prob=wait_prob, wait_rate=rate)
