"""The cost model: monthly cost and cost per 1,000 predictions of one offering configuration.

:func:`estimate_cost` prices a :class:`~svai.compiler.perf.PerfResult` (billed instance-seconds,
cold starts, requests) with an offering's catalog prices and returns a line-item breakdown the
plan can show. Months are :data:`~svai.compiler.traffic.DAYS_PER_MONTH` days. Free tiers and
free grants are **not** applied (they are per account, shared by everything else the user runs);
committed-use and savings-plan discounts are not applied either.

Billing modes (``Pricing.billing``):

* ``request``: compute is billed while instances handle requests. With one request per instance
  (Lambda, SageMaker Serverless) each request's duration is rounded up to the billing step and
  the per-request minimum; with several, the instance's active time is billed (Cloud Run,
  Flex Consumption). Warm-pool instances are billed at the warm idle rate while idle and the
  warm busy rate while busy. Cloud Run sizes with a GPU switch to instance-based billing.
* ``instance``: every instance is billed for its whole life, idle time included at the idle rate
  (Container Apps); GPUs for the whole replica lifetime.
* ``always_on``: the fleet is billed per instance-hour (endpoints, Fargate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from svai.compiler.catalog import Offering, Rates, Size
from svai.compiler.perf import PerfResult
from svai.compiler.traffic import DAYS_PER_MONTH

__all__ = ["HOURS_PER_MONTH", "CostEstimate", "estimate_cost", "function_cost"]

HOURS_PER_MONTH = 24.0 * DAYS_PER_MONTH


@dataclass(frozen=True)
class CostEstimate:
    """Monthly cost of one configuration.

    Attributes:
        monthly_usd: Total per month (sum of ``breakdown``).
        per_1k_usd: Cost per 1,000 predictions (``inf`` when there are no requests).
        requests_per_month: Requests the estimate is for.
        breakdown: Line items in USD per month (``requests``, ``compute``, ``gpu``, ``idle``,
            ``warm_pool``, ``cold_start_init``, ``fleet``, ``snapstart``, ...). Items that are
            zero are omitted.
        notes: Assumptions behind the numbers.
    """

    monthly_usd: float
    per_1k_usd: float
    requests_per_month: float
    breakdown: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    notes: tuple[str, ...] = ()


def _billed_duration(mean_s: float, granularity_s: float, min_s: float) -> float:
    """Expected billed seconds of one request: rounded up to the step, at least the minimum."""
    rounded = mean_s + 0.5 * granularity_s if granularity_s > 0 else mean_s
    return max(min_s, rounded)


def estimate_cost(
    offering: Offering,
    size: Size,
    perf: PerfResult,
    *,
    requests_per_month: float | None = None,
    payload_kb: float = 0.0,
) -> CostEstimate:
    """Return the monthly cost of ``offering`` at ``size`` for the predicted behaviour ``perf``.

    Args:
        offering: The catalog offering.
        size: The sizing (memory, vCPU, GPU, instance type).
        perf: Prediction for one day (:func:`svai.compiler.perf.predict`).
        requests_per_month: Requests per month; default ``perf.requests_per_day * 30.4``. Usage
            figures are scaled by the same factor when given.
        payload_kb: Request + response size, for offerings that bill data processed.

    Returns:
        The estimate with its line items.
    """
    pricing = offering.pricing
    day_req = perf.requests_per_day
    req_m = day_req * DAYS_PER_MONTH if requests_per_month is None else requests_per_month
    scale = DAYS_PER_MONTH
    if requests_per_month is not None and day_req > 0:
        scale = requests_per_month / day_req
    lines: dict[str, float] = {}
    notes = ["free tiers and free grants excluded", f"{DAYS_PER_MONTH} days per month"]

    def add(name: str, usd: float) -> None:
        if usd > 0.0 and math.isfinite(usd):
            lines[name] = lines.get(name, 0.0) + usd

    add("requests", req_m * pricing.requests_usd_per_million / 1e6)
    gpu_s = offering.gpu_usd_per_s(size)
    billing = pricing.billing
    if billing == "request" and size.gpu is not None and pricing.instance_based is not None:
        billing = "instance"
        notes.append("GPU size: instance-based billing for the whole instance lifetime")
        active = idle = pricing.instance_based
        warm_idle = warm_busy = pricing.instance_based
    else:
        active, idle = pricing.active, pricing.idle
        warm_idle, warm_busy = pricing.warm_idle, pricing.warm_busy

    def rate(r: Rates) -> float:
        return r.per_second(size)

    warm_busy_s = perf.warm_busy_s_per_day * scale
    warm_alive_s = perf.warm_alive_s_per_day * scale
    od_busy_s = perf.ondemand_busy_s_per_day * scale
    od_alive_s = perf.ondemand_alive_s_per_day * scale
    init_s = perf.init_s_per_day * scale
    if billing == "request":
        if offering.limits.concurrency_max <= 1:
            billed = _billed_duration(
                perf.service_mean_s, pricing.granularity_s, pricing.min_billed_s
            )
            total_busy = max(warm_busy_s + od_busy_s - init_s, 1e-12)
            warm_share = min(1.0, warm_busy_s / total_busy) if warm_busy_s > 0 else 0.0
            add("compute", req_m * (1 - warm_share) * billed * rate(active))
            add("warm_pool", req_m * warm_share * billed * rate(warm_busy))
        else:
            add("compute", max(0.0, od_busy_s - init_s) * rate(active))
            add("warm_pool", warm_busy_s * rate(warm_busy))
        add("warm_pool", max(0.0, warm_alive_s - warm_busy_s) * rate(warm_idle))
        add("idle", max(0.0, od_alive_s - od_busy_s) * rate(idle))
        if pricing.init_billed:
            add("cold_start_init", init_s * rate(active))
        add("gpu", (od_busy_s + warm_alive_s) * gpu_s)
    elif billing == "instance":
        add("compute", max(0.0, od_busy_s - init_s) * rate(active))
        add("idle", max(0.0, od_alive_s - od_busy_s) * rate(idle))
        add("warm_pool", warm_busy_s * rate(warm_busy))
        add("warm_pool", max(0.0, warm_alive_s - warm_busy_s) * rate(warm_idle))
        add("cold_start_init", init_s * rate(active))
        add("gpu", (od_alive_s + warm_alive_s) * gpu_s)
    else:
        fleet_s = od_alive_s
        per_s = rate(active) + gpu_s
        add("fleet", fleet_s * per_s)
        lb = pricing.extras.get("load_balancer_usd_per_hour", 0.0)
        add("load_balancer", lb * HOURS_PER_MONTH)
        if perf.mean_instances > 0:
            notes.append(f"fleet of {perf.mean_instances:.2f} instances on average")
    cache = pricing.extras.get("snapshot_cache_gb_s_usd", 0.0)
    if cache > 0:
        add("snapstart", cache * size.memory_gb * HOURS_PER_MONTH * 3600.0)
        restore = pricing.extras.get("snapshot_restore_usd_per_gb", 0.0)
        add("snapstart", perf.cold_starts_per_day * scale * size.memory_gb * restore)
    data = pricing.extras.get("data_usd_per_gb", 0.0)
    if data > 0 and payload_kb > 0:
        add("data_processed", req_m * payload_kb / (1024.0 * 1024.0) * data)
    total = sum(lines.values())
    per_1k = total / req_m * 1000.0 if req_m > 0 else math.inf
    return CostEstimate(
        monthly_usd=total,
        per_1k_usd=per_1k,
        requests_per_month=req_m,
        breakdown=MappingProxyType(dict(sorted(lines.items()))),
        notes=tuple(notes),
    )


def function_cost(offering: Offering, size: Size, calls: float, duration_s: float) -> float:
    """Return the monthly USD of ``calls`` short calls of ``duration_s`` to a small function.

    For the functions around the model's own service (an async front door, an endpoint's proxy):
    each call pays the request fee and its duration, rounded up to the billing step and at least
    the minimum, at the offering's on-demand rate for ``size``.
    """
    pricing = offering.pricing
    billed = _billed_duration(duration_s, pricing.granularity_s, pricing.min_billed_s)
    per_call = pricing.requests_usd_per_million / 1e6 + billed * pricing.active.per_second(size)
    return calls * per_call
