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

All of it is lowered to blueprint resources (pure data, no Pulumi): :func:`release_controls`
returns the groups, :func:`endpoint_deployment_config` an endpoint's alarms and guardrails, and
:func:`exports` the stack outputs the backend exports after the build, among them
``aws_release_state_url``: where the release state and gate policy live in the artifact bucket
(``svai promote`` reconciles with it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from svai.backends import gate
from svai.backends.aws import arguments as args
from svai.backends.aws import codedeploy, guardrails, network
from svai.backends.aws.foundation import Links
from svai.backends.blueprint import Concat, Group, Ref, Rendered, ResourceSpec
from svai.compiler import gate as _gate
from svai.compiler.gate import Shift
from svai.ir import Alarm, DeploymentPlan, Service

__all__ = [
    "CONTROLLED",
    "Shift",
    "endpoint_arn",
    "endpoint_deployment_config",
    "endpoint_routes",
    "exports",
    "lambda_rollback",
    "release_controls",
    "rollback_alarms",
    "scheduled_gate",
    "shift_of",
    "weighted_endpoints",
]

_CODEDEPLOY_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"
_CODEDEPLOY = "aws:codedeploy/"
_ROLE = "aws:iam/role:Role"


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
    plan: DeploymentPlan, service: Service, dimensions: Mapping[str, Any], *, endpoint: bool
) -> list[ResourceSpec]:
    """The release's alarms on ``service``, keyed ``<service>:<alarm>``; named as keyed by AWS."""
    specs = []
    for alarm in rollback_alarms(plan, service):
        spec = args.alarm_args(plan, alarm, dimensions=dimensions, endpoint=endpoint, topic_arn="")
        # CodeDeploy and SageMaker read the alarm's state; nobody needs to be paged by it.
        spec.pop("alarm_actions")
        spec.pop("ok_actions")
        spec["name"] = f"{plan.name}-{service.name}-{alarm.name}"
        token = "aws:cloudwatch/metricAlarm:MetricAlarm"
        specs.append(ResourceSpec(f"{service.name}:{alarm.name}", token, spec["name"], spec))
    return specs


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


def _codedeploy_group(plan: DeploymentPlan, service: Service) -> codedeploy.Group:
    name = f"{plan.name}-{service.name}"
    function_name = args.function_name(plan, service.name)
    return codedeploy.Group(
        service.name, plan.region, name, f"{name}-{args.LIVE_ALIAS}", function_name
    )


def lambda_rollback(plan: DeploymentPlan, service: Service) -> tuple[ResourceSpec, ...]:
    """CodeDeploy for the Lambda ``service`` (nothing for all-at-once or unexpressible steps).

    The release's alarms, the application, its role, the deployment config (unless built in)
    and the deployment group, keyed ``<service>:deploy...``.
    """
    shift = shift_of(plan.rollout)
    if not gate.automatic(plan) or shift is None:
        return ()
    s = service.name
    function_name = args.function_name(plan, s)
    dims = {"FunctionName": function_name, "Resource": f"{function_name}:{args.LIVE_ALIAS}"}
    alarms = _alarms(plan, service, dims, endpoint=False)
    specs = list(alarms)
    name = f"{plan.name}-{s}"
    tags = args.tags(plan)
    app = {"name": name, "compute_platform": "Lambda", "tags": tags}
    specs.append(
        ResourceSpec(f"{s}:deploy", f"{_CODEDEPLOY}application:Application", f"{name}-deploy", app)
    )
    role = {
        "assume_role_policy": _trust("codedeploy.amazonaws.com"),
        "managed_policy_arns": [_CODEDEPLOY_ROLE_POLICY],
        "tags": tags,
    }
    specs.append(ResourceSpec(f"{s}:deploy-role", _ROLE, f"{name}-deploy-role", role))
    config_name, config = _deployment_config(s, name, shift)
    specs += config
    group = _codedeploy_group(plan, service)
    deployment_group = {
        "app_name": Ref(f"{s}:deploy", "name"),
        "deployment_group_name": group.group,
        "service_role_arn": Ref(f"{s}:deploy-role", "arn"),
        "deployment_config_name": config_name,
        "deployment_style": {
            "deployment_option": "WITH_TRAFFIC_CONTROL",
            "deployment_type": "BLUE_GREEN",
        },
        "alarm_configuration": {
            "alarms": [alarm.args["name"] for alarm in alarms],
            "enabled": True,
        },
        "auto_rollback_configuration": {
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
        },
        "tags": tags,
    }
    token = f"{_CODEDEPLOY}deploymentGroup:DeploymentGroup"
    specs.append(ResourceSpec(f"{s}:deploy-group", token, f"{name}-deploy-group", deployment_group))
    return tuple(specs)


def _deployment_config(s: str, name: str, shift: Shift) -> tuple[str, list[ResourceSpec]]:
    """The deployment config's name: a built-in one for all-at-once, else one of svai's own."""
    if shift.kind == "all-at-once":
        return "CodeDeployDefault.LambdaAllAtOnce", []
    kind = "TimeBasedCanary" if shift.kind == "canary" else "TimeBasedLinear"
    key = "time_based_canary" if shift.kind == "canary" else "time_based_linear"
    config_name = f"{name}-{shift.kind}-{shift.percent}pct-{shift.minutes}m"
    config = {
        "deployment_config_name": config_name,
        "compute_platform": "Lambda",
        "traffic_routing_config": {
            "type": kind,
            key: {"interval": shift.minutes, "percentage": shift.percent},
        },
    }
    token = f"{_CODEDEPLOY}deploymentConfig:DeploymentConfig"
    return config_name, [ResourceSpec(f"{s}:deploy-config", token, f"{name}-deploy-config", config)]


def endpoint_deployment_config(
    plan: DeploymentPlan, service: Service, endpoint_name: str
) -> tuple[tuple[ResourceSpec, ...], dict[str, Any] | None]:
    """The SageMaker endpoint's release alarms and ``deployment_config`` (guardrails).

    No alarms and ``None`` for an all-at-once plan, and for steps guardrails cannot express
    (the scheduled gate judges those: :func:`release_controls`). The alarms go in the
    endpoint's group just before the endpoint, whose guardrails name them.
    """
    shift = shift_of(plan.rollout)
    if not gate.automatic(plan) or shift is None:
        return (), None
    dims = {"EndpointName": endpoint_name, "VariantName": args.LIVE_ALIAS}
    alarms = _alarms(plan, service, dims, endpoint=True)
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
    config = {
        "blue_green_update_policy": {
            "traffic_routing_configuration": routing,
            "termination_wait_in_seconds": wait_s,
            "maximum_execution_timeout_in_seconds": min(28_800, max(600, 2 * wait_s * steps)),
        },
        "auto_rollback_configuration": {"alarms": [{"alarm_name": a.args["name"]} for a in alarms]},
    }
    return tuple(alarms), config


def _endpoints(plan: DeploymentPlan) -> list[tuple[Service, str]]:
    return [
        (s, args.endpoint_name(plan, s.name)) for s in plan.services if s.compute.kind == "endpoint"
    ]


def release_controls(link: Links) -> list[Group]:
    """Every automatic-rollback group of ``link.plan`` but the endpoints' guardrails.

    The scheduled gate's own ``ReleaseGate`` group, or, for each Lambda service, its CodeDeploy
    resources as a group that adds them to the service's ``FunctionService`` component (of the
    same name) after the groups before it. Nothing unless the rollout is canary or blue/green.
    """
    plan = link.plan
    if not gate.automatic(plan):
        return []
    if gate.moves_lambda_traffic(plan):
        weighted = [name for _, name in weighted_endpoints(plan, _endpoints(plan))]
        return [scheduled_gate(link, endpoints=weighted)]
    groups = []
    for service in plan.services:
        if service.compute.kind != "endpoint":
            specs = lambda_rollback(plan, service)
            if specs:
                name = f"{plan.name}-{service.name}"
                groups.append(Group("FunctionService", name, specs, extends=True))
    return groups


def exports(link: Links) -> dict[str, Any]:
    """The release's stack outputs (markers the backend resolves and exports), in order.

    ``aws_release_state_url``; then the gate's endpoint routes, or each CodeDeploy group
    (``svai apply`` starts its deployments after ``up``: :func:`codedeploy.start`) and each
    real-time endpoint with the config its guardrails update to (:func:`guardrails.start`).
    """
    plan = link.plan
    if not gate.automatic(plan):
        return {}
    out: dict[str, Any] = {
        "aws_release_state_url": Concat(("s3://", link.bucket_name, f"/{gate.STATE_PREFIX}"))
    }
    if gate.moves_lambda_traffic(plan):
        weighted = weighted_endpoints(plan, _endpoints(plan))
        if weighted:
            out[gate.routes_output(plan)] = endpoint_routes(plan, weighted, link.account)
        return out
    if shift_of(plan.rollout) is None:  # all at once: no CodeDeploy (lambda_rollback)
        return out
    for service in plan.services:
        if service.compute.kind != "endpoint":
            group = _codedeploy_group(plan, service)
            out[f"{codedeploy.OUTPUT_PREFIX}{service.name}"] = codedeploy.group_output(group)
    for service, name in weighted_endpoints(plan, _endpoints(plan)):
        out[f"{guardrails.OUTPUT_PREFIX}{service.name}"] = _guarded(plan, service.name, name)
    return out


def _guarded(plan: DeploymentPlan, service: str, endpoint: str) -> Rendered:
    """A real-time endpoint's guardrails output: the config ``up`` applied, once it is named."""
    config = Ref(f"{service}:config", "name")
    return Rendered(
        (config,),
        lambda names: guardrails.Endpoint(service, plan.region, endpoint, str(names[0])).output(),
    )


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


def endpoint_routes(
    plan: DeploymentPlan, endpoints: Sequence[tuple[Service, str]], account: Any
) -> Rendered:
    """The endpoints the gate job routes, with each version's variant, once the account is known.

    The plan's own version is variant ``live``, the other one of the split ``previous``
    (:func:`svai.backends.aws.arguments.endpoint_config_args`).
    """

    def entries(values: tuple[Any, ...]) -> list[dict[str, object]]:
        return [
            gate.route(
                "aws",
                endpoint_arn(plan.region, values[0], name),
                {
                    version: args.LIVE_ALIAS if version == plan.model_version else "previous"
                    for version, _ in args.variant_versions(plan, service)
                },
            )
            for service, name in endpoints
        ]

    return Rendered((account,), entries)


def scheduled_gate(link: Links, *, endpoints: Sequence[str] = ()) -> Group:
    """The gate as a function in the gate image that EventBridge runs every interval.

    Its role may move the ``live`` aliases of the plan's functions and the variant weights of
    ``endpoints`` (SageMaker endpoint names), and nothing else. Under restricted egress the
    function runs in the functions' private network (its endpoints include CloudWatch for the
    gate's reads). Resources are keyed ``gate:<part>``.
    """
    plan, account = link.plan, link.account
    name = f"{plan.name}-gate"
    tags = args.tags(plan)
    role = {"assume_role_policy": _trust("lambda.amazonaws.com"), "tags": tags}
    specs = [ResourceSpec("gate:role", _ROLE, f"{name}-role", role)]
    policy = {
        "role": Ref("gate:role", "name"),
        "policy": _gate_policy(plan, link, endpoints),
    }
    specs.append(
        ResourceSpec("gate:policy", "aws:iam/rolePolicy:RolePolicy", f"{name}-policy", policy)
    )
    placement: dict[str, Any] = {}
    if link.network:  # restricted egress: the gate runs inside the functions' VPC
        role_id = Ref("gate:role", "id")
        specs.append(
            network.grant("gate:vpc-access", f"{name}-vpc-access", role_id, account, plan.region)
        )
        placement["vpc_config"] = network.vpc_config()
    registry = Concat((account, f".dkr.ecr.{plan.region}.amazonaws.com"))
    state = Concat(("s3://", link.bucket_name, f"/{gate.STATE_PREFIX}"))
    function = {
        "name": name,
        "package_type": "Image",
        "image_uri": Rendered((registry,), lambda values: gate.gate_image(values[0])),
        "image_config": {"commands": ["svai.controller.aws_lambda.handler"]},
        "role": Ref("gate:role", "arn"),
        "timeout": 300,
        "memory_size": 512,
        # One judge at a time: runs never race on the state.
        "reserved_concurrent_executions": 1,
        "kms_key_arn": link.key_arn,
        "tracing_config": {"mode": "Active"},
        "environment": {"variables": {"SVAI_RELEASE_STATE_URL": state}},
        "tags": tags,
        **placement,
    }
    ready = tuple(spec.key for spec in specs[1:])
    token = "aws:lambda/function:Function"
    specs.append(ResourceSpec("gate:fn", token, f"{name}-fn", function, depends_on=ready))
    rule_name = f"{name}-schedule"
    minutes = gate.schedule_minutes(plan.rollout)
    rule = {
        "name": rule_name,
        "description": f"svai {plan.name}: run the release gate every {minutes} min",
        "schedule_expression": f"rate({minutes} minute{'s' if minutes > 1 else ''})",
        "tags": tags,
    }
    events = "aws:cloudwatch/"
    specs.append(ResourceSpec("gate:schedule", f"{events}eventRule:EventRule", rule_name, rule))
    target = {"rule": Ref("gate:schedule", "name"), "arn": Ref("gate:fn", "arn")}
    specs.append(
        ResourceSpec("gate:target", f"{events}eventTarget:EventTarget", f"{name}-target", target)
    )
    invoke = {
        "action": "lambda:InvokeFunction",
        "function": Ref("gate:fn", "name"),
        "principal": "events.amazonaws.com",
        "source_arn": Concat((f"arn:aws:events:{plan.region}:", account, f":rule/{rule_name}")),
    }
    token = "aws:lambda/permission:Permission"
    specs.append(ResourceSpec("gate:invoke", token, f"{name}-invoke", invoke))
    return Group("ReleaseGate", f"{plan.name}-release-gate", tuple(specs))


def _gate_policy(plan: DeploymentPlan, link: Links, endpoints: Sequence[str]) -> Rendered:
    """The gate role's policy: the release state, metrics, the aliases and endpoint weights."""
    prefix = f"/{gate.STATE_PREFIX}/releases/*"
    functions = f"function:{args.lambda_name(plan.name, '*')}:{args.LIVE_ALIAS}"

    def document(arns: tuple[Any, ...]) -> str:
        bucket_arn, account = arns
        moves_weights = [
            {  # the job moves the endpoints' variant weights too
                "Effect": "Allow",
                "Action": "sagemaker:UpdateEndpointWeightsAndCapacities",
                "Resource": [endpoint_arn(plan.region, account, n) for n in endpoints],
            }
        ]
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": f"{bucket_arn}{prefix}",
                    },
                    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
                    {"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
                    {  # the job moves the split it decides (svai.controller.traffic)
                        "Effect": "Allow",
                        "Action": ["lambda:GetAlias", "lambda:UpdateAlias"],
                        "Resource": f"arn:aws:lambda:{plan.region}:{account}:{functions}",
                    },
                    *(moves_weights if endpoints else []),
                    {
                        "Effect": "Allow",
                        "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                        "Resource": "*",
                    },
                ],
            },
            sort_keys=True,
        )

    bucket_arn = Concat(("arn:aws:s3:::", link.bucket_name))
    return Rendered((bucket_arn, link.account), document)
