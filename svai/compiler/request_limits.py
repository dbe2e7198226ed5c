"""The request limits of a deployment, and where each one is enforced: the edge, each instance, or both.

Every limit is enforced in each instance by the runtime (``svai_runtime.json``: the payload limit
before a body byte is read; the overall and per-tenant rates as token buckets answering 429 +
``Retry-After``). An instance knows only its own traffic, so a rate enforced per instance holds
for that instance: with N instances the deployment admits up to N times the rate, and the plan
says so with the service's ``max_instances`` as N. Where the edge enforces the rate as well, it
holds the whole deployment to the figure and the instances' limits are a second line.

What each cloud's edge enforces is the catalog's ``builds.clouds.<cloud>.edge_rate_limit``: the
auth modes under which it holds the rate, and the offerings its edge cannot front (the backends
build it; ``tests/backends/test_edge_limits.py`` checks the rows against what they record).

No edge keys a rate on a header, so the per-tenant rate is per instance everywhere; the tenant
is whatever the tenant header says, so it is only as trustworthy as the caller's authentication.
"""

from __future__ import annotations

import math

from svai.compiler.catalog import load_catalog
from svai.compiler.recommendation import TargetRecommendation
from svai.ir import EnforcedLimit
from svai.spec.resolve import ResolvedSpec

__all__ = [
    "edge_limits_rate",
    "enforced_limits",
    "peak_rps",
    "rate_limit",
    "tenant_rate_limit",
]


def peak_rps(recommendation: TargetRecommendation) -> float:
    """The highest request rate the recommendation planned for (peak, or the async arrivals)."""
    assumptions = recommendation.assumptions
    return max(assumptions.peak_rps, assumptions.arrival_rate_rps)


def rate_limit(spec: ResolvedSpec, peak: float) -> tuple[float, int]:
    """The API's steady rate (requests/s) and burst: the spec's, else twice the peak (>= 10)."""
    rate = spec.api.rate_limit_rps or float(max(10, math.ceil(peak * 2)))
    return rate, max(20, math.ceil(rate * 2))


def tenant_rate_limit(spec: ResolvedSpec) -> tuple[float, int] | None:
    """The per-tenant rate and burst (one second's worth), or ``None`` when the spec sets none."""
    rps = spec.tenancy.rate_limit_rps
    return None if rps is None else (rps, max(1, math.ceil(rps)))


def edge_limits_rate(cloud: str, auth: str, front_offering: str) -> bool:
    """Whether the edge in front of ``front_offering`` enforces the rate limit (see above).

    The catalog's ``builds.clouds.<cloud>.edge_rate_limit`` says under which auth modes.
    """
    return load_catalog().builds.cloud(cloud).edge_limits_rate(auth, front_offering)


def enforced_limits(
    spec: ResolvedSpec,
    rate: tuple[float, int],
    *,
    edge_rate: bool,
    max_instances: int,
) -> tuple[EnforcedLimit, ...]:
    """Each limit with where it is enforced and what that means with ``max_instances``.

    Args:
        spec: The resolved spec (payload limit, tenancy).
        rate: The API's rate and burst (:func:`rate_limit`).
        edge_rate: Whether the edge enforces the rate (:func:`edge_limits_rate`).
        max_instances: The front service's instance ceiling (N).
    """
    rps, burst = rate
    n = max_instances
    limits = [
        EnforcedLimit(
            "payload",
            float(spec.api.max_payload_bytes),
            0,
            "instance",
            "every request, whatever the instance count: refused with 413 from its headers",
        ),
        EnforcedLimit(
            "rate",
            rps,
            burst,
            "both" if edge_rate else "instance",
            (
                f"the edge holds the deployment to {rps:g} req/s (burst {burst}); "
                if edge_rate
                else "no edge limit: "
            )
            + f"each of up to {n} instances admits {rps:g} req/s on its own "
            + f"(up to {n * rps:g} req/s in all)",
        ),
    ]
    tenant_limit = tenant_rate_limit(spec)
    if tenant_limit is not None:
        tenant, tenant_burst = tenant_limit
        limits.append(
            EnforcedLimit(
                "tenant_rate",
                tenant,
                tenant_burst,
                "instance",
                f"no edge keys on the tenant header: each of up to {n} instances admits "
                f"{tenant:g} req/s per tenant (up to {n * tenant:g} req/s per tenant in all)",
            )
        )
    return tuple(limits)
