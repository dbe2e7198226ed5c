"""Latency percentiles: the day's request-weighted mixture of service, waits and cold starts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from svai.compiler.perf.model import Component, ServiceTime

__all__ = ["SATURATED_S", "Component", "fixed_time_quantile", "quantiles"]

FloatArray = npt.NDArray[np.float64]

SATURATED_S = 3600.0  # latency reported when the capacity cap is below the offered load
_GRID = 640
# Gauss-Laguerre nodes for E[F(x - W)] with W ~ Exp(theta).
_GL_X, _GL_W = np.polynomial.laguerre.laggauss(16)


def _norm_cdf(z: FloatArray) -> FloatArray:
    """Standard normal CDF (Numerical Recipes erfc, |error| < 1.2e-7), vectorised."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * x)
    poly = (
        -x * x
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    erfc = t * np.exp(poly)
    return np.where(z >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


def _lognorm_cdf(x: FloatArray, mu: float, sigma: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.maximum(x, 1e-300)) - mu) / sigma
    return np.where(x > 0, _norm_cdf(z), 0.0)


def quantiles(
    comps: Sequence[Component], service: ServiceTime, qs: Sequence[float]
) -> tuple[float, ...]:
    """Return the latency quantiles ``qs`` of the mixture of ``comps``.

    Args:
        comps: Request groups with their shift and queueing wait.
        service: Warm service time (lognormal).
        qs: Probabilities, e.g. ``(0.5, 0.95, 0.99)``.

    Returns:
        One latency in seconds per probability.
    """
    mu, sigma = service.mu, service.sigma
    weights = np.array([c.weight for c in comps])
    weights = weights / weights.sum()
    shifts = np.array([c.shift for c in comps])
    pw = np.array([c.wait_prob for c in comps])
    wr = np.array([c.wait_rate for c in comps])
    s_lo = math.exp(mu - 5.0 * sigma)
    s_hi = math.exp(mu + 5.0 * sigma)
    tail = np.where(pw > 0, np.log(np.maximum(pw, 1e-300) / 1e-4) / np.where(wr > 0, wr, 1), 0)
    hi = float(np.max(shifts + np.maximum(tail, 0.0))) + s_hi
    x = np.geomspace(s_lo, max(hi, s_lo * 10), _GRID)
    # Tabulate the service CDF once (log-spaced, 0.005 sigma steps); interpolation is far
    # cheaper than evaluating erfc for every grid point x component x quadrature node.
    table_y = np.geomspace(s_lo, s_hi, 2048)
    table_f = _lognorm_cdf(table_y, mu, sigma)

    def service_cdf(y: FloatArray) -> FloatArray:
        return np.interp(y, table_y, table_f, left=0.0, right=1.0)

    base = x[None, :] - shifts[:, None]
    cdf = service_cdf(base)
    queued = (pw > 1e-6) & (wr > 0)
    if np.any(queued):
        # E[F_S(y - W)], W = 0 w.p. 1-p, else Exp(r): Gauss-Laguerre on the exponential part,
        # all queued components at once.
        q_base = base[queued]
        ys = q_base[:, :, None] - _GL_X[None, None, :] / wr[queued][:, None, None]
        conv = service_cdf(ys) @ _GL_W
        p = pw[queued][:, None]
        cdf[queued] = (1.0 - p) * cdf[queued] + p * conv
    total = weights @ cdf
    total = np.maximum.accumulate(np.clip(total, 0.0, 1.0))
    out = []
    for q in qs:
        k = int(np.searchsorted(total, q))
        if k <= 0:
            out.append(float(x[0]))
        elif k >= len(x):
            out.append(float(x[-1]))
        else:
            f0, f1 = total[k - 1], total[k]
            frac = 0.0 if f1 <= f0 else (q - f0) / (f1 - f0)
            out.append(float(x[k - 1] + frac * (x[k] - x[k - 1])))
    return tuple(out)


def fixed_time_quantile(comps: Sequence[Component], time_s: float, q: float) -> float:
    """The ``q`` quantile of ``time_s`` + each group's shift + its queueing wait.

    For a per-request time that does not vary between requests (time to first token: prefill
    and one decode step), mixed over the same request groups as :func:`quantiles`. Exact for
    the mixture of shifted exponential waits (bisection on its CDF); a saturated group (a wait
    with rate 0) never finishes, and the answer is then :data:`SATURATED_S` when it matters.
    """
    weights = np.array([c.weight for c in comps], dtype=np.float64)
    if weights.sum() <= 0:
        return time_s
    weights = weights / weights.sum()
    shifts = np.array([c.shift for c in comps])
    pw = np.array([c.wait_prob for c in comps])
    wr = np.array([c.wait_rate for c in comps])

    def cdf(x: float) -> float:
        after = x - shifts
        waited = np.where(wr > 0, 1.0 - np.exp(-np.maximum(after, 0.0) * wr), 0.0)
        inside = np.where(after >= 0, (1.0 - pw) + pw * waited, 0.0)
        return float(weights @ inside)

    hi = float(np.max(shifts)) + 1.0
    while cdf(hi) < q:
        if hi > SATURATED_S:
            return SATURATED_S
        hi *= 2.0
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return time_s + hi
