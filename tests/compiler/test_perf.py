"""Tests of the performance model: closed forms, measured Lambda data, simulation, properties."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from svai.compiler.catalog import load_catalog
from svai.compiler.perf import (
    PoolConfig,
    ServiceTime,
    cold_start_seconds,
    pool_config,
    predict,
    simulate_pool,
    stationary_pool,
)
from svai.compiler.traffic import Segment, TrafficProfile, TrafficSpec, build_profile

DATA = Path(__file__).resolve().parents[1] / "data" / "lambda_coldstart_experiments.csv"
BENCH = Path(__file__).resolve().parents[2] / "bench"


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _predict_row(row: dict[str, str]) -> tuple[float, float]:
    lam = float(row["ArrivalRate"])
    warm = float(row["ServiceTimeWarm"]) / 1000.0
    cold = float(row["ServiceTimeCold"]) / 1000.0
    keep = float(row["IdleMinutesBeforeKill"]) * 60.0
    st = stationary_pool(lam, warm, keep, cold_start_s=cold - warm)
    return st.cold_start_prob, st.mean_instances


# ------------------------------------------------------------------ measured Lambda data


def test_lambda_experiments_mape_within_tolerance() -> None:
    rows = _rows()
    assert len(rows) == 20
    err_p, err_n = [], []
    for row in rows:
        p, n = _predict_row(row)
        err_p.append(
            abs(p - float(row["ColdStartProbability"])) / float(row["ColdStartProbability"])
        )
        err_n.append(
            abs(n - float(row["AverageInstanceCount"])) / float(row["AverageInstanceCount"])
        )
    mape_p = 100.0 * float(np.mean(err_p))
    mape_n = 100.0 * float(np.mean(err_n))
    # No parameter is fitted to these rows. SimFaaS: 12.23% / 3.05%. An exact model scores ~10%
    # on cold starts against 21-hour experiments like these (bench_perf.noise_floor), so the
    # cold-start aim sits at the noise floor; the pools are 2.3% too small, beyond noise.
    assert mape_p < 13.5, mape_p
    assert mape_n < 3.5, mape_n


def test_lambda_experiments_held_out_half_meets_the_targets() -> None:
    # The declared split of bench/bench_perf.py (odd experiment numbers; nothing is fitted on
    # any row): the model meets both targets there. The even half holds the three rows that are
    # 2-3.4 standard errors off (experiment_0, 10, 18) and misses them (docs/performance-model.md).
    odd = [r for r in _rows() if int(r[""].rsplit("_", 1)[1]) % 2 == 1]
    assert len(odd) == 10
    err_p, err_n = [], []
    for row in odd:
        p, n = _predict_row(row)
        err_p.append(abs(p / float(row["ColdStartProbability"]) - 1.0))
        err_n.append(abs(n / float(row["AverageInstanceCount"]) - 1.0))
    assert 100.0 * float(np.mean(err_p)) <= 10.0
    assert 100.0 * float(np.mean(err_n)) <= 3.0


def test_lambda_experiments_each_row_within_four_standard_errors() -> None:
    for row in _rows():
        p, _ = _predict_row(row)
        z = (p - float(row["ColdStartProbability"])) / float(row["ColdStartProbabilitySE"])
        assert abs(z) < 4.0, (row[""], z)


@pytest.mark.parametrize("rate", [0.003, 0.1, 1.0])
def test_the_noise_floor_replay_follows_the_exact_simulation(rate: float) -> None:
    # bench_perf repeats each row as a 21-hour experiment with a fast replay of the same rules
    # (the noise floor in docs/performance-model.md); it must count what simulate_pool counts.
    sys.path.insert(0, str(BENCH))
    try:
        import bench_perf
    finally:
        sys.path.remove(str(BENCH))
    rng = np.random.default_rng(5)
    n = 3000
    arrivals = np.sort(rng.uniform(0.0, n / rate, n))
    warm, cold = rng.exponential(2.0, n), rng.exponential(2.3, n)
    samples = np.arange(0.0, n / rate, 1.0)
    requests, cold_starts, pool = bench_perf.replay(arrivals, warm, cold, 600.0, samples)
    exact = simulate_pool(
        arrivals, warm, keep_alive_s=600.0, cold_service_s=cold, start_s=0.0, end_s=n / rate
    )
    assert requests == n
    assert cold_starts == exact.cold_starts
    assert pool == pytest.approx(exact.mean_instances, rel=0.01)


# --------------------------------------------------------------------------- closed forms


def _exact_birth_death(lam: float, s: float, t: float) -> tuple[float, float]:
    """E[max of M/M/inf over a window T] and its T-derivative / lambda, by matrix exponential."""
    mu = 1.0 / s
    rho = lam * s
    levels = int(rho + 12 * math.sqrt(rho) + 30)
    j = np.arange(levels)
    log_pi = -rho + j * math.log(rho) - np.array([math.lgamma(k + 1) for k in j])
    pi = np.exp(log_pi)
    mean = 0.0
    rate = 0.0
    for cap in range(1, levels):
        q = np.zeros((cap, cap))
        for i in range(cap):
            if i > 0:
                q[i, i - 1] = i * mu
            q[i, i] = -(lam + i * mu)
            if i < cap - 1:
                q[i, i + 1] = lam
        # Reversible chain: D^1/2 Q D^-1/2 is symmetric, so exp(QT) comes from eigh.
        d = np.sqrt(pi[:cap])
        sym = (d[:, None] * q) / d[None, :]
        sym = 0.5 * (sym + sym.T)
        vals, vecs = np.linalg.eigh(sym)
        expm = (vecs * np.exp(vals * t)) @ vecs.T
        e_qt = (expm / d[:, None]) * d[None, :]
        v = pi[:cap] @ e_qt
        mean += 1.0 - v.sum()
        rate += -(v @ q).sum()
    return rate / lam, mean


@pytest.mark.parametrize(
    ("lam", "s", "t"),
    [(0.05, 2.0, 600.0), (0.5, 2.0, 600.0), (1.0, 2.0, 600.0), (2.0, 1.0, 60.0), (0.3, 0.5, 30.0)],
)
def test_stationary_pool_matches_matrix_exponential(lam: float, s: float, t: float) -> None:
    exact_p, exact_n = _exact_birth_death(lam, s, t)
    st = stationary_pool(lam, s, t)
    assert st.mean_instances == pytest.approx(exact_n, rel=0.02)
    assert st.cold_start_prob == pytest.approx(exact_p, rel=0.05)


def test_single_instance_regime_closed_form() -> None:
    # With lambda*S tiny, an arrival is cold iff the previous one was > T + S ago.
    lam, s, t = 0.002, 0.01, 600.0
    st = stationary_pool(lam, s, t)
    assert st.cold_start_prob == pytest.approx(math.exp(-lam * (t + s)), rel=1e-4)
    assert st.mean_instances == pytest.approx(1.0 - math.exp(-lam * (t + s)), rel=1e-4)


@pytest.mark.parametrize(("lam", "s"), [(0.1, 2.0), (5.0, 0.2), (40.0, 0.5), (300.0, 0.05)])
def test_mean_busy_instances_is_lambda_times_service(lam: float, s: float) -> None:
    # M/G/inf: mean busy servers = lambda * E[S] (one request per instance).
    st = stationary_pool(lam, s, 600.0)
    assert st.mean_busy_ondemand == pytest.approx(lam * s, rel=1e-6)
    prof = build_profile(TrafficSpec("steady", lam))
    res = predict(prof, ServiceTime(s, cv=0.7), PoolConfig(cold_start_s=0.0, keep_alive_s=600.0))
    assert res.mean_busy_instances == pytest.approx(lam * s, rel=1e-6)


def test_queueing_matches_erlang_c() -> None:
    # M/M/1 with one capped instance: P(wait) = rho; M/M/2 with load 1: P(wait) = 1/3.
    st = stationary_pool(0.5, 1.0, 600.0, max_instances=1)
    assert st.wait_prob == pytest.approx(0.5, rel=1e-9)
    assert st.wait_rate == pytest.approx(0.5, rel=1e-9)
    st2 = stationary_pool(1.0, 1.0, 600.0, max_instances=2)
    assert st2.wait_prob == pytest.approx(1.0 / 3.0, rel=1e-9)
    over = stationary_pool(3.0, 1.0, 600.0, max_instances=2)
    assert over.saturated


# ---------------------------------------------------------------------------- simulation


def _poisson(lam: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.exponential(1.0 / lam, n))


@pytest.mark.parametrize(
    ("lam", "s", "t", "c", "w"),
    [
        (0.5, 2.0, 600.0, 1, 0),
        (2.0, 1.0, 60.0, 4, 0),
        (1.0, 2.0, 120.0, 1, 2),
        (5.0, 0.5, 30.0, 2, 1),
    ],
)
def test_analytic_pool_matches_event_simulation(
    lam: float, s: float, t: float, c: int, w: int
) -> None:
    n = 60_000
    arr = _poisson(lam, n, seed=11)
    svc = np.random.default_rng(12).exponential(s, n)
    sim = simulate_pool(arr, svc, keep_alive_s=t, concurrency=c, warm_instances=w)
    st = stationary_pool(lam, s, t, concurrency=c, warm_instances=w)
    assert st.mean_instances + w == pytest.approx(sim.mean_instances, rel=0.05)
    # Cold starts are rare events: allow for the simulation's own noise.
    se = math.sqrt(max(sim.cold_starts, 1)) / n
    assert abs(st.cold_start_prob - sim.cold_start_prob) < 3 * se + 0.1 * sim.cold_start_prob


def test_a_cold_request_holding_its_instance_is_solved_as_a_fixed_point() -> None:
    # A cold request keeps its new instance busy for the init as well, so each request holds an
    # instance for s + p*cold on average, where p is the cold-start probability being solved for.
    lam, s, cold, keep = 1.0, 0.05, 5.0, 60.0
    st = stationary_pool(lam, s, keep, cold_start_s=cold)
    held = stationary_pool(lam, s + st.cold_start_prob * cold, keep)
    assert held.cold_start_prob == pytest.approx(st.cold_start_prob, rel=1e-3)
    assert held.mean_instances == pytest.approx(st.mean_instances, rel=1e-3)
    # Not the answer that ignores the init: busier instances leave fewer arrivals without one.
    plain = stationary_pool(lam, s, keep)
    assert st.cold_start_prob < 0.95 * plain.cold_start_prob
    assert stationary_pool(lam, s, keep, cold_start_s=cold, cold_holds_instance=False) == plain


def _after_a_busy_half_day(tail_rps: float, tail_s: float) -> TrafficProfile:
    """A busy half day, then ``tail_s`` seconds at ``tail_rps``, then nothing until midnight."""
    busy = Segment(0.0, 43_200.0, 2.0, abrupt=True)
    tail = Segment(43_200.0, tail_s, tail_rps)
    idle = Segment(43_200.0 + tail_s, 43_200.0 - tail_s, 0.0)
    return TrafficProfile("test", (busy, tail, idle))


@pytest.mark.parametrize("keeps", [1.0, 3.0])
def test_a_pool_left_by_busier_traffic_has_no_cold_starts_for_one_keep_alive(
    keeps: float,
) -> None:
    # After the busy half day, more instances than the quiet tail ever needs stay alive for one
    # keep-alive (LIFO reuses the newest of them), so the tail's requests find warm instances
    # until then; later, the tail's own stationary rate of cold starts applies.
    keep, tail_rps = 600.0, 1 / 300
    pool = PoolConfig(cold_start_s=2.0, keep_alive_s=keep)
    service = ServiceTime(0.2, cv=1.0)
    without = predict(_after_a_busy_half_day(0.0, keep * keeps), service, pool)
    with_tail = predict(_after_a_busy_half_day(tail_rps, keep * keeps), service, pool)
    tail_p = stationary_pool(tail_rps, 0.2, keep, cold_start_s=2.0).cold_start_prob
    after_quiet = tail_p * tail_rps * keep * (keeps - 1.0)
    assert with_tail.requests_per_day == pytest.approx(without.requests_per_day + 2.0 * keeps)
    assert with_tail.cold_starts_per_day == pytest.approx(
        without.cold_starts_per_day + after_quiet, rel=1e-9
    )


def _day_arrivals(prof: TrafficProfile, days: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for d in range(days):
        for seg in prof.segments:
            if seg.rate_rps > 0:
                k = rng.poisson(seg.requests)
                out.append(d * 86_400.0 + seg.start_s + np.sort(rng.uniform(0, seg.duration_s, k)))
    return np.concatenate(out)


@pytest.mark.parametrize(
    ("spec", "c", "cold", "keep", "tol"),
    [
        (TrafficSpec("spiky", 0.05, 40.0, 900.0, burst_count=3), 1, 2.0, 600.0, 0.15),
        # Several requests per instance: the ramp cascades onto starting instances, which the
        # Erlang-B overflow estimate captures only roughly.
        (TrafficSpec("spiky", 0.5, 40.0, 1200.0), 8, 3.0, 900.0, 0.35),
        (TrafficSpec("diurnal", 0.2, 3.0, idle_hours=4), 1, 1.0, 600.0, 0.15),
    ],
)
def test_bursty_and_time_varying_traffic_against_simulation(
    spec: TrafficSpec, c: int, cold: float, keep: float, tol: float
) -> None:
    prof = build_profile(spec)
    service = ServiceTime(0.2, cv=1.0)
    res = predict(prof, service, PoolConfig(cold_start_s=cold, keep_alive_s=keep, concurrency=c))
    days = 2
    arr = _day_arrivals(prof, days, seed=5)
    svc = np.random.default_rng(6).exponential(0.2, len(arr))
    sim = simulate_pool(
        arr,
        svc,
        keep_alive_s=keep,
        concurrency=c,
        cold_start_s=cold,
        start_s=0.0,
        end_s=days * 86_400.0,
    )
    assert res.cold_starts_per_day == pytest.approx(sim.cold_starts / days, rel=tol)
    assert res.cold_start_prob == pytest.approx(sim.delayed_prob, rel=tol + 0.05)
    assert res.mean_instances == pytest.approx(sim.mean_instances, rel=0.1)


def test_simulation_is_deterministic_and_lifo() -> None:
    # Two instances become idle; the next request must reuse the most recently freed one, so
    # the older one expires on time and a later request is cold.
    arr = np.array([0.0, 0.5, 3.0, 12.0])
    svc = np.array([1.0, 2.0, 1.0, 1.0])
    a = simulate_pool(arr, svc, keep_alive_s=8.5, cold_start_s=0.0)
    b = simulate_pool(arr, svc, keep_alive_s=8.5, cold_start_s=0.0)
    assert a.cold_starts == b.cold_starts == 2
    assert np.array_equal(a.latencies_s, b.latencies_s)
    # Instance 1 (freed at 1.0) expires at 9.5; instance 2 (freed 2.5, reused at 3.0, freed 4.0)
    # serves the request at 12.0, so there is no third cold start.
    assert a.max_instances == 2


# ---------------------------------------------------------------------------- properties


def test_more_warm_instances_never_more_cold_starts() -> None:
    for spec in (
        TrafficSpec("steady", 0.5),
        TrafficSpec("spiky", 0.2, 30.0, 1200.0),
        TrafficSpec("diurnal", 0.1, 5.0, idle_hours=6),
    ):
        prof = build_profile(spec)
        last = math.inf
        for warm in range(0, 12):
            res = predict(prof, ServiceTime(0.3), PoolConfig(cold_start_s=2.0, warm_instances=warm))
            assert res.cold_start_prob <= last + 1e-12
            last = res.cold_start_prob


def test_more_traffic_never_fewer_instances_or_billed_seconds() -> None:
    prev = None
    for rate in (0.01, 0.1, 0.5, 1.0, 5.0, 20.0, 100.0):
        res = predict(build_profile(TrafficSpec("steady", rate)), ServiceTime(0.1), PoolConfig(1.0))
        if prev is not None:
            assert res.mean_instances >= prev.mean_instances - 1e-9
            assert res.ondemand_busy_s_per_day >= prev.ondemand_busy_s_per_day
        prev = res


def test_predict_is_deterministic() -> None:
    prof = build_profile(TrafficSpec("spiky", 2.0, 150.0, 1800.0))
    pool = PoolConfig(cold_start_s=1.5, concurrency=4, warm_instances=1, max_instances=50)
    assert predict(prof, ServiceTime(0.05, p99_s=0.2), pool) == predict(
        prof, ServiceTime(0.05, p99_s=0.2), pool
    )


# ------------------------------------------------------------------------------- latency


def test_latency_quantiles_of_the_warm_lognormal() -> None:
    service = ServiceTime(0.1, p99_s=0.4)
    prof = build_profile(TrafficSpec("steady", 1.0))
    res = predict(prof, service, PoolConfig(cold_start_s=0.0, warm_instances=20))
    assert res.cold_start_prob < 1e-12
    assert res.p99_s == pytest.approx(0.4, rel=0.01)
    assert res.p50_s == pytest.approx(math.exp(service.mu), rel=0.01)
    assert res.p50_s <= res.p95_s <= res.p99_s


def test_cold_starts_move_the_tail() -> None:
    prof = build_profile(TrafficSpec("steady", 0.002))
    res = predict(prof, ServiceTime(0.05, cv=0.2), PoolConfig(cold_start_s=3.0, keep_alive_s=600))
    # About 30% of requests are cold: p95 and p99 include the 3 s start, the median does not.
    assert 0.2 < res.cold_start_prob < 0.4
    assert res.p50_s < 0.1
    assert res.p95_s > 3.0
    assert res.p99_s > 3.0


def test_batch_is_served_in_waves() -> None:
    prof = build_profile(TrafficSpec("batch", 0.0, batch_items=1000, batches_per_day=1))
    res = predict(prof, ServiceTime(1.0, cv=0.1), PoolConfig(cold_start_s=2.0, max_instances=100))
    assert res.requests_per_day == 1000
    assert res.peak_instances == 100
    assert res.cold_starts_per_day == 100
    # Ten waves of one second after a two-second start: the slowest items take about 12 s.
    assert 10.0 < res.p99_s < 13.5
    assert res.p50_s > 2.0


# ---------------------------------------------------------------------------- cold start


def test_cold_start_components() -> None:
    cat = load_catalog()
    zip_ = cat.get("aws.lambda.zip")
    size = zip_.sizes[2]
    base = cold_start_seconds(zip_, size, artifact_mb=0.0, model_load_s=0.0)
    assert base == pytest.approx(zip_.cold_start.platform_s)
    more = cold_start_seconds(zip_, size, artifact_mb=100.0, model_load_s=0.5)
    assert more == pytest.approx(base + 100.0 / 100.0 + 0.5)
    snap = cat.get("aws.lambda.snapstart")
    assert cold_start_seconds(
        snap, snap.sizes[0], artifact_mb=0.0, model_load_s=5.0
    ) == pytest.approx(snap.cold_start.platform_s)
    run = cat.get("gcp.cloudrun.service")
    gpu_size = next(s for s in run.sizes if s.gpu == "L4")
    gpu = cold_start_seconds(
        run,
        gpu_size,
        artifact_mb=0.0,
        model_load_s=0.0,
        gpu_runtime=cat.gpu_runtime,
        weights_gb=3.7,
    )
    rt = cat.gpu_runtime
    expected = (
        run.cold_start.platform_s
        + 5.0
        + rt.import_torch_s
        + rt.cuda_context_s
        + 1.0
        + rt.first_forward_s
    )
    assert gpu == pytest.approx(expected)


def test_pool_config_from_catalog() -> None:
    cat = load_catalog()
    lam = pool_config(cat.get("aws.lambda.zip"), cold_start_s=1.0, warm_instances=2)
    assert (lam.concurrency, lam.keep_alive_s, lam.always_on, lam.warm_instances) == (
        1,
        600.0,
        False,
        2,
    )
    ep = pool_config(cat.get("aws.sagemaker.realtime"), cold_start_s=1.0, warm_instances=1)
    assert ep.always_on
    with pytest.raises(ValueError, match="no warm pool"):
        pool_config(cat.get("aws.lambda.snapstart"), cold_start_s=1.0, warm_instances=1)
