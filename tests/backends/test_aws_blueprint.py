"""The AWS blueprint read without Pulumi: every argument and cross-resource link is data.

:func:`svai.backends.aws.lowering.lower` returns groups of resource specs whose links to other
resources are markers (``Ref``, ``Concat``, ``Rendered``); these tests follow them the way the
shared builder does, with made-up outputs instead of Pulumi's, and never start a program.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from plans import async_plan, sync_plan

from svai.backends.aws.blueprint import Account
from svai.backends.aws.components import TYPES
from svai.backends.aws.deployments import CONTROLLED
from svai.backends.aws.lowering import lower
from svai.backends.blueprint import Blueprint, Concat, FileSource, Group, Ref, Rendered
from svai.backends.gate import controller_owns_alias
from svai.ir import DeploymentPlan


def _llm_plan() -> DeploymentPlan:
    """A real-time SageMaker endpoint with streamed generation and restricted egress."""
    plan = sync_plan("aws", "aws.sagemaker.realtime", auth="jwt")
    routes = (*plan.entry.routes, ("POST", "/v1/chat/completions", "api"))
    entry = dataclasses.replace(plan.entry, routes=routes)
    return dataclasses.replace(plan, entry=entry, egress="none")


PLANS = {
    "sync-zip": lambda: sync_plan("aws"),
    "sync-canary": lambda: sync_plan("aws", canary=True),
    "async": lambda: async_plan("aws"),
    "sync-serverless": lambda: sync_plan("aws", "aws.sagemaker.serverless"),
    "llm": _llm_plan,
    "codedeploy": lambda: _released(sync_plan("aws", canary=True), "canary", (10, 100)),
    "gate": lambda: _released(sync_plan("aws", canary=True), "canary", (5, 25, 100)),
}


_ROLLBACK = ("rollback-error-rate", "rollback-p99")


def _released(plan: DeploymentPlan, strategy: str, steps: tuple[int, ...]) -> DeploymentPlan:
    rollout = dataclasses.replace(plan.rollout, strategy=strategy, steps=steps)  # type: ignore[arg-type]
    return dataclasses.replace(plan, rollout=rollout)


def _markers(value: Any) -> Iterator[Any]:
    """Every marker inside an argument, nested ones included."""
    if isinstance(value, Ref | Account):
        yield value
    elif isinstance(value, Concat):
        for part in value.parts:
            yield from _markers(part)
    elif isinstance(value, Rendered):
        for ref in value.refs:
            yield from _markers(ref)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _markers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _markers(item)


def _resolve(value: Any) -> Any:
    """What the builder does with outputs, with ``<key>.<attr>`` standing in for each output."""
    if isinstance(value, Ref):
        return f"{value.key}.{value.attr}"
    if isinstance(value, Account):
        return "123456789012"
    if isinstance(value, Concat):
        return "".join(str(_resolve(part)) for part in value.parts)
    if isinstance(value, Rendered):
        return value.render(tuple(_resolve(ref) for ref in value.refs))
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v) for v in value]
    return value


def _groups(blueprint: Blueprint) -> Iterator[Group]:
    for group in blueprint.groups:
        yield from group.walk()


@pytest.fixture(scope="module", params=sorted(PLANS))
def lowered(request: pytest.FixtureRequest) -> tuple[DeploymentPlan, Blueprint]:
    plan = PLANS[request.param]()
    return plan, lower(plan)


def test_every_link_points_at_a_resource_created_before_it(
    lowered: tuple[DeploymentPlan, Blueprint],
) -> None:
    _, blueprint = lowered
    created: set[str] = set()
    for spec in blueprint.resources():
        assert spec.key not in created, spec.key  # one key, one resource
        refs = [m.key for m in _markers(dict(spec.args)) if isinstance(m, Ref)]
        assert set(refs) | set(spec.depends_on) <= created, (spec.key, refs, spec.depends_on)
        created.add(spec.key)


def test_every_group_is_a_component_type_and_keeps_its_logical_name(
    lowered: tuple[DeploymentPlan, Blueprint],
) -> None:
    plan, blueprint = lowered
    for group in _groups(blueprint):
        assert group.shape in TYPES
        assert group.name.startswith(f"{plan.name}-")
        for spec in group.resources:
            assert spec.name.startswith(f"{plan.name}-"), spec.name


def test_a_function_runs_as_its_own_role_with_exactly_its_grants() -> None:
    plan = sync_plan("aws")
    blueprint = lower(plan)
    group = next(g for g in blueprint.groups if g.shape == "FunctionService")
    assert group.name == "sentiment-api"
    assert [s.key for s in group.resources] == [
        "api:role",
        "api:logs",
        "api:policy",
        "api:fn",
        "api:alias",
        "api:warm",
    ]
    function = blueprint.get("api:fn")
    assert function.args["role"] == Ref("api:role", "arn")
    assert function.args["logging_config"]["log_group"] == Ref("api:logs", "name")
    assert function.args["kms_key_arn"] == Ref("key", "arn")
    assert function.args["s3_bucket"] == Ref("bucket", "bucket")
    assert set(function.depends_on) == {"api:policy", "api:logs"}
    table = function.args["environment"]["variables"]["SVAI_IDEMPOTENCY_TABLE"]
    assert table == Ref("table:idempotency", "name")
    policy = blueprint.get("api:policy")
    assert policy.args["role"] == Ref("api:role", "id")
    document = json.loads(_resolve(policy.args["policy"]))
    resources = {s["Sid"]: s["Resource"] for s in document["Statement"]}
    assert resources["LogsWriteLogsApi"] == ["api:logs.arn", "api:logs.arn:*"]
    assert resources["StoreWriteStoreIdempotency"] == "table:idempotency.arn"
    assert resources["ArtifactReadArtifact"] == f"bucket.arn/{plan.artifact.object_key}"
    assert resources["SecretReadSecretHfToken"] == plan.secrets[0].ref  # a full ARN as is
    named = dataclasses.replace(plan, secrets=(dataclasses.replace(plan.secrets[0], ref="hf"),))
    document = json.loads(_resolve(lower(named).get("api:policy").args["policy"]))
    resources = {s["Sid"]: s["Resource"] for s in document["Statement"]}
    secret = f"arn:aws:secretsmanager:{plan.region}:123456789012:secret:hf-??????"
    assert resources["SecretReadSecretHfToken"] == secret


@pytest.mark.parametrize("canary", [False, True])
def test_the_live_alias_split_is_the_controllers_exactly_where_it_moves_it(canary: bool) -> None:
    plan = sync_plan("aws", canary=canary)
    blueprint = lower(plan, previous_lambda_versions={"api": "7"})
    alias = blueprint.get("api:alias")
    assert alias.args["function_name"] == Ref("api:fn", "name")
    assert alias.args["function_version"] == Ref("api:fn", "version")
    owned = tuple(CONTROLLED) if controller_owns_alias(plan) else ()  # gate job or CodeDeploy
    assert alias.ignore_changes == owned
    assert bool(alias.ignore_changes) == canary
    weights = {"additional_version_weights": {"7": 0.9}} if canary else None
    assert alias.args["routing_config"] == weights
    assert blueprint.get("api:warm").args["qualifier"] == Ref("api:alias", "name")


def test_the_worker_is_triggered_through_its_live_alias_by_the_job_queue() -> None:
    blueprint = lower(async_plan("aws"))
    trigger = blueprint.get("worker:trigger")
    assert trigger.args["event_source_arn"] == Ref("jobs", "arn")
    assert trigger.args["function_name"] == Ref("worker:alias", "arn")
    group = next(g for g in blueprint.groups if g.name == "summarize-worker")
    assert group.resources[-1] is trigger  # a child of the worker's own component
    submit = blueprint.get("submit:fn").args["environment"]["variables"]
    assert submit["SVAI_QUEUE_URL"] == Ref("jobs", "url")
    payloads = blueprint.get("submit:payloads")
    statements = json.loads(_resolve(payloads.args["policy"]))["Statement"]
    assert statements[0]["Action"] == ["s3:PutObject"]
    assert statements[0]["Resource"] == ["bucket.arn/jobs/payloads/*"]


def test_the_foundation_reads_its_key_and_uploads_on_apply_only() -> None:
    blueprint = lower(sync_plan("aws"), build_dir="/build")
    model = blueprint.get("model")
    assert model.args["source"] == FileSource("/build/model.tar.gz")
    assert model.args["kms_key_id"] == Ref("key", "arn")
    assert model.depends_on == ("encryption",)
    key_policy = json.loads(_resolve(blueprint.get("key").args["policy"]))
    assert key_policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    tls = json.loads(_resolve(blueprint.get("tls-only").args["policy"]))
    assert tls["Statement"][0]["Resource"] == ["bucket.arn", "bucket.arn/*"]
    customer = "arn:aws:kms:eu-west-1:111122223333:key/abcd"
    own_key = lower(sync_plan("aws", customer_key=customer))
    assert "key" not in {s.key for s in own_key.resources()}
    assert own_key.get("api:fn").args["kms_key_arn"] == customer


def test_an_endpoint_links_its_model_config_and_guardrails() -> None:
    plan = _llm_plan()
    blueprint = lower(plan)
    model = blueprint.get("api:model")
    assert model.args["execution_role_arn"] == Ref("api:role", "arn")
    assert model.args["vpc_config"]["subnets"] == [Ref("subnet:a", "id"), Ref("subnet:b", "id")]
    assert "api:vpc-access" in model.depends_on
    endpoint = blueprint.get("api:endpoint")
    assert endpoint.args["endpoint_config_name"] == Ref("api:config", "name")
    assert endpoint.depends_on == ("api:logs",)
    # The guardrails are plain data naming the release's alarms, created just before the endpoint.
    assert endpoint.args["deployment_config"] is None  # `_llm_plan` releases all at once
    canary = lower(_released(_llm_plan(), "canary", (10, 100)))
    guardrails = canary.get("api:endpoint").args["deployment_config"]
    watched = guardrails["auto_rollback_configuration"]["alarms"]
    assert watched == [{"alarm_name": canary.get(f"api:{a}").name} for a in _ROLLBACK]
    endpoint_group = next(g for g in canary.groups if g.shape == "Endpoint")
    keys = [spec.key for spec in endpoint_group.resources]
    assert keys.index("api:rollback-p99") == keys.index("api:endpoint") - 1
    proxy = blueprint.get("api-proxy:fn").args["environment"]["variables"]
    assert proxy["SVAI_STREAM_URL"] == Ref("api-stream:url", "function_url")
    assert proxy["SVAI_ENDPOINT_NAME"] == "sentiment-api"
    stream = next(g for g in blueprint.groups if g.shape == "StreamingUrl")
    assert [g.shape for g in stream.groups] == ["FunctionService"]
    url = blueprint.get("api-stream:url")
    assert url.args["function_name"] == Ref("api-stream:fn", "name")
    assert url.depends_on == ("api-stream:alias",)


def test_lowering_refuses_what_it_cannot_build_before_anything() -> None:
    from svai.errors import UsageError

    with pytest.raises(UsageError, match="api-key"):
        lower(sync_plan("aws", auth="api-key"))


def test_codedeploy_watches_the_release_alarms_of_the_function_it_shifts() -> None:
    blueprint = lower(_released(sync_plan("aws", canary=True), "canary", (10, 100)))
    group = blueprint.get("api:deploy-group")
    alarms = group.args["alarm_configuration"]
    assert alarms == {
        "alarms": [blueprint.get(f"api:{a}").name for a in _ROLLBACK],
        "enabled": True,
    }
    errors = blueprint.get("api:rollback-error-rate").args
    assert errors["threshold"] == 0.02 and "alarm_actions" not in errors  # nobody is paged
    live = {"FunctionName": "sentiment-api", "Resource": "sentiment-api:live"}
    assert errors["metric_queries"][0]["metric"]["dimensions"] == live
    assert group.args["app_name"] == Ref("api:deploy", "name")
    config = blueprint.get("api:deploy-config").args
    assert group.args["deployment_config_name"] == config["deployment_config_name"]
    # Children of the function's own component, created after the monitoring as before.
    (extension,) = [g for g in blueprint.groups if g.extends]
    assert (extension.shape, extension.name) == ("FunctionService", "sentiment-api")
    assert [g.shape for g in blueprint.groups][-2:] == ["Monitoring", "FunctionService"]
    assert "gate:fn" not in {spec.key for spec in blueprint.resources()}


def test_the_gate_runs_on_the_rollout_interval_inside_the_private_network() -> None:
    plan = dataclasses.replace(sync_plan("aws", canary=True), egress="none")
    blueprint = lower(_released(plan, "canary", (5, 25, 100)))
    assert blueprint.groups[-1].shape == "ReleaseGate"
    rule = blueprint.get("gate:schedule").args
    assert rule["schedule_expression"] == "rate(10 minutes)"
    target = blueprint.get("gate:target").args
    assert target == {"rule": Ref("gate:schedule", "name"), "arn": Ref("gate:fn", "arn")}
    fn = blueprint.get("gate:fn")
    assert fn.args["vpc_config"]["subnet_ids"] == [Ref("subnet:a", "id"), Ref("subnet:b", "id")]
    assert fn.depends_on == ("gate:policy", "gate:vpc-access")
    state = _resolve(fn.args["environment"]["variables"]["SVAI_RELEASE_STATE_URL"])
    assert state.startswith("s3://bucket.bucket/")
    statements = json.loads(_resolve(blueprint.get("gate:policy").args["policy"]))["Statement"]
    aliases = next(
        s for s in statements if s["Action"] == ["lambda:GetAlias", "lambda:UpdateAlias"]
    )
    assert aliases["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:sentiment-*:live"
    assert not any(spec.key.endswith(":deploy-group") for spec in blueprint.resources())
