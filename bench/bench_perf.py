"""Benchmark of the performance model: accuracy on measured Lambda data, and speed.

Accuracy: mean absolute percentage error (MAPE) of the predicted cold-start probability and
average instance count against the 20 AWS Lambda experiments published with SimFaaS
(tests/data/lambda_coldstart_experiments.csv). No parameter of the shipped model is fitted to
these rows.

Held-out check of fitted extensions: the rows are split, deterministically, by the parity of
the experiment number (even: training, odd: held out; both halves span 0.002-1 rps). Each
candidate constant the residuals suggest (CANDIDATES: a reclaim delay added to the measured
10-minute idle time; a post-response hold added to each request's holding time) is fitted on the
training half only (grid, minimising cold MAPE / 10% + instance MAPE / 3%, the distance to the
targets) and evaluated on the held-out half; then the halves swap (2-fold). The shipped model
adopts a candidate only if, on both folds, the held-out rows come closer to the targets and
neither held-out MAPE rises.

Noise floor: each row is repeated 200 times as a 21-hour experiment under the model's own rules
(the data's per-minute pool samples say how long one experiment ran), and the MAPE that an exact
model scores against datasets of one repeat per row is compared with the measured rows' MAPE.
The same rows are also predicted for a window that starts with no instances (parameter-free).

Speed: milliseconds per scenario (one offering configuration x one day of traffic: predict +
cost) over every catalog offering x 5 traffic patterns x 3 warm-pool sizes, median of 7 passes;
and, interleaved with it (A B A B), the exact event simulation of the same platform rules on the
Lambda rows (a SimFaaS-style baseline) against the analytic model on the same rows.

Run: .venv/bin/python bench/bench_perf.py   (appends to bench/results/perf.json; see
results_log.py: earlier runs are kept)
"""

from __future__ import annotations

import csv
import heapq
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from results_log import append_result

from svai.compiler.catalog import load_catalog
from svai.compiler.cost import estimate_cost
from svai.compiler.perf import (
    ServiceTime,
    cold_start_seconds,
    pool_config,
    predict,
    simulate_pool,
    stationary_pool,
)
from svai.compiler.traffic import TrafficSpec, build_profile

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "lambda_coldstart_experiments.csv"
OUT = ROOT / "bench" / "results" / "perf.json"
SIMFAAS = {"cold_start_mape_pct": 12.23, "instance_count_mape_pct": 3.05}
# What one experiment covered: the data's instance counts are means of per-minute samples; with
# the running-instance column they are k/1259 in 10 of the 20 rows, k/n with n in 1244-1260 (or
# half such an n) in 9 more and k/1111 in one: about 21 hours, taken as 1,259 minutes for all.
EXPERIMENT_S = 1259 * 60.0
SAMPLE_EVERY_S = 60.0
BURN_IN_S = 3600.0  # each repeat starts from a stationary pool (the data says nothing of warm-up)
REPLICAS = 200
DATASETS = 20_000  # resampled 20-row datasets for the MAPE distribution of an exact model


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _inputs(row: dict[str, str]) -> tuple[float, float, float, float]:
    lam = float(row["ArrivalRate"])
    warm = float(row["ServiceTimeWarm"]) / 1000.0
    cold = float(row["ServiceTimeCold"]) / 1000.0
    keep = float(row["IdleMinutesBeforeKill"]) * 60.0
    return lam, warm, cold, keep


# Candidate extensions, each one constant, fitted on a training half only (grid, minimising the
# distance to the targets) and checked on the other half: (description, grid of values in s).
CANDIDATES: dict[str, tuple[str, list[float]]] = {
    "reclaim_delay": (
        "reclaim delay added to the measured idle time (Lambda's reaper does not kill at the "
        "exact second)",
        [float(d) for d in range(0, 181, 10)],
    ),
    "post_response_hold": (
        "time an instance stays unusable after each response, added to its holding time "
        "(invoke-path work after the handler returns)",
        [d / 100.0 for d in range(0, 51, 5)],
    ),
}


def _row_errors(
    row: dict[str, str], candidate: str = "", value: float = 0.0
) -> tuple[float, float]:
    """Absolute relative errors (cold-start probability, instances) of one row."""
    lam, warm, cold, keep = _inputs(row)
    delay = value if candidate == "reclaim_delay" else 0.0
    hold = value if candidate == "post_response_hold" else 0.0
    st = stationary_pool(lam, warm + hold, keep + delay, cold_start_s=cold - warm)
    mp = float(row["ColdStartProbability"])
    mn = float(row["AverageInstanceCount"])
    return abs(st.cold_start_prob - mp) / mp, abs(st.mean_instances - mn) / mn


def _mapes(rows: list[dict[str, str]], candidate: str = "", value: float = 0.0) -> dict[str, float]:
    errors = [_row_errors(r, candidate, value) for r in rows]
    return {
        "cold_start_mape_pct": 100.0 * statistics.fmean(e[0] for e in errors),
        "instance_count_mape_pct": 100.0 * statistics.fmean(e[1] for e in errors),
    }


def _distance_to_targets(figures: dict[str, float]) -> float:
    return figures["cold_start_mape_pct"] / 10.0 + figures["instance_count_mape_pct"] / 3.0


def replay(
    arrivals_s: np.ndarray,
    warm_s: np.ndarray,
    cold_s: np.ndarray,
    keep_alive_s: float,
    sample_at_s: np.ndarray,
) -> tuple[int, int, float]:
    """Replay arrivals through a Lambda pool; return (requests, cold starts, mean sampled pool).

    The rules of ``simulate_pool`` with one request per instance (LIFO, reclaim after
    ``keep_alive_s`` idle; a test checks that both count the same cold starts), in a form fast
    enough for thousands of 21-hour repeats: the idle instances form a stack ordered by the time
    they were freed, so reuse pops the top and expiry advances a pointer at the bottom. Arrivals
    before 0 s warm the pool up and are not counted; the pool is sampled at ``sample_at_s``.
    """
    busy: list[float] = []  # end times of the requests in service (a heap)
    idle: list[float] = []  # when each idle instance was freed, oldest first
    bottom = 0  # idle[:bottom] have expired
    requests = cold = 0
    samples: list[int] = []
    k = 0

    def settle(now: float) -> None:
        nonlocal bottom
        while busy and busy[0] <= now:
            idle.append(heapq.heappop(busy))
        while bottom < len(idle) and idle[bottom] < now - keep_alive_s:
            bottom += 1

    for i, a in enumerate(arrivals_s):
        while k < len(sample_at_s) and sample_at_s[k] <= a:
            settle(sample_at_s[k])
            samples.append(len(busy) + len(idle) - bottom)
            k += 1
        settle(a)
        warm = len(idle) > bottom
        if warm:
            idle.pop()
        heapq.heappush(busy, a + (warm_s[i] if warm else cold_s[i]))
        if a >= 0.0:
            requests += 1
            cold += not warm
    for at in sample_at_s[k:]:
        settle(at)
        samples.append(len(busy) + len(idle) - bottom)
    return requests, cold, float(np.mean(samples)) if samples else 0.0


def repeat_experiment(row: dict[str, str], rng: np.random.Generator) -> tuple[float, float]:
    """One 21-hour repeat of a measured row under the model's rules: (P(cold), mean pool).

    Poisson arrivals at the row's rate, exponential warm and cold service times with the row's
    means, the row's idle time before kill; the pool is sampled once a minute, as the data's.
    """
    lam, warm, cold, keep = _inputs(row)
    n = int(rng.poisson(lam * (EXPERIMENT_S + BURN_IN_S)))
    arrivals = np.sort(rng.uniform(-BURN_IN_S, EXPERIMENT_S, n))
    samples = np.arange(0.0, EXPERIMENT_S, SAMPLE_EVERY_S)
    requests, cold_starts, pool = replay(
        arrivals, rng.exponential(warm, n), rng.exponential(cold, n), keep, samples
    )
    return cold_starts / max(requests, 1), pool


def noise_floor(replicas: int = REPLICAS) -> dict[str, object]:
    """What an exact model would score against 21-hour experiments, by repeating each row.

    Each row is repeated ``replicas`` times under the model's own rules (an exact model's
    predictions are the repeats' long-run means, which the analytic pool reproduces); a
    20-row dataset is one repeat per row, drawn ``DATASETS`` times. The MAPE of the analytic
    predictions against those datasets is what an exact model scores on data as noisy as the
    measured rows; the measured rows' MAPE is placed in that distribution.
    """
    rows = _rows()
    predicted = []
    for row in rows:
        lam, warm, cold, keep = _inputs(row)
        st = stationary_pool(lam, warm, keep, cold_start_s=cold - warm)
        predicted.append((st.cold_start_prob, st.mean_instances))
    pred_p = np.array([p for p, _ in predicted])
    pred_n = np.array([n for _, n in predicted])
    reps = np.array(
        [
            [repeat_experiment(row, np.random.default_rng([20, k, j])) for j in range(replicas)]
            for k, row in enumerate(rows)
        ]
    )  # rows x replicas x (p, n)
    rep_p, rep_n = reps[:, :, 0], reps[:, :, 1]
    pick = np.random.default_rng(21).integers(0, replicas, size=(DATASETS, len(rows)))
    at = np.arange(len(rows))
    data_p, data_n = rep_p[at, pick], rep_n[at, pick]
    mape_p = 100.0 * np.mean(np.abs(pred_p / data_p - 1.0), axis=1)
    mape_n = 100.0 * np.mean(np.abs(pred_n / data_n - 1.0), axis=1)
    bias_n = 100.0 * np.mean(pred_n / data_n - 1.0, axis=1)
    meas_p = np.array([float(r["ColdStartProbability"]) for r in rows])
    meas_n = np.array([float(r["AverageInstanceCount"]) for r in rows])
    se = np.array([float(r["ColdStartProbabilitySE"]) for r in rows])
    observed = {
        "cold_start_mape_pct": 100.0 * float(np.mean(np.abs(pred_p / meas_p - 1.0))),
        "instance_count_mape_pct": 100.0 * float(np.mean(np.abs(pred_n / meas_n - 1.0))),
        "instance_mean_signed_error_pct": 100.0 * float(np.mean(pred_n / meas_n - 1.0)),
    }

    def spread(values: np.ndarray) -> dict[str, float]:
        lo, mid, hi = np.percentile(values, [5, 50, 95])
        return {"p5": float(lo), "median": float(mid), "p95": float(hi)}

    return {
        "method": (
            f"{replicas} repeats per row of a {EXPERIMENT_S / 3600:.1f}-hour experiment "
            f"(per-minute pool samples, {BURN_IN_S:.0f} s warm-up) under the model's rules; "
            f"{DATASETS} datasets of one repeat per row"
        ),
        "replicas": replicas,
        "experiment_hours": EXPERIMENT_S / 3600.0,
        "exact_model": {
            "cold_start_mape_pct": spread(mape_p),
            "instance_count_mape_pct": spread(mape_n),
            "instance_mean_signed_error_pct": spread(bias_n),
            "share_cold_start_mape_within_10_pct": float(np.mean(mape_p <= 10.0)),
            "share_instance_mape_within_3_pct": float(np.mean(mape_n <= 3.0)),
            "share_both_targets": float(np.mean((mape_p <= 10.0) & (mape_n <= 3.0))),
        },
        "observed": observed,
        "observed_rank": {
            "cold_start_mape": float(np.mean(mape_p <= observed["cold_start_mape_pct"])),
            "instance_count_mape": float(np.mean(mape_n <= observed["instance_count_mape_pct"])),
            "instance_mean_signed_error": float(
                np.mean(bias_n <= observed["instance_mean_signed_error_pct"])
            ),
        },
        "rows": [
            {
                "experiment": row[""],
                "repeats_mean_over_predicted": {
                    "cold_start_prob": float(rep_p[k].mean() / pred_p[k]),
                    "instances": float(rep_n[k].mean() / pred_n[k]),
                },
                "cold_start_prob_sd": float(rep_p[k].std()),
                "cold_start_prob_sd_over_reported_se": float(rep_p[k].std() / se[k]),
                "instances_cv_pct": float(100.0 * rep_n[k].std() / rep_n[k].mean()),
            }
            for k, row in enumerate(rows)
        ],
    }


def start_empty() -> dict[str, object]:
    """The rows predicted for a 21-hour window that starts with no instances (parameter-free).

    Starting empty, every level of the pool is created once more than in a stationary window:
    the cold starts over the window are E[N] + (H - T) x the stationary cold-start rate (no
    instance can expire in the first keep-alive), and the pool lacks E[N] - E[N_t] while the
    window maximum over the first t < T seconds builds up (N_t: the pool with keep-alive t).
    Checked against repeats of the rows started empty (within 2%).
    """
    rows = _rows()
    ep, en = [], []
    for row in rows:
        lam, warm, cold, keep = _inputs(row)
        st = stationary_pool(lam, warm, keep, cold_start_s=cold - warm)
        extra = st.mean_instances - lam * st.cold_start_prob * keep
        p = st.cold_start_prob + extra / (lam * EXPERIMENT_S)
        ts = np.linspace(0.0, keep, 41)
        short = [0.0] + [
            stationary_pool(lam, warm, t, cold_start_s=cold - warm).mean_instances for t in ts[1:]
        ]
        deficit = float(np.trapezoid(st.mean_instances - np.array(short), ts))
        n = st.mean_instances - deficit / EXPERIMENT_S
        ep.append(abs(p / float(row["ColdStartProbability"]) - 1.0))
        en.append(abs(n / float(row["AverageInstanceCount"]) - 1.0))
    return {
        "candidate": "each experiment starts with no instances (a 21-hour window)",
        "cold_start_mape_pct": 100.0 * statistics.fmean(ep),
        "instance_count_mape_pct": 100.0 * statistics.fmean(en),
    }


Half = tuple[str, list[dict[str, str]], list[dict[str, str]]]


def _held_out_candidate(name: str, halves: list[Half]) -> dict[str, object]:
    """Fit one candidate on each training half, evaluate it on the held-out half."""
    description, grid = CANDIDATES[name]
    folds: list[dict[str, object]] = []
    held: list[tuple[dict[str, float], dict[str, float]]] = []  # (fitted, shipped) held out
    crossed: list[tuple[float, float]] = []  # every row, with the value fitted on the other half
    for fold, train, test in halves:
        value = min(grid, key=lambda v: _distance_to_targets(_mapes(train, name, v)))
        fitted = {"train": _mapes(train, name, value), "held_out": _mapes(test, name, value)}
        shipped = {"train": _mapes(train), "held_out": _mapes(test)}
        held.append((fitted["held_out"], shipped["held_out"]))
        crossed += [_row_errors(r, name, value) for r in test]
        folds.append(
            {
                "fold": fold,
                "train": [r[""] for r in train],
                "held_out": [r[""] for r in test],
                "as_shipped": shipped,
                "fitted_value_s": value,
                "fitted": fitted,
            }
        )
    closer = all(_distance_to_targets(new) < _distance_to_targets(old) for new, old in held)
    no_figure_worse = all(
        new[key] <= old[key]
        for new, old in held
        for key in ("cold_start_mape_pct", "instance_count_mape_pct")
    )
    return {
        "candidate": name,
        "description": description,
        "grid_s": [grid[0], grid[-1], grid[1] - grid[0]],
        "folds": folds,
        "cross_validated_all_rows": {
            "cold_start_mape_pct": 100.0 * statistics.fmean(e[0] for e in crossed),
            "instance_count_mape_pct": 100.0 * statistics.fmean(e[1] for e in crossed),
        },
        "held_out_closer_to_targets_on_both_folds": closer,
        "held_out_no_figure_worse_on_both_folds": no_figure_worse,
        "adopted": closer and no_figure_worse,
    }


def held_out() -> dict[str, object]:
    """The 2-fold split by experiment parity, for each candidate extension of the model.

    A candidate is adopted only if, on both folds, its held-out rows come closer to the targets
    and neither held-out MAPE rises: trading one figure for the other moves the model no nearer
    to meeting both.
    """
    rows = _rows()
    even = [r for r in rows if int(r[""].rsplit("_", 1)[1]) % 2 == 0]
    odd = [r for r in rows if int(r[""].rsplit("_", 1)[1]) % 2 == 1]
    halves = [("even->odd", even, odd), ("odd->even", odd, even)]
    return {
        "split": "experiment number parity (even: training, odd: held out), then swapped",
        "objective": "cold-start MAPE / 10% + instance MAPE / 3% on the training half",
        "candidates": [_held_out_candidate(name, halves) for name in CANDIDATES],
    }


def accuracy() -> dict[str, object]:
    rows = _rows()
    per_row = []
    ep, en, z = [], [], []
    for row in rows:
        lam, warm, cold, keep = _inputs(row)
        st = stationary_pool(lam, warm, keep, cold_start_s=cold - warm)
        mp = float(row["ColdStartProbability"])
        mn = float(row["AverageInstanceCount"])
        se = float(row["ColdStartProbabilitySE"])
        ep.append(abs(st.cold_start_prob - mp) / mp)
        en.append(abs(st.mean_instances - mn) / mn)
        z.append((st.cold_start_prob - mp) / se)
        per_row.append(
            {
                "experiment": row[""],
                "arrival_rate": lam,
                "cold_start_prob": {"predicted": st.cold_start_prob, "measured": mp, "se": se},
                "instances": {"predicted": st.mean_instances, "measured": mn},
            }
        )
    se_floor = 100.0 * statistics.fmean(
        math.sqrt(2 / math.pi)
        * float(r["ColdStartProbabilitySE"])
        / float(r["ColdStartProbability"])
        for r in rows
    )
    return {
        "cold_start_mape_pct": 100.0 * statistics.fmean(ep),
        "instance_count_mape_pct": 100.0 * statistics.fmean(en),
        "cold_start_mean_abs_z": statistics.fmean(abs(v) for v in z),
        "cold_start_noise_floor_mape_pct": se_floor,
        "simfaas": SIMFAAS,
        "fitted_parameters": 0,
        "held_out": held_out(),
        "start_empty": start_empty(),
        "noise_floor": noise_floor(),
        "rows": per_row,
    }


def _scenarios() -> list[tuple[object, ...]]:
    cat = load_catalog()
    specs = [
        TrafficSpec("steady", 2.0),
        TrafficSpec("steady", 0.01, idle_hours=8),
        TrafficSpec("spiky", 2.0, 150.0, 1800.0),
        TrafficSpec("diurnal", 1.0, 40.0, idle_hours=2),
        TrafficSpec("batch", 0.0, batch_items=20_000, batches_per_day=2),
    ]
    profiles = [build_profile(s) for s in specs]
    service = ServiceTime(0.08, p99_s=0.3)
    out: list[tuple[object, ...]] = []
    for off in cat.offerings():
        size = off.sizes[len(off.sizes) // 2]
        cs = cold_start_seconds(off, size, artifact_mb=90.0, model_load_s=0.4, image_mb=400.0)
        always_on = off.pricing.billing == "always_on"
        for warm in (0, 1, 3):
            if warm and not off.warm_pool.available:
                continue
            pool = pool_config(
                off, cold_start_s=cs, warm_instances=max(warm, 1 if always_on else 0)
            )
            for prof in profiles:
                out.append((off, size, prof, service, pool))
    return out


def _time_scenarios(scenarios: list[tuple[object, ...]]) -> float:
    t0 = time.perf_counter()
    for off, size, prof, service, pool in scenarios:
        perf = predict(prof, service, pool)  # type: ignore[arg-type]
        estimate_cost(off, size, perf)  # type: ignore[arg-type]
    return (time.perf_counter() - t0) / len(scenarios)


def _time_rows(analytic: bool, arrivals: int) -> float:
    rows = _rows()
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        lam, warm, cold, keep = _inputs(row)
        if analytic:
            stationary_pool(lam, warm, keep, cold_start_s=cold - warm)
        else:
            rng = np.random.default_rng(i)
            arr = np.cumsum(rng.exponential(1.0 / lam, arrivals))
            svc = rng.exponential(warm, arrivals)
            simulate_pool(arr, svc, keep_alive_s=keep, cold_start_s=cold - warm)
    return (time.perf_counter() - t0) / len(rows)


def speed(passes: int = 7) -> dict[str, object]:
    scenarios = _scenarios()
    per_scenario, per_row_model, per_row_sim = [], [], []
    for _ in range(passes):  # interleaved: A (model) B (simulation) A B ...
        per_scenario.append(_time_scenarios(scenarios))
        per_row_model.append(_time_rows(True, 0))
        per_row_sim.append(_time_rows(False, 20_000))
    # Per scenario: best of 3 (the machine is shared, so one run can be preempted).
    each = []
    for sc in scenarios:
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            perf = predict(sc[2], sc[3], sc[4])  # type: ignore[arg-type]
            estimate_cost(sc[0], sc[1], perf)  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - t0)
        each.append(best)
    worst = max(each)
    p95 = float(np.percentile(each, 95))
    med_model = statistics.median(per_row_model)
    med_sim = statistics.median(per_row_sim)
    return {
        "scenarios": len(scenarios),
        "ms_per_scenario_median": 1e3 * statistics.median(per_scenario),
        "ms_per_scenario_worst_best_of_3": 1e3 * worst,
        "ms_per_scenario_p95_best_of_3": 1e3 * p95,
        "lambda_row_ms_analytic": 1e3 * med_model,
        "lambda_row_ms_event_simulation_20k_arrivals": 1e3 * med_sim,
        "simulation_over_analytic_ratio": med_sim / med_model,
        "passes": passes,
    }


def main() -> None:
    acc = accuracy()
    spd = speed()
    result = {
        "accuracy": acc,
        "speed": spd,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
    }
    append_result(OUT, result)
    print(
        f"Lambda data (20 rows, 0 fitted parameters): cold-start MAPE "
        f"{acc['cold_start_mape_pct']:.2f}% (SimFaaS 12.23%, an exact model "
        f"{acc['noise_floor']['exact_model']['cold_start_mape_pct']['median']:.1f}% against "
        f"21-hour repeats), instance-count MAPE "
        f"{acc['instance_count_mape_pct']:.2f}% (SimFaaS 3.05%)"
    )
    print(
        f"speed: {spd['ms_per_scenario_median']:.2f} ms/scenario median over "
        f"{spd['scenarios']} scenarios (p95 {spd['ms_per_scenario_p95_best_of_3']:.1f} ms, worst "
        f"{spd['ms_per_scenario_worst_best_of_3']:.1f} ms, best of 3 each); "
        f"analytic {spd['lambda_row_ms_analytic']:.2f} ms/row vs event simulation "
        f"{spd['lambda_row_ms_event_simulation_20k_arrivals']:.0f} ms/row "
        f"({spd['simulation_over_analytic_ratio']:.0f}x)"
    )
    print(f"appended to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
