"""An exact event-driven simulation of a scale-per-request pool (seeded by its caller)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SimResult", "simulate_pool"]

FloatArray = npt.NDArray[np.float64]


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
