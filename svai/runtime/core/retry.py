"""Retries with exponential backoff and full jitter.

Full jitter (sleep a uniform random time in ``[0, min(cap, base * 2**attempt)]``) spreads the
retries of many workers that failed together, so they do not hit a recovering table or queue
in lock-step (AWS Architecture Blog, "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Backoff", "retry"]

T = TypeVar("T")


@dataclass
class Backoff:
    """Exponential backoff with full jitter.

    Attributes:
        base_s: Ceiling of the first delay.
        cap_s: Largest delay ever returned.
        rng: Random source (seed it for reproducible delays).
    """

    base_s: float = 0.05
    cap_s: float = 2.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Return the delay before retry number ``attempt`` (1 = first retry).

        Args:
            attempt: How many attempts have failed so far (>= 1).

        Returns:
            Seconds to wait, uniform in ``[0, min(cap, base * 2**(attempt-1))]``.
        """
        ceiling = min(self.cap_s, self.base_s * (2.0 ** max(0, attempt - 1)))
        return self.rng.uniform(0.0, ceiling)


def retry(
    call: Callable[[], T],
    *,
    retryable: Callable[[BaseException], bool],
    attempts: int = 4,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying transient failures with jittered backoff.

    Args:
        call: The operation.
        retryable: Says whether an exception is transient (others propagate at once).
        attempts: Total tries, the first included.
        backoff: Delay policy (default: 50 ms base, 2 s cap).
        sleep: Injected for tests.

    Returns:
        What ``call`` returned.

    Raises:
        BaseException: The last exception, when it is not retryable or tries ran out.
    """
    policy = backoff or Backoff()
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            if attempt == attempts or not retryable(exc):
                raise
            sleep(policy.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
