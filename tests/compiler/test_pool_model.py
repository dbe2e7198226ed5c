"""Behaviour tests of the stationary pool model (``svai.compiler.perf.pool``).

Every expected value is derived by hand from M/M/inf and M/M/c identities or from the
limits the model must respect, not copied from the model's output (issue #29).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from svai.compiler.perf.model import PoolState
from svai.compiler.perf.pool import (
    erlang_b,
    erlang_c,
    held_fixed_point,
    level_laws,
    stationary_pool,
)

E = math.exp(1.0)


def test_zero_rate_is_an_empty_pool() -> None:
    """No traffic: nothing is cold, alive, busy or waiting."""
    state = stationary_pool(0.0, 1.0, 10.0, warm_instances=2, max_instances=3)
    assert state == PoolState(0.0, 0.0, 0.0, 0.0, 0.0)
    for value in (
        state.cold_start_prob,
        state.mean_instances,
        state.p99_instances,
        state.mean_busy_ondemand,
        state.mean_busy_warm,
    ):
        assert isinstance(value, float)
        assert value == 0.0


def test_busy_instances_equal_offered_load_at_high_load() -> None:
    """Little's law: with c = 1 the mean busy count is lam * s (here 10 * 10 = 100)."""
    state = stationary_pool(10.0, 10.0, None)
    assert state.mean_busy_ondemand == pytest.approx(100.0, rel=1e-9)
    assert state.mean_instances >= state.mean_busy_ondemand


def test_zero_keep_alive_pool_is_the_busy_pool() -> None:
    """Reclaimed at once, the pool holds exactly the busy instances: mean = E[B] = lam * s."""
    state = stationary_pool(2.0, 1.0, 0.0)
    assert state.mean_instances == pytest.approx(2.0, rel=1e-9)
    assert state.mean_busy_ondemand == pytest.approx(2.0, rel=1e-9)
    assert 0.0 < state.cold_start_prob <= 1.0


def test_never_reclaimed_pool_keeps_every_reachable_level() -> None:
    """keep_alive None: no cold starts, and every level with P(B >= L) > 1e-12 is held.

    For B ~ Poisson(1): P(B >= 14) = 4.2e-12 > 1e-12 and P(B >= 15) = 2.8e-13, so 14 levels.
    """
    state = stationary_pool(1.0, 1.0, None)
    assert state.cold_start_prob == 0.0
    assert state.mean_instances == pytest.approx(14.0, abs=1e-9)
    assert state.p99_instances == 14.0


def test_never_reclaimed_capped_pool_holds_the_cap() -> None:
    """keep_alive None with a cap of 3 on-demand instances: all three are always alive."""
    state = stationary_pool(1.0, 1.0, None, max_instances=3)
    assert state.cold_start_prob == 0.0
    assert state.mean_instances == pytest.approx(3.0, abs=1e-12)
    assert state.p99_instances == 3.0


def test_cap_of_one_instance_binds() -> None:
    """max_instances = 1 at load 1: at most one instance, busy with P(B >= 1) = 1 - 1/e."""
    state = stationary_pool(1.0, 1.0, 5.0, max_instances=1)
    assert 0.0 < state.mean_instances <= 1.0
    assert state.p99_instances == 1.0
    assert state.mean_busy_ondemand == pytest.approx(1.0 - 1.0 / E, rel=1e-12)
    assert state.cold_start_prob > 0.0
    # Offered load 1 equals the capped capacity 1 * 1: saturated, everyone waits.
    assert state.saturated is True
    assert state.wait_prob == 1.0
    assert state.wait_rate == 0.0


def test_cap_above_load_saturates_only_when_reached() -> None:
    """Load 3 on 2 servers saturates; the flags are exactly (1.0, 0.0, True)."""
    state = stationary_pool(3.0, 1.0, 5.0, max_instances=2)
    assert (state.wait_prob, state.wait_rate, state.saturated) == (1.0, 0.0, True)
    assert state.mean_instances <= 2.0


def test_cap_counts_warm_instances() -> None:
    """w = 1, max_instances = 2 leaves one on-demand instance behind the warm one.

    With B ~ Poisson(1): busy warm = P(B >= 1) = 1 - 1/e, busy on-demand = P(B >= 2) = 1 - 2/e.
    Two servers at load 1 (M/M/2): P(wait) = 2 rho^2 / (1 + rho) with rho = 1/2, i.e. 1/3,
    and the wait tail rate is (2 - 1) / 1 = 1.
    """
    state = stationary_pool(1.0, 1.0, 5.0, warm_instances=1, max_instances=2)
    assert state.mean_busy_warm == pytest.approx(1.0 - 1.0 / E, rel=1e-12)
    assert state.mean_busy_ondemand == pytest.approx(1.0 - 2.0 / E, rel=1e-12)
    assert 0.0 < state.mean_instances <= 1.0
    assert state.p99_instances == 1.0
    assert state.wait_prob == pytest.approx(1.0 / 3.0, rel=1e-12)
    assert state.wait_rate == pytest.approx(1.0, rel=1e-12)
    assert state.saturated is False


def test_cap_filled_by_warm_pool_leaves_no_on_demand() -> None:
    """max_instances == warm_instances: no on-demand instance, hence no cold start.

    Busy warm = E[min(B, 2)] = P(B >= 1) + P(B >= 2) = 2 - 3/e for B ~ Poisson(1).
    """
    state = stationary_pool(1.0, 1.0, 5.0, warm_instances=2, max_instances=2)
    assert state.cold_start_prob == 0.0
    assert state.mean_instances == 0.0
    assert state.p99_instances == 0.0
    assert state.mean_busy_ondemand == 0.0
    assert state.mean_busy_warm == pytest.approx(2.0 - 3.0 / E, rel=1e-12)


def test_concurrency_two_erlang_c() -> None:
    """c = 2, one instance, lam = 0.5, s = 2: M/M/2 at load 1 waits w.p. 1/3, rate (2-1)/2."""
    state = stationary_pool(0.5, 2.0, 5.0, concurrency=2, max_instances=1)
    assert state.saturated is False
    assert state.wait_prob == pytest.approx(1.0 / 3.0, rel=1e-12)
    assert state.wait_rate == pytest.approx(0.5, rel=1e-12)
    # One instance carrying up to two requests is busy while B >= 1: 1 - e^{-1}.
    assert state.mean_busy_ondemand == pytest.approx(1.0 - 1.0 / E, rel=1e-12)


def test_negligible_wait_leaves_the_state_uncapped() -> None:
    """A cap far above the load (1000 servers, load 1): no waiting, same pool as uncapped."""
    capped = stationary_pool(1.0, 1.0, 5.0, max_instances=1000)
    assert capped.wait_prob == 0.0
    assert capped.wait_rate == 0.0
    assert capped.saturated is False
    assert capped == stationary_pool(1.0, 1.0, 5.0)


def test_cold_start_load_enters_the_wait_rate() -> None:
    """The queue sees load lam * (s + p_cold * cold_start_s); the tail rate is (c*N - load) / s."""
    lam, s, cold = 0.5, 1.0, 2.0
    state = stationary_pool(lam, s, 5.0, max_instances=2, cold_start_s=cold)
    assert state.cold_start_prob > 0.0
    load = lam * (s + state.cold_start_prob * cold)
    assert state.saturated is False
    assert state.wait_rate == pytest.approx((2.0 - load) / s, rel=1e-9)


def test_cold_start_holding_is_a_fixed_point() -> None:
    """A cold start held for 0.5 s lengthens the holding time to s + p * 0.5, self-consistently."""
    held = stationary_pool(1.0, 1.0, 5.0, cold_start_s=0.5)
    plain = stationary_pool(1.0, 1.0, 5.0)
    again = stationary_pool(1.0, 1.0 + held.cold_start_prob * 0.5, 5.0)
    assert held.cold_start_prob == pytest.approx(again.cold_start_prob, abs=1e-8)
    assert held.mean_instances > plain.mean_instances
    not_held = stationary_pool(1.0, 1.0, 5.0, cold_start_s=0.5, cold_holds_instance=False)
    assert not_held == plain


def test_long_keep_alive_at_high_load_has_rare_cold_starts() -> None:
    """At lam * s = 1000 with a 1e6 s keep-alive, almost no arrival finds the pool short."""
    state = stationary_pool(1000.0, 1.0, 1e6)
    assert 0.0 <= state.cold_start_prob < 1e-3
    assert state.mean_busy_ondemand == pytest.approx(1000.0, rel=1e-9)


def test_short_keep_alive_below_one_second_still_holds_instances() -> None:
    """Hitting times under 1 s (lam = 2): a 0.1 s keep-alive keeps fewer than all levels."""
    short = stationary_pool(2.0, 1.0, 0.1)
    never = stationary_pool(2.0, 1.0, None)
    busy = stationary_pool(2.0, 1.0, 0.0)
    assert busy.mean_instances <= short.mean_instances < never.mean_instances
    assert short.mean_instances < 4.0


@pytest.mark.parametrize(
    ("rate", "service", "keep_alive", "concurrency", "init"),
    [
        # One instance per request, an init of 10 s at one request per 10 s: each cold start
        # makes the next one likelier, and plain steps from p = 0 crawl (three reached 0.0075,
        # the fixed point is 0.0194).
        (0.1, 0.001, 60.0, 1, 10.0),
        (0.1, 0.01, 300.0, 1, 10.0),
        # 64 requests per instance reclaimed at once: p = 1 keeps the instance busy, p = 0 leaves
        # it idle, and plain steps swing between the two.
        (1.0, 0.001, 0.0, 64, 10.0),
        (10.0, 0.01, 0.0, 80, 3.0),
    ],
)
def test_held_cold_start_is_solved_to_its_fixed_point(
    rate: float, service: float, keep_alive: float, concurrency: int, init: float
) -> None:
    """p is the cold-start probability of the pool whose holding time is s + p * init."""
    held = stationary_pool(rate, service, keep_alive, concurrency=concurrency, cold_start_s=init)
    p = held.cold_start_prob
    plain = stationary_pool(rate, service + p * init, keep_alive, concurrency=concurrency)
    assert 0.0 < p < 1.0
    assert plain.cold_start_prob == pytest.approx(p, abs=1e-8)
    assert plain.mean_instances == pytest.approx(held.mean_instances, abs=1e-6)


def test_a_cold_start_that_holds_its_instance_solves_the_wait_at_the_fixed_point() -> None:
    """The capped queue sees the load at the solved p, not at a step short of it."""
    rate, service, init = 0.1, 0.001, 10.0
    held = stationary_pool(rate, service, 60.0, max_instances=2, cold_start_s=init)
    p = held.cold_start_prob
    plain = stationary_pool(rate, service + p * init, 60.0, max_instances=2)
    assert plain.cold_start_prob == pytest.approx(p, abs=1e-8)
    load = rate * (service + p * init)
    assert held.wait_rate == pytest.approx((2.0 - load) / service, rel=1e-9)


@pytest.mark.filterwarnings("error")
def test_zero_keep_alive_at_a_load_of_one_thousand_is_the_busy_pool_without_warnings() -> None:
    """lam * s = 1000 reclaimed at once: the pool is E[B] = 1000, and numpy warns of nothing.

    Far below the mean, F underflows and the hitting times are 0/0 or 0: those levels are always
    held. Planning must not spray RuntimeWarnings (nor fail under ``-W error``) there.
    """
    state = stationary_pool(100.0, 10.0, 0.0)
    assert state.mean_busy_ondemand == pytest.approx(1000.0, rel=1e-9)
    assert state.mean_instances == pytest.approx(1000.0, rel=1e-9)
    assert 0.0 < state.cold_start_prob <= 1.0
    long = stationary_pool(100.0, 10.0, 600.0)
    assert long.mean_instances > state.mean_instances
    assert 0.0 <= long.cold_start_prob < 1e-3


def test_zero_keep_alive_at_a_trickle_makes_every_arrival_cold_and_no_more() -> None:
    """One request per 11.6 days, reclaimed at once: each arrival starts cold; P is at most 1."""
    state = stationary_pool(1e-6, 1e-3, 0.0)
    assert state.cold_start_prob == pytest.approx(1.0, abs=1e-12)
    assert state.cold_start_prob <= 1.0


@pytest.mark.parametrize("keep_alive", [None, 600.0])
def test_a_warm_pool_far_above_the_load_starts_no_on_demand_instance(
    keep_alive: float | None,
) -> None:
    """50 warm instances at B ~ Poisson(10): P(B > 50) ~ 1e-19, so exactly none on demand.

    Where F rounds to just above 1, an unreached level counts 0 instances, never -1e-16.
    """
    state = stationary_pool(10.0, 1.0, keep_alive, warm_instances=50)
    assert state.mean_instances == 0.0
    assert state.p99_instances == 0.0
    assert state.cold_start_prob < 1e-15
    assert state.mean_busy_warm == pytest.approx(10.0, rel=1e-9)


def _solve_counting(g: Callable[[float], float]) -> tuple[PoolState, list[float]]:
    """Solve ``p = g(p)`` with pools whose cold-start probability is ``g``; note each p asked."""
    asked: list[float] = []

    def pool_at(p: float) -> PoolState:
        asked.append(p)
        return PoolState(g(p), 0.0, 0.0, 0.0, 0.0)

    return held_fixed_point(pool_at), asked


@pytest.mark.parametrize(
    ("name", "g", "most_pools"),
    [
        # g flat: the first plain step lands on the root, the second pool confirms it.
        ("no cold starts", lambda p: 0.0, 1),
        ("flat", lambda p: 0.3, 2),
        # g rising almost as fast as p (slope 0.97): plain steps would need ~700 pools for 1e-9.
        ("crawl", lambda p: 0.0026 + 0.97 * p, 6),
        # g falling steeply: plain steps swing between ~0 and 0.9; bisection alone needs ~30.
        ("swing", lambda p: 0.9 * math.exp(-20.0 * p), 16),
        ("gentle", lambda p: 0.01 + 0.5 * p, 6),
    ],
)
def test_the_held_fixed_point_solver_settles_within_a_few_pools(
    name: str, g: Callable[[float], float], most_pools: int
) -> None:
    """Each pool costs a whole level sweep, so how many the solver asks for matters to plan."""
    state, asked = _solve_counting(g)
    p = asked[-1]
    assert state.cold_start_prob == g(p)
    assert abs(g(p) - p) < 1e-9, name
    assert len(asked) <= most_pools, (name, len(asked))
    assert all(0.0 <= q <= 1.0 for q in asked)


def _erlang_b_by_recurrence(servers: int, load: float) -> float:
    """The textbook recurrence B(k) = a B(k-1) / (k + a B(k-1)), B(0) = 1 (no log space)."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def _erlang_c_by_recurrence(servers: int, load: float) -> float:
    b = _erlang_b_by_recurrence(servers, load)
    return servers * b / (servers - load * (1.0 - b))


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        (1, 1.0, 0.5),  # a / (1 + a)
        (1, 0.5, 1.0 / 3.0),
        (2, 1.0, 0.2),  # (a^2 / 2) / (1 + a + a^2 / 2)
        (3, 0.0, 0.0),  # no traffic: nothing is blocked
        (0, 2.0, 1.0),  # no server: everything is
    ],
)
def test_erlang_b_by_hand(servers: int, load: float, expected: float) -> None:
    assert erlang_b(servers, load) == pytest.approx(expected, rel=1e-12, abs=0.0)


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1 waits with probability rho
        (3, 0.0, 0.0),
        (2, 3.0, 1.0),  # over capacity: everyone waits
        (2, 2.0, 1.0),  # at capacity too
    ],
)
def test_erlang_c_by_hand(servers: int, load: float, expected: float) -> None:
    assert erlang_c(servers, load) == pytest.approx(expected, rel=1e-12, abs=0.0)


@pytest.mark.parametrize(("servers", "load"), [(50, 40.0), (1000, 900.0), (200, 150.0)])
def test_erlang_b_and_c_match_the_textbook_recurrence(servers: int, load: float) -> None:
    assert erlang_b(servers, load) == pytest.approx(
        _erlang_b_by_recurrence(servers, load), rel=1e-9
    )
    assert erlang_c(servers, load) == pytest.approx(
        _erlang_c_by_recurrence(servers, load), rel=1e-9
    )


def test_erlang_c_far_below_capacity_is_zero_where_the_exact_value_is_negligible() -> None:
    """1000 servers at load 600: the exact P(wait) is 2e-50; the shortcut answers 0."""
    assert _erlang_c_by_recurrence(1000, 600.0) < 1e-40
    assert erlang_c(1000, 600.0) == 0.0


def test_level_laws_with_instant_service_keep_every_request_at_level_zero() -> None:
    """s = 0: B is always 0 (pmf [1, 0, ...]); level 1 is reached by the next arrival, 1 / lam."""
    pi, f, tau = level_laws(2.0, 0.0, 5)
    assert pi.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert f.tolist() == [1.0] * 5
    assert tau[0] == pytest.approx(0.5, rel=1e-12)
    assert (tau[1:] > 1e300).all()


@pytest.mark.parametrize(
    ("name", "g", "most_pools"),
    [
        # No root at all: g jumps from 0.9 to 0 at p = 0.3. Secant steps overshoot; the bracket
        # is bisected down to 1e-12 around the jump, and the solver stops there.
        ("jump", lambda p: 0.9 if p < 0.3 else 0.0, 50),
        # The same cliff, continuous (1e-5 wide): bisection then secant steps.
        ("cliff", lambda p: 0.9 / (1.0 + math.exp(min(700.0, (p - 0.3) / 1e-5))), 30),
    ],
)
def test_the_held_fixed_point_solver_bisects_a_cliff_down_to_the_jump(
    name: str, g: Callable[[float], float], most_pools: int
) -> None:
    state, asked = _solve_counting(g)
    assert asked[-1] == pytest.approx(0.3, abs=1e-4), name
    assert state.cold_start_prob == g(asked[-1])
    assert len(asked) <= most_pools, (name, len(asked))
    assert all(0.0 <= q <= 1.0 for q in asked)
