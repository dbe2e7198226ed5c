"""Automatic rollback on AWS: CodeDeploy for Lambda, guardrails for SageMaker, else the gate.

* A Lambda service whose steps CodeDeploy can express (one canary step, equal linear steps, or
  blue/green's single switch) gets a CodeDeploy application, a deployment config with that
  traffic shift, and a deployment group that stops and rolls back on the release's own alarms
  (``rollout.rollback_on``). The stack exports the group (``aws_codedeploy_<service>``) and leaves
  the ``live`` alias's split to CodeDeploy (``ignore_changes``); ``svai apply`` starts each
  deployment through the CodeDeploy API after ``up``, as SAM does
  (:mod:`svai.backends.aws.codedeploy`).
* A SageMaker endpoint gets deployment guardrails: a blue/green update policy with the same
  shift and ``auto_rollback_configuration`` on those alarms. Blue/green doubles the endpoint's
  instances while a release runs (the plan's notes price it).
* Steps neither can express (``[5, 25, 100]``) get svai's gate instead: a function in the gate
  image that EventBridge runs once per ``rollout.interval`` (:mod:`svai.backends.gate`).

The stack exports ``aws_release_state_url``: where the release state and gate policy live in
the artifact bucket (``svai promote`` reconciles with it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from svai.backends import gate
from svai.backends.aws import codedeploy
from svai.backends.aws import lowering as args
from svai.backends.aws.network import PrivateNetwork
from svai.backends.aws.provider import AWS, res
from svai.compiler import gate as _gate
from svai.compiler.gate import Shift
from svai.ir import Alarm, DeploymentPlan, Service

__all__ = [
    "CONTROLLED",
    "Shift",
    "endpoint_arn",
    "endpoint_deployment_config",
    "export_endpoint_routes",
    "lambda_rollback",
    "release_controls",
    "rollback_alarms",
    "scheduled_gate",
    "shift_of",
    "weighted_endpoints",
]

_CODEDEPLOY_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"


shift_of = _gate.native_shift
"""The shift CodeDeploy and guardrails can run for a rollout (``None``: svai's gate runs it)."""

CONTROLLED = ("function_version", "routing_config")
"""The ``live`` alias inputs the gate job or CodeDeploy owns where it routes the alias
(:func:`svai.backends.gate.alias_owner`): ``ignore_changes``, so ``up`` keeps their split."""


def rollback_alarms(plan: DeploymentPlan, service: Service) -> tuple[Alarm, ...]:
    """The release's own alarms: ``rollout.rollback_on`` on ``service``, one-minute periods."""
    names = {"error_rate": "rollback-error-rate", "latency_p99": "rollback-p99"}
    return tuple(
        Alarm(names[metric], metric, limit, 60, 1, service.name)  # type: ignore[arg-type]
        for metric, limit in _gate.rollback_limits(plan.rollout)
    )


def _alarms(
    plan: DeploymentPlan,
    service: Service,
    dimensions: Mapping[str, Any],
    parent: pulumi.Resource,
    *,
    endpoint: bool,
) -> list[str]:
    names = []
    for alarm in rollback_alarms(plan, service):
        spec = args.alarm_args(plan, alarm, dimensions=dimensions, endpoint=endpoint, topic_arn="")
        # CodeDeploy and SageMaker read the alarm's state; nobody needs to be paged by it.
        spec.pop("alarm_actions")
        spec.pop("ok_actions")
        spec["name"] = f"{plan.name}-{service.name}-{alarm.name}"
        res.cloudwatch.MetricAlarm(spec["name"], **spec, opts=pulumi.ResourceOptions(parent=parent))
        names.append(spec["name"])
    return names


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def lambda_rollback(
    plan: DeploymentPlan,
    service: Service,
    function_name: str,
    parent: pulumi.Resource,
) -> None:
    """Add CodeDeploy to the Lambda ``service`` (nothing for all-at-once or unexpressible steps)."""
    shift = shift_of(plan.rollout)
    if not gate.automatic(plan) or shift is None:
        return
    dims = {"FunctionName": function_name, "Resource": f"{function_name}:{args.LIVE_ALIAS}"}
    alarms = _alarms(plan, service, dims, parent, endpoint=False)
    opts = pulumi.ResourceOptions(parent=parent)
    name = f"{plan.name}-{service.name}"
    app = AWS.create(
        "aws:codedeploy/application:Application",
        f"{name}-deploy",
        {"name": name, "compute_platform": "Lambda", "tags": args.tags(plan)},
        opts,
    )
    role = res.iam.Role(
        f"{name}-deploy-role",
        assume_role_policy=_trust("codedeploy.amazonaws.com"),
        managed_policy_arns=[_CODEDEPLOY_ROLE_POLICY],
        tags=args.tags(plan),
        opts=opts,
    )
    config = _deployment_config(name, shift, opts)
    group = codedeploy.Group(
        service.name, plan.region, name, f"{name}-{args.LIVE_ALIAS}", function_name
    )
    AWS.create(
        "aws:codedeploy/deploymentGroup:DeploymentGroup",
        f"{name}-deploy-group",
        {
            "app_name": app.name,
            "deployment_group_name": group.group,
            "service_role_arn": role.arn,
            "deployment_config_name": config,
            "deployment_style": {
                "deployment_option": "WITH_TRAFFIC_CONTROL",
                "deployment_type": "BLUE_GREEN",
            },
            "alarm_configuration": {"alarms": alarms, "enabled": True},
            "auto_rollback_configuration": {
                "enabled": True,
                "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
            },
            "tags": args.tags(plan),
        },
        opts,
    )
    # `svai apply` starts the deployments of this group after `up` (codedeploy.start).
    pulumi.export(f"{codedeploy.OUTPUT_PREFIX}{service.name}", codedeploy.group_output(group))


def _deployment_config(name: str, shift: Shift, opts: pulumi.ResourceOptions) -> str:
    """The deployment config's name: a built-in one for all-at-once, else one of svai's own."""
    if shift.kind == "all-at-once":
        return "CodeDeployDefault.LambdaAllAtOnce"
    kind = "TimeBasedCanary" if shift.kind == "canary" else "TimeBasedLinear"
    key = "time_based_canary" if shift.kind == "canary" else "time_based_linear"
    config_name = f"{name}-{shift.kind}-{shift.percent}pct-{shift.minutes}m"
    AWS.create(
        "aws:codedeploy/deploymentConfig:DeploymentConfig",
        f"{name}-deploy-config",
        {
            "deployment_config_name": config_name,
            "compute_platform": "Lambda",
            "traffic_routing_config": {
                "type": kind,
                key: {"interval": shift.minutes, "percentage": shift.percent},
            },
        },
        opts,
    )
    return config_name


def endpoint_deployment_config(
    plan: DeploymentPlan, service: Service, endpoint_name: str, parent: pulumi.Resource
) -> dict[str, Any] | None:
    """The SageMaker endpoint's ``deployment_config`` (guardrails), or ``None``.

    ``None`` for an all-at-once plan, and for steps guardrails cannot express (the scheduled
    gate judges those: :func:`release_controls`).
    """
    if not gate.automatic(plan):
        return None
    shift = shift_of(plan.rollout)
    if shift is None:
        return None
    dims = {"EndpointName": endpoint_name, "VariantName": args.LIVE_ALIAS}
    alarms = _alarms(plan, service, dims, parent, endpoint=True)
    wait_s = shift.minutes * 60
    routing: dict[str, Any] = {"type": "ALL_AT_ONCE", "wait_interval_in_seconds": wait_s}
    if shift.kind != "all-at-once":
        size = {"type": "CAPACITY_PERCENT", "value": shift.percent}
        routing = {
            "type": shift.kind.upper(),
            "wait_interval_in_seconds": wait_s,
            ("canary_size" if shift.kind == "canary" else "linear_step_size"): size,
        }
    steps = 1 if shift.kind != "linear" else 100 // shift.percent
    return {
        "blue_green_update_policy": {
            "traffic_routing_configuration": routing,
            "termination_wait_in_seconds": wait_s,
            "maximum_execution_timeout_in_seconds": min(28_800, max(600, 2 * wait_s * steps)),
        },
        "auto_rollback_configuration": {"alarms": [{"alarm_name": a} for a in alarms]},
    }


def release_controls(
    plan: DeploymentPlan,
    functions: Sequence[tuple[Service, str, pulumi.Resource]],
    *,
    endpoints: Sequence[tuple[Service, str]] = (),
    bucket: pulumi.Input[str],
    account: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    network: PrivateNetwork | None = None,
) -> None:
    """Every automatic-rollback resource of ``plan`` but the endpoints' guardrails.

    Args:
        plan: The plan (nothing is added unless its rollout is canary or blue/green).
        functions: ``(service, function name, its component)`` of every Lambda service.
        endpoints: ``(service, endpoint name)`` of every SageMaker endpoint; the scheduled gate
            moves the variant weights of the real-time ones (:func:`weighted_endpoints`).
        bucket: The artifact bucket, which holds the release state.
        account: The account id.
        key_arn: The deployment's key (encrypts the gate function's environment).
        network: The private network the functions run in under restricted egress; the gate
            function joins it (its endpoints include CloudWatch for the gate's reads).
    """
    if not gate.automatic(plan):
        return
    pulumi.export(
        "aws_release_state_url", pulumi.Output.concat("s3://", bucket, f"/{gate.STATE_PREFIX}")
    )
    if gate.moves_lambda_traffic(plan):
        weighted = weighted_endpoints(plan, endpoints)
        scheduled_gate(
            plan,
            bucket=bucket,
            account=account,
            key_arn=key_arn,
            network=network,
            endpoints=[name for _, name in weighted],
        )
        export_endpoint_routes(plan, weighted, account)
        return
    for service, function_name, parent in functions:
        lambda_rollback(plan, service, function_name, parent)


class _Gate(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("svai:aws:ReleaseGate", name, None, None)


def weighted_endpoints(
    plan: DeploymentPlan, endpoints: Sequence[tuple[Service, str]]
) -> list[tuple[Service, str]]:
    """The endpoints whose variant weights the gate job moves: the real-time ones.

    A serverless endpoint holds one variant (SageMaker's own blue/green update replaces it), so
    there is no weight to move.
    """
    return [(s, n) for s, n in endpoints if s.compute.offering != "aws.sagemaker.serverless"]


def endpoint_arn(region: str, account: str, name: str) -> str:
    """A SageMaker endpoint's ARN (SageMaker writes the name in lower case there)."""
    return f"arn:aws:sagemaker:{region}:{account}:endpoint/{name.lower()}"


def export_endpoint_routes(
    plan: DeploymentPlan, endpoints: Sequence[tuple[Service, str]], account: pulumi.Input[str]
) -> None:
    """Export the endpoints the gate job routes, with each version's variant.

    The plan's own version is variant ``live``, the other one of the split ``previous``
    (:func:`svai.backends.aws.lowering.endpoint_config_args`).
    """
    if not endpoints:
        return

    def entries(account_id: str) -> list[dict[str, object]]:
        return [
            gate.route(
                "aws",
                endpoint_arn(plan.region, account_id, name),
                {
                    version: args.LIVE_ALIAS if version == plan.model_version else "previous"
                    for version, _ in args.variant_versions(plan, service)
                },
            )
            for service, name in endpoints
        ]

    pulumi.export(gate.routes_output(plan), pulumi.Output.from_input(account).apply(entries))


def scheduled_gate(
    plan: DeploymentPlan,
    *,
    bucket: pulumi.Input[str],
    account: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    network: PrivateNetwork | None = None,
    endpoints: Sequence[str] = (),
) -> None:
    """The gate as a function in the gate image that EventBridge runs every interval.

    Its role may move the ``live`` aliases of the plan's functions and the variant weights of
    ``endpoints`` (SageMaker endpoint names), and nothing else.
    """
    parent = _Gate(f"{plan.name}-release-gate")
    opts = pulumi.ResourceOptions(parent=parent)
    name = f"{plan.name}-gate"
    state = pulumi.Output.concat("s3://", bucket, f"/{gate.STATE_PREFIX}")
    bucket_arn = pulumi.Output.concat("arn:aws:s3:::", bucket)
    role = res.iam.Role(
        f"{name}-role",
        assume_role_policy=_trust("lambda.amazonaws.com"),
        tags=args.tags(plan),
        opts=opts,
    )
    prefix = f"/{gate.STATE_PREFIX}/releases/*"
    functions = f"function:{args.lambda_name(plan.name, '*')}:{args.LIVE_ALIAS}"
    policy = pulumi.Output.all(bucket_arn, account).apply(
        lambda arns: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": f"{arns[0]}{prefix}",
                    },
                    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": arns[0]},
                    {"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
                    {  # the job moves the split it decides (svai.controller.traffic)
                        "Effect": "Allow",
                        "Action": ["lambda:GetAlias", "lambda:UpdateAlias"],
                        "Resource": f"arn:aws:lambda:{plan.region}:{arns[1]}:{functions}",
                    },
                    *(
                        [
                            {  # the job moves the endpoints' variant weights too
                                "Effect": "Allow",
                                "Action": "sagemaker:UpdateEndpointWeightsAndCapacities",
                                "Resource": [
                                    endpoint_arn(plan.region, arns[1], n) for n in endpoints
                                ],
                            }
                        ]
                        if endpoints
                        else []
                    ),
                    {
                        "Effect": "Allow",
                        "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                        "Resource": "*",
                    },
                ],
            },
            sort_keys=True,
        )
    )
    ready = [res.iam.RolePolicy(f"{name}-policy", role=role.name, policy=policy, opts=opts)]
    placement: dict[str, Any] = {}
    if network is not None:  # restricted egress: the gate runs inside the functions' VPC
        ready.append(network.grant(f"{name}-vpc-access", role, account, plan.region, parent))
        placement["vpc_config"] = network.vpc_config()
    registry = pulumi.Output.concat(account, f".dkr.ecr.{plan.region}.amazonaws.com")
    function = res.lambda_.Function(
        f"{name}-fn",
        name=name,
        package_type="Image",
        image_uri=registry.apply(gate.gate_image),
        image_config={"commands": ["svai.controller.aws_lambda.handler"]},
        role=role.arn,
        timeout=300,
        memory_size=512,
        reserved_concurrent_executions=1,
        kms_key_arn=key_arn,
        tracing_config={"mode": "Active"},  # one judge at a time: runs never race on the state
        environment={"variables": {"SVAI_RELEASE_STATE_URL": state}},
        tags=args.tags(plan),
        **placement,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=ready),
    )
    rule_name = f"{name}-schedule"
    minutes = gate.schedule_minutes(plan.rollout)
    rule = AWS.create(
        "aws:cloudwatch/eventRule:EventRule",
        rule_name,
        {
            "name": rule_name,
            "description": f"svai {plan.name}: run the release gate every {minutes} min",
            "schedule_expression": f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            "tags": args.tags(plan),
        },
        opts,
    )
    AWS.create(
        "aws:cloudwatch/eventTarget:EventTarget",
        f"{name}-target",
        {"rule": rule.name, "arn": function.arn},
        opts,
    )
    res.lambda_.Permission(
        f"{name}-invoke",
        action="lambda:InvokeFunction",
        function=function.name,
        principal="events.amazonaws.com",
        source_arn=pulumi.Output.concat(
            f"arn:aws:events:{plan.region}:", account, f":rule/{rule_name}"
        ),
        opts=opts,
    )
