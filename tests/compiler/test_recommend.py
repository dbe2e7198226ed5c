"""Decision tests of the recommender: choices, reasons, overrides and monotonicity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svai.compiler.recommend import Measurements, model_needs, recommend
from svai.compiler.recommendation import Recommendation, TargetRecommendation, to_dict
from svai.spec import load_spec, load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*/svai.yaml"))

BASE = """
version: 1
name: scorer
model: {{artifact: model.onnx, framework: onnx, size: 40MB, inference_time: {service}}}
api: {{mode: {mode}}}
latency: {{p95: {p95}, p99: {p99}}}
traffic: {{pattern: spiky, baseline_rps: {base}, peak_rps: {peak}, peak_duration: 30m}}
targets:
  - {{cloud: aws, region: us-east-1{aws_extra}}}
  - {{cloud: gcp, region: us-central1}}
  - {{cloud: azure, region: eastus}}
"""


def spec_text(**overrides: object) -> str:
    values: dict[str, object] = {
        "service": "20ms",
        "mode": "auto",
        "p95": "200ms",
        "p99": "500ms",
        "base": 2,
        "peak": 50,
        "aws_extra": "",
    }
    values.update(overrides)
    return BASE.format(**values)


def resolved(**overrides: object) -> ResolvedSpec:
    return resolve(load_spec_text(spec_text(**overrides)))


def target(rec: Recommendation, cloud: str) -> TargetRecommendation:
    return next(t for t in rec.targets if t.cloud == cloud)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_gets_a_recommendation_with_numbers_and_reasons(path: Path) -> None:
    spec = resolve(load_spec(path))
    rec = recommend(spec)
    assert [t.cloud for t in rec.targets] == [t.cloud for t in spec.targets]
    for t in rec.targets:
        p = t.predicted
        assert 0 < p.p50_ms <= p.p95_ms <= p.p99_ms
        assert 0 <= p.cold_start_rate <= 1
        assert p.monthly_cost_usd > 0 and p.cost_per_1k_usd > 0
        assert t.reason
        offered = {a.offering for a in t.alternatives}
        assert t.choice.offering in offered
        for alt in t.alternatives:
            assert alt.feasible == (alt.predicted is not None)
            if not alt.feasible:
                assert alt.rejected_because


def test_gpu_model_never_lands_on_a_function_and_says_why() -> None:
    spec = resolve(load_spec(Path("examples/llm-gpu/svai.yaml")))
    rec = recommend(spec)
    for t in rec.targets:
        assert t.choice.kind != "faas"
        assert t.choice.gpu is not None
        for alt in t.alternatives:
            if alt.kind == "faas":
                assert not alt.feasible
                assert "no GPU" in (alt.rejected_because or "")


def test_small_model_with_loose_targets_meets_them_everywhere() -> None:
    rec = recommend(resolved())
    for t in rec.targets:
        assert t.meets_target, t
        assert t.choice.mode == "sync"
        assert t.predicted.p99_ms <= 500


def test_tighter_targets_never_pick_a_slower_option() -> None:
    previous: dict[str, float] = {}
    for p99 in ("5s", "1s", "300ms", "120ms", "60ms", "35ms"):
        rec = recommend(resolved(p95=p99, p99=p99))
        for t in rec.targets:
            if t.cloud in previous:
                assert t.predicted.p99_ms <= previous[t.cloud] * 1.000001, (t.cloud, p99)
            previous[t.cloud] = t.predicted.p99_ms


def test_more_traffic_never_costs_less_for_the_same_configuration() -> None:
    costs = []
    for scale in (1, 2, 4, 8):
        rec = recommend(
            resolved(
                base=2 * scale,
                peak=50 * scale,
                aws_extra=", runtime: faas, overrides: {min_instances: 0}",
            )
        )
        costs.append(target(rec, "aws").predicted.monthly_cost_usd)
    assert costs == sorted(costs)
    assert costs[-1] > costs[0]


def test_cold_starts_drive_a_warm_pool_when_the_target_is_tight() -> None:
    # Rare traffic, slow load: on-demand cold starts would blow a tight p99.
    text = spec_text(base=0.001, peak=0.002, p95="150ms", p99="250ms", aws_extra=", runtime: faas")
    text = text.replace("size: 40MB", "size: 200MB, load_time: 3s")
    rec = recommend(resolve(load_spec_text(text)))
    aws = target(rec, "aws")
    assert aws.choice.kind == "faas"
    assert aws.choice.warm_instances >= 1
    assert aws.meets_target
    assert "warm pool" in aws.reason


def test_runtime_override_is_honoured_and_a_costlier_one_is_flagged() -> None:
    # Light traffic: an always-on container fleet costs far more than a function.
    rec = recommend(resolved(base=0.5, peak=2, aws_extra=", runtime: container"))
    aws = target(rec, "aws")
    assert aws.choice.kind == "container"
    free = target(recommend(resolved(base=0.5, peak=2)), "aws")
    assert free.choice.kind != "container"
    assert free.predicted.monthly_cost_usd < aws.predicted.monthly_cost_usd
    assert any("override costs" in note and free.choice.name in note for note in aws.notes)


def test_offering_override_picks_exactly_that_offering() -> None:
    rec = recommend(resolved(aws_extra=", overrides: {offering: aws.lambda.image}"))
    assert target(rec, "aws").choice.offering == "aws.lambda.image"


def test_auto_mode_goes_async_for_long_inference() -> None:
    rec = recommend(resolved(service="30s", p95="2m", p99="5m"))
    for t in rec.targets:
        assert t.choice.mode == "async"
        assert any("async" in note for note in t.notes)


def test_unreachable_target_names_the_closest_option_and_what_would_change() -> None:
    rec = recommend(resolved(service="300ms", p95="50ms", p99="60ms"))
    for t in rec.targets:
        assert not t.meets_target
        assert any("nothing meets the targets" in note for note in t.notes)
        assert "closest" in t.reason


def test_measured_figures_replace_declared_ones_and_are_reported() -> None:
    spec = resolved()
    needs = model_needs(spec, Measurements(artifact_bytes=5_000_000, inference_time_s=0.003))
    assert needs.artifact_mb == pytest.approx(5.0)
    assert needs.service_s == pytest.approx(0.003)
    assert "inference time" in needs.measured and "model size" in needs.measured
    rec = recommend(spec, Measurements(inference_time_s=0.003))
    assert "inference time" in rec.targets[0].assumptions.measured


def test_estimates_are_flagged() -> None:
    text = spec_text().replace(", size: 40MB, inference_time: 20ms", "")
    rec = recommend(resolve(load_spec_text(text)))
    assert set(rec.targets[0].assumptions.estimated) >= {"model size", "inference time"}


def test_nothing_feasible_names_every_target_with_its_reasons() -> None:
    text = spec_text().replace("size: 40MB", "size: 40MB, memory: 300GB")
    rec = recommend(resolve(load_spec_text(text)))
    assert rec.targets == ()
    assert [t.cloud for t in rec.infeasible] == ["aws", "gcp", "azure"]
    for t in rec.infeasible:
        assert t.reasons and all("memory" in r for r in t.reasons), t.reasons


def test_json_contract_and_determinism() -> None:
    spec = resolved()
    first = json.dumps(to_dict(recommend(spec)), sort_keys=True)
    second = json.dumps(to_dict(recommend(spec)), sort_keys=True)
    assert first == second
    data = json.loads(first)
    t = data["targets"][0]
    assert {"cloud", "choice", "predicted", "assumptions", "alternatives"} <= set(t)
    assert {"offering", "kind", "mode", "memory_mb", "vcpu", "gpu", "warm_instances"} <= set(
        t["choice"]
    )
    assert {
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "cold_start_rate",
        "mean_instances",
        "monthly_cost_usd",
        "cost_per_1k_usd",
    } <= set(t["predicted"])
    assert {
        "keep_alive_s",
        "cold_start_s",
        "service_ms",
        "concurrency_per_instance",
        "arrival_rate_rps",
    } <= set(t["assumptions"])
    for alt in t["alternatives"]:
        assert {"offering", "kind", "feasible"} <= set(alt)
        assert alt["rejected_because"] is not None or alt["predicted"] is not None


def test_a_warm_pool_override_rejects_offerings_without_one() -> None:
    rec = recommend(resolved(aws_extra=", overrides: {min_instances: 1}"))
    aws = target(rec, "aws")
    assert aws.choice.warm_instances == 1
    snapstart = next(a for a in aws.alternatives if a.offering == "aws.lambda.snapstart")
    assert not snapstart.feasible
    assert "needs a warm pool" in (snapstart.rejected_because or "")
