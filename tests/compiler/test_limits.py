"""Limits: every rejection quotes the catalog row it compares against; time limits are limits.

Specs are YAML text, as a user writes them. Each reproduction from issue #19 failed on the code
before the fix: Container Apps' GPU sizes were refused against the CPU sizes' 8 GB ceiling, and a
choice whose p99 ran past ``api.timeout`` was reported as meeting the targets.
"""

from __future__ import annotations

import pytest

from svai.compiler.catalog import Offering, load_catalog
from svai.compiler.limits import largest_size, rejection, time_limit
from svai.compiler.needs import model_needs
from svai.compiler.recommend import recommend
from svai.compiler.recommendation import TargetRecommendation
from svai.spec import load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec

CATALOG = load_catalog()

SPEC = """
version: 1
name: probe
model: {{artifact: model.onnx, framework: onnx, size: {size}, memory: {memory},
         inference_time: {service}}}
api: {{mode: {mode}, max_payload: {payload}, timeout: {timeout}}}
traffic: {{pattern: steady, baseline_rps: 1}}
{gpu}
reliability: {{job_timeout: {job_timeout}}}
targets:
  - {{cloud: {cloud}, region: {region}}}
"""
REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}


def spec_for(offering: Offering, **values: object) -> ResolvedSpec:
    fields: dict[str, object] = {
        "size": "10MB",
        "memory": "100MiB",
        "service": "50ms",
        "mode": "sync",
        "payload": "64KB",
        "timeout": "10s",
        "job_timeout": "10s",
        "gpu": "",
        "cloud": offering.cloud,
        "region": REGIONS[offering.cloud],
    }
    fields.update(values)
    return resolve(load_spec_text(SPEC.format(**fields)))


def reason(offering: Offering, spec: ResolvedSpec, mode: str = "sync") -> str | None:
    return rejection(offering, spec, model_needs(spec), mode, CATALOG)  # type: ignore[arg-type]


@pytest.mark.parametrize("offering", CATALOG.offerings(), ids=lambda o: o.id)
def test_every_rejection_quotes_the_catalog_row_it_cites(offering: Offering) -> None:
    """Memory, GPU memory, package, payload and timeout reasons carry the row's own figures."""
    assert reason(offering, spec_for(offering)) is None, offering.id
    cpu = spec_for(offering)
    largest = largest_size(offering, model_needs(cpu))
    assert largest is not None
    too_big = spec_for(offering, memory=f"{largest.memory_mb + 1}MiB")
    assert f"has {largest.memory_mb:,} MB" in (reason(offering, too_big) or ""), offering.id

    lim = offering.limits
    package = spec_for(offering, size=f"{int(lim.artifact_mb) + 1}MB")
    assert f"the {lim.artifact_mb:,.0f} MB limit" in (reason(offering, package) or "")

    payload = spec_for(offering, payload=f"{int(lim.request_mb) + 1}MB")
    assert f"the {lim.request_mb:g} MB request limit" in (reason(offering, payload) or "")

    slow = spec_for(offering, timeout=f"{int(lim.timeout_s) + 1}s")
    assert f"request limit of {lim.timeout_s:g} s" in (reason(offering, slow) or "")

    if offering.gpu.available:
        gpu = spec_for(offering, gpu="gpu: {required: true, memory: 1GB}")
        gpu_largest = largest_size(offering, model_needs(gpu))
        assert gpu_largest is not None and gpu_largest.gpu is not None
        assert reason(offering, gpu) is None, offering.id
        host = spec_for(
            offering,
            memory=f"{gpu_largest.memory_mb + 1}MiB",
            gpu="gpu: {required: true, memory: 1GB}",
        )
        assert "largest GPU size" in (reason(offering, host) or "")
        assert f"has {gpu_largest.memory_mb:,} MB" in (reason(offering, host) or "")
        vram = max(offering.gpu.get(s.gpu).vram_gb for s in offering.sizes if s.gpu)
        huge = spec_for(offering, gpu=f"gpu: {{required: true, memory: {vram + 1:g}GB}}")
        assert f"has {vram:g} GB" in (reason(offering, huge) or ""), offering.id


def test_container_apps_gpu_sizes_carry_their_own_host_memory() -> None:
    """Issue #19, 2: a GPU model needing 24 GB of host memory fits Container Apps' T4 size."""
    text = """
version: 1
name: vision
model: {artifact: model.safetensors, framework: pytorch, size: 6GB, memory: 24GB,
        inference_time: 300ms}
api: {mode: sync, timeout: 60s}
latency: {p95: 30s}
traffic: {pattern: steady, baseline_rps: 0.5}
gpu: {required: true, memory: 12GB}
targets:
  - {cloud: azure, region: eastus}
"""
    rec = recommend(resolve(load_spec_text(text)))
    apps = next(a for a in rec.targets[0].alternatives if a.offering == "azure.containerapps")
    assert apps.feasible, apps.rejected_because
    assert apps.predicted is not None


LONG = """
version: 1
name: long-requests
model: {artifact: model.onnx, framework: onnx, size: 500MB, inference_time: 25m}
api: {mode: sync, timeout: 30m}
traffic: {pattern: steady, baseline_rps: 0.001}
targets:
  - {cloud: gcp, region: us-central1}
"""


def gcp(text: str) -> TargetRecommendation:
    return recommend(resolve(load_spec_text(text))).targets[0]


def test_a_p99_past_the_request_timeout_never_meets() -> None:
    """Issue #19, 5: 25-minute requests against a 30-minute timeout are not 'meeting'."""
    t = gcp(LONG)
    assert t.predicted.p99_ms > 30 * 60_000
    assert not t.meets_target
    for alt in t.alternatives:
        assert not alt.meets_target, alt
        if alt.feasible:
            assert "api.timeout" in (alt.rejected_because or ""), alt


def test_a_p99_within_every_limit_still_meets() -> None:
    t = gcp(LONG.replace("25m", "2s").replace("timeout: 30m", "timeout: 1m"))
    assert t.meets_target
    assert t.predicted.p99_ms < 60_000


def test_async_workers_are_bounded_by_a_push_queue_not_by_a_pulling_one() -> None:
    """Pub/Sub push waits 10 minutes at most; Service Bus workers renew their lock."""
    run = CATALOG.get("gcp.cloudrun.service")
    apps = CATALOG.get("azure.containerapps")
    slow = spec_for(run, mode="async", job_timeout="20m")
    assert "Pub/Sub push's delivery limit of 600 s" in (reason(run, slow, "async") or "")
    assert reason(apps, spec_for(apps, mode="async", job_timeout="20m"), "async") is None
    assert time_limit(apps, spec_for(apps, job_timeout="20m"), "async", CATALOG).seconds == 1200
    assert time_limit(run, spec_for(run, timeout="5m"), "sync", CATALOG).what == "api.timeout"
