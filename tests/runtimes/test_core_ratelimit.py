"""Token buckets of the runtime's rate limits, on a hand-wound clock."""

from __future__ import annotations

import pytest
from store_doubles import ManualClock

from svai.runtime.core.errors import RateLimitedError
from svai.runtime.core.ratelimit import RateLimiter


def test_a_bucket_admits_its_burst_then_its_rate() -> None:
    clock = ManualClock()
    limiter = RateLimiter(10.0, 5, clock=clock)
    assert [limiter.take() for _ in range(6)] == [0, 0, 0, 0, 0, 1]
    clock.advance(0.1)  # one token back
    assert [limiter.take(), limiter.take()] == [0, 1]
    clock.advance(100)  # never more than the burst
    assert [limiter.take() for _ in range(6)] == [0] * 5 + [1]


def test_retry_after_is_the_whole_seconds_until_a_token() -> None:
    clock = ManualClock()
    limiter = RateLimiter(0.25, 1, clock=clock)
    assert limiter.take() == 0
    assert limiter.take() == 4
    clock.advance(3.5)
    assert limiter.take() == 1
    with pytest.raises(RateLimitedError) as caught:
        limiter.check("")
    assert caught.value.status == 429 and caught.value.retry_after_s == 1


def test_tenants_have_their_own_buckets_and_spend_the_overall_one_only_when_admitted() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1.0, 4, 1.0, 2, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 1]  # a's third is a's own refusal
    assert [limiter.take("b") for _ in range(3)] == [0, 0, 1]
    assert limiter.take("c") == 1  # four admitted in all: the overall bucket is empty
    assert limiter.take("") == 1


def test_default_burst_is_one_seconds_worth() -> None:
    limiter = RateLimiter(None, 0, 2.5, 0, clock=ManualClock())
    assert [limiter.take("t") for _ in range(4)] == [0, 0, 0, 1]
    assert limiter.take("") == 0  # no overall limit; an unnamed caller has no tenant bucket


def test_the_tenant_table_is_bounded() -> None:
    clock = ManualClock()
    limiter = RateLimiter(None, 0, 1.0, 1, clock=clock, max_tenants=3)
    for name in ("a", "b", "c", "d"):
        assert limiter.take(name) == 0
    assert limiter.take("d") == 1  # still known: spent
    assert limiter.take("a") == 0  # forgotten as the least recently seen: a fresh bucket
    assert len(limiter._tenants) == 3
