"""Token buckets: the rate limits the runtime enforces itself, overall and per tenant.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request
takes one token or is refused with the time until one is back (the ``Retry-After`` of a 429).
``RateLimiter`` checks the caller's tenant bucket first and the overall bucket second, taking
from both or from neither, so a tenant over its own limit never spends the shared budget.

The limits are per process (per instance): with N instances behind a load balancer the
deployment admits up to N times the rate. The plan says, limit by limit, whether the edge (API
Gateway) enforces the deployment-wide figure as well (``svai.compiler.request_limits``).

Tenants are whatever the tenant header says, so the table of tenant buckets is bounded: the
least recently seen tenant is forgotten first (a forgotten tenant starts again with a full
bucket, which the overall bucket still caps).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from svai.runtime.core.config import RateLimitConfig
from svai.runtime.core.errors import RateLimitedError

__all__ = ["RateLimiter", "TokenBucket", "limiter_for"]

MAX_TENANTS = 10_000


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second (not thread-safe: the limiter locks).

    Args:
        rate: Tokens added per second (> 0).
        burst: Most tokens held at once (>= 1); a full bucket admits this many at once.
        now: The clock reading the bucket starts full at.
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last call."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_s(self) -> float:
        """Seconds until one token is available (0 when one is)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimiter:
    """The overall and per-tenant limits of one process.

    Args:
        rate: Overall requests per second, or ``None`` for no overall limit.
        burst: Overall bucket size (0: one second's worth, at least 1).
        tenant_rate: Requests per second per tenant, or ``None``.
        tenant_burst: Tenant bucket size (0: one second's worth, at least 1).
        clock: Monotonic seconds (tests pass a manual clock).
        max_tenants: Tenant buckets kept before the least recently seen is dropped.
    """

    def __init__(
        self,
        rate: float | None,
        burst: int = 0,
        tenant_rate: float | None = None,
        tenant_burst: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tenants: int = MAX_TENANTS,
    ) -> None:
        self._clock = clock
        now = clock()
        self._overall = TokenBucket(rate, _size(rate, burst), now) if rate else None
        self._tenant_rate = tenant_rate
        self._tenant_burst = _size(tenant_rate, tenant_burst) if tenant_rate else 0.0
        self._tenants: OrderedDict[str, TokenBucket] = OrderedDict()
        self._max_tenants = max_tenants
        self._lock = threading.Lock()

    def take(self, tenant: str = "") -> int:
        """Take a token for one request of ``tenant``.

        Returns:
            0 when the request is admitted; otherwise the whole seconds (at least 1) after
            which a retry can be admitted, for ``Retry-After``.
        """
        return self._take(tenant)[0]

    def _take(self, tenant: str) -> tuple[int, str]:
        """``take``, and which limit refused (``"tenant"`` or ``"overall"``)."""
        with self._lock:
            now = self._clock()
            buckets: list[tuple[str, TokenBucket]] = []
            if self._tenant_rate and tenant:
                buckets.append(("tenant", self._tenant(tenant, now)))
            if self._overall is not None:
                buckets.append(("overall", self._overall))
            wait, which = 0.0, ""
            for name, bucket in buckets:
                bucket.refill(now)
                if bucket.wait_s() > wait:
                    wait, which = bucket.wait_s(), name
            if wait > 0:
                return max(1, math.ceil(wait)), which
            for _, bucket in buckets:
                bucket.tokens -= 1
            return 0, ""

    def check(self, tenant: str = "") -> None:
        """Take a token for one request of ``tenant``, or refuse it.

        Raises:
            RateLimitedError: Over the tenant's or the overall limit (429, ``retry_after_s``).
        """
        wait, which = self._take(tenant)
        if wait:
            who = f"tenant {tenant!r}" if which == "tenant" else "this instance"
            raise RateLimitedError(f"rate limit of {who} reached", retry_after_s=wait)

    def _tenant(self, tenant: str, now: float) -> TokenBucket:
        bucket = self._tenants.get(tenant)
        if bucket is None:
            assert self._tenant_rate is not None
            bucket = TokenBucket(self._tenant_rate, self._tenant_burst, now)
            self._tenants[tenant] = bucket
            if len(self._tenants) > self._max_tenants:
                self._tenants.popitem(last=False)
        else:
            self._tenants.move_to_end(tenant)
        return bucket


def limiter_for(cfg: RateLimitConfig) -> RateLimiter | None:
    """The limiter the ``rate_limit`` config section asks for, or ``None`` when it sets none."""
    if cfg.rps is None and cfg.tenant_rps is None:
        return None
    return RateLimiter(cfg.rps, cfg.burst, cfg.tenant_rps, cfg.tenant_burst)


def _size(rate: float | None, burst: int) -> float:
    return float(burst) if burst > 0 else float(max(1, math.ceil(rate or 1)))
