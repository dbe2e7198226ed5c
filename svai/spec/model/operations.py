"""The ``cache``, ``reliability`` and ``tenancy`` sections: how the service behaves."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import Field, model_validator

from svai.spec.model.base import FieldError, Strict
from svai.spec.model.scalars import Duration
from svai.spec.units import parse_duration

__all__ = ["Backoff", "Cache", "Idempotency", "Reliability", "Tenancy"]


CacheKeyPart = Annotated[
    str, Field(pattern=r"^(tenant|model_version|payload|header:[A-Za-z0-9-]{1,64})$")
]


class Cache(Strict):
    """Result cache in front of the model."""

    enabled: bool = True
    """Cache predictions."""
    ttl: Duration = "1h"
    """How long a cached prediction stays valid."""
    key: list[CacheKeyPart] = Field(
        default_factory=lambda: ["tenant", "model_version", "payload"], min_length=1, max_length=8
    )
    """What the cache key is made of: ``tenant``, ``model_version``, ``payload``, ``header:NAME``."""
    max_entries: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000
    """In-process entries per instance (a shared store holds the rest)."""

    @model_validator(mode="after")
    def _key(self) -> Cache:
        if "model_version" not in self.key:
            raise FieldError(
                "key",
                "the cache key must include `model_version`, or a new model serves stale answers",
            )
        duplicates = [k for k, n in Counter(self.key).items() if n > 1]
        if duplicates:
            raise FieldError("key", f"cache key part `{duplicates[0]}` is listed twice")
        return self


class Backoff(Strict):
    """Retry backoff: exponential between ``base`` and ``max`` with jitter."""

    base: Duration = "200ms"
    """First delay."""
    max: Duration = "20s"
    """Largest delay."""
    jitter: Literal["full", "equal", "none"] = "full"
    """Jitter strategy (full jitter spreads retries best)."""


class Idempotency(Strict):
    """Client-supplied request ids, so a retry does not redo work."""

    header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "Idempotency-Key"
    """Request header carrying the id."""
    ttl: Duration = "24h"
    """How long a finished request id is remembered."""


class Reliability(Strict):
    """Retries, dead letters, concurrency guards and timeouts."""

    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Retries of a failed model call or job before giving up."""
    backoff: Backoff = Field(default_factory=Backoff)
    """Delay between retries."""
    dlq: bool = True
    """Send jobs that keep failing to a dead-letter queue (async)."""
    max_receive_count: Annotated[int, Field(ge=1, le=1000)] = 5
    """Deliveries of one job before it goes to the dead-letter queue."""
    max_concurrency: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """Cap on concurrent requests across all instances (default: sized from peak traffic)."""
    job_timeout: Duration | None = None
    """Longest time one async job may run (default: ``api.timeout``)."""
    idempotency: Idempotency = Field(default_factory=Idempotency)
    """Client request ids."""

    @model_validator(mode="after")
    def _backoff(self) -> Reliability:
        if parse_duration(self.backoff.base) > parse_duration(self.backoff.max):
            raise FieldError(("backoff", "base"), "backoff.base must not exceed backoff.max")
        return self


class Tenancy(Strict):
    """Multi-tenant serving."""

    enabled: bool = False
    """Requests carry a tenant id; caches and limits are per tenant."""
    header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "X-Tenant-Id"
    """Header carrying the tenant id."""
    rate_limit_rps: Annotated[float, Field(gt=0)] | None = None
    """Per-tenant request rate limit."""
