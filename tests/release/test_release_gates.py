"""Gates: offline evidence against rollout.gates, live signals against rollout.rollback_on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error
from sklearn.model_selection import train_test_split

from svai.compiler.metrics import compute_metric
from svai.compiler.rollout import evaluate_gates
from svai.errors import UsageError
from svai.spec import load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec

B = "v-bbbbbbbbbbbb"

SPEC = """\
version: 1
name: scorer
model: {{artifact: model.onnx, framework: onnx}}
latency: {{p95: 300ms}}
traffic: {{pattern: steady, baseline_rps: 5}}
rollout:
  strategy: canary
  steps: [10, 100]
  rollback_on: {{error_rate: 0.02, p99: 900ms, cold_start_rate: 0.1}}
  gates: {{eval_set: eval.jsonl, metric: {metric}, {bound}: {value}, p95: 50ms, p99: 80ms,
           cost_per_1k_usd: 0.05}}
targets: [{{cloud: aws, region: us-east-1}}]
"""

GOOD = {
    "model_version": B,
    "metrics": {"f1": 0.95, "rmse": 40.0},
    "samples": 500,
    "p95_s": 0.020,
    "p99_s": 0.045,
    "cost_per_1k_usd": 0.01,
    "live": {"error_rate": 0.001, "p99_s": 0.3, "cold_start_rate": 0.02},
}


def spec(metric: str = "f1", bound: str = "min", value: float = 0.9) -> ResolvedSpec:
    return resolve(load_spec_text(SPEC.format(metric=metric, bound=bound, value=value)))


def failed(results) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.name for r in results if not r.passed}


def test_passing_evidence_passes_every_gate() -> None:
    results = evaluate_gates(spec(), B, GOOD)
    names = [r.name for r in results]
    assert names == [
        "f1",
        "p95",
        "p99",
        "cost_per_1k_usd",
        "error_rate",
        "p99_s",
        "cold_start_rate",
    ]
    assert failed(results) == set()
    assert {r.phase for r in results[:4]} == {"offline"} and results[-1].phase == "live"


@pytest.mark.parametrize(
    ("change", "gate"),
    [
        ({"metrics": {"f1": 0.85}}, "f1"),
        ({"p95_s": 0.051}, "p95"),
        ({"p99_s": 0.2}, "p99"),
        ({"cost_per_1k_usd": 0.06}, "cost_per_1k_usd"),
        ({"live": {**GOOD["live"], "error_rate": 0.05}}, "error_rate"),  # type: ignore[dict-item]
        ({"live": {**GOOD["live"], "p99_s": 1.2}}, "p99_s"),  # type: ignore[dict-item]
        ({"live": {**GOOD["live"], "cold_start_rate": 0.5}}, "cold_start_rate"),  # type: ignore[dict-item]
        ({"model_version": "v-aaaaaaaaaaaa"}, "model_version"),
    ],
)
def test_each_failing_figure_fails_exactly_its_gate(change: dict[str, object], gate: str) -> None:
    assert failed(evaluate_gates(spec(), B, {**GOOD, **change})) == {gate}


def test_missing_evidence_fails_rather_than_passes() -> None:
    results = evaluate_gates(spec(), B, {})
    assert failed(results) == {r.name for r in results}
    assert all(r.observed == "missing" for r in results)


@pytest.mark.parametrize("samples", [99, None, "lots"])
def test_too_few_samples_hold_and_never_pass(samples: object) -> None:
    # min_samples defaults to 100; a metric computed on fewer lines is no evidence either way.
    evidence = (
        {**GOOD, "samples": samples}
        if samples is not None
        else {k: v for k, v in GOOD.items() if k != "samples"}
    )
    results = evaluate_gates(spec(), B, evidence)
    held = [r for r in results if r.hold]
    assert [r.name for r in held] == ["samples"] and not held[0].passed
    assert held[0].threshold == ">= 100"
    assert failed(results) == {"samples"}  # the metric itself (0.95) passes
    assert evaluate_gates(spec(), B, {**GOOD, "samples": 100})[0].name == "f1"  # the boundary


def test_a_missing_metric_says_why() -> None:
    evidence = {"metrics_error": "svai eval failed: no model"}
    f1 = evaluate_gates(spec(), B, evidence, live=False)[0]
    assert f1.name == "f1" and f1.observed == "missing (svai eval failed: no model)"
    assert not f1.passed and not f1.hold


def test_cost_falls_back_to_the_prediction_and_live_can_be_skipped() -> None:
    evidence = {k: v for k, v in GOOD.items() if k not in ("cost_per_1k_usd", "live")}
    results = evaluate_gates(spec(), B, evidence, cost_per_1k_usd=0.2, live=False)
    assert failed(results) == {"cost_per_1k_usd"}
    assert all(r.phase == "offline" for r in results)


def test_max_bound_metrics_fail_above_the_threshold() -> None:
    assert failed(evaluate_gates(spec("rmse", "max", 50), B, GOOD)) == set()
    assert failed(evaluate_gates(spec("rmse", "max", 30), B, GOOD)) == {"rmse"}


def test_non_numbers_are_missing() -> None:
    odd = {**GOOD, "p95_s": "fast", "p99_s": True, "metrics": {"f1": math.nan}}
    assert failed(evaluate_gates(spec(), B, odd)) == {"f1", "p95", "p99"}


def test_classification_metrics_match_sklearn_on_a_real_model() -> None:
    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=0)
    predicted = LogisticRegression(max_iter=200).fit(x_train[:, :2], y_train).predict(x_test[:, :2])
    assert 0.5 < accuracy_score(y_test, predicted) < 1.0  # a model that makes mistakes
    got_acc = compute_metric("accuracy", predicted.tolist(), y_test.tolist())
    got_f1 = compute_metric("f1", predicted.tolist(), y_test.tolist())
    assert got_acc == pytest.approx(accuracy_score(y_test, predicted))
    assert got_f1 == pytest.approx(f1_score(y_test, predicted, average="macro"))


def test_regression_and_cosine_metrics_match_references() -> None:
    x, y = load_diabetes(return_X_y=True)
    predicted = LinearRegression().fit(x[:300], y[:300]).predict(x[300:])
    truth = y[300:]
    assert compute_metric("mae", predicted.tolist(), truth.tolist()) == pytest.approx(
        mean_absolute_error(truth, predicted)
    )
    assert compute_metric("rmse", predicted.tolist(), truth.tolist()) == pytest.approx(
        math.sqrt(mean_squared_error(truth, predicted))
    )
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 8)), rng.normal(size=(20, 8))
    reference = np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))
    assert compute_metric("cosine", a.tolist(), b.tolist()) == pytest.approx(reference)


def test_metric_errors() -> None:
    with pytest.raises(UsageError, match="2 predictions for 1"):
        compute_metric("accuracy", [1, 2], [1])
    with pytest.raises(UsageError, match="no answers"):
        compute_metric("accuracy", [], [])
    with pytest.raises(UsageError, match="unknown metric"):
        compute_metric("auc", [1], [1])
