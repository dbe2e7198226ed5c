"""The data the performance model takes and gives: service time, pool settings, results."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Component", "PerfResult", "PoolConfig", "PoolState", "ServiceTime"]

_Z99 = 2.3263478740408408


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
class Component:
    """Requests sharing one latency law: service + ``shift`` + a wait.

    Attributes:
        weight: Requests per day.
        shift: Seconds added to every one (cold start, batch wave, saturation).
        wait_prob: Probability of queueing.
        wait_rate: Exponential rate (1/s) of the queueing wait.
    """

    weight: float
    shift: float
    wait_prob: float = 0.0
    wait_rate: float = 0.0


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
        overhead_s: Platform latency around the model on every request (gateway, proxy,
            invocation, network); it adds to latency, not to the instance's busy time.
    """

    cold_start_s: float
    keep_alive_s: float | None = 600.0
    concurrency: int = 1
    warm_instances: int = 0
    max_instances: int | None = None
    always_on: bool = False
    target_utilisation: float = 0.7
    cold_holds_instance: bool = True
    overhead_s: float = 0.0

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
        if not (math.isfinite(self.overhead_s) and self.overhead_s >= 0):
            raise ValueError("overhead_s must be finite and >= 0")


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
        overhead_s: Platform latency included in the percentiles (gateway, proxy, ...).
        components: The day's request groups (shift and queueing wait) the percentiles mix;
            other per-request times (time to first token) are mixed over the same groups.
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
    overhead_s: float = 0.0
    components: tuple[Component, ...] = field(default=(), compare=False, repr=False)
