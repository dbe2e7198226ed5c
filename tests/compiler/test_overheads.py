"""Platform overheads: measured service times are predicted with each offering's gateway, proxy,
invocation and network latency from the catalog, for every offering family."""

from __future__ import annotations

import pytest

from svai.compiler.catalog import load_catalog
from svai.compiler.perf import PoolConfig, ServiceTime, predict
from svai.compiler.recommend import Measurements, recommend
from svai.compiler.traffic import TrafficSpec, build_profile
from svai.spec import load_spec_text, resolve

SPEC = """
version: 1
name: scorer
model: {artifact: model.onnx, framework: onnx, size: 40MB, inference_time: 20ms}
api: {mode: sync}
latency: {p95: 2s}
traffic: {pattern: steady, baseline_rps: 5}
targets:
  - {cloud: aws, region: us-east-1}
  - {cloud: gcp, region: us-central1}
  - {cloud: azure, region: eastus}
"""
# What `svai bench` measured on a small model: well under a millisecond per request.
BENCHED = Measurements(
    artifact_bytes=40_000_000, load_time_s=0.4, inference_time_s=0.00032, memory_bytes=200 << 20
)
OFFERINGS = [o.id for o in load_catalog().offerings()]


def test_every_offering_declares_its_overheads_with_sources() -> None:
    for offering in load_catalog().offerings():
        oh = offering.overheads
        assert oh.total_s > 0, offering.id
        assert oh.sources, offering.id
        assert oh.network_s > 0, offering.id


@pytest.mark.parametrize("offering_id", OFFERINGS)
def test_post_bench_prediction_includes_the_platform_overheads(offering_id: str) -> None:
    catalog = load_catalog()
    offering = catalog.get(offering_id)
    rec = recommend(resolve(load_spec_text(SPEC)), BENCHED)
    alternatives = {a.offering: a for t in rec.targets for a in t.alternatives}
    alt = alternatives[offering_id]
    if not alt.feasible:
        pytest.skip(f"{offering_id} cannot serve this model: {alt.rejected_because}")
    assert alt.predicted is not None
    overhead_ms = offering.overheads.total_s * 1000
    # The model's own 0.32 ms is a small part: every percentile carries the whole platform.
    assert alt.predicted.p50_ms >= overhead_ms
    assert alt.predicted.p50_ms < overhead_ms + 5.0
    assert alt.predicted.p95_ms >= overhead_ms


def test_an_overhead_shifts_every_percentile_by_exactly_itself() -> None:
    profile = build_profile(TrafficSpec("steady", 2.0))
    service = ServiceTime(0.05)
    bare = predict(profile, service, PoolConfig(cold_start_s=1.0))
    shifted = predict(profile, service, PoolConfig(cold_start_s=1.0, overhead_s=0.04))
    for q in ("p50_s", "p95_s", "p99_s"):
        assert getattr(shifted, q) == pytest.approx(getattr(bare, q) + 0.04, abs=1e-12)
    # The overhead is the platform's time, not the instance's: instances and bills are equal.
    assert shifted.mean_instances == bare.mean_instances
    assert shifted.ondemand_busy_s_per_day == bare.ondemand_busy_s_per_day
    fleet = PoolConfig(cold_start_s=60.0, always_on=True, warm_instances=1, overhead_s=0.02)
    fleet_bare = PoolConfig(cold_start_s=60.0, always_on=True, warm_instances=1)
    assert predict(profile, service, fleet).p95_s == pytest.approx(
        predict(profile, service, fleet_bare).p95_s + 0.02, abs=1e-12
    )


def test_an_overhead_must_be_finite_and_not_negative() -> None:
    for bad in (-0.001, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="overhead_s"):
            PoolConfig(cold_start_s=1.0, overhead_s=bad)
