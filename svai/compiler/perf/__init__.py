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

Modules: :mod:`~svai.compiler.perf.model` (the data taken and given),
:mod:`~svai.compiler.perf.cold_start`, :mod:`~svai.compiler.perf.pool` (the stationary pool),
:mod:`~svai.compiler.perf.bursts` (random on/off bursts through the same pool),
:mod:`~svai.compiler.perf.prediction` (one day; :mod:`~svai.compiler.perf.fleet` for always-on
fleets), :mod:`~svai.compiler.perf.latency` and :mod:`~svai.compiler.perf.simulation`.
Every percentile includes the offering's platform overheads (``PoolConfig.overhead_s``).
"""

from svai.compiler.perf.cold_start import cold_start_seconds, pool_config
from svai.compiler.perf.model import PerfResult, PoolConfig, PoolState, ServiceTime
from svai.compiler.perf.pool import stationary_pool
from svai.compiler.perf.prediction import predict
from svai.compiler.perf.simulation import SimResult, simulate_pool

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
