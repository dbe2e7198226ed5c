"""The per-release cost: the second fleet a canary or blue/green release keeps up, by offering.

Each plan comes from a spec written as YAML text, through the recommender and lowering; the
expected figure is worked out here from the catalog's own rows (instances × hours × the rate),
and where the backend declares the window or the instances, from what it records under Pulumi
mocks: the SageMaker endpoint's blue/green update policy, the container app's revision mode and
minimum replicas.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from svai.backends.preview import record
from svai.backends.registry import get_backend
from svai.compiler.bill import deployment_cost
from svai.compiler.catalog import Offering, Size, load_catalog
from svai.compiler.lower import lower
from svai.compiler.recommend import recommend
from svai.compiler.recommendation import Workload
from svai.compiler.release_cost import NO_RELEASE_COST, ReleaseLine
from svai.ir import DeploymentPlan, RecordedResource
from svai.spec import load_spec_text, resolve

CATALOG = load_catalog()
REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
WORKLOAD = Workload(predictions=1e6, model_latency_s=0.1, artifact_mb=40, image_mb=500)
SPEC = """
version: 1
name: probe
model: {{artifact: model.onnx, framework: onnx, size: 40MB, inference_time: 50ms}}
api: {{mode: sync, auth: iam}}
traffic: {{pattern: steady, baseline_rps: 2}}
rollout: {rollout}
targets:
  - {{cloud: {cloud}, region: {region}, overrides: {{offering: {offering}{warm}}}}}
"""


def plan_for(offering: str, rollout: str, *, min_instances: int | None = None) -> DeploymentPlan:
    cloud = offering.split(".", 1)[0]
    warm = f", min_instances: {min_instances}" if min_instances is not None else ""
    text = SPEC.format(
        rollout=rollout, cloud=cloud, region=REGIONS[cloud], offering=offering, warm=warm
    )
    spec = resolve(load_spec_text(text))
    target = recommend(spec).targets[0]
    assert target.choice.offering == offering, target.notes
    return lower(spec, spec.targets[0], target, "mv-000000000000")


def per_release(plan: DeploymentPlan) -> tuple[float, tuple[ReleaseLine, ...]]:
    bill = deployment_cost(plan, WORKLOAD, CATALOG.in_region(plan.cloud, plan.region))
    return bill.per_release_usd, bill.per_release.lines


def offering_of(plan: DeploymentPlan) -> Offering:
    return CATALOG.in_region(plan.cloud, plan.region).get(plan.services[0].compute.offering)


def instance_size(plan: DeploymentPlan) -> Size:
    name = plan.services[0].compute.instance_type
    (size,) = (s for s in offering_of(plan).sizes if s.name == name)
    return size


def recorded(plan: DeploymentPlan) -> tuple[RecordedResource, ...]:
    program = functools.partial(get_backend(plan.cloud).program, plan)
    return record(program, project="probe", stack="release")


def inputs_of(resources: tuple[RecordedResource, ...], type_token: str) -> dict[str, Any]:
    (found,) = (r.inputs for r in resources if r.type == type_token)
    return found


# ---- SageMaker real-time endpoints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rollout", "windows"),
    [
        ("{strategy: blue-green, interval: 30m}", 2),  # the bake, then the termination wait
        ("{strategy: canary, steps: [10, 100], interval: 20m}", 2),  # the canary's bake, the wait
        ("{strategy: canary, steps: [25, 50, 75, 100], interval: 10m}", 5),  # 4 linear bakes
    ],
    ids=["blue-green", "canary", "linear"],
)
def test_a_sagemaker_blue_green_release_pays_a_second_fleet_for_its_declared_window(
    rollout: str, windows: int
) -> None:
    plan = plan_for("aws.sagemaker.realtime", rollout, min_instances=2)
    usd, (line,) = per_release(plan)
    # The window is what the endpoint's blue/green update policy declares to SageMaker.
    endpoint = inputs_of(recorded(plan), "aws:sagemaker/endpoint:Endpoint")
    policy = endpoint["deploymentConfig"]["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    steps = 100 // routing["linearStepSize"]["value"] if routing["type"] == "LINEAR" else 1
    declared_s = steps * routing["waitIntervalInSeconds"] + policy["terminationWaitInSeconds"]
    assert declared_s == windows * plan.rollout.interval_s
    # Live plus new fleet: twice the endpoint's instances during the window, one of them extra.
    size = instance_size(plan)
    assert size.usd_per_hour is not None
    assert (line.service, line.held, line.instances, line.size) == (
        "api", "blue-green", 2, size.name,
    )  # fmt: skip
    assert line.hours == declared_s / 3600
    assert usd == line.usd
    assert usd == pytest.approx(2 * size.usd_per_hour * declared_s / 3600, rel=1e-12)


def test_steps_guardrails_cannot_run_keep_the_previous_variant_while_split() -> None:
    """[5, 25, 100] is the gate job's: two variants, each with the endpoint's instances."""
    plan = plan_for(
        "aws.sagemaker.realtime", "{strategy: canary, steps: [5, 25, 100], interval: 15m}"
    )
    usd, (line,) = per_release(plan)
    size = instance_size(plan)
    assert size.usd_per_hour is not None
    assert (line.held, line.instances, line.hours) == ("while-split", 1, 0.5)  # 2 steps × 15 min
    assert usd == pytest.approx(size.usd_per_hour * 0.5, rel=1e-12)


@pytest.mark.parametrize(
    "offering",
    [
        "aws.sagemaker.realtime",
        "aws.sagemaker.serverless",
        "aws.lambda.zip",
        "gcp.cloudrun.service",
        "azure.containerapps",
    ],
)
def test_an_all_at_once_release_keeps_no_second_fleet(offering: str) -> None:
    plan = plan_for(offering, "{strategy: all-at-once}", min_instances=1)
    bill = deployment_cost(plan, WORKLOAD, CATALOG.in_region(plan.cloud, plan.region))
    assert bill.per_release == NO_RELEASE_COST
    assert bill.per_release_usd == 0.0


@pytest.mark.parametrize("offering", ["aws.lambda.zip", "aws.sagemaker.serverless"])
def test_request_billed_offerings_are_not_priced_per_release(offering: str) -> None:
    plan = plan_for(offering, "{strategy: blue-green, interval: 30m}", min_instances=1)
    assert per_release(plan) == (0.0, ())


# ---- Container Apps and Cloud Run revisions ----------------------------------------------------


def test_a_container_apps_canary_prices_the_old_revisions_min_replicas() -> None:
    plan = plan_for(
        "azure.containerapps",
        "{strategy: canary, steps: [10, 50, 100], interval: 10m}",
        min_instances=2,
    )
    usd, (line,) = per_release(plan)
    app = inputs_of(recorded(plan), "azure-native:app:ContainerApp")
    assert app["configuration"]["activeRevisionsMode"] == "Multiple"
    min_replicas = app["template"]["scale"]["minReplicas"]
    assert (line.held, line.instances) == ("while-split", min_replicas) == ("while-split", 2)
    # Kept at 90% and at 50%: two intervals; each replica at the warm idle rate of its sizing.
    compute = plan.services[0].compute
    size = Size(memory_mb=compute.memory_mb, vcpu=compute.vcpu)
    idle = offering_of(plan).pricing.warm_idle
    per_hour = (idle.vcpu_s * size.vcpu + (idle.gib_s + idle.gb_s) * size.memory_gb) * 3600
    assert per_hour > 0
    assert line.hours == pytest.approx(20 / 60)
    assert usd == pytest.approx(2 * per_hour * 20 / 60, rel=1e-12)


def test_container_apps_blue_green_keeps_the_standby_revision_for_its_interval() -> None:
    plan = plan_for("azure.containerapps", "{strategy: blue-green, interval: 1h}", min_instances=1)
    _, (line,) = per_release(plan)
    assert (line.instances, line.hours) == (1, 1.0)  # active at 0%: its minimum replicas run


def test_a_container_app_that_scales_to_zero_keeps_nothing_up() -> None:
    plan = plan_for(
        "azure.containerapps",
        "{strategy: canary, steps: [10, 100], interval: 10m}",
        min_instances=0,
    )
    assert per_release(plan) == (0.0, ())


def test_cloud_run_keeps_the_old_revisions_min_instances_only_while_it_takes_traffic() -> None:
    canary = plan_for(
        "gcp.cloudrun.service", "{strategy: canary, steps: [10, 50, 100], interval: 10m}",
        min_instances=3,
    )  # fmt: skip
    usd, (line,) = per_release(canary)
    assert (line.held, line.instances, line.hours) == ("while-routed", 3, pytest.approx(1 / 3))
    assert usd > 0
    # Blue/green's standby is 0% of the traffic: not addressable, no minimum instances.
    standby = plan_for(
        "gcp.cloudrun.service", "{strategy: blue-green, interval: 1h}", min_instances=3
    )
    assert per_release(standby) == (0.0, ())


# ---- endpoints with one deployment per version ---------------------------------------------------


@pytest.mark.parametrize("offering", ["azure.ml.online_endpoint", "gcp.vertex.endpoint"])
def test_an_endpoint_keeps_the_previous_deployment_through_the_standby(offering: str) -> None:
    plan = plan_for(offering, "{strategy: blue-green, interval: 30m}")
    usd, (line,) = per_release(plan)
    size = instance_size(plan)
    assert size.usd_per_hour is not None
    # At least one instance per deployment, for blue/green's one standby interval.
    assert (line.held, line.instances, line.hours) == ("while-split", 1, 0.5)
    assert usd == pytest.approx(size.usd_per_hour * 0.5 + _gpu_hour(plan, size) * 0.5, rel=1e-12)


def _gpu_hour(plan: DeploymentPlan, size: Size) -> float:
    return offering_of(plan).gpu_usd_per_s(size) * 3600


def test_a_catalog_row_with_an_unknown_release_fleet_is_refused() -> None:
    from svai.compiler.builds import BuildsError, parse_builds

    row = {"rollout": {}, "release_fleet": "twice"}
    with pytest.raises(BuildsError, match=r"builds.offerings.x.release_fleet: 'twice' not in"):
        parse_builds({"offerings": {"x": row}})
    fleets = parse_builds({"offerings": {"x": {"rollout": {}, "release_fleet": "while-split"}}})
    assert dict(fleets.release_fleets) == {"x": "while-split"}
