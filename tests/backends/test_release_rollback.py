"""Every cloud's plan under mocks shows its automatic rollback, and only for canary/blue-green."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, Literal

import pytest

from svai.backends.aws import AwsBackend, codedeploy, guardrails
from svai.backends.aws.deployments import Shift, shift_of
from svai.backends.azure.revisions import revision_name as revision_name_azure
from svai.backends.base import RecordedResource
from svai.backends.gate import alias_owner, moves_lambda_traffic, moves_service_traffic
from svai.backends.gcp import tokens as T
from svai.backends.gcp.gate import revision_name
from svai.backends.preview import record
from svai.backends.rules import by_type, evaluate, high_findings
from svai.controller.sync import routes_in
from svai.ir import DeploymentPlan, Rollout
from tests.backends.plans import sync_plan

Recorded = tuple[RecordedResource, ...]


def capture_exports(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The stack outputs the next recorded program exports, as they resolve under the mocks."""
    import pulumi

    exported: dict[str, Any] = {}

    def export(name: str, value: Any) -> None:
        pulumi.Output.from_input(value).apply(lambda v: exported.__setitem__(name, v))

    monkeypatch.setattr(pulumi, "export", export)
    return exported


def released(plan: DeploymentPlan, strategy: str, steps: tuple[int, ...]) -> DeploymentPlan:
    rollout = dataclasses.replace(plan.rollout, strategy=strategy, steps=steps)  # type: ignore[arg-type]
    return dataclasses.replace(plan, rollout=rollout)


def aws(plan: DeploymentPlan) -> Recorded:
    backend = AwsBackend()
    resources = record(lambda: backend.program(plan))
    assert high_findings(evaluate(backend.rules(), resources, plan)) == []
    return resources


def types(resources: Sequence[RecordedResource]) -> set[str]:
    return {r.type for r in resources}


@pytest.mark.parametrize(
    ("strategy", "steps", "shift"),
    [
        ("canary", (10, 100), Shift("canary", 10, 10)),
        ("canary", (25, 50, 75, 100), Shift("linear", 25, 10)),
        ("blue-green", (100,), Shift("all-at-once", 100, 10)),
        ("canary", (5, 25, 100), None),
        ("canary", (10, 50, 100), None),
        ("all-at-once", (100,), None),
    ],
)
def test_which_steps_codedeploy_and_guardrails_can_run(
    strategy: str, steps: tuple[int, ...], shift: Shift | None
) -> None:
    rollout = Rollout(strategy, steps, 0, 600.0, (), None, 0.02, None)  # type: ignore[arg-type]
    assert shift_of(rollout) == shift


def test_aws_lambda_canary_gets_codedeploy_with_alarms_and_auto_rollback() -> None:
    plan = released(sync_plan("aws", "aws.lambda.zip", canary=True), "canary", (10, 100))
    resources = aws(plan)
    (group,) = by_type(resources, "aws:codedeploy/deploymentGroup:DeploymentGroup")
    assert group.inputs["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    assert group.inputs["deploymentStyle"]["deploymentType"] == "BLUE_GREEN"
    alarms = group.inputs["alarmConfiguration"]["alarms"]
    assert alarms == ["sentiment-api-rollback-error-rate", "sentiment-api-rollback-p99"]
    watched = {
        a.inputs["name"]: a for a in by_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert watched["sentiment-api-rollback-error-rate"].inputs["threshold"] == 0.02
    assert "alarmActions" not in watched["sentiment-api-rollback-error-rate"].inputs
    (config,) = by_type(resources, "aws:codedeploy/deploymentConfig:DeploymentConfig")
    assert config.inputs["trafficRoutingConfig"] == {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"interval": 10, "percentage": 10},
    }
    assert group.inputs["deploymentConfigName"] == config.inputs["deploymentConfigName"]
    (app,) = by_type(resources, "aws:codedeploy/application:Application")
    assert app.inputs["computePlatform"] == "Lambda"
    assert "aws:cloudwatch/eventRule:EventRule" not in types(resources)


def test_aws_steps_codedeploy_cannot_express_get_the_scheduled_gate() -> None:
    plan = released(sync_plan("aws", "aws.lambda.zip", canary=True), "canary", (5, 25, 100))
    resources = aws(plan)
    assert "aws:codedeploy/deploymentGroup:DeploymentGroup" not in types(resources)
    (rule,) = by_type(resources, "aws:cloudwatch/eventRule:EventRule")
    assert rule.inputs["scheduleExpression"] == "rate(10 minutes)"
    gate = [
        f for f in by_type(resources, "aws:lambda/function:Function") if f.name.endswith("-gate-fn")
    ]
    (fn,) = gate
    assert fn.component == "sentiment-release-gate"
    assert fn.inputs["imageConfig"] == {"commands": ["svai.controller.aws_lambda.handler"]}
    assert fn.inputs["environment"]["variables"]["SVAI_RELEASE_STATE_URL"].startswith("s3://")
    assert fn.inputs["reservedConcurrentExecutions"] == 1
    (target,) = by_type(resources, "aws:cloudwatch/eventTarget:EventTarget")
    assert target.inputs["rule"] == rule.inputs["name"]
    (policy,) = [
        p
        for p in by_type(resources, "aws:iam/rolePolicy:RolePolicy")
        if p.name == "sentiment-gate-policy"
    ]
    actions = {
        a
        for s in json.loads(policy.inputs["policy"])["Statement"]
        for a in [s["Action"]]
        for a in (a if isinstance(a, list) else [a])
    }
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "cloudwatch:GetMetricData"} <= actions
    assert {"lambda:GetAlias", "lambda:UpdateAlias"} <= actions  # it moves the split itself


SPLIT = ("functionVersion", "routingConfig")


@pytest.mark.parametrize(
    ("strategy", "steps", "owner", "owned"),
    [
        ("canary", (5, 25, 100), "gate", SPLIT),  # the gate job's
        ("canary", (10, 100), "codedeploy", SPLIT),  # CodeDeploy's canary
        ("canary", (25, 50, 75, 100), "codedeploy", SPLIT),  # CodeDeploy's linear shift
        ("blue-green", (100,), "codedeploy", SPLIT),  # CodeDeploy's all-at-once switch
        ("all-at-once", (100,), None, ()),  # `up` routes it
    ],
)
def test_the_alias_split_is_ignore_changes_where_the_gate_job_or_codedeploy_moves_it(
    strategy: str, steps: tuple[int, ...], owner: str | None, owned: tuple[str, ...]
) -> None:
    plan = released(sync_plan("aws", "aws.lambda.zip", canary=True), strategy, steps)
    resources = aws(plan)
    (alias,) = by_type(resources, "aws:lambda/alias:Alias")
    assert alias.ignore_changes == owned
    fn_name = alias.name.removesuffix("-live") + "-fn"
    (function,) = [
        f for f in by_type(resources, "aws:lambda/function:Function") if f.name == fn_name
    ]
    assert function.ignore_changes == ()  # the code and config still follow the plan
    # `svai apply` routes the alias, or starts CodeDeploy, exactly where `up` leaves it alone.
    assert alias_owner(plan) == owner
    assert moves_lambda_traffic(plan) == (owner == "gate")
    groups = by_type(resources, "aws:codedeploy/deploymentGroup:DeploymentGroup")
    assert len(groups) == (owner == "codedeploy")


def test_the_stack_exports_each_codedeploy_group_for_apply_to_start_deployments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exported = capture_exports(monkeypatch)
    plan = released(sync_plan("aws", "aws.lambda.zip", canary=True), "canary", (10, 100))
    resources = aws(plan)
    (group,) = by_type(resources, "aws:codedeploy/deploymentGroup:DeploymentGroup")
    (app,) = by_type(resources, "aws:codedeploy/application:Application")
    (alias,) = by_type(resources, "aws:lambda/alias:Alias")
    assert codedeploy.groups_in(exported) == (
        codedeploy.Group(
            "api",
            plan.region,
            app.inputs["name"],
            group.inputs["deploymentGroupName"],
            alias.inputs["functionName"],
        ),
    )
    # None where the gate job routes the alias instead.
    exported.clear()
    aws(released(sync_plan("aws", "aws.lambda.zip", canary=True), "canary", (5, 25, 100)))
    assert codedeploy.groups_in(exported) == ()


def test_an_endpoint_s_proxy_alias_follows_the_plan() -> None:
    # Its Lambda number is not recorded in the state, so the job cannot route it: up does.
    plan = sync_plan("aws", "aws.sagemaker.realtime", canary=True)
    plan = released(plan, "canary", (5, 25, 100))
    (alias,) = by_type(aws(plan), "aws:lambda/alias:Alias")
    assert alias.ignore_changes == ()


def test_the_gate_job_moves_revisions_on_gcp_and_azure_whatever_the_steps() -> None:
    for cloud in ("gcp", "azure"):
        for steps in ((10, 100), (5, 25, 100)):  # neither cloud runs a canary by itself
            plan = released(sync_plan(cloud, canary=True), "canary", steps)
            assert moves_service_traffic(plan) and not moves_lambda_traffic(plan)
        assert not moves_service_traffic(sync_plan(cloud))  # all at once: `up` routes it
    assert not moves_service_traffic(sync_plan("aws", canary=True))


@pytest.mark.parametrize(
    ("offering", "weighted"),
    [("aws.sagemaker.realtime", True), ("aws.sagemaker.serverless", False)],
)
def test_the_aws_gate_may_move_the_variant_weights_of_its_real_time_endpoints(
    offering: str, weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = capture_exports(monkeypatch)
    plan = released(sync_plan("aws", offering, canary=True), "canary", (5, 25, 100))
    resources = aws(plan)
    (policy,) = [
        p
        for p in by_type(resources, "aws:iam/rolePolicy:RolePolicy")
        if p.name == "sentiment-gate-policy"
    ]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    moves = [s for s in statements if s["Action"] == "sagemaker:UpdateEndpointWeightsAndCapacities"]
    routes = routes_in(exported)
    if not weighted:  # one variant: nothing to weigh
        assert moves == [] and routes == ()
        return
    (endpoint,) = by_type(resources, "aws:sagemaker/endpoint:Endpoint")
    arn = f"arn:aws:sagemaker:{plan.region}:123456789012:endpoint/{endpoint.inputs['name']}"
    assert [s["Resource"] for s in moves] == [[arn]]  # exactly that action, on that endpoint
    (route,) = routes
    assert (route.cloud, route.resource) == ("aws", arn)
    (config,) = by_type(resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    variants = {
        v["variantName"]: v["initialVariantWeight"] for v in config.inputs["productionVariants"]
    }
    # Each version's variant, as the endpoint configuration weighs it from the split.
    split = {s.version: s.percent / 100 for s in plan.rollout.split}
    assert {variant: split[version] for version, variant in route.revisions} == variants


def test_sagemaker_blue_green_gets_guardrails_with_alarm_rollback() -> None:
    plan = released(sync_plan("aws", "aws.sagemaker.realtime", canary=True), "blue-green", (100,))
    resources = aws(plan)
    (endpoint,) = by_type(resources, "aws:sagemaker/endpoint:Endpoint")
    config = endpoint.inputs["deploymentConfig"]
    assert config["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"] == {
        "type": "ALL_AT_ONCE",
        "waitIntervalInSeconds": 600,
    }
    assert config["autoRollbackConfiguration"]["alarms"] == [
        {"alarmName": "sentiment-api-rollback-error-rate"},
        {"alarmName": "sentiment-api-rollback-p99"},
    ]


def test_sagemaker_canary_step_is_capacity_percent() -> None:
    plan = released(sync_plan("aws", "aws.sagemaker.realtime", canary=True), "canary", (10, 100))
    (endpoint,) = by_type(aws(plan), "aws:sagemaker/endpoint:Endpoint")
    routing = endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"][
        "trafficRoutingConfiguration"
    ]
    assert routing["type"] == "CANARY"
    assert routing["canarySize"] == {"type": "CAPACITY_PERCENT", "value": 10}


def _variants(resources: Recorded) -> list[tuple[str, str, Any]]:
    (config,) = by_type(resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    return [
        (v["variantName"], v["modelName"], v.get("initialVariantWeight"))
        for v in config.inputs["productionVariants"]
    ]


@pytest.mark.parametrize(
    ("strategy", "steps"),
    [("canary", (10, 100)), ("canary", (25, 50, 75, 100)), ("blue-green", (100,))],
)
def test_guardrails_alone_shift_a_real_time_endpoint_one_variant_of_the_new_version(
    strategy: str, steps: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = capture_exports(monkeypatch)
    plan = released(sync_plan("aws", "aws.sagemaker.realtime", canary=True), strategy, steps)
    assert {s.percent for s in plan.rollout.split} == {10, 90}  # the release's first step
    resources = aws(plan)
    (endpoint,) = by_type(resources, "aws:sagemaker/endpoint:Endpoint")
    name = endpoint.inputs["name"]
    # One fleet, the plan's own version: the guardrails' blue/green update shifts to it.
    assert _variants(resources) == [("live", name, None)]
    assert endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
    (config,) = by_type(resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert (
        exported[f"{guardrails.OUTPUT_PREFIX}api"]
        == guardrails.Endpoint("api", plan.region, name, config.name).output()
    )
    assert guardrails.endpoints_in(exported)[0].config == config.name  # autonamed: the mocks


def test_a_rollback_under_guardrails_updates_the_endpoint_back_to_the_previous_version() -> None:
    plan = released(sync_plan("aws", "aws.sagemaker.realtime", canary=True), "canary", (10, 100))
    split = tuple(
        dataclasses.replace(s, percent=0 if s.version == plan.model_version else 100)
        for s in plan.rollout.split
    )
    rolled = dataclasses.replace(plan, rollout=dataclasses.replace(plan.rollout, split=split))
    resources = aws(rolled)
    (endpoint,) = by_type(resources, "aws:sagemaker/endpoint:Endpoint")
    ((variant, model, weight),) = _variants(resources)
    assert (variant, weight) == ("live", None) and model != endpoint.inputs["name"]


def test_steps_guardrails_cannot_run_keep_a_variant_per_version() -> None:
    plan = released(sync_plan("aws", "aws.sagemaker.realtime", canary=True), "canary", (5, 25, 100))
    resources = aws(plan)
    (endpoint,) = by_type(resources, "aws:sagemaker/endpoint:Endpoint")
    name = endpoint.inputs["name"]
    assert [(v, w) for v, _, w in _variants(resources)] == [("live", 0.1), ("previous", 0.9)]
    assert _variants(resources)[0][1] == name and "deploymentConfig" not in endpoint.inputs


def test_all_at_once_plans_get_none_of_it() -> None:
    resources = aws(sync_plan("aws", "aws.sagemaker.realtime"))
    assert not {t for t in types(resources) if "codedeploy" in t or "eventRule" in t}
    (endpoint,) = by_type(resources, "aws:sagemaker/endpoint:Endpoint")
    assert "deploymentConfig" not in endpoint.inputs


def gcp(plan: DeploymentPlan) -> Recorded:
    from svai.backends.gcp import GcpBackend

    backend = GcpBackend()
    resources = record(lambda: backend.program(plan))
    assert high_findings(evaluate(backend.rules(), resources, plan)) == []
    return resources


def first_release(plan: DeploymentPlan) -> DeploymentPlan:
    """A canary's first deployment: one version takes all traffic."""
    assert len(plan.rollout.split) == 1
    rollout = dataclasses.replace(plan.rollout, strategy="canary", steps=(10, 100))
    return dataclasses.replace(plan, rollout=rollout)


def test_cloud_run_canary_gets_a_scheduled_gate_job() -> None:
    plan = sync_plan("gcp", "gcp.cloudrun.service", canary=True)
    resources = gcp(plan)
    (job,) = by_type(resources, "gcp:cloudrunv2/job:Job")
    (container,) = job.inputs["template"]["template"]["containers"]
    assert [container["commands"], container["args"]] == [["svai"], ["gate", "--once"]]
    assert container["envs"] == [
        {"name": "SVAI_RELEASE_STATE_URL", "value": f"gs://{bucket_of(resources)}/svai"}
    ]
    assert job.inputs["template"]["template"]["maxRetries"] == 0
    (schedule,) = by_type(resources, "gcp:cloudscheduler/job:Job")
    assert schedule.inputs["schedule"] == "*/10 * * * *"
    target = schedule.inputs["httpTarget"]
    assert target["httpMethod"] == "POST" and target["uri"].endswith(
        f"/jobs/{job.inputs['name']}:run"
    )
    gate_sa = target["oauthToken"]["serviceAccountEmail"]
    assert job.inputs["template"]["template"]["serviceAccount"] == gate_sa
    grants = {
        (r.type, r.inputs["role"])
        for r in resources
        if r.type.endswith("Member") and r.inputs.get("member") == f"serviceAccount:{gate_sa}"
    }
    assert grants == {
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.objectUser"),
        ("gcp:projects/iAMMember:IAMMember", "roles/monitoring.viewer"),
        ("gcp:cloudrunv2/jobIamMember:JobIamMember", "roles/run.invoker"),
        # Moving the traffic: run.services.update on the service, actAs its own identity.
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "roles/run.developer"),
        ("gcp:serviceaccount/iAMMember:IAMMember", "roles/iam.serviceAccountUser"),
    }


def test_the_gate_job_owns_the_cloud_run_traffic_and_may_move_only_that() -> None:
    plan = first_release(sync_plan("gcp", "gcp.cloudrun.service"))
    plan = dataclasses.replace(plan, account="demo-project")
    resources = gcp(plan)
    (service,) = by_type(resources, "gcp:cloudrunv2/service:Service")
    assert service.ignore_changes == ("traffics",)
    # One version, still named: a later revision takes no traffic until it is routed.
    revision = service.inputs["template"]["revision"]
    assert service.inputs["traffics"] == [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": revision, "percent": 100}
    ]
    assert revision == revision_name(service.inputs["name"], plan.model_version)
    gate_sa = by_type(resources, "gcp:cloudrunv2/job:Job")[0].inputs["template"]["template"][
        "serviceAccount"
    ]
    (developer,) = [
        r
        for r in by_type(resources, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
        if r.inputs["role"] == "roles/run.developer"
    ]
    assert developer.inputs["member"] == f"serviceAccount:{gate_sa}"
    assert developer.inputs["name"] == service.inputs["name"]  # that service, not the project
    (act_as,) = [
        r
        for r in by_type(resources, "gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/iam.serviceAccountUser"
    ]
    runs_as = service.inputs["template"]["serviceAccount"]
    assert act_as.inputs["serviceAccountId"] == f"projects/demo-project/serviceAccounts/{runs_as}"
    # All at once: no gate, the latest revision takes everything as before.
    (plain,) = by_type(gcp(sync_plan("gcp", "gcp.cloudrun.service")), T.RUN_SERVICE)
    assert plain.ignore_changes == ()
    assert plain.inputs["traffics"][0]["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def bucket_of(resources: Recorded) -> str:
    (bucket,) = by_type(resources, "gcp:storage/bucket:Bucket")
    return str(bucket.inputs["name"])


def test_all_at_once_cloud_run_has_no_gate() -> None:
    resources = gcp(sync_plan("gcp", "gcp.cloudrun.service"))
    assert not {r.type for r in resources} & {
        "gcp:cloudrunv2/job:Job",
        "gcp:cloudscheduler/job:Job",
    }


def azure(plan: DeploymentPlan) -> Recorded:
    from svai.backends.azure import AzureBackend

    backend = AzureBackend()
    resources = record(lambda: backend.program(plan))
    assert high_findings(evaluate(backend.rules(), resources, plan)) == []
    return resources


def test_container_apps_canary_gets_a_scheduled_gate_job() -> None:
    plan = sync_plan("azure", "azure.containerapps.consumption", "container", canary=True)
    resources = azure(plan)
    (job,) = by_type(resources, "azure-native:app:Job")
    assert job.component == "sentiment-release-gate"
    config = job.inputs["configuration"]
    assert config["triggerType"] == "Schedule" and config["replicaRetryLimit"] == 0
    assert config["scheduleTriggerConfig"]["cronExpression"] == "*/10 * * * *"
    (container,) = job.inputs["template"]["containers"]
    assert container["command"] == ["svai", "gate", "--once"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SVAI_RELEASE_STATE_URL"].endswith(".blob.core.windows.net/svai/svai")
    gate_roles = sorted(
        g.inputs["description"]
        for g in by_type(resources, "azure-native:authorization:RoleAssignment")
        if g.inputs["description"].startswith("svai: gate ->")
    )
    assert gate_roles == [
        "svai: gate -> AcrPull on registry",
        "svai: gate -> Log Analytics Reader on logs",
        "svai: gate -> Storage Blob Data Contributor on state",
        "svai: gate -> route traffic on ca-sentiment-api",
    ]


def test_the_gate_job_owns_the_container_app_traffic_and_may_move_only_that() -> None:
    plan = first_release(sync_plan("azure", "azure.containerapps.consumption", "container"))
    resources = azure(plan)
    (app,) = by_type(resources, "azure-native:app:ContainerApp")
    assert app.ignore_changes == ("configuration.ingress.traffic",)
    name = app.inputs["containerAppName"]
    # One version, still named: a later revision takes no traffic until it is routed.
    assert app.inputs["configuration"]["ingress"]["traffic"] == [
        {"revisionName": revision_name_azure(name, plan.model_version), "weight": 100}
    ]
    assert app.inputs["configuration"]["activeRevisionsMode"] == "Multiple"  # room for the next
    (role,) = by_type(resources, "azure-native:authorization:RoleDefinition")
    assert role.inputs["permissions"] == [
        {
            "actions": [
                "Microsoft.App/containerApps/read",
                "Microsoft.App/containerApps/write",
                # A release's end deactivates the revision left at 0%; a rollback reactivates it.
                "Microsoft.App/containerApps/revisions/activate/action",
                "Microsoft.App/containerApps/revisions/deactivate/action",
            ],
            "notActions": [],
        }
    ]
    (assignment,) = [
        r
        for r in by_type(resources, "azure-native:authorization:RoleAssignment")
        if r.inputs.get("description") == f"svai: gate -> route traffic on {name}"
    ]
    # Scoped to that app (the mocks' ids end in the logical name), the role above, the gate.
    assert assignment.inputs["scope"].endswith(f"/{app.name}")
    assert assignment.inputs["roleDefinitionId"].endswith(f"/{role.name}")
    (state,) = [
        r
        for r in by_type(resources, "azure-native:authorization:RoleAssignment")
        if r.inputs.get("description") == "svai: gate -> Storage Blob Data Contributor on state"
    ]
    assert assignment.inputs["principalId"] == state.inputs["principalId"]
    (plain,) = by_type(
        azure(sync_plan("azure", "azure.containerapps.consumption", "container")),
        "azure-native:app:ContainerApp",
    )
    assert plain.ignore_changes == ()
    assert plain.inputs["configuration"]["ingress"]["traffic"] == [
        {"latestRevision": True, "weight": 100}
    ]


def test_all_at_once_container_apps_have_no_gate() -> None:
    plan = sync_plan("azure", "azure.containerapps.consumption", "container")
    assert not by_type(azure(plan), "azure-native:app:Job")


@pytest.mark.parametrize(
    ("cloud", "offering", "token"),
    [
        ("gcp", "gcp.cloudrun.service", "gcp:cloudrunv2/service:Service"),
        ("azure", "azure.containerapps.consumption", "azure-native:app:ContainerApp"),
    ],
)
def test_the_routes_the_stack_exports_name_the_revisions_the_traffic_names(
    cloud: Literal["gcp", "azure"], offering: str, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = capture_exports(monkeypatch)
    plan = sync_plan(cloud, offering, *(("container",) if cloud == "azure" else ()), canary=True)
    resources = gcp(plan) if cloud == "gcp" else azure(plan)
    (service,) = by_type(resources, token)
    if cloud == "gcp":
        named = [(t["revision"], t["percent"]) for t in service.inputs["traffics"]]
    else:
        traffic = service.inputs["configuration"]["ingress"]["traffic"]
        named = [(t["revisionName"], t["weight"]) for t in traffic]
    (route,) = routes_in(exported)
    assert route.cloud == cloud
    revisions = dict(route.revisions)
    assert [(revisions[s.version], s.percent) for s in plan.rollout.split] == named
    # The service's id: the mocks' ids end in its name (Cloud Run) or logical name (ARM).
    assert route.resource.endswith(str(service.inputs.get("name", service.name)))


def test_a_codedeploy_output_that_is_not_a_group_is_refused_with_its_name() -> None:
    from svai.errors import UsageError

    with pytest.raises(UsageError, match="stack output aws_codedeploy_api is not a CodeDeploy"):
        codedeploy.groups_in({"aws_codedeploy_api": {"application": "a"}})
    assert codedeploy.groups_in({"aws_url": "https://x"}) == ()
