"""Regions are real: typos fail validation, and each target is priced and limited by its region.

The regions come from ``svai/spec/regions.yaml`` and what differs per region (GPU availability,
price factors) from ``svai/compiler/data/regional.yaml``; these tests run the whole
``svai recommend`` path on spec text and compare two regions of the same cloud.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest

from svai import api
from svai.compiler.catalog import load_catalog
from svai.compiler.recommendation import Recommendation, TargetRecommendation
from svai.errors import SpecError
from svai.spec import load_spec_text
from svai.spec.regions import cloud_regions

SPEC = """\
version: 1
name: regional
model: {{artifact: "hf://acme/m@0123456789abcdef0123456789abcdef01234567/model.onnx",
        framework: onnx, size: 200MB, memory: 1GB, inference_time: 50ms}}
api: {{mode: sync}}
latency: {{p95: 2s}}
traffic: {{pattern: steady, baseline_rps: 5}}
{gpu}targets:
{targets}"""

GPU = "gpu: {required: true, memory: 12GB}\n"


def recommended(targets: str, gpu: str = "") -> Recommendation:
    """Recommend exactly as ``svai recommend`` does, from the spec's text."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "svai.yaml"
        path.write_text(SPEC.format(targets=targets, gpu=gpu), encoding="utf-8")
        return api.recommend(path)[1]


def target(rec: Recommendation, region: str) -> TargetRecommendation:
    return next(t for t in rec.targets if t.region == region)


def compute_usd(rec: TargetRecommendation) -> float:
    """The model service's own compute cost, per-request fees left out (the same everywhere)."""
    assert rec.workload is not None
    return sum(usd for name, usd in rec.workload.compute if name != "requests")


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("cloud", "typo", "suggestion"),
    [
        ("aws", "eu-wset-1", "`eu-west-1`"),
        ("aws", "us-est-1", "`us-east-1`"),
        ("gcp", "us-centrall1", "`us-central1`"),
        ("gcp", "europe-west7", "`europe-west"),
        ("azure", "westeruope", "`westeurope`"),
        ("azure", "eastus4", "`eastus"),
    ],
)
def test_a_region_typo_is_a_located_error_with_a_suggestion(
    cloud: str, typo: str, suggestion: str
) -> None:
    text = SPEC.format(gpu="", targets=f"  - {{cloud: {cloud}, region: {typo}}}\n")
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, "svai.yaml")
    [problem] = caught.value.diagnostics
    assert problem.code == "unknown-region"
    assert (problem.line, problem.col) == (9, 26 + len(cloud) - 3)
    assert problem.path == "targets[0].region"
    assert typo in problem.message
    assert problem.hint.startswith("did you mean") and suggestion in problem.hint


def test_every_real_region_validates() -> None:
    for cloud in ("aws", "gcp", "azure"):
        regions = cloud_regions(cloud)
        assert regions.default == load_catalog().regions[cloud]  # the catalog's price region
        for region in regions.names:
            text = SPEC.format(gpu="", targets=f"  - {{cloud: {cloud}, region: {region}}}\n")
            assert load_spec_text(text).targets[0].region == region


# ----------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    ("cloud", "offering", "region", "factor"),
    [
        ("aws", "aws.sagemaker.realtime", "ap-northeast-1", 1.25),
        ("gcp", "gcp.cloudrun.service", "europe-west2", 1.4),
        ("azure", "azure.containerapps", "westeurope", 1.15),
    ],
)
def test_a_non_default_region_is_priced_at_that_regions_prices(
    cloud: str, offering: str, region: str, factor: float
) -> None:
    default = cloud_regions(cloud).default
    pin = f"overrides: {{offering: {offering}}}"
    rec = recommended(
        f"  - {{cloud: {cloud}, region: {default}, {pin}}}\n"
        f"  - {{cloud: {cloud}, region: {region}, {pin}}}\n"
    )
    here, there = target(rec, default), target(rec, region)
    assert here.choice == there.choice  # the same configuration, so only the prices differ
    assert math.isclose(compute_usd(there), factor * compute_usd(here), rel_tol=1e-9)
    assert there.predicted.monthly_cost_usd > here.predicted.monthly_cost_usd


def test_a_region_without_recorded_prices_uses_the_reference_and_says_so() -> None:
    catalog = load_catalog()
    lambda_paris = catalog.in_region("aws", "eu-west-3").get("aws.lambda.zip")
    assert lambda_paris.pricing == catalog.get("aws.lambda.zip").pricing
    [mark] = [m for m in lambda_paris.unverified if m.path == "pricing.region"]
    assert "no eu-west-3 price recorded" in mark.note
    home = catalog.in_region("aws", "us-east-1").get("aws.lambda.zip")
    assert not home.is_unverified("pricing.region")


def test_every_example_region_and_ten_per_cloud_have_recorded_prices() -> None:
    catalog = load_catalog()
    examples = {
        "aws": ["us-east-1", "us-west-2", "eu-west-1"],
        "gcp": ["us-central1", "europe-west1", "europe-west4"],
        "azure": ["eastus", "westeurope", "swedencentral"],
    }
    for cloud, used in examples.items():
        priced = [
            region
            for region in cloud_regions(cloud).names
            if not any(
                "price recorded" in m.note
                for o in catalog.in_region(cloud, region).offerings(cloud)
                for m in o.unverified
            )
        ]
        assert set(used) <= set(priced), cloud
        assert len(priced) >= 10, cloud


# ----------------------------------------------------------------------------- availability


@pytest.mark.parametrize(
    ("cloud", "offering", "without", "with_gpu", "refusal"),
    [
        ("gcp", "gcp.cloudrun.service", "europe-west2", "europe-west4", "no L4 GPU in"),
        ("azure", "azure.containerapps", "eastus", "swedencentral", "no T4/A100 GPU in"),
    ],
)
def test_an_offering_without_the_gpu_in_the_region_is_rejected_with_that_reason(
    cloud: str, offering: str, without: str, with_gpu: str, refusal: str
) -> None:
    rec = recommended(
        f"  - {{cloud: {cloud}, region: {without}}}\n  - {{cloud: {cloud}, region: {with_gpu}}}\n",
        gpu=GPU,
    )
    by_region = {t.region: t for t in (*rec.targets, *rec.infeasible)}
    missing = next(a for a in by_region[without].alternatives if a.offering == offering)
    assert not missing.feasible
    assert missing.rejected_because is not None
    assert missing.rejected_because.startswith(f"{refusal} {without}")
    assert with_gpu in missing.rejected_because  # says where the GPU is
    offered = next(a for a in by_region[with_gpu].alternatives if a.offering == offering)
    assert offered.feasible, offered.rejected_because


def test_aws_offerings_run_in_every_region_with_the_regions_prices() -> None:
    # regional.yaml records one AWS availability gap (SnapStart, below); the rest run everywhere.
    catalog = load_catalog()
    for region in cloud_regions("aws").names:
        for offering in catalog.in_region("aws", region).offerings("aws"):
            assert offering.region == region
            if offering.id != "aws.lambda.snapstart":
                assert offering.region_refusal(gpu=True) is None
    fargate = catalog.in_region("aws", "sa-east-1").get("aws.ecs.fargate").pricing.active
    reference = catalog.get("aws.ecs.fargate").pricing.active
    assert math.isclose(fargate.vcpu_s, 1.72 * reference.vcpu_s)


def test_snapstart_is_refused_where_aws_does_not_offer_it() -> None:
    catalog = load_catalog()
    taipei = catalog.in_region("aws", "ap-east-2").get("aws.lambda.snapstart")
    reason = taipei.region_refusal(gpu=False)
    assert reason is not None
    assert reason.startswith(
        "AWS Lambda SnapStart (Python 3.12+, .zip) is not offered in ap-east-2"
    )
    assert "snapstart.html" in reason  # the refusal names its source
    assert (
        catalog.in_region("aws", "eu-west-1").get("aws.lambda.snapstart").region_refusal(gpu=False)
        is None
    )
    rec = recommended("  - {cloud: aws, region: ap-east-2}\n")
    [taipei_target] = rec.targets
    snapstart = next(a for a in taipei_target.alternatives if a.offering == "aws.lambda.snapstart")
    assert not snapstart.feasible and snapstart.rejected_because == reason
