"""The whole-deployment bill against what the backends really create, under Pulumi mocks.

Every resource type a backend records must have a catalog row, priced or explicitly free; the
rows :func:`svai.compiler.bill.deployment_cost` prices must be exactly the rows the recorded
resources fall under, with the same count where a row is priced per resource. The plans come
from specs written as YAML text, through the recommender and lowering, for every offering the
backends build in both API modes and for the features that add resources (auth, private
network, customer keys, caches, alarms, e-mail).
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pytest

from svai import api
from svai.backends.preview import record
from svai.backends.registry import OFFERINGS, get_backend
from svai.compiler.bill import deployment_cost
from svai.compiler.catalog import load_catalog
from svai.compiler.lower import lower
from svai.compiler.recommend import recommend
from svai.compiler.recommendation import Workload
from svai.ir import DeploymentPlan, RecordedResource
from svai.spec import load_spec_text, resolve

CATALOG = load_catalog()
EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*/svai.yaml"))
REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
SPEC = """
version: 1
name: probe
model: {{artifact: model.onnx, framework: onnx, size: 40MB, inference_time: 50ms}}
api: {{mode: {mode}, auth: {auth}{jwt}}}
traffic: {{pattern: steady, baseline_rps: 2}}
cache: {{enabled: {cache}}}
security: {{network: {{private: {private}}}{key}}}
observability: {{alarms: {{p95: 1s, cold_start_rate: 0.1}}{email}}}
targets:
  - {{cloud: {cloud}, region: {region}, overrides: {{offering: {offering}}}}}
"""
KEYS = {
    "aws": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "gcp": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
    "azure": "https://vault.vault.azure.net/keys/k",
}
SYNC_ONLY = {"gcp.vertex.endpoint", "azure.ml.online_endpoint"}
CASES = [
    (offering, mode, {})
    for cloud in ("aws", "gcp", "azure")
    for offering in sorted(OFFERINGS[cloud])
    for mode in ("sync", "async")
    if not (mode == "async" and offering in SYNC_ONLY)
] + [
    ("aws.lambda.zip", "sync", {"auth": "jwt", "cache": "false", "key": "aws"}),
    ("aws.sagemaker.serverless", "sync", {"email": True, "private": "true"}),
    ("gcp.cloudrun.service", "sync", {"auth": "jwt", "email": True}),
    ("gcp.cloudrun.service", "sync", {"auth": "api-key", "key": "gcp"}),
    ("gcp.cloudrun.service", "async", {"auth": "jwt"}),
    ("gcp.vertex.endpoint", "sync", {"auth": "jwt"}),
    ("gcp.cloudrun.functions", "sync", {"auth": "none", "cache": "false"}),
    ("azure.containerapps", "sync", {"private": "true", "email": True}),
    ("azure.functions.flex_consumption", "async", {"private": "true"}),
    ("azure.ml.online_endpoint", "sync", {"private": "true", "key": "azure"}),
]


def plan_for(offering: str, mode: str, options: dict[str, object]) -> DeploymentPlan:
    cloud = offering.split(".", 1)[0]
    auth = str(options.get("auth", "iam"))
    text = SPEC.format(
        mode=mode,
        auth=auth,
        jwt=', jwt: {issuer: "https://id.example.com/", audience: probe}' if auth == "jwt" else "",
        cache=options.get("cache", "true"),
        private=options.get("private", "false"),
        key=f", encryption_key: {{{cloud}: '{KEYS[cloud]}'}}" if options.get("key") else "",
        email=", alert_email: ops@example.com" if options.get("email") else "",
        cloud=cloud,
        region=REGIONS[cloud],
        offering=offering,
    )
    spec = resolve(load_spec_text(text))
    target = recommend(spec).targets[0]
    assert target.choice.offering == offering, target.notes
    return lower(spec, spec.targets[0], target, "mv-000000000000")


def recorded_rows(resources: tuple[RecordedResource, ...]) -> Counter[str]:
    rows: Counter[str] = Counter()
    for resource in resources:
        row = CATALOG.resource_for(resource.type)
        assert row is not None, f"{resource.type} ({resource.name}) has no catalog row"
        rows[row.id] += 1
    return rows


def assert_bill_matches(plan: DeploymentPlan, resources: tuple[RecordedResource, ...]) -> None:
    recorded = recorded_rows(resources)
    workload = Workload(predictions=1e6, model_latency_s=0.1, artifact_mb=40, image_mb=500)
    billed = dict(deployment_cost(plan, workload, CATALOG).resources)
    typed = {row: n for row, n in billed.items() if CATALOG.resource(row).types and n > 0}
    priced = {row for row in recorded if CATALOG.resource(row).meter != "free"}
    assert set(typed) == priced, (plan.cloud, plan.services[0].compute.offering)
    for row, count in typed.items():
        if CATALOG.resource(row).meter == "monthly":
            assert count == recorded[row], (row, count, recorded[row])


@pytest.mark.parametrize(
    ("offering", "mode", "options"),
    CASES,
    ids=[f"{o}-{m}-{'-'.join(sorted(opts)) or 'plain'}" for o, m, opts in CASES],
)
def test_the_bill_prices_exactly_what_the_backend_records(
    offering: str, mode: str, options: dict[str, object]
) -> None:
    plan = plan_for(offering, mode, options)
    backend = get_backend(plan.cloud)
    resources = record(functools.partial(backend.program, plan), project="probe", stack="bill")
    assert_bill_matches(plan, resources)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_plan_states_its_recommendations_cost(path: Path) -> None:
    """The plan's $/month equals the recommendation's for the chosen option, on every cloud."""
    _, result = api.plan(path)
    for target in result.targets:
        assert_bill_matches(target.plan, target.resources)
        predicted = target.recommendation.predicted
        assert target.cost is not None
        assert target.cost.monthly_usd == pytest.approx(predicted.monthly_cost_usd, rel=1e-9)
        assert dict(target.cost.breakdown) == pytest.approx(dict(predicted.cost_breakdown))
        assert target.cost.per_release_usd == pytest.approx(predicted.per_release_usd, rel=1e-9)


def test_every_row_has_sources_and_every_type_one_row() -> None:
    rows = CATALOG.resources()
    assert {r.cloud for r in rows} == {"aws", "gcp", "azure", "any"}
    for row in rows:
        assert row.sources and all(s.startswith("https://") for s in row.sources), row.id
        if row.meter == "free":
            assert len(row.note) > 20, row.id
    tokens = [t for r in rows for t in r.types]
    assert len(tokens) == len(set(tokens))
