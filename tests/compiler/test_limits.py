"""Limits: every rejection quotes the catalog row it compares against, for every offering.

Specs are YAML text, as a user writes them; the issue's reproductions (Container Apps' GPU host
memory, a p99 past the timeout) are in ``test_held_out_cases.py``.
"""

from __future__ import annotations

import pytest

from svai.compiler.catalog import Offering, load_catalog
from svai.compiler.limits import largest_size, rejection, time_limit
from svai.compiler.needs import model_needs
from svai.spec import load_spec_text, resolve
from svai.spec.resolve import ResolvedSpec

CATALOG = load_catalog()

SPEC = """
version: 1
name: probe
model: {{artifact: model.onnx, framework: onnx, size: {size}, memory: {memory},
         inference_time: {service}, fetch: {fetch}}}
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
        # Packaged: a model fetched at start rides beside the package, outside its limit.
        "fetch": "build",
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
        # GPU memory of the roomiest size: all its GPUs together (multi-GPU sizes).
        vram = max(
            (offering.vram_per_gpu_gb(s) or 0.0) * s.gpu_count for s in offering.sizes if s.gpu
        )
        huge = spec_for(offering, gpu=f"gpu: {{required: true, memory: {vram + 1:g}GB}}")
        assert f"has {vram:g} GB" in (reason(offering, huge) or ""), offering.id


def test_async_workers_are_bounded_by_a_push_queue_not_by_a_pulling_one() -> None:
    """Pub/Sub push waits 10 minutes at most; Service Bus workers renew their lock."""
    run = CATALOG.get("gcp.cloudrun.service")
    apps = CATALOG.get("azure.containerapps")
    slow = spec_for(run, mode="async", job_timeout="20m")
    assert "Pub/Sub push's delivery limit of 600 s" in (reason(run, slow, "async") or "")
    assert reason(apps, spec_for(apps, mode="async", job_timeout="20m"), "async") is None
    assert time_limit(apps, spec_for(apps, job_timeout="20m"), "async", CATALOG).seconds == 1200
    functions = CATALOG.get("gcp.cloudrun.functions")  # pushed to as well: bounded alike
    assert "delivery limit of 600 s" in (reason(functions, slow, "async") or "")
    assert time_limit(run, spec_for(run, timeout="5m"), "sync", CATALOG).what == "api.timeout"
