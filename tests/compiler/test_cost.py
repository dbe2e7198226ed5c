"""Tests of the cost model: hand-computed bills, line items, and monotonicity."""

from __future__ import annotations

import pytest

from svai.compiler.catalog import Size, load_catalog
from svai.compiler.cost import HOURS_PER_MONTH, estimate_cost, function_cost
from svai.compiler.perf import PoolConfig, ServiceTime, cold_start_seconds, pool_config, predict
from svai.compiler.traffic import DAY_S, DAYS_PER_MONTH, TrafficSpec, build_profile


def test_lambda_bill_by_hand() -> None:
    cat = load_catalog()
    lam = cat.get("aws.lambda.zip")
    size = next(s for s in lam.sizes if s.memory_mb == 1024)
    rate = 1_000_000 / (DAY_S * DAYS_PER_MONTH)  # one million requests a month
    prof = build_profile(TrafficSpec("steady", rate))
    perf = predict(prof, ServiceTime(0.1), PoolConfig(cold_start_s=0.0, keep_alive_s=600.0))
    est = estimate_cost(lam, size, perf)
    assert est.requests_per_month == pytest.approx(1e6)
    assert est.breakdown["requests"] == pytest.approx(0.20)
    # 1M x (100 ms + half a 1 ms billing step) x 1 GB x $0.0000166667
    assert est.breakdown["compute"] == pytest.approx(1e6 * 0.1005 * 0.0000166667, rel=1e-6)
    assert est.monthly_usd == pytest.approx(sum(est.breakdown.values()))
    assert est.per_1k_usd == pytest.approx(est.monthly_usd / 1000.0)
    assert any("free tier" in n for n in est.notes)


def test_provisioned_concurrency_adds_a_warm_pool_line() -> None:
    cat = load_catalog()
    lam = cat.get("aws.lambda.zip")
    size = next(s for s in lam.sizes if s.memory_mb == 2048)
    prof = build_profile(TrafficSpec("steady", 0.0001))
    perf = predict(prof, ServiceTime(0.1), pool_config(lam, cold_start_s=1.0, warm_instances=2))
    est = estimate_cost(lam, size, perf)
    # Two idle 2 GB environments for a month at the PC rate dominate.
    assert est.breakdown["warm_pool"] == pytest.approx(
        2 * 2.0 * DAY_S * DAYS_PER_MONTH * 0.0000041667, rel=0.01
    )


def test_always_on_fleet_bills_instance_hours() -> None:
    cat = load_catalog()
    ep = cat.get("aws.sagemaker.realtime")
    size = next(s for s in ep.sizes if s.name == "ml.g5.xlarge")
    prof = build_profile(TrafficSpec("steady", 1.0))
    perf = predict(prof, ServiceTime(0.05), pool_config(ep, cold_start_s=0.0, warm_instances=2))
    est = estimate_cost(ep, size, perf)
    assert est.breakdown["fleet"] == pytest.approx(2 * 1.41 * HOURS_PER_MONTH, rel=1e-6)


def test_cloud_run_gpu_bills_the_instance_lifetime() -> None:
    cat = load_catalog()
    run = cat.get("gcp.cloudrun.service")
    gpu = next(s for s in run.sizes if s.gpu == "L4")
    cpu = next(
        s
        for s in run.sizes
        if s.gpu is None and s.vcpu == gpu.vcpu and s.memory_mb == gpu.memory_mb
    )
    prof = build_profile(TrafficSpec("steady", 0.5))
    cs = cold_start_seconds(run, gpu, artifact_mb=500, model_load_s=2.0)
    perf = predict(prof, ServiceTime(0.3), pool_config(run, cold_start_s=cs))
    est_gpu = estimate_cost(run, gpu, perf)
    est_cpu = estimate_cost(run, cpu, perf)
    assert est_gpu.breakdown["gpu"] > 0 and "gpu" not in est_cpu.breakdown
    # Alive instance-seconds x L4 hourly price.
    alive = (perf.ondemand_alive_s_per_day + perf.warm_alive_s_per_day) * DAYS_PER_MONTH
    assert est_gpu.breakdown["gpu"] == pytest.approx(alive * 0.672 / 3600.0, rel=1e-6)
    assert est_gpu.monthly_usd > est_cpu.monthly_usd


def test_more_traffic_never_costs_less_on_any_offering() -> None:
    cat = load_catalog()
    for off in cat.offerings():
        size = off.sizes[0]
        cs = cold_start_seconds(off, size, artifact_mb=50.0, model_load_s=0.5)
        pool = pool_config(
            off, cold_start_s=cs, warm_instances=1 if off.pricing.billing == "always_on" else 0
        )
        last = -1.0
        # From one request per keep-alive up: below that, cold starts per day still rise and
        # per-cold-start charges (SnapStart restores) can make a busier day cheaper.
        for rate in (0.01, 0.1, 1.0, 5.0, 20.0, 80.0):
            for pattern in ("steady", "spiky", "diurnal"):
                spec = TrafficSpec(pattern, rate, peak_rps=rate * 10, peak_duration_s=1800.0)
                perf = predict(build_profile(spec), ServiceTime(0.1), pool)
                est = estimate_cost(off, size, perf)
                if pattern == "steady":
                    assert est.monthly_usd >= last - 1e-9, (off.id, rate)
                    last = est.monthly_usd
                # A spiky or diurnal day with the same baseline carries more requests.
                base = estimate_cost(
                    off,
                    size,
                    predict(build_profile(TrafficSpec("steady", rate)), ServiceTime(0.1), pool),
                )
                assert est.monthly_usd >= base.monthly_usd - 1e-9, (off.id, rate, pattern)


def test_snapstart_restores_follow_cold_starts() -> None:
    cat = load_catalog()
    snap = cat.get("aws.lambda.snapstart")
    size = snap.sizes[0]
    pool = pool_config(snap, cold_start_s=0.6)
    perf = predict(build_profile(TrafficSpec("steady", 0.001)), ServiceTime(0.1), pool)
    est = estimate_cost(snap, size, perf)
    cache = 0.0000015046 * size.memory_gb * HOURS_PER_MONTH * 3600.0
    restores = perf.cold_starts_per_day * DAYS_PER_MONTH * size.memory_gb * 0.0001397998
    assert est.breakdown["snapstart"] == pytest.approx(cache + restores, rel=1e-6)


def test_a_small_function_pays_its_request_fee_and_billed_duration() -> None:
    cat = load_catalog()
    lam = cat.get("aws.lambda.zip")
    size = Size(memory_mb=256, vcpu=0.25)
    usd = function_cost(lam, size, 2e6, 0.05)
    billed = 0.05 + 0.0005  # mean rounding to the 1 ms step
    assert usd == pytest.approx(2e6 * (0.20 / 1e6 + billed * 0.25 * 0.0000166667), rel=1e-6)
    flex = cat.get("azure.functions.flex_consumption")
    assert function_cost(flex, Size(memory_mb=512, vcpu=0.25), 1e6, 0.05) == pytest.approx(
        1e6 * (0.40 / 1e6 + 1.0 * 0.5 * 0.000026), rel=1e-6
    )  # Flex bills at least 1 s per execution


def test_zero_requests_has_infinite_cost_per_prediction() -> None:
    cat = load_catalog()
    lam = cat.get("aws.lambda.zip")
    perf = predict(build_profile(TrafficSpec("steady", 0.0)), ServiceTime(0.1), PoolConfig(1.0))
    est = estimate_cost(lam, lam.sizes[0], perf)
    assert est.monthly_usd == 0.0 and est.per_1k_usd == float("inf")
