r"""The performance model: cold starts, instances and latency of one offering configuration.

How it works (details and validation in ``docs/performance-model.md``):

**On-demand pools (FaaS, serverless containers).** Requests arrive as Poisson segments
(:mod:`svai.compiler.traffic`). Let :math:`B(t)` be the number of requests in service, an
M/G/∞ process (Poisson with mean :math:`\rho = \lambda E[S]`). The platform reuses the most
recently freed instance (LIFO, as Lambda does) and reclaims an instance after ``keep_alive_s``
(:math:`T`) idle. Then, exactly, the instances alive at time :math:`t` are

.. math:: N(t) = \max_{s \in [t-T,\, t]} \lceil B(s)/c \rceil

(with ``c`` requests per instance and perfect packing), because the idle stack is sorted by
free time, pops and pushes happen at its top and expiry removes its bottom: the idle instances
freed in the last :math:`T` and still unused number :math:`\max_{[t-T,t]} B - B(t)`. An arrival is
a cold start iff it finds every alive instance full, and each cold start raises the window
maximum by one instance, so by stationarity (and time reversal) the cold-start rate is
:math:`\frac{d}{dT}E[N_T]`. The window maximum's distribution comes from the birth-death
(M/M/∞) hitting time of each level :math:`L`: from the stationary law below :math:`L`,

.. math:: E[\tau_L] = \frac{1}{F(L-1)} \sum_{j<L} \frac{F(j)^2}{\lambda \pi_j},\qquad
          P(M_T < L) \approx F(L-1)\, e^{-T/E[\tau_L]}

which is exact for :math:`L=1` and agrees with the matrix-exponential solution to < 0.1% on the
Lambda experiments (``T`` ≫ service time). Everything is a vectorised sum over levels; no
simulation is needed for Poisson segments. Warm pools (provisioned concurrency, min instances)
take the lowest ``warm·c`` request levels; the on-demand pool only counts levels above them.

**Non-stationary traffic.** Each segment is evaluated at its own rate; a rise in rate adds the
cold starts needed to grow the pool from what is alive to the new level (for an abrupt burst at
least the requests arriving while new instances initialise); an idle stretch longer than the
keep-alive empties the pool. Batches (many requests at once) are served in waves on
``min(items/c, max_instances)`` instances.

**Always-on fleets (endpoints, Fargate).** A fleet of ``clamp(ceil(λS/(c·u)), warm, max)``
instances per segment, no cold starts, M/M/n (Erlang C) queueing.

**Latency.** Warm service time is lognormal (mean and CV, or mean and declared p99). Each
request's latency is service + queueing wait (Erlang C, exponential tail) + the cold-start time
if it was cold (+ a wave offset in batches); percentiles invert the day's mixture CDF on a
geometric grid.

:func:`simulate_pool` is an exact event-driven simulation (seeded) of the same platform rules for
any arrival sequence; the tests use it to check the analytic model on bursty, non-Poisson,
concurrent and warm-pool cases.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from svai.compiler.catalog import GpuRuntime, Offering, Size
from svai.compiler.traffic import DAY_S, TrafficProfile

__all__ = [
    "PerfResult",
    "PoolConfig",
    "PoolState",
    "ServiceTime",
    "SimResult",
    "cold_start_seconds",
    "pool_config",
    "predict",
    "simulate_pool",
    "stationary_pool",
]

FloatArray = npt.NDArray[np.float64]

_Z99 = 2.3263478740408408
_SATURATED_S = 3600.0  # latency reported when the capacity cap is below the offered load
_GRID = 640
# Gauss-Laguerre nodes for E[F(x - W)] with W ~ Exp(theta).
_GL_X, _GL_W = np.polynomial.laguerre.laggauss(16)


@dataclass(frozen=True)
class ServiceTime:
    """Warm service time of one request on one instance.

    Attributes:
        mean_s: Mean seconds.
        cv: Coefficient of variation (lognormal shape) when ``p99_s`` is not given.
        p99_s: Declared p99 seconds; sets the lognormal shape instead of ``cv``.
    """

    mean_s: float
    cv: float = 0.5
    p99_s: float | None = None

    def __post_init__(self) -> None:
        """Reject impossible service times."""
        if not (math.isfinite(self.mean_s) and self.mean_s > 0):
            raise ValueError(f"mean_s must be > 0, got {self.mean_s!r}")
        if not (math.isfinite(self.cv) and self.cv >= 0):
            raise ValueError(f"cv must be >= 0, got {self.cv!r}")
        if self.p99_s is not None and not self.p99_s >= self.mean_s:
            raise ValueError("p99_s must be >= mean_s")

    @property
    def sigma(self) -> float:
        """Lognormal shape parameter."""
        if self.p99_s is not None:
            ratio = math.log(self.p99_s / self.mean_s)
            disc = _Z99 * _Z99 - 2.0 * ratio
            sigma = _Z99 - math.sqrt(disc) if disc > 0 else _Z99
        else:
            sigma = math.sqrt(math.log1p(self.cv * self.cv))
        return max(sigma, 1e-3)

    @property
    def mu(self) -> float:
        """Lognormal location parameter (so that the mean is ``mean_s``)."""
        s = self.sigma
        return math.log(self.mean_s) - 0.5 * s * s


@dataclass(frozen=True)
class PoolConfig:
    """How one offering configuration scales.

    Attributes:
        cold_start_s: Seconds from a request finding no free instance to its new instance
            being ready (platform init + artifact fetch + model load).
        keep_alive_s: Idle seconds before an on-demand instance is reclaimed; ``None`` never.
        concurrency: Requests one instance serves at once.
        warm_instances: Warm pool (provisioned concurrency / min instances / always ready);
            for always-on fleets, the minimum fleet size.
        max_instances: Cap on instances (warm included); ``None``: unlimited.
        always_on: A fleet that does not scale per request (endpoints, Fargate).
        target_utilisation: Fleet autoscaling target for always-on fleets.
        cold_holds_instance: A cold request occupies its instance during init.
    """

    cold_start_s: float
    keep_alive_s: float | None = 600.0
    concurrency: int = 1
    warm_instances: int = 0
    max_instances: int | None = None
    always_on: bool = False
    target_utilisation: float = 0.7
    cold_holds_instance: bool = True

    def __post_init__(self) -> None:
        """Reject impossible pool settings."""
        if self.cold_start_s < 0 or not math.isfinite(self.cold_start_s):
            raise ValueError("cold_start_s must be finite and >= 0")
        if self.keep_alive_s is not None and self.keep_alive_s < 0:
            raise ValueError("keep_alive_s must be >= 0")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.warm_instances < 0:
            raise ValueError("warm_instances must be >= 0")
        if self.max_instances is not None and self.max_instances < max(1, self.warm_instances):
            raise ValueError("max_instances must be >= max(1, warm_instances)")
        if not 0 < self.target_utilisation <= 1:
            raise ValueError("target_utilisation must be in (0, 1]")


@dataclass(frozen=True)
class PoolState:
    """Stationary state of a pool at one arrival rate (one traffic segment).

    Attributes:
        cold_start_prob: Probability that an arrival is a cold start.
        mean_instances: Mean on-demand instances alive (warm pool excluded).
        p99_instances: 99th percentile of on-demand instances alive.
        mean_busy_ondemand: Mean on-demand instances with >= 1 request.
        mean_busy_warm: Mean warm-pool instances with >= 1 request.
        wait_prob: Probability that a request queues (capacity cap / fleet).
        wait_rate: Exponential rate (1/s) of the queueing wait tail.
        saturated: Offered load exceeds the capped capacity.
    """

    cold_start_prob: float
    mean_instances: float
    p99_instances: float
    mean_busy_ondemand: float
    mean_busy_warm: float
    wait_prob: float = 0.0
    wait_rate: float = 0.0
    saturated: bool = False


@dataclass(frozen=True)
class PerfResult:
    """Predicted behaviour of one offering configuration under one day of traffic.

    Billing figures are per day; multiply by ``traffic.DAYS_PER_MONTH`` for a month.

    Attributes:
        requests_per_day: Requests per day.
        cold_starts_per_day: Instance creations per day (cold starts).
        cold_start_prob: Fraction of requests that wait for a cold start.
        p50_s: Median latency (service + queueing + cold start), seconds.
        p95_s: 95th percentile latency.
        p99_s: 99th percentile latency.
        mean_instances: Time-average instances alive (warm pool included).
        peak_instances: Highest instance count to expect (p99 in the busiest segment).
        mean_busy_instances: Time-average instances handling >= 1 request.
        warm_instances: Warm-pool size (always billed).
        service_s_per_day: Sum of warm service times of all requests (per-request billing).
        init_s_per_day: Sum of cold-start init times.
        ondemand_busy_s_per_day: On-demand instance-seconds with >= 1 request (incl. init).
        ondemand_alive_s_per_day: On-demand instance-seconds alive (busy + idle).
        warm_busy_s_per_day: Warm-pool instance-seconds with >= 1 request.
        warm_alive_s_per_day: Warm-pool instance-seconds (``warm_instances`` x day).
        mean_wait_s: Mean queueing wait.
        saturated: Some traffic exceeds the capped capacity (latency is then meaningless).
        service_mean_s: Mean warm service time used.
        cold_start_s: Cold-start time used.
        notes: Modelling notes for people.
    """

    requests_per_day: float
    cold_starts_per_day: float
    cold_start_prob: float
    p50_s: float
    p95_s: float
    p99_s: float
    mean_instances: float
    peak_instances: float
    mean_busy_instances: float
    warm_instances: int
    service_s_per_day: float
    init_s_per_day: float
    ondemand_busy_s_per_day: float
    ondemand_alive_s_per_day: float
    warm_busy_s_per_day: float
    warm_alive_s_per_day: float
    mean_wait_s: float
    saturated: bool
    service_mean_s: float
    cold_start_s: float
    notes: tuple[str, ...] = field(default=())


# ------------------------------------------------------------------------------ cold start


def cold_start_seconds(
    offering: Offering,
    size: Size,
    *,
    artifact_mb: float,
    model_load_s: float,
    image_mb: float = 0.0,
    gpu_runtime: GpuRuntime | None = None,
    weights_gb: float = 0.0,
) -> float:
    """Return the cold-start time of one instance of ``offering`` at ``size``.

    Components: platform init (+ node start; + GPU node start for GPU sizes) + image pull
    (``image_mb`` at the offering's pull rate) + artifact fetch (``artifact_mb`` at the fetch
    rate) + model load (``model_load_s``, skipped for snapshot-restore offerings). For GPU sizes
    with ``gpu_runtime`` and ``weights_gb``, the measured GPU components are added: ``import
    torch`` + CUDA context + weights at the measured safetensors rate + first forward.

    Args:
        offering: The offering.
        size: The sizing (a GPU size adds the GPU components).
        artifact_mb: Model artifact size read at start.
        model_load_s: Seconds to load the model once it is local (declared or measured).
        image_mb: Container image bytes read at start (0 for zip packages).
        gpu_runtime: Measured GPU components (``Catalog.gpu_runtime``).
        weights_gb: Weights moved to the GPU at start.

    Returns:
        Seconds.
    """
    cs = offering.cold_start
    total = cs.platform_s + cs.node_start_s
    if size.gpu is not None:
        total += cs.gpu_node_start_s
    if image_mb > 0 and cs.image_pull_mb_per_s:
        total += image_mb / cs.image_pull_mb_per_s
    if artifact_mb > 0 and cs.artifact_fetch_mb_per_s:
        total += artifact_mb / cs.artifact_fetch_mb_per_s
    if not cs.model_load_in_snapshot:
        total += model_load_s
        if size.gpu is not None and gpu_runtime is not None and weights_gb > 0:
            total += (
                gpu_runtime.import_torch_s
                + gpu_runtime.cuda_context_s
                + weights_gb / gpu_runtime.safetensors_gb_per_s
                + gpu_runtime.first_forward_s
            )
    return total


def pool_config(
    offering: Offering,
    *,
    cold_start_s: float,
    warm_instances: int = 0,
    concurrency: int | None = None,
    max_instances: int | None = None,
) -> PoolConfig:
    """Return the :class:`PoolConfig` of ``offering`` from its catalog entry.

    Args:
        offering: The offering.
        cold_start_s: From :func:`cold_start_seconds`.
        warm_instances: Warm pool size (for always-on fleets: the minimum fleet).
        concurrency: Requests per instance; default the offering's default, capped at its max.
        max_instances: Cap; default the offering's limit.

    Returns:
        The pool configuration.

    Raises:
        ValueError: ``warm_instances > 0`` on an offering without a warm pool (SnapStart).
    """
    if warm_instances > 0 and not offering.warm_pool.available:
        raise ValueError(f"{offering.id} has no warm pool ({offering.warm_pool.name})")
    lim = offering.limits
    conc = lim.concurrency_default if concurrency is None else concurrency
    conc = max(1, min(conc, lim.concurrency_max))
    cap = lim.max_instances if max_instances is None else max_instances
    always_on = offering.pricing.billing == "always_on"
    cap = max(cap, warm_instances, 1)
    return PoolConfig(
        cold_start_s=cold_start_s,
        keep_alive_s=offering.keep_alive_s,
        concurrency=conc,
        warm_instances=warm_instances,
        max_instances=cap,
        always_on=always_on,
    )


# ------------------------------------------------------------------- the stationary pool


def _poisson_logpmf(rho: float, n: int) -> FloatArray:
    j = np.arange(n, dtype=np.float64)
    lgam = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n, dtype=np.float64)))))
    if rho <= 0.0:
        out = np.full(n, -np.inf)
        out[0] = 0.0
        return out
    return -rho + j * math.log(rho) - lgam


def _levels(rho: float, extra: int) -> int:
    return math.ceil(rho + 9.0 * math.sqrt(rho) + 40.0) + extra


def _erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/G/servers/servers (insensitive to the service distribution)."""
    if load <= 0.0:
        return 0.0
    if servers <= 0:
        return 1.0
    logp = _poisson_logpmf(load, servers + 1)
    return math.exp(logp[-1] - float(np.logaddexp.reduce(logp)))


def _erlang_c(servers: int, load: float) -> float:
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
        pw = _erlang_c(servers, load)
        if pw > 0.0:
            rate = (servers - load) / mean_service_s
            return replace(state, wait_prob=pw, wait_rate=rate, saturated=False)
    return state


def _pool_once(lam: float, s: float, t: float, c: int, w: int, cap_od: int | None) -> PoolState:
    rho = lam * s
    n = _levels(rho, w * c + c)
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
    # Levels at which the m-th on-demand instance is needed: warm*c + (m-1)*c + 1.
    first = w * c + 1
    levels = np.arange(first, n, c)
    if cap_od is not None:
        levels = levels[:cap_od]
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
    # Busy instances under packing: ceil(B/c), warm pool first.
    j = np.arange(n)
    need = np.ceil(j / c)
    busy_warm = float(np.sum(pi * np.minimum(need, w)))
    over = np.maximum(need - w, 0.0)
    if cap_od is not None:
        over = np.minimum(over, cap_od)
    busy_od = float(np.sum(pi * over))
    cold_prob = min(1.0, cold_rate / lam)
    if cap_od == 0:
        cold_prob = 0.0
    return PoolState(cold_prob, mean_n, p99_n, busy_od, busy_warm)


# ------------------------------------------------------------------------------ prediction


@dataclass(frozen=True)
class _Component:
    weight: float
    shift: float
    wait_prob: float = 0.0
    wait_rate: float = 0.0


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
        return _predict_fleet(traffic, service, pool)
    return _predict_pool(traffic, service, pool)


def _predict_pool(traffic: TrafficProfile, service: ServiceTime, pool: PoolConfig) -> PerfResult:
    c = pool.concurrency
    w = pool.warm_instances
    cold_s = pool.cold_start_s
    s_mean = service.mean_s
    t_keep = math.inf if pool.keep_alive_s is None else pool.keep_alive_s
    cap_od = None if pool.max_instances is None else pool.max_instances - w
    segs = traffic.segments
    states = [
        stationary_pool(
            seg.rate_rps,
            s_mean,
            pool.keep_alive_s,
            concurrency=c,
            warm_instances=w,
            max_instances=pool.max_instances,
            cold_start_s=cold_s,
            cold_holds_instance=pool.cold_holds_instance,
        )
        for seg in segs
    ]
    # Transitions: the pool alive when a segment starts (cyclic day, so go round twice).
    # A rise adds the instances needed to reach the new level (an abrupt burst: at least the
    # instances created while the first new ones start); a fall leaves the surplus alive for
    # one keep-alive; an idle stretch longer than the keep-alive empties the pool.
    # The pool carried between segments: ``recent`` instances used at the end of the previous
    # segment (they live a full keep-alive) and ``old`` ones left over from a ramp, which expire
    # ``life`` seconds later (LIFO never touches them again).
    recent = old = 0.0
    life = 0.0
    extra = [0.0] * len(segs)
    affected = [0.0] * len(segs)
    linger = [0.0] * len(segs)
    top = [0.0] * len(segs)
    quiet = [0.0] * len(segs)
    for sweep in range(2):
        for i, (seg, st) in enumerate(zip(segs, states, strict=True)):
            d = seg.duration_s
            if seg.rate_rps <= 0.0:
                if sweep == 1:
                    linger[i] = recent * min(t_keep, d) + old * min(life, d)
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
                overflow = seg.rate_rps * _erlang_b(slots, seg.rate_rps * s_mean)
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
                extra[i] = grow
                affected[i] = grow
                if seg.abrupt and c > 1:
                    affected[i] = min(grow * c, max(grow, overflow * cold_s))
                linger[i] = from_old * min(life, d) + from_new * min(t_keep, d)
                top[i] = start_pool
                # A pool above its usual maximum sees no new records for a keep-alive.
                if start_pool >= st.p99_instances and d > 0:
                    quiet[i] = min(t_keep, d) / d
            new_life = max(0.0, t_keep - d)
            old_life = max(0.0, life - d)
            recent = st.mean_instances
            # Leftovers: ramp surplus (fresh) and older leftovers, both still alive if the
            # segment was short; keep the later expiry for simplicity.
            old = (from_new if new_life > 0 else 0.0) + (from_old if old_life > 0 else 0.0)
            life = max(new_life if from_new > 0 else 0.0, old_life if from_old > 0 else 0.0)
            if old <= 0.0:
                life = 0.0
    notes: list[str] = []
    comps: list[_Component] = []
    req_day = 0.0
    cold_day = 0.0
    cold_req_day = 0.0
    od_busy = od_alive = warm_busy = 0.0
    wait_sum = 0.0
    saturated = False
    peak = 0.0
    for i, (seg, st, ext, aff) in enumerate(zip(segs, states, extra, affected, strict=True)):
        od_alive += linger[i]
        n_req = seg.requests
        if n_req <= 0.0:
            continue
        req_day += n_req
        stat_cold = st.cold_start_prob * n_req * (1.0 - quiet[i])
        cold_day += stat_cold + ext
        cold_req = min(n_req, stat_cold + aff)
        cold_req_day += cold_req
        p_cold = cold_req / n_req
        if st.saturated:
            saturated = True
        od_busy += st.mean_busy_ondemand * seg.duration_s
        od_alive += max(st.mean_instances, st.mean_busy_ondemand) * seg.duration_s
        warm_busy += st.mean_busy_warm * seg.duration_s
        peak = max(peak, st.p99_instances, top[i])
        wait_mean = st.wait_prob / st.wait_rate if st.wait_rate > 0 else 0.0
        if st.saturated:
            wait_mean = _SATURATED_S
        wait_sum += wait_mean * n_req
        shift = _SATURATED_S if st.saturated else 0.0
        comps.append(_Component(n_req * (1 - p_cold), shift, st.wait_prob, st.wait_rate))
        if p_cold > 0:
            comps.append(_Component(n_req * p_cold, shift + cold_s, st.wait_prob, st.wait_rate))
    # Batches: waves on min(items/c, cap) instances.
    for b in traffic.batches:
        if b.items <= 0:
            continue
        cap_total = pool.max_instances if pool.max_instances is not None else 10**9
        k = max(1, min(math.ceil(b.items / c), cap_total))
        base = _segment_at(segs, states, b.start_s)
        alive_prev = w + base
        gap = DAY_S / max(1, len(traffic.batches))
        if gap < t_keep and len(traffic.batches) > 1:
            alive_prev = max(alive_prev, float(k))
        cold_inst = max(0.0, k - alive_prev)
        frac_cold = cold_inst / k
        per_wave = k * c
        waves = math.ceil(b.items / per_wave)
        req_day += b.items
        cold_day += cold_inst
        cold_req_day += cold_inst * min(c, b.items / k)
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
            comps.append(_Component(items * (1 - frac_cold), shift))
            if frac_cold > 0:
                comps.append(_Component(items * frac_cold, shift + cold_s))
            wait_sum += items * shift
        busy = b.items * s_mean / c + cold_inst * cold_s
        od_busy += busy
        od_alive += busy + (0.0 if math.isinf(t_keep) else k * t_keep)
        peak = max(peak, float(k))
        notes.append(f"batch of {b.items}: {k} instances, {waves} wave(s), {cold_inst:.0f} cold")
    if math.isinf(t_keep):
        notes.append("instances are never reclaimed for idleness")
    init_day = cold_day * cold_s
    if pool.cold_holds_instance:
        od_busy += init_day
        od_alive += init_day
    total_w = sum(comp.weight for comp in comps)
    if total_w > 0:
        p50, p95, p99 = _quantiles(comps, service, (0.5, 0.95, 0.99))
    else:
        p50 = p95 = p99 = 0.0
    if saturated:
        notes.append("offered load exceeds max_instances x concurrency: requests queue/throttle")
    day = DAY_S
    return PerfResult(
        requests_per_day=req_day,
        cold_starts_per_day=cold_day,
        cold_start_prob=cold_req_day / req_day if req_day > 0 else 0.0,
        p50_s=p50,
        p95_s=p95,
        p99_s=p99,
        mean_instances=w + od_alive / day,
        peak_instances=w + peak,
        mean_busy_instances=(od_busy + warm_busy) / day,
        warm_instances=w,
        service_s_per_day=req_day * s_mean,
        init_s_per_day=init_day,
        ondemand_busy_s_per_day=od_busy,
        ondemand_alive_s_per_day=od_alive,
        warm_busy_s_per_day=warm_busy,
        warm_alive_s_per_day=w * day,
        mean_wait_s=wait_sum / req_day if req_day > 0 else 0.0,
        saturated=saturated,
        service_mean_s=s_mean,
        cold_start_s=cold_s,
        notes=tuple(notes),
    )


def _segment_at(segs: Sequence[object], states: Sequence[PoolState], t: float) -> float:
    for seg, st in zip(segs, states, strict=True):
        start = getattr(seg, "start_s", 0.0)
        if start <= t < start + getattr(seg, "duration_s", 0.0):
            return st.mean_instances
    return 0.0


def _predict_fleet(traffic: TrafficProfile, service: ServiceTime, pool: PoolConfig) -> PerfResult:
    c = pool.concurrency
    s_mean = service.mean_s
    lo = max(pool.warm_instances, 0)
    comps: list[_Component] = []
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
            comps.append(_Component(n_req, _SATURATED_S))
            wait_sum += _SATURATED_S * n_req
            busy += n * seg.duration_s
            continue
        pw = _erlang_c(servers, load)
        rate = (servers - load) / s_mean
        comps.append(_Component(n_req, 0.0, pw, rate))
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
            comps.append(_Component(float(items), shift))
            wait_sum += items * shift
        busy += b.items * s_mean / c
        notes.append(f"batch of {b.items}: queued on {n} instance(s), {waves} wave(s)")
    if saturated:
        notes.append("fleet too small for the offered load: requests queue without bound")
    if comps:
        p50, p95, p99 = _quantiles(comps, service, (0.5, 0.95, 0.99))
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
    )


# ------------------------------------------------------------------------------- latency


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


def _quantiles(
    comps: Sequence[_Component], service: ServiceTime, qs: Sequence[float]
) -> tuple[float, ...]:
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


# ------------------------------------------------------------------------------ simulation


@dataclass(frozen=True)
class SimResult:
    """Outcome of :func:`simulate_pool`.

    Attributes:
        requests: Arrivals simulated.
        cold_starts: Arrivals that created an instance.
        cold_start_prob: ``cold_starts / requests``.
        delayed_prob: Fraction of requests that waited for an instance to start (their own
            cold start, or a starting instance they were routed to); equals
            ``cold_start_prob`` with one request per instance.
        mean_instances: Time-average instances alive (warm included).
        max_instances: Most instances alive at once.
        latencies_s: Per-request latency (cold start + service + wait).
    """

    requests: int
    cold_starts: int
    cold_start_prob: float
    delayed_prob: float
    mean_instances: float
    max_instances: int
    latencies_s: FloatArray


def simulate_pool(
    arrivals_s: Sequence[float] | FloatArray,
    service_s: Sequence[float] | FloatArray,
    *,
    keep_alive_s: float,
    concurrency: int = 1,
    warm_instances: int = 0,
    cold_start_s: float = 0.0,
    cold_service_s: Sequence[float] | FloatArray | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
) -> SimResult:
    """Simulate a scale-per-request pool exactly, event by event.

    Rules (the platform behaviour the analytic model assumes): an arrival goes to a warm-pool
    instance with spare capacity, else to the most recently used on-demand instance with spare
    capacity (LIFO), else a new instance starts (cold; it is busy for ``cold_start_s`` plus the
    service time, or ``cold_service_s[i]`` when given). Requests routed to an instance that is
    still starting wait until it is ready. An on-demand instance idle for ``keep_alive_s`` is
    reclaimed. No cap, so there is no other queueing.

    Args:
        arrivals_s: Arrival times, non-decreasing.
        service_s: Warm service time of each arrival.
        keep_alive_s: Idle time before reclaim.
        concurrency: Requests per instance.
        warm_instances: Instances never reclaimed, used first.
        cold_start_s: Init time added to a cold request.
        cold_service_s: Total busy time of each arrival if it is cold (overrides
            ``cold_start_s + service_s[i]``).
        start_s: Start of the averaging window for ``mean_instances`` (default: first arrival).
        end_s: End of the averaging window (default: last arrival).

    Returns:
        Counts, time-average instances and latencies.
    """
    arr = np.asarray(arrivals_s, dtype=np.float64)
    svc = np.asarray(service_s, dtype=np.float64)
    csv = None if cold_service_s is None else np.asarray(cold_service_s, dtype=np.float64)
    n = len(arr)
    c = concurrency
    # inflight[i]: requests on instance i; last_free[i]: when it last became idle.
    inflight: list[int] = [0] * warm_instances
    last_free: list[float] = [0.0] * warm_instances
    alive: list[bool] = [True] * warm_instances
    is_warm: list[bool] = [True] * warm_instances
    ends: list[tuple[float, int]] = []
    # On-demand instances with spare capacity, kept as (-last_use, id) for LIFO choice.
    lat = np.empty(n)
    cold = 0
    delayed = 0
    area = 0.0
    alive_n = warm_instances
    max_alive = alive_n
    t_prev = (float(arr[0]) if n else 0.0) if start_s is None else start_s
    t0 = t_prev
    ready: list[float] = [-math.inf] * warm_instances
    expiries: list[tuple[float, int]] = []
    last_use: list[float] = [0.0] * warm_instances

    def advance(to: float) -> None:
        nonlocal area, alive_n, t_prev
        while True:
            next_end = ends[0][0] if ends else math.inf
            next_exp = expiries[0][0] if expiries else math.inf
            nxt = min(next_end, next_exp)
            if nxt > to:
                break
            area += alive_n * (nxt - t_prev)
            t_prev = nxt
            if next_end <= next_exp:
                _, i = heapq.heappop(ends)
                inflight[i] -= 1
                if inflight[i] == 0:
                    last_free[i] = nxt
                    if not is_warm[i]:
                        heapq.heappush(expiries, (nxt + keep_alive_s, i))
            else:
                when, i = heapq.heappop(expiries)
                if alive[i] and inflight[i] == 0 and abs(last_free[i] + keep_alive_s - when) < 1e-9:
                    alive[i] = False
                    alive_n -= 1
        area += alive_n * (to - t_prev)
        t_prev = to

    for k in range(n):
        a = float(arr[k])
        advance(a)
        chosen = -1
        for i in range(warm_instances):
            if inflight[i] < c:
                chosen = i
                break
        if chosen < 0:
            # Pack: the busiest instance with room; among idle ones the most recently freed.
            best = (-1, -math.inf)
            for i in range(warm_instances, len(inflight)):
                if alive[i] and inflight[i] < c:
                    key = (inflight[i], last_free[i])
                    if key > best:
                        best = key
                        chosen = i
        if chosen < 0:
            cold += 1
            inflight.append(0)
            last_free.append(a)
            alive.append(True)
            is_warm.append(False)
            last_use.append(a)
            chosen = len(inflight) - 1
            alive_n += 1
            max_alive = max(max_alive, alive_n)
            busy = float(csv[k]) if csv is not None else cold_start_s + float(svc[k])
            ready.append(a + busy - float(svc[k]))
            delayed += 1
        else:
            busy = max(0.0, ready[chosen] - a) + float(svc[k])
            if ready[chosen] > a:
                delayed += 1
        inflight[chosen] += 1
        last_use[chosen] = a
        heapq.heappush(ends, (a + busy, chosen))
        lat[k] = busy
    horizon = (float(arr[-1]) if n else 0.0) if end_s is None else end_s
    if end_s is not None:
        advance(end_s)
    duration = horizon - t0
    return SimResult(
        requests=n,
        cold_starts=cold,
        cold_start_prob=cold / n if n else 0.0,
        delayed_prob=delayed / n if n else 0.0,
        mean_instances=area / duration if duration > 0 else float(alive_n),
        max_instances=max_alive,
        latencies_s=lat,
    )
