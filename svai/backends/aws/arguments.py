"""AWS resource arguments: the argument dicts of each resource and the groups of the simple shapes.

The argument helpers (``function_args``, ``alarm_args``, ...) take the plan and, where a
resource refers to another one, that resource's output as a marker (``Ref``, ``Concat``,
``Rendered``) or a plain value, and return the keyword arguments of one pulumi-aws resource.
The groups of the key-value stores, the job queue, the HTTP API and the monitoring are
lowered here; :func:`svai.backends.aws.lowering.lower` assembles the whole deployment. Pure: no
Pulumi import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from svai.backends.aws.policy import topic_policy
from svai.backends.blueprint import Concat, Group, Ref, Rendered, ResourceSpec
from svai.compiler import gate
from svai.errors import UsageError
from svai.ir import Alarm, DeploymentPlan, Service, Store
from svai.spec.names import metrics_namespace

__all__ = [
    "LAMBDA_RUNTIME",
    "LIVE_ALIAS",
    "SERVERLESS",
    "alarm_args",
    "alias_version",
    "budget_args",
    "dashboard_body",
    "endpoint_config_args",
    "endpoint_name",
    "event_source_args",
    "function_args",
    "function_name",
    "guardrails_shift",
    "has_stream_url",
    "lambda_name",
    "pinned_version",
    "queue_args",
    "redrive_policy",
    "route_auth",
    "scaling_args",
    "split_weights",
    "stage_args",
    "table_args",
    "tags",
    "traffic_weights",
    "variant_versions",
]

LAMBDA_RUNTIME = "python3.12"
LIVE_ALIAS = "live"
"""The alias every caller invokes; weighted routing between versions happens on it."""
SERVERLESS = "aws.sagemaker.serverless"
"""The SageMaker Serverless Inference offering (no instance type, no VPC configuration)."""
_LAMBDA_MAX_TIMEOUT_S = 900
_SERVERLESS_MEMORY = (1024, 2048, 3072, 4096, 5120, 6144)
_SERVERLESS_MAX_CONCURRENCY = 200


def tags(plan: DeploymentPlan, **extra: str) -> dict[str, str]:
    """The plan's tags (with the model version) plus ``extra``."""
    return {**dict(plan.tags), **extra}


def function_name(plan: DeploymentPlan, service: str) -> str:
    """Physical Lambda function name of ``service`` (also names its log group)."""
    return lambda_name(plan.name, service)


def endpoint_name(plan: DeploymentPlan, service: str) -> str:
    """Physical SageMaker endpoint (and model) name of ``service`` (also names its log group)."""
    return f"{plan.name}-{service}"[:63]


def lambda_name(name: str, service: str) -> str:
    """:func:`function_name` of ``service`` in the deployment ``name`` (a spec's name)."""
    return f"{name}-{service}"[:64]


def function_args(
    plan: DeploymentPlan,
    service: Service,
    *,
    role_arn: Any,
    key_arn: Any,
    log_group: Any,
    code_bucket: Any = None,
    code_key: Any = None,
    image_uri: Any = None,
    environment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Arguments of the Lambda function of ``service``.

    ``reserved_concurrent_executions`` is the concurrency guard (``max_instances``); the code is a
    zip in the artifact bucket or an image in ECR, per ``compute.package``.
    """
    compute = service.compute
    timeout = math.ceil(compute.timeout_s)
    if timeout > _LAMBDA_MAX_TIMEOUT_S:
        raise UsageError(
            f"service {service.name}: Lambda allows at most {_LAMBDA_MAX_TIMEOUT_S} s, "
            f"the plan asks for {timeout} s"
        )
    variables = {k: v for k, v in service.env}
    variables.update(environment or {})
    args: dict[str, Any] = {
        "name": function_name(plan, service.name),
        "role": role_arn,
        "memory_size": compute.memory_mb,
        "timeout": timeout,
        "architectures": [compute.architecture],
        "publish": True,
        "reserved_concurrent_executions": compute.max_instances,
        "kms_key_arn": key_arn,
        "environment": {"variables": dict(sorted(variables.items()))},
        "tracing_config": {"mode": "Active"},
        "logging_config": {"log_format": "JSON", "log_group": log_group},
        "tags": tags(plan, **{"svai-service": service.name}),
    }
    if compute.package == "image":
        args.update(package_type="Image", image_uri=image_uri)
    else:
        args.update(
            package_type="Zip",
            runtime=LAMBDA_RUNTIME,
            handler=compute.handler,
            s3_bucket=code_bucket,
            s3_key=code_key,
        )
    if compute.offering == "aws.lambda.snapstart":
        # The recommender priced snapshot restores instead of full cold starts: publish versions
        # with SnapStart so the deployment behaves as predicted (Python 3.12+, zip only).
        args["snap_start"] = {"apply_on": "PublishedVersions"}
    return args


def traffic_weights(
    plan: DeploymentPlan, previous_lambda_version: str | None
) -> dict[str, float] | None:
    """Alias routing that sends the previous version its share while a release is in progress.

    Returns ``None`` when one version takes all traffic or when the previous version's Lambda
    version number is unknown (then the alias points at the new version only).
    """
    return split_weights(_split(plan), plan.model_version, previous_lambda_version)


def alias_version(plan: DeploymentPlan, previous_lambda_version: str | None) -> str | None:
    """The Lambda version the alias must point at when the plan's own version gets no traffic.

    A rollback keeps the newest code deployed and sends all traffic back to the previous
    version (``previous 100%, new 0%``): the alias then points at the previous version's number.
    Returns ``None`` when the alias follows the newly published version (the usual case).
    """
    return pinned_version(_split(plan), plan.model_version, previous_lambda_version)


def _split(plan: DeploymentPlan) -> tuple[tuple[str, int], ...]:
    return tuple((s.version, s.percent) for s in plan.rollout.split)


def split_weights(
    split: Sequence[tuple[str, int]], own: str, previous_lambda_version: str | None
) -> dict[str, float] | None:
    """:func:`traffic_weights` of a ``(model version, percent)`` split whose newest is ``own``.

    The backend (from the plan) and the gate job (from the release state) both route the
    ``live`` alias with it, so the two can never disagree on a split.
    """
    live = [(version, percent) for version, percent in split if percent > 0]
    if len(live) < 2 or previous_lambda_version is None:
        return None
    previous = [percent for version, percent in live if version != own]
    if not previous:
        return None
    return {previous_lambda_version: round(previous[0] / 100.0, 4)}


def pinned_version(
    split: Sequence[tuple[str, int]], own: str, previous_lambda_version: str | None
) -> str | None:
    """:func:`alias_version` of a ``(model version, percent)`` split whose newest is ``own``."""
    share = sum(percent for version, percent in split if version == own)
    if share > 0 or previous_lambda_version is None or len(split) < 2:
        return None
    return previous_lambda_version


def variant_versions(plan: DeploymentPlan, service: Service) -> tuple[tuple[str, float], ...]:
    """``(model version, weight)`` of each SageMaker production variant, the plan's own first.

    A serverless endpoint cannot have several variants, so it serves the version with the
    largest share alone (SageMaker's blue/green update shifts traffic to it). So does a
    real-time endpoint whose steps deployment guardrails run (:func:`guardrails_shift`), but
    there the plan's own version takes the variant whenever the split gives it any share: the
    guardrails' blue/green update shifts the traffic from the old fleet to the new one and rolls
    back on the release's alarms, one new fleet per release (a person's rollback, which gives it
    none, updates back to the previous version). Otherwise a real-time endpoint gets one variant
    per version of the split (weights as shares), which svai's gate job weighs.
    """
    split = plan.rollout.split
    if len(split) <= 1:
        return ((plan.model_version, 1.0),)
    if service.compute.offering == SERVERLESS:
        top = max(split, key=lambda s: (s.percent, s.version == plan.model_version))
        return ((top.version, 1.0),)
    if guardrails_shift(plan):
        own = plan.model_version
        top = max(split, key=lambda s: (s.version == own and s.percent > 0, s.percent))
        return ((top.version, 1.0),)
    ordered = sorted(split, key=lambda s: s.version != plan.model_version)
    return tuple((s.version, round(s.percent / 100.0, 4)) for s in ordered)


def guardrails_shift(plan: DeploymentPlan) -> bool:
    """Whether SageMaker's deployment guardrails shift ``plan``'s real-time endpoints' traffic.

    A canary or blue/green rollout whose steps they can express (one canary step, equal linear
    steps, blue/green's switch: :func:`svai.compiler.gate.native_shift`).
    """
    return gate.automatic(plan.rollout) and gate.native_shift(plan.rollout) is not None


def queue_args(plan: DeploymentPlan, *, key_arn: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Arguments of the dead-letter queue and of the job queue (without its redrive policy).

    Raises:
        UsageError: The plan has no queue (a sync plan).
    """
    queue = plan.queue
    if queue is None:
        raise UsageError("an async deployment needs a queue in its plan")
    common = {"kms_master_key_id": key_arn, "kms_data_key_reuse_period_seconds": 300}
    dlq = {
        "name": f"{plan.name}-dlq"[:80],
        "message_retention_seconds": queue.dlq_retention_s,
        "tags": tags(plan, **{"svai-queue": "dlq"}),
        **common,
    }
    main = {
        "name": f"{plan.name}-jobs"[:80],
        "visibility_timeout_seconds": queue.visibility_timeout_s,
        "message_retention_seconds": queue.retention_s,
        "receive_wait_time_seconds": 20,
        "tags": tags(plan, **{"svai-queue": "jobs"}),
        **common,
    }
    return dlq, main


def redrive_policy(dlq_arn: str, max_receive_count: int) -> str:
    """The job queue's redrive policy (JSON) given the DLQ's ARN."""
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})


def event_source_args(
    plan: DeploymentPlan, worker: Service, *, queue_arn: Any, function: Any
) -> dict[str, Any]:
    """The worker's SQS trigger: batches, partial batch failures, bounded concurrency."""
    args: dict[str, Any] = {
        "event_source_arn": queue_arn,
        "function_name": function,
        "batch_size": worker.batch_size,
        "function_response_types": ["ReportBatchItemFailures"],
        "scaling_config": {"maximum_concurrency": max(2, min(1000, worker.compute.max_instances))},
        "tags": tags(plan),
    }
    if worker.batch_window_s > 0:
        args["maximum_batching_window_in_seconds"] = math.ceil(worker.batch_window_s)
    return args


def table_args(plan: DeploymentPlan, store: Store, *, key_arn: Any) -> dict[str, Any]:
    """A DynamoDB table with TTL, KMS encryption and point-in-time recovery."""
    return {
        "name": f"{plan.name}-{store.name}"[:255],
        "billing_mode": "PAY_PER_REQUEST",
        "hash_key": store.key,
        "attributes": [{"name": store.key, "type": "S"}],
        "ttl": {"attribute_name": store.ttl_attribute, "enabled": True},
        "server_side_encryption": {"enabled": True, "kms_key_arn": key_arn},
        "point_in_time_recovery": {"enabled": True},
        "deletion_protection_enabled": False,
        "tags": tags(plan, **{"svai-store": store.name}),
    }


def route_auth(plan: DeploymentPlan) -> str:
    """The HTTP API route authorization type for the plan's entry auth.

    Raises:
        UsageError: ``api-key``: HTTP APIs have no API keys (use ``iam`` or ``jwt`` on AWS).
    """
    auth = plan.entry.auth
    if auth == "iam":
        return "AWS_IAM"
    if auth == "jwt":
        return "JWT"
    if auth == "none":
        return "NONE"
    raise UsageError(
        "api.auth: api-key is not available on AWS API Gateway HTTP APIs; use `iam` or `jwt`"
    )


def stage_args(plan: DeploymentPlan, *, api_id: Any, log_group_arn: Any) -> dict[str, Any]:
    """The default stage: throttling from the plan's entry, JSON access logs."""
    access_format = json.dumps(
        {
            "requestId": "$context.requestId",
            "ip": "$context.identity.sourceIp",
            "routeKey": "$context.routeKey",
            "status": "$context.status",
            "latency": "$context.responseLatency",
            "integrationLatency": "$context.integrationLatency",
        },
        sort_keys=True,
    )
    return {
        "api_id": api_id,
        "name": "$default",
        "auto_deploy": True,
        "default_route_settings": {
            "throttling_rate_limit": plan.entry.rate_limit_rps,
            "throttling_burst_limit": plan.entry.burst,
            "detailed_metrics_enabled": True,
        },
        "access_log_settings": {"destination_arn": log_group_arn, "format": access_format},
        "tags": tags(plan),
    }


def endpoint_config_args(
    plan: DeploymentPlan,
    service: Service,
    *,
    model_name: Any,
    key_arn: Any,
    other_models: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A SageMaker endpoint configuration: serverless or instance-backed, per the offering.

    ``other_models`` maps each other version of the rollout split to its model's name; the
    plan's own version is variant ``live``, another one ``previous``, weighted per the split.
    """
    compute = service.compute
    variants = variant_versions(plan, service)
    models = {plan.model_version: model_name, **(other_models or {})}
    variant: dict[str, Any] = {"variant_name": LIVE_ALIAS, "model_name": models[variants[0][0]]}
    args: dict[str, Any] = {"tags": tags(plan, **{"svai-service": service.name})}
    if compute.offering == SERVERLESS:
        memory = next((m for m in _SERVERLESS_MEMORY if m >= compute.memory_mb), 6144)
        serverless: dict[str, Any] = {
            "memory_size_in_mb": memory,
            "max_concurrency": max(1, min(_SERVERLESS_MAX_CONCURRENCY, compute.max_instances)),
        }
        if compute.min_instances > 0:
            serverless["provisioned_concurrency"] = min(
                compute.min_instances, serverless["max_concurrency"]
            )
        variant["serverless_config"] = serverless
    else:
        if compute.instance_type is None:
            raise UsageError(f"service {service.name}: a real-time endpoint needs an instance type")
        variant.update(
            instance_type=compute.instance_type,
            initial_instance_count=max(1, compute.min_instances),
        )
        # SageMaker refuses a KMS key for serverless variants; instance volumes take it.
        args["kms_key_arn"] = key_arn
    if len(variants) == 1:
        args["production_variants"] = [variant]
        return args
    extra = [
        {**variant, "variant_name": "previous", "model_name": models[version]}
        for version, _ in variants[1:]
    ]
    args["production_variants"] = [
        {**v, "initial_variant_weight": weight}
        for v, (_, weight) in zip([variant, *extra], variants, strict=True)
    ]
    return args


def scaling_args(service: Service) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Application Auto Scaling target and target-tracking policy of a SageMaker variant.

    Returns ``None`` for a serverless variant without provisioned concurrency (SageMaker scales it).
    """
    compute = service.compute
    if compute.offering == SERVERLESS:
        if compute.min_instances <= 0:
            return None
        target = {
            "scalable_dimension": "sagemaker:variant:DesiredProvisionedConcurrency",
            "min_capacity": compute.min_instances,
            "max_capacity": max(compute.min_instances, min(compute.max_instances, 200)),
        }
        metric = "SageMakerVariantProvisionedConcurrencyUtilization"
        value = 0.7
    else:
        target = {
            "scalable_dimension": "sagemaker:variant:DesiredInstanceCount",
            "min_capacity": max(1, compute.min_instances),
            "max_capacity": max(1, compute.min_instances, compute.max_instances),
        }
        metric = "SageMakerVariantInvocationsPerInstance"
        # Invocations per instance per minute that keep each instance at ~70% of its slots.
        value = float(max(1, round(compute.concurrency_per_instance * 60 * 0.7)))
    policy = {
        "policy_type": "TargetTrackingScaling",
        "target_tracking_scaling_policy_configuration": {
            "target_value": value,
            "predefined_metric_specification": {"predefined_metric_type": metric},
            "scale_in_cooldown": 300,
            "scale_out_cooldown": 60,
        },
    }
    return target, policy


def alarm_args(
    plan: DeploymentPlan,
    alarm: Alarm,
    *,
    dimensions: Mapping[str, Any],
    endpoint: bool,
    topic_arn: Any,
) -> dict[str, Any]:
    """A CloudWatch alarm for one of the plan's alarms.

    Args:
        plan: The plan.
        alarm: Which metric and threshold.
        dimensions: Metric dimensions of the watched thing (function + alias, endpoint +
            variant, or queue name).
        endpoint: The watched service is a SageMaker endpoint (different metric names).
        topic_arn: Where alarm and OK notifications go.
    """
    base: dict[str, Any] = {
        "name": f"{plan.name}-{alarm.name}",
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": alarm.evaluation_periods,
        "threshold": alarm.threshold,
        "treat_missing_data": "notBreaching",
        "alarm_actions": [topic_arn],
        "ok_actions": [topic_arn],
        "alarm_description": f"svai {plan.name}: {alarm.metric} above {alarm.threshold}",
        "tags": tags(plan, **{"svai-alarm": alarm.name}),
    }
    period = alarm.period_s
    dims = dict(dimensions)
    if alarm.metric in ("latency_p95", "latency_p99"):
        stat = "p95" if alarm.metric == "latency_p95" else "p99"
        if endpoint:
            # ModelLatency is in microseconds.
            metric = ("AWS/SageMaker", "ModelLatency", alarm.threshold * 1_000_000)
        else:
            metric = ("AWS/Lambda", "Duration", alarm.threshold * 1000)
        base.update(
            namespace=metric[0],
            metric_name=metric[1],
            threshold=metric[2],
            extended_statistic=stat,
            period=period,
            dimensions=dims,
        )
    elif alarm.metric == "error_rate":
        ns, errors, calls = (
            ("AWS/SageMaker", "Invocation5XXErrors", "Invocations")
            if endpoint
            else ("AWS/Lambda", "Errors", "Invocations")
        )
        base["metric_queries"] = [
            _query("errors", ns, errors, dims, period),
            _query("calls", ns, calls, dims, period),
            {
                "id": "rate",
                "expression": "IF(calls > 0, errors / calls, 0)",
                "label": "error rate",
                "return_data": True,
            },
        ]
    elif alarm.metric in ("throttles", "concurrency"):
        name, stat = (
            ("Throttles", "Sum")
            if alarm.metric == "throttles"
            else (
                "ConcurrentExecutions",
                "Maximum",
            )
        )
        base.update(
            namespace="AWS/Lambda",
            metric_name=name,
            statistic=stat,
            period=period,
            dimensions=dims,
            comparison_operator="GreaterThanOrEqualToThreshold",
        )
    elif alarm.metric in ("dlq_depth", "queue_age"):
        name = (
            "ApproximateNumberOfMessagesVisible"
            if alarm.metric == "dlq_depth"
            else "ApproximateAgeOfOldestMessage"
        )
        base.update(
            namespace="AWS/SQS",
            metric_name=name,
            statistic="Maximum",
            period=period,
            dimensions=dims,
            comparison_operator="GreaterThanOrEqualToThreshold",
        )
    else:
        # The runtime's own EMF metrics: cold_starts is 1 or 0 per request (its average is the
        # rate); drift_score comes once per window (its maximum is the worst feature).
        name, stat = (
            ("drift_score", "Maximum") if alarm.metric == "drift" else ("cold_starts", "Average")
        )
        base.update(
            namespace=metrics_namespace(plan.name),
            metric_name=name,
            statistic=stat,
            period=period,
            dimensions={"service": plan.name},
        )
    return base


def _query(
    query_id: str, namespace: str, metric: str, dims: Mapping[str, Any], period: int
) -> dict[str, Any]:
    return {
        "id": query_id,
        "return_data": False,
        "metric": {
            "namespace": namespace,
            "metric_name": metric,
            "dimensions": dict(dims),
            "period": period,
            "stat": "Sum",
        },
    }


def dashboard_body(plan: DeploymentPlan, alarm_arns: Mapping[str, str]) -> str:
    """A CloudWatch dashboard: the state of every alarm, then one graph per alarm (JSON)."""
    arns = [arn for _, arn in sorted(alarm_arns.items())]
    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 3,
            "properties": {"title": f"svai {plan.name}: alarms", "alarms": arns},
        }
    ]
    for index, (name, arn) in enumerate(sorted(alarm_arns.items())):
        widgets.append(
            {
                "type": "metric",
                "x": (index % 2) * 12,
                "y": 3 + (index // 2) * 6,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": name,
                    "region": plan.region,
                    "view": "timeSeries",
                    "annotations": {"alarms": [arn]},
                },
            }
        )
    return json.dumps({"widgets": widgets}, sort_keys=True)


def budget_args(plan: DeploymentPlan, *, topic_arn: Any) -> dict[str, Any] | None:
    """A monthly cost budget on the deployment's tag, with the plan's alert thresholds."""
    budget = plan.budget
    if budget is None:
        return None
    notifications = []
    for percent, kind in budget.thresholds:
        notification: dict[str, Any] = {
            "comparison_operator": "GREATER_THAN",
            "threshold": float(percent),
            "threshold_type": "PERCENTAGE",
            "notification_type": "FORECASTED" if kind == "forecast" else "ACTUAL",
            "subscriber_sns_topic_arns": [topic_arn],
        }
        if budget.email:
            notification["subscriber_email_addresses"] = [budget.email]
        notifications.append(notification)
    return {
        "name": f"{plan.name}-monthly",
        "budget_type": "COST",
        "limit_amount": f"{budget.monthly_usd:.2f}",
        "limit_unit": "USD",
        "time_unit": "MONTHLY",
        "cost_filters": [{"name": "TagKeyValue", "values": [f"user:svai-name${plan.name}"]}],
        "notifications": notifications,
        "tags": tags(plan),
    }


# ---- blueprint groups (the shared design: docs/adr/0004-one-backend-design.md) ----------------

TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"


def store_group(plan: DeploymentPlan, store: Store, *, key_arn: Any) -> Group:
    """The ``KeyValueStore`` group of ``store``: its DynamoDB table (key ``table:<store>``)."""
    table = ResourceSpec(
        f"table:{store.name}",
        TABLE,
        f"{plan.name}-{store.name}-table",
        table_args(plan, store, key_arn=key_arn),
    )
    return Group("KeyValueStore", f"{plan.name}-{store.name}", (table,))


def queue_group(plan: DeploymentPlan, *, key_arn: Any) -> Group:
    """The ``JobQueue`` group: the job queue (key ``jobs``), its DLQ (``dlq``) and redrive.

    Raises:
        UsageError: The plan has no queue (a sync plan).
    """
    dlq_args, jobs_args = queue_args(plan, key_arn=key_arn)
    assert plan.queue is not None  # queue_args raised otherwise
    receives = plan.queue.max_receive_count
    redrive = Rendered((Ref("dlq", "arn"),), lambda arns: redrive_policy(arns[0], receives))
    allow = Rendered(
        (Ref("jobs", "arn"),),
        lambda arns: json.dumps(
            {"redrivePermission": "byQueue", "sourceQueueArns": [arns[0]]}, sort_keys=True
        ),
    )
    return Group(
        "JobQueue",
        f"{plan.name}-queue",
        (
            ResourceSpec("dlq", QUEUE, f"{plan.name}-dlq", dlq_args),
            ResourceSpec(
                "jobs", QUEUE, f"{plan.name}-jobs", {"redrive_policy": redrive, **jobs_args}
            ),
            ResourceSpec(
                "redrive-allow",
                REDRIVE_ALLOW,
                f"{plan.name}-dlq-redrive-allow",
                {"queue_url": Ref("dlq", "url"), "redrive_allow_policy": allow},
            ),
        ),
    )


SNS_TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
BUDGET = "aws:budgets/budget:Budget"


def monitoring_group(
    plan: DeploymentPlan,
    dimensions: Mapping[str, tuple[Mapping[str, Any], bool]],
    *,
    key_arn: Any,
    account: Any,
) -> Group:
    """The ``Monitoring`` group: alert topic (key ``topic``), alarms, dashboard and budget.

    Args:
        plan: The plan.
        dimensions: Watched name (service, ``queue``, ``dlq``) -> (metric dimensions, whether it
            is a SageMaker endpoint).
        key_arn: Key encrypting the alarm topic.
        account: The AWS account id (alarms and budgets publish from it).
    """
    topic_arn = Ref("topic", "arn")
    specs = [
        ResourceSpec(
            "topic",
            SNS_TOPIC,
            f"{plan.name}-alerts",
            {"name": f"{plan.name}-alerts", "kms_master_key_id": key_arn, "tags": tags(plan)},
        ),
        ResourceSpec(
            "topic-policy",
            TOPIC_POLICY,
            f"{plan.name}-alerts-policy",
            {
                "arn": topic_arn,
                "policy": Rendered(
                    (topic_arn, account),
                    lambda values: json.dumps(topic_policy(values[0], values[1]), sort_keys=True),
                ),
            },
        ),
    ]
    if plan.budget is not None and plan.budget.email:
        email = {"topic": topic_arn, "protocol": "email", "endpoint": plan.budget.email}
        specs.append(ResourceSpec("email", TOPIC_SUBSCRIPTION, f"{plan.name}-alerts-email", email))
    names: list[str] = []
    for alarm in plan.alarms:
        dims, endpoint = dimensions[alarm.service]
        if alarm.metric in ("throttles", "concurrency") and endpoint:
            # Endpoints are reached through their proxy function; it is what throttles.
            dims, endpoint = dimensions[f"{alarm.service}-proxy"]
        alarm_spec = alarm_args(
            plan, alarm, dimensions=dims, endpoint=endpoint, topic_arn=topic_arn
        )
        specs.append(
            ResourceSpec(
                f"alarm:{alarm.name}", METRIC_ALARM, f"{plan.name}-{alarm.name}", alarm_spec
            )
        )
        names.append(alarm.name)
    if plan.dashboard:
        body = Rendered(
            tuple(Ref(f"alarm:{name}", "arn") for name in names),
            lambda arns: dashboard_body(plan, dict(zip(names, arns, strict=True))),
        )
        specs.append(
            ResourceSpec(
                "dashboard",
                DASHBOARD,
                f"{plan.name}-dashboard",
                {"dashboard_name": plan.name, "dashboard_body": body},
            )
        )
    budget = budget_args(plan, topic_arn=topic_arn)
    if budget is not None:
        specs.append(ResourceSpec("budget", BUDGET, f"{plan.name}-budget", budget))
    return Group("Monitoring", f"{plan.name}-monitoring", tuple(specs))


HTTP_API = "aws:apigatewayv2/api:Api"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
STAGE = "aws:apigatewayv2/stage:Stage"
AUTHORIZER = "aws:apigatewayv2/authorizer:Authorizer"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
PERMISSION = "aws:lambda/permission:Permission"
ROUTE = "aws:apigatewayv2/route:Route"


def http_api_group(
    plan: DeploymentPlan, functions: Mapping[str, tuple[Any, Any]], *, key_arn: Any
) -> Group:
    """The ``HttpApi`` group: the API (key ``api``), its stage, logs, auth, routes.

    Args:
        plan: The plan.
        functions: Role -> (invoke ARN of its ``live`` alias, its function) the role's routes
            reach.
        key_arn: Key encrypting the access logs.

    Raises:
        UsageError: The auth cannot be built (``api-key``), or ``jwt`` lacks an issuer or an
            audience.
    """
    authorization = route_auth(plan)
    api_id = Ref("api", "id")
    specs = [
        ResourceSpec(
            "api",
            HTTP_API,
            f"{plan.name}-http-api",
            {
                "name": plan.name,
                "protocol_type": "HTTP",
                "description": f"svai {plan.name} ({plan.model_version})",
                "tags": tags(plan),
            },
        ),
        ResourceSpec(
            "logs",
            LOG_GROUP,
            f"{plan.name}-http-logs",
            {
                "name": f"/aws/apigateway/{plan.name}",
                "retention_in_days": plan.log_retention_days,
                "kms_key_id": key_arn,
                "tags": tags(plan),
            },
        ),
        ResourceSpec(
            "stage",
            STAGE,
            f"{plan.name}-http-stage",
            stage_args(plan, api_id=api_id, log_group_arn=Ref("logs", "arn")),
        ),
    ]
    authorizer_id: Ref | None = None
    if authorization == "JWT":
        issuer, audience = plan.entry.jwt_issuer, plan.entry.jwt_audience
        if not issuer or not audience:
            raise UsageError("api.auth: jwt needs an issuer and an audience")
        jwt = {
            "api_id": api_id,
            "authorizer_type": "JWT",
            "name": f"{plan.name}-jwt",
            "identity_sources": ["$request.header.Authorization"],
            "jwt_configuration": {"issuer": issuer, "audiences": [audience]},
        }
        specs.append(ResourceSpec("authorizer", AUTHORIZER, f"{plan.name}-http-jwt", jwt))
        authorizer_id = Ref("authorizer", "id")
    timeout_ms = int(min(30.0, plan.entry.timeout_s) * 1000)
    for role, (invoke_arn, function) in sorted(functions.items()):
        integration = {
            "api_id": api_id,
            "integration_type": "AWS_PROXY",
            "integration_uri": invoke_arn,
            "payload_format_version": "2.0",
            "timeout_milliseconds": timeout_ms,
        }
        invoke = {
            "action": "lambda:InvokeFunction",
            "function": function,
            "qualifier": LIVE_ALIAS,
            "principal": "apigateway.amazonaws.com",
            "source_arn": Concat((Ref("api", "execution_arn"), "/*/*")),
        }
        specs.append(
            ResourceSpec(
                f"integration:{role}", INTEGRATION, f"{plan.name}-http-{role}", integration
            )
        )
        specs.append(
            ResourceSpec(f"invoke:{role}", PERMISSION, f"{plan.name}-http-invoke-{role}", invoke)
        )
    for method, path, role in plan.entry.routes:
        slug = path.strip("/").replace("/", "-").replace("{", "").replace("}", "") or "root"
        route = {
            "api_id": api_id,
            "route_key": f"{method} {path}",
            "target": Concat(("integrations/", Ref(f"integration:{role}", "id"))),
            "authorization_type": authorization,
            "authorizer_id": authorizer_id,
        }
        specs.append(
            ResourceSpec(
                f"route:{method}:{path}", ROUTE, f"{plan.name}-route-{method.lower()}-{slug}", route
            )
        )
    return Group("HttpApi", f"{plan.name}-http", tuple(specs))


def has_stream_url(plan: DeploymentPlan, service: Service) -> bool:
    """Whether the backend builds the streaming function URL for ``service`` of ``plan``.

    Lowering routes ``POST /v1/chat/completions`` to an endpoint's proxy exactly where
    :func:`svai.compiler.streaming.stream_url` holds, so the plan alone answers.
    """
    route = ("POST", "/v1/chat/completions", "api")
    return service.compute.kind == "endpoint" and route in plan.entry.routes
