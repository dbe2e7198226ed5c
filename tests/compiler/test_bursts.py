"""Bursty traffic: on/off bursts through the pool model (against an exact simulation and a
3-point SimFaaS smoke test), the spec's ``bursty`` and ``trace`` patterns, located trace errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from svai import api
from svai.compiler.perf import ServiceTime, simulate_pool, stationary_pool
from svai.compiler.perf.bursts import onoff_pool
from svai.compiler.perf.model import PoolConfig
from svai.compiler.perf.prediction import predict
from svai.compiler.recommend import traffic_profile
from svai.compiler.traffic import OnOff
from svai.errors import SpecError
from svai.spec import load_spec_text, resolve

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _arrivals(b: OnOff, horizon: float, rng: np.random.Generator) -> np.ndarray:
    t, on, out = 0.0, bool(rng.random() < b.on_share), []
    while t < horizon:
        length = rng.exponential(b.mean_on_s if on else b.mean_off_s)
        rate = b.on_rps if on else b.off_rps
        if rate > 0:
            out.append(np.sort(t + rng.random(rng.poisson(rate * length)) * length))
        t += length
        on = not on
    return np.concatenate(out)


def test_equal_rates_are_the_stationary_poisson_pool() -> None:
    for rate, conc in ((0.05, 1), (2.0, 1), (6.0, 4)):
        bursty = onoff_pool(OnOff(rate, rate, 30, 90), 0.8, 600, concurrency=conc, cold_start_s=1)
        plain = stationary_pool(rate, 0.8, 600, concurrency=conc, cold_start_s=1)
        assert bursty.mean_instances == pytest.approx(plain.mean_instances, rel=1e-3)
        assert bursty.cold_start_prob == pytest.approx(plain.cold_start_prob, rel=2e-2)


@pytest.mark.parametrize(
    ("rate", "service", "keep_alive", "concurrency"),
    [
        # An init of 10 s at one request per 10 s: plain steps crawl (each cold start makes the
        # next likelier).
        (0.1, 0.001, 60.0, 1),
        # 64 requests per instance reclaimed at once: plain steps swing.
        (1.0, 0.001, 0.0, 64),
    ],
)
def test_equal_rates_solve_a_held_cold_start_to_the_same_fixed_point(
    rate: float, service: float, keep_alive: float, concurrency: int
) -> None:
    """Both solvers reach p = g(p), where plain steps alone stop short of it differently."""
    bursts = OnOff(rate, rate, 30, 90)
    bursty = onoff_pool(bursts, service, keep_alive, concurrency=concurrency, cold_start_s=10.0)
    plain = stationary_pool(rate, service, keep_alive, concurrency=concurrency, cold_start_s=10.0)
    assert bursty.cold_start_prob == pytest.approx(plain.cold_start_prob, rel=1e-6)
    assert bursty.mean_instances == pytest.approx(plain.mean_instances, rel=1e-6)


@pytest.mark.parametrize(
    ("bursts", "horizon"),
    [
        (OnOff(2.0, 0.0, 300, 3000), 400_000.0),
        (OnOff(5.0, 0.1, 120, 1200), 150_000.0),
        (OnOff(8.0, 0.2, 60, 120), 30_000.0),
    ],
    ids=["rare-from-zero", "rare-over-trickle", "frequent"],
)
def test_on_off_pool_matches_an_exact_lifo_simulation(bursts: OnOff, horizon: float) -> None:
    rng = np.random.default_rng(7)
    arrivals = _arrivals(bursts, horizon, rng)
    sim = simulate_pool(
        arrivals, rng.exponential(1.0, len(arrivals)), keep_alive_s=600, cold_start_s=0.5,
        start_s=0.0, end_s=horizon,
    )  # fmt: skip
    model = onoff_pool(bursts, 1.0, 600, cold_start_s=0.5)
    assert model.mean_instances == pytest.approx(sim.mean_instances, rel=0.10)
    assert model.cold_start_prob == pytest.approx(sim.cold_start_prob, rel=0.15, abs=0.003)


def test_the_same_load_in_bursts_needs_fewer_instances_than_deterministic_peaks() -> None:
    # The case: a deterministic spiky day over-predicted random on/off bursts.
    bursty = traffic_profile(_traffic("bursty, baseline_rps: 0.2, peak_rps: 8, "
                                      "bursts: {mean_on: 2m, mean_off: 20m}"))  # fmt: skip
    assert bursty.bursts == OnOff(8.0, 0.2, 120.0, 1200.0)
    assert bursty.mean_rps == pytest.approx(bursty.bursts.mean_rps)
    assert bursty.peak_rps == 8.0


def test_a_bursty_day_is_predicted_with_the_on_off_pool_not_its_mean_rate() -> None:
    """Random bursts at 8 rps over 0.2 rps: 8x the cold starts a steady 0.91 rps would have."""
    profile = traffic_profile(_traffic("bursty, baseline_rps: 0.2, peak_rps: 8, "
                                       "bursts: {mean_on: 2m, mean_off: 20m}"))  # fmt: skip
    assert profile.bursts is not None
    result = predict(profile, ServiceTime(1.0), PoolConfig(cold_start_s=0.5))
    bursty = onoff_pool(profile.bursts, 1.0, 600.0, cold_start_s=0.5)
    steady = stationary_pool(profile.mean_rps, 1.0, 600.0, cold_start_s=0.5)
    assert result.cold_start_prob == pytest.approx(bursty.cold_start_prob, rel=1e-9)
    assert result.peak_instances == bursty.p99_instances
    assert result.cold_start_prob > 5.0 * steady.cold_start_prob


def test_simfaas_smoke_three_points() -> None:
    """Poisson, on/off and concurrency 4 against SimFaaS (short runs; the grid is in bench/)."""
    pytest.importorskip("simfaas")
    sys.path.insert(0, str(BENCH))
    try:
        import bench_simfaas as grid
    finally:
        sys.path.remove(str(BENCH))
    points = [
        grid.Point("poisson", OnOff(0.5, 0.5, 60, 60), keep_alive_s=120),
        grid.Point("on/off", OnOff(4.0, 0.1, 60, 240), keep_alive_s=120),
        grid.Point("c=4", OnOff(6.0, 0.2, 60, 120), keep_alive_s=120, concurrency=4),
    ]
    for point, horizon in zip(points, (30_000.0, 40_000.0, 8_000.0), strict=True):
        sim_n, sim_p = grid.simulated(point, seed=0, horizon_s=horizon)
        model_n, model_p = grid.predicted(point)
        assert grid.within(model_n, sim_n), (point.name, model_n, sim_n)
        assert grid.within(model_p, sim_p, grid.ABS_COLD), (point.name, model_p, sim_p)


@pytest.mark.parametrize(
    ("traffic", "line"),
    [
        (
            "{pattern: bursty, baseline_rps: 0.2, peak_rps: 8, bursts: {mean_on: 2m, mean_off: 20m}}",
            "traffic: bursts of 8 rps (mean 2m) over 0.2 rps (mean gap 20m)",
        ),
        (
            "{pattern: trace, trace: trace.csv}",
            "traffic: measured trace, 120 minute(s) repeated over the day, peak 10 rps",
        ),
    ],
    ids=["bursty", "trace"],
)
def test_svai_recommend_describes_bursty_and_trace_traffic(
    tmp_path: Path, traffic: str, line: str
) -> None:
    """Both patterns went through the pool model but `svai recommend` crashed describing them."""
    from review.helpers import run_main

    rows = ["minute,requests"] + [f"{m},{600 if m % 60 < 10 else 6}" for m in range(120)]
    (tmp_path / "trace.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC.format(traffic=traffic))
    code, out, err = run_main("recommend", str(spec))
    assert (code, err) == (0, "")
    assert line in out.splitlines()[1]


def _traffic(pattern: str) -> object:
    text = SPEC.format(traffic=f"{{pattern: {pattern}}}")
    return resolve(load_spec_text(text)).traffic


SPEC = """
version: 1
name: scorer
model: {{artifact: model.onnx, framework: onnx, size: 40MB, inference_time: 200ms}}
api: {{mode: sync}}
latency: {{p95: 2s}}
traffic: {traffic}
targets:
  - {{cloud: aws, region: us-east-1}}
"""


@pytest.mark.parametrize(
    ("traffic", "message"),
    [
        ("{pattern: bursty, baseline_rps: 1, peak_rps: 5}", "needs `bursts"),
        ("{pattern: bursty, baseline_rps: 1, bursts: {mean_on: 1m, mean_off: 9m}}", "peak_rps"),
        ("{pattern: steady, baseline_rps: 1, bursts: {mean_on: 1m, mean_off: 9m}}", "only used"),
        ("{pattern: bursty, baseline_rps: 6, peak_rps: 5, bursts: {mean_on: 1m, mean_off: 1m}}",
         "below baseline_rps"),
        ("{pattern: trace}", "needs `trace`"),
        ("{pattern: steady, baseline_rps: 1, trace: t.csv}", "only used"),
    ],
)  # fmt: skip
def test_bursty_and_trace_sections_are_checked(traffic: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec_text(SPEC.format(traffic=traffic))
    assert any(message in d.message for d in caught.value.diagnostics), caught.value


def test_a_trace_flows_through_the_pool_model(tmp_path: Path) -> None:
    # Quiet minutes with a sharp 10-minute rush every hour.
    rows = ["minute,requests"] + [f"{m},{600 if m % 60 < 10 else 6}" for m in range(120)]
    (tmp_path / "trace.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC.format(traffic="{pattern: trace, trace: trace.csv}"))
    loaded = api.validate(spec)
    assert loaded.resolved.traffic.trace_rpm is not None
    assert len(loaded.resolved.traffic.trace_rpm) == 120
    profile = traffic_profile(loaded.resolved.traffic)
    assert profile.requests_per_day == pytest.approx(24 * (10 * 600 + 50 * 6))
    assert profile.peak_rps == pytest.approx(10.0)
    assert sum(s.abrupt for s in profile.segments) == 24  # every rush starts abruptly
    _, rec = api.recommend(spec)
    assert rec.targets[0].predicted.cold_start_rate > 0
    assert rec.targets[0].predicted.peak_instances >= 10 * ServiceTime(0.2).mean_s


@pytest.mark.parametrize(
    ("content", "line", "col", "message"),
    [
        ("5\n7\nlots\n", 3, 1, "'lots' is not a number"),
        ("minute,requests\n0,5\n1, -3\n", 3, 4, "finite and >= 0"),
        ("0,5\n2,5\n", 2, 1, "out of order"),
        ("1,2,3\n", 1, 1, "1 or 2 columns"),
        ("5\nnan\n", 2, 1, "finite"),
        ("requests\n", 0, 0, "no minutes"),
    ],
)
def test_a_bad_trace_is_reported_at_its_row_and_column(
    tmp_path: Path, content: str, line: int, col: int, message: str
) -> None:
    (tmp_path / "trace.csv").write_text(content)
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC.format(traffic="{pattern: trace, trace: trace.csv}"))
    with pytest.raises(SpecError) as caught:
        api.validate(spec)
    (problem,) = caught.value.diagnostics
    assert (problem.line, problem.col) == (line, col)
    assert message in problem.message
    assert problem.file == str(tmp_path / "trace.csv") and problem.path == "traffic.trace"


def test_a_missing_trace_file_is_a_spec_error(tmp_path: Path) -> None:
    spec = tmp_path / "svai.yaml"
    spec.write_text(SPEC.format(traffic="{pattern: trace, trace: gone.csv}"))
    with pytest.raises(SpecError, match="does not exist"):
        api.validate(spec)
