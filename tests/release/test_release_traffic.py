"""The traffic-split resources of each cloud at every canary step A -> B, and after rollback.

Each step is compiled by ``svai.api`` exactly as ``svai promote --dry-run`` does (the backend
program under Pulumi mocks); ``state_only`` then records the step so the next one can be planned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from svai import release
from svai.backends.split import traffic_inputs
from tests.release.projects import Project, swap_model

GOOD_LIVE = {"live": {"error_rate": 0.001, "p99_s": 0.2}}


def evidence(folder: Path, version: str, **extra: Any) -> Path:
    path = folder / "evidence.json"
    data = {"model_version": version, "metrics": {"f1": 0.95}, "samples": 300, "p95_s": 0.01}
    data.update(GOOD_LIVE)
    path.write_text(json.dumps({**data, **extra}))
    return path


def traffic(planned: release.ReleasePlan, token: str) -> dict[str, Any]:
    """Inputs of the one recorded resource of type ``token`` (merged over every target)."""
    assert planned.result is not None
    found = [
        dict(values)
        for t in planned.result.targets
        for kind, _, values in traffic_inputs(t.plan.cloud, t.resources)
        if kind == token
    ]
    assert len(found) == 1, found
    return found[0]


def _steps(spec: Path) -> tuple[str, str, list[release.ReleasePlan]]:
    a = release.promote(spec, state_only=True).plan.spec_version
    swap_model(spec, b"B")
    b = release.release_plan(spec, "apply", compile_targets=False).spec_version
    plans = [release.release_plan(spec, "apply", evidence=evidence(spec.parent, b))]
    release.start_release(spec, state_only=True, evidence=evidence(spec.parent, b))
    for _ in range(2):
        plans.append(release.release_plan(spec, "promote", evidence=evidence(spec.parent, b)))
        release.promote(spec, state_only=True, evidence=evidence(spec.parent, b))
    plans.append(release.release_plan(spec, "rollback"))
    return a, b, plans


def test_aws_lambda_alias_routing_at_each_step_and_after_rollback(project: Project) -> None:
    spec = project(targets="aws-lambda")
    a, b, plans = _steps(spec)
    token = "aws:lambda/alias:Alias"
    assert [traffic(p, token)["routingConfig"] for p in plans] == [
        {"additionalVersionWeights": {f"<{a}>": 0.9}},
        {"additionalVersionWeights": {f"<{a}>": 0.5}},
        None,
        None,
    ]
    # after the rollback the alias points at A's published version; B's code stays deployed
    assert traffic(plans[-1], token)["functionVersion"] == f"<{a}>"
    assert plans[-1].transition.after.split == ((a, 100), (b, 0))


def test_aws_lambda_first_canary_step(project: Project) -> None:
    spec = project(targets="aws-lambda")
    a = release.promote(spec, state_only=True).plan.spec_version
    swap_model(spec, b"B")
    planned = release.release_plan(spec, "apply", evidence=evidence(spec.parent, "-"))
    assert planned.gate_failed
    b = planned.spec_version
    planned = release.release_plan(spec, "apply", evidence=evidence(spec.parent, b))
    assert not planned.gate_failed
    assert planned.transition.after.split == ((a, 90), (b, 10))
    alias = traffic(planned, "aws:lambda/alias:Alias")
    assert alias["routingConfig"] == {"additionalVersionWeights": {f"<{a}>": 0.9}}
    assert planned.result is not None
    fn = next(
        r for r in planned.result.targets[0].resources if r.type.endswith("function:Function")
    )
    assert fn.inputs["environment"]["variables"]["SVAI_MODEL_VERSION"] == b


def test_recorded_lambda_numbers_replace_the_placeholders(project: Project) -> None:
    spec = project(targets="aws-lambda")
    release.promote(spec, state_only=True)
    state_file = next((spec.parent / ".svai" / "releases").glob("*.json"))
    data = json.loads(state_file.read_text())
    a = data["deployed"]
    data["lambda_versions"] = {a: {"api": "7"}}
    state_file.write_text(json.dumps(data))
    swap_model(spec, b"B")
    b = release.release_plan(spec, "apply", compile_targets=False).spec_version
    planned = release.release_plan(spec, "apply", evidence=evidence(spec.parent, b))
    alias = traffic(planned, "aws:lambda/alias:Alias")
    assert alias["routingConfig"] == {"additionalVersionWeights": {"7": 0.9}}


def test_gcp_cloud_run_revision_traffic_at_each_step(project: Project) -> None:
    spec = project(targets="gcp-cloudrun")
    a, b, plans = _steps(spec)
    token = "gcp:cloudrunv2/service:Service"

    def shares(planned: release.ReleasePlan) -> list[tuple[str, int]]:
        return [
            (t.get("revision", "latest"), t["percent"]) for t in traffic(planned, token)["traffics"]
        ]

    rev_a, rev_b = f"scorer-api-{a[:12]}", f"scorer-api-{b[:12]}"
    assert [shares(p) for p in plans] == [
        [(rev_a, 90), (rev_b, 10)],
        [(rev_a, 50), (rev_b, 50)],
        [(rev_b, 100)],  # named: the gate job owns the traffic, a later revision waits at 0%
        [(rev_a, 100), (rev_b, 0)],
    ]


def test_azure_container_apps_revision_weights_at_each_step(project: Project) -> None:
    spec = project(targets="azure-containerapps")
    a, b, plans = _steps(spec)
    token = "azure-native:app:ContainerApp"
    rev_a, rev_b = f"ca-scorer-api--{a}", f"ca-scorer-api--{b}"
    seen = [
        (
            traffic(p, token)["configuration.activeRevisionsMode"],
            [
                (t.get("revisionName", "latest"), t["weight"])
                for t in traffic(p, token)["configuration.ingress.traffic"]
            ],
        )
        for p in plans
    ]
    assert seen == [
        ("Multiple", [(rev_a, 90), (rev_b, 10)]),
        ("Multiple", [(rev_a, 50), (rev_b, 50)]),
        ("Multiple", [(rev_b, 100)]),  # the gate job routes between revisions
        ("Multiple", [(rev_a, 100), (rev_b, 0)]),
    ]


def test_aws_sagemaker_production_variants_at_each_step(project: Project) -> None:
    spec = project(targets="aws-sagemaker")
    a, b, plans = _steps(spec)
    token = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"

    def variants(planned: release.ReleasePlan) -> list[tuple[str, str, Any]]:
        return [
            (v["variantName"], v["modelName"], v.get("initialVariantWeight"))
            for v in traffic(planned, token)["productionVariants"]
        ]

    assert [variants(p) for p in plans] == [
        [("live", "scorer-api", 0.1), ("previous", f"scorer-api-{a}", 0.9)],
        [("live", "scorer-api", 0.5), ("previous", f"scorer-api-{a}", 0.5)],
        [("live", "scorer-api", None)],
        [("live", "scorer-api", 0.0), ("previous", f"scorer-api-{a}", 1.0)],
    ]
    assert plans[0].result is not None
    models = {
        r.inputs["name"]: r.inputs["primaryContainer"]
        for r in plans[0].result.targets[0].resources
        if r.type == "aws:sagemaker/model:Model"
    }
    assert models[f"scorer-api-{a}"]["modelDataUrl"].endswith(f"/{a}/model.tar.gz")
    assert models[f"scorer-api-{a}"]["environment"]["SVAI_MODEL_VERSION"] == a
    assert models["scorer-api"]["image"].endswith(f":{b}")


def test_azure_ml_endpoint_traffic_at_each_step(project: Project) -> None:
    spec = project(targets="azure-ml")
    a, b, plans = _steps(spec)
    token = "azure-native:machinelearningservices:OnlineEndpoint"
    assert [traffic(p, token)["properties.traffic"] for p in plans] == [
        {f"v-{a}": 90, f"v-{b}": 10},
        {f"v-{a}": 50, f"v-{b}": 50},
        {f"v-{b}": 100},
        {f"v-{a}": 100, f"v-{b}": 0},
    ]


def test_gcp_vertex_traffic_split_at_each_step(project: Project) -> None:
    spec = project(targets="gcp-vertex")
    a, _, plans = _steps(spec)
    token = "svai:gcp:RealtimeDeployment"
    other = f"{{deployed_model_id:{a}}}"
    assert [traffic(p, token)["deployModel.trafficSplit"] for p in plans] == [
        {"0": 10, other: 90},
        {"0": 50, other: 50},
        {"0": 100},
        {"0": 0, other: 100},
    ]


@pytest.mark.parametrize("targets", ["aws-lambda", "gcp-cloudrun", "azure-containerapps"])
def test_a_failed_live_gate_plans_the_rollback(project: Project, targets: str) -> None:
    spec = project(targets=targets)
    a = release.promote(spec, state_only=True).plan.spec_version
    swap_model(spec, b"B")
    b = release.release_plan(spec, "apply", compile_targets=False).spec_version
    release.start_release(spec, state_only=True, evidence=evidence(spec.parent, b))
    bad = evidence(spec.parent, b, live={"error_rate": 0.3, "p99_s": 0.2})
    planned = release.release_plan(spec, "promote", evidence=bad)
    assert planned.gate_failed
    assert [g.name for g in planned.gates if not g.passed] == ["error_rate"]
    assert planned.transition.after.split == ((a, 100), (b, 0))
    assert planned.transition.after.history[-1].note.startswith("gate failed: error_rate 0.3")
    assert planned.result is not None
    assert planned.result.targets[0].plan.rollout.split[0].percent == 100
