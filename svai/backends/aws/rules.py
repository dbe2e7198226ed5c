"""The AWS rules (``SVAI_AWS_###``) over the resources the AWS backend recorded.

Each rule names the closest Checkov check in ``checkov`` where one exists. The backend's
defaults pass every rule; each rule's test mutates one recorded input (or plan field) and expects
exactly that rule to fire.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from svai.backends.aws.cloud import mock_arn
from svai.backends.aws.policy import RESOURCE_FREE_ACTIONS
from svai.backends.base import Finding, RecordedResource, Rule, Severity
from svai.backends.claims import MESSAGE_BYTES_ENV, PAYLOAD_BUCKET_ENV, PREFIX, message_limit
from svai.backends.cloud import mock_id
from svai.backends.preview import SECRET
from svai.backends.rules import (
    by_type,
    egress_not_built,
    fail,
    get_path,
    iter_statements,
    oversized_jobs,
)
from svai.ir import DeploymentPlan

__all__ = ["RULES", "TAGGABLE"]

Resources = Sequence[RecordedResource]

QUEUE = "aws:sqs/queue:Queue"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TABLE = "aws:dynamodb/table:Table"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY = "aws:kms/key:Key"
TOPIC = "aws:sns/topic:Topic"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
REPOSITORY = "aws:ecr/repository:Repository"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ROUTE = "aws:apigatewayv2/route:Route"
STAGE = "aws:apigatewayv2/stage:Stage"
BUDGET = "aws:budgets/budget:Budget"
SAGEMAKER_MODEL = "aws:sagemaker/model:Model"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"

TAGGABLE: frozenset[str] = frozenset(
    {
        QUEUE,
        BUCKET,
        TABLE,
        LOG_GROUP,
        ALARM,
        FUNCTION,
        ESM,
        ROLE,
        KEY,
        TOPIC,
        REPOSITORY,
        ENDPOINT_CONFIG,
        STAGE,
        BUDGET,
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:sagemaker/model:Model",
        "aws:sagemaker/endpoint:Endpoint",
        "aws:apigatewayv2/api:Api",
        "aws:appautoscaling/target:Target",
        "aws:iam/policy:Policy",
        "aws:secretsmanager/secret:Secret",
    }
)
"""Type tokens of the resources the backend creates that accept ``tags``."""

_ADMIN_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
_SECRETISH = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "API_KEY", "PRIVATE_KEY", "CREDENTIAL")
_RESOURCE_FREE_PREFIXES = ("xray:Put",)


def _encrypted_queues(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for queue in by_type(resources, QUEUE):
        if not queue.inputs.get("kmsMasterKeyId") and not queue.inputs.get("sqsManagedSseEnabled"):
            yield fail("SQS queue is not encrypted", queue.name)


def _per_bucket(
    resources: Resources, token: str, ok: Callable[[RecordedResource], bool]
) -> set[str]:
    """Ids of the buckets a resource of ``token`` (which names its ``bucket``) configures ``ok``."""
    return {str(r.inputs.get("bucket")) for r in by_type(resources, token) if ok(r)}


def _buckets_outside(resources: Resources, configured: set[str], message: str) -> Iterator[Finding]:
    for bucket in by_type(resources, BUCKET):
        if mock_id(bucket.type, bucket.name) not in configured:
            yield fail(message, bucket.name)


def _sse_kms(config: RecordedResource) -> bool:
    rule = get_path(config.inputs, "rules.0.applyServerSideEncryptionByDefault", {})
    return rule.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and bool(
        rule.get("kmsMasterKeyId")
    )


def _bucket_encryption(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    configured = _per_bucket(resources, BUCKET_SSE, _sse_kms)
    yield from _buckets_outside(
        resources, configured, "S3 bucket has no SSE-KMS default encryption"
    )


def _table_encryption(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for table in by_type(resources, TABLE):
        sse = table.inputs.get("serverSideEncryption") or {}
        if not sse.get("enabled") or not sse.get("kmsKeyArn"):
            yield fail("DynamoDB table is not encrypted with a KMS key", table.name)


def _log_encryption(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for group in by_type(resources, LOG_GROUP):
        if not group.inputs.get("kmsKeyId"):
            yield fail("log group is not encrypted with a KMS key", group.name)


def _log_retention(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for group in by_type(resources, LOG_GROUP):
        if not group.inputs.get("retentionInDays"):
            yield fail("log group keeps logs forever (no retention)", group.name)


def _redrive(queue: RecordedResource) -> dict[str, Any] | None:
    policy = queue.inputs.get("redrivePolicy")
    if not isinstance(policy, str):
        return None
    try:
        parsed = json.loads(policy)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _dlq_redrive(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    queues = by_type(resources, QUEUE)
    arns = {mock_arn(q) for q in queues}
    targets = {str((_redrive(q) or {}).get("deadLetterTargetArn")) for q in queues}
    for queue in queues:
        if mock_arn(queue) in targets:
            continue  # a dead-letter queue itself
        redrive = _redrive(queue)
        if redrive is None or redrive.get("deadLetterTargetArn") not in arns:
            yield fail("queue has no redrive policy to a dead-letter queue", queue.name)
    if plan.mode == "async" and not queues:
        yield fail("async deployment records no job queue")


def _consumers(
    resources: Resources,
) -> Iterator[tuple[RecordedResource, RecordedResource, RecordedResource]]:
    """(event source mapping, queue, function) for every SQS-triggered function."""
    queues = {mock_arn(q): q for q in by_type(resources, QUEUE)}
    functions = {str(f.inputs.get("name") or f.name): f for f in by_type(resources, FUNCTION)}
    for mapping in by_type(resources, ESM):
        queue = queues.get(str(mapping.inputs.get("eventSourceArn")))
        target = str(mapping.inputs.get("functionName", ""))
        parts = target.split(":")
        name = parts[6] if target.startswith("arn:") and len(parts) > 6 else target
        function = functions.get(name)
        if queue is not None and function is not None:
            yield mapping, queue, function


def _visibility(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for _, queue, function in _consumers(resources):
        visibility = int(queue.inputs.get("visibilityTimeoutSeconds", 30))
        timeout = int(function.inputs.get("timeout", 3))
        if visibility < 6 * timeout:
            yield fail(
                f"visibility timeout {visibility} s is under 6x the worker timeout ({timeout} s)",
                queue.name,
            )
    if plan.queue is not None and plan.mode == "async":
        worker = plan.service("worker")
        if plan.queue.visibility_timeout_s < 6 * worker.compute.timeout_s:
            yield fail("plan: queue visibility timeout is under 6x the worker timeout")


def _receive_count(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for queue in by_type(resources, QUEUE):
        redrive = _redrive(queue)
        if redrive is not None and int(redrive.get("maxReceiveCount", 0)) < 5:
            yield fail(
                f"maxReceiveCount {redrive.get('maxReceiveCount')} < 5: transient errors "
                "send jobs to the DLQ",
                queue.name,
            )


def _identity_policies(resources: Resources) -> Iterator[tuple[str, dict[str, Any]]]:
    for policy in by_type(resources, ROLE_POLICY, POLICY):
        for statement in iter_statements(policy.inputs.get("policy")):
            yield policy.name, statement
    for role in by_type(resources, ROLE):
        for inline in role.inputs.get("inlinePolicies") or []:
            for statement in iter_statements(inline.get("policy")):
                yield role.name, statement


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _wildcard_actions(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for name, statement in _identity_policies(resources):
        if statement.get("Effect") != "Allow":
            continue
        wild = [a for a in _as_list(statement.get("Action")) if "*" in a]
        if wild or "NotAction" in statement:
            yield fail(f"policy allows wildcard actions {wild or ['NotAction']}", name)


def _wildcard_resources(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for name, statement in _identity_policies(resources):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement.get("Resource")):
            continue
        actions = _as_list(statement.get("Action"))
        bound = [
            a
            for a in actions
            if a not in RESOURCE_FREE_ACTIONS and not a.startswith(_RESOURCE_FREE_PREFIXES)
        ]
        if bound:
            yield fail(f'policy grants {bound} on Resource "*"', name)
        elif "cloudwatch:PutMetricData" in actions and not get_path(
            statement, "Condition.StringEquals.cloudwatch:namespace"
        ):
            yield fail("PutMetricData on any namespace (no cloudwatch:namespace condition)", name)


def _admin_policies(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    attached = [
        (a.name, str(a.inputs.get("policyArn", ""))) for a in by_type(resources, ATTACHMENT)
    ]
    attached += [
        (role.name, arn)
        for role in by_type(resources, ROLE)
        for arn in _as_list(role.inputs.get("managedPolicyArns"))
    ]
    for holder, arn in attached:
        policy = arn.rsplit("/", 1)[-1]
        if policy in _ADMIN_POLICIES:
            yield fail(f"role has the managed policy {policy}", holder)


def _public_invoke(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    if plan.entry.auth == "none":
        return
    for route in by_type(resources, ROUTE):
        if route.inputs.get("authorizationType", "NONE") == "NONE":
            yield fail(f"route {route.inputs.get('routeKey')} has no authorization", route.name)
    # A function that checks the spec's JWT itself (svai's streaming function: function URLs
    # have no JWT authorizer) may sit behind an open URL; nothing else may.
    checks_jwt = {
        f.inputs.get("name")
        for f in by_type(resources, FUNCTION)
        if plan.entry.auth == "jwt"
        and get_path(f.inputs, "environment.variables.SVAI_AUTH") == "jwt"
    }
    for url in by_type(resources, FUNCTION_URL):
        open_url = url.inputs.get("authorizationType") == "NONE"
        if open_url and url.inputs.get("functionName") not in checks_jwt:
            yield fail("function URL has no authorization", url.name)
    for permission in by_type(resources, PERMISSION):
        anyone = permission.inputs.get("principal") == "*"
        if anyone and permission.inputs.get("function") not in checks_jwt:
            yield fail("anyone may invoke the function", permission.name)


def _alarms(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    alarms = by_type(resources, ALARM)
    has_p99 = any(a.inputs.get("extendedStatistic") == "p99" for a in alarms)
    error_metrics = {"Errors", "Invocation5XXErrors"}
    has_errors = any(
        a.inputs.get("metricName") in error_metrics
        or any(
            get_path(q, "metric.metricName") in error_metrics
            for q in a.inputs.get("metricQueries") or []
        )
        for a in alarms
    )
    if not has_p99:
        yield fail("no alarm on p99 latency")
    if not has_errors:
        yield fail("no alarm on the error rate")
    if plan.mode == "async":
        consumed = {str(m.inputs.get("eventSourceArn")) for m in by_type(resources, ESM)}
        dlqs = {
            str(q.inputs.get("name") or q.name)
            for q in by_type(resources, QUEUE)
            if mock_arn(q) not in consumed
        }
        watched = {
            str(get_path(a.inputs, "dimensions.QueueName"))
            for a in alarms
            if a.inputs.get("metricName") == "ApproximateNumberOfMessagesVisible"
        }
        if not dlqs & watched:
            yield fail("no alarm on the dead-letter queue's depth")


def _concurrency_guard(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for function in by_type(resources, FUNCTION):
        reserved = function.inputs.get("reservedConcurrentExecutions")
        if not isinstance(reserved, int) or reserved < 1:
            yield fail(
                "function has no reserved concurrency (no cost/overload guard)", function.name
            )


def _public_access_block(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    blocked = _per_bucket(
        resources, BUCKET_PAB, lambda r: all(r.inputs.get(f) is True for f in flags)
    )
    yield from _buckets_outside(
        resources, blocked, "bucket does not block public access (all four settings)"
    )


def _versioning(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    enabled = _per_bucket(
        resources,
        BUCKET_VERSIONING,
        lambda r: get_path(r.inputs, "versioningConfiguration.status") == "Enabled",
    )
    yield from _buckets_outside(resources, enabled, "bucket versioning is not enabled")


def _key_rotation(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for key in by_type(resources, KEY):
        if key.inputs.get("enableKeyRotation") is not True:
            yield fail("KMS key rotation is off", key.name)


def _denies_plain_http(policy: RecordedResource) -> bool:
    return any(
        s.get("Effect") == "Deny"
        and str(get_path(s, "Condition.Bool.aws:SecureTransport")).lower() == "false"
        for s in iter_statements(policy.inputs.get("policy"))
    )


def _tls_only(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    enforced = _per_bucket(resources, BUCKET_POLICY, _denies_plain_http)
    yield from _buckets_outside(
        resources, enforced, "bucket policy does not deny requests without TLS"
    )


def _topic_encryption(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for topic in by_type(resources, TOPIC):
        if not topic.inputs.get("kmsMasterKeyId"):
            yield fail("SNS topic is not encrypted", topic.name)


def _secret_values(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    refs = {s.ref for s in plan.secrets}
    for version in by_type(resources, SECRET_VERSION):
        yield fail("a secret value is written by the program (it would sit in state)", version.name)
    for function in by_type(resources, FUNCTION):
        variables = get_path(function.inputs, "environment.variables", {}) or {}
        for key, value in sorted(variables.items()):
            if value == SECRET:
                yield fail(f"environment variable {key} holds a secret value", function.name)
            elif any(word in key.upper() for word in _SECRETISH) and value not in refs:
                yield fail(
                    f"environment variable {key} looks like a secret but is not a "
                    "Secrets Manager reference",
                    function.name,
                )


def _env_encryption(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for function in by_type(resources, FUNCTION):
        if get_path(function.inputs, "environment.variables") and not function.inputs.get(
            "kmsKeyArn"
        ):
            yield fail("function environment is not encrypted with a KMS key", function.name)


def _pitr(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for table in by_type(resources, TABLE):
        if get_path(table.inputs, "pointInTimeRecovery.enabled") is not True:
            yield fail("table has no point-in-time recovery", table.name)


def _batch_failures(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for mapping in by_type(resources, ESM):
        if "ReportBatchItemFailures" not in (mapping.inputs.get("functionResponseTypes") or []):
            yield fail(
                "SQS trigger does not report partial batch failures (a failed item "
                "retries the whole batch)",
                mapping.name,
            )


def _repo_immutable(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for repo in by_type(resources, REPOSITORY):
        if repo.inputs.get("imageTagMutability") != "IMMUTABLE":
            yield fail("image tags are mutable (a version tag could be overwritten)", repo.name)


def _repo_scan(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for repo in by_type(resources, REPOSITORY):
        if get_path(repo.inputs, "imageScanningConfiguration.scanOnPush") is not True:
            yield fail("images are not scanned on push", repo.name)


def _repo_kms(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for repo in by_type(resources, REPOSITORY):
        if get_path(repo.inputs, "encryptionConfigurations.0.encryptionType") != "KMS":
            yield fail("image repository is not encrypted with KMS", repo.name)


def _endpoint_kms(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for config in by_type(resources, ENDPOINT_CONFIG):
        variants = config.inputs.get("productionVariants") or []
        # Serverless variants cannot take a key (SageMaker encrypts them itself).
        if any("instanceType" in v for v in variants) and not config.inputs.get("kmsKeyArn"):
            yield fail("endpoint volumes are not encrypted with a KMS key", config.name)


def _access_logs(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for stage in by_type(resources, STAGE):
        if not get_path(stage.inputs, "accessLogSettings.destinationArn"):
            yield fail("API stage has no access logs", stage.name)


def _throttling(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for stage in by_type(resources, STAGE):
        settings = stage.inputs.get("defaultRouteSettings") or {}
        if not settings.get("throttlingRateLimit") or not settings.get("throttlingBurstLimit"):
            yield fail("API stage has no throttling (rate and burst)", stage.name)


def _budget(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    budgets = by_type(resources, BUDGET)
    if plan.budget is not None and not any(b.inputs.get("notifications") for b in budgets):
        yield fail("no budget with notifications")


def _tracing(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for function in by_type(resources, FUNCTION):
        if get_path(function.inputs, "tracingConfig.mode") != "Active":
            yield fail("function has no active X-Ray tracing", function.name)


def _tags(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    for resource in resources:
        if resource.type not in TAGGABLE:
            continue
        tags = resource.inputs.get("tags") or {}
        if tags.get("svai-model-version") != plan.model_version:
            yield fail("resource is not tagged with the model version", resource.name)


def _warm_pool(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    warm = {
        str(r.inputs.get("functionName"))
        for r in by_type(
            resources, "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
        )
        if int(r.inputs.get("provisionedConcurrentExecutions", 0)) > 0
    }
    for service in plan.services:
        if service.compute.kind != "faas" or service.compute.min_instances <= 0:
            continue
        name = f"{plan.name}-{service.name}"[:64]
        if name not in warm:
            yield fail(
                f"service {service.name} asks for {service.compute.min_instances} warm "
                "instances but has no provisioned concurrency",
                name,
            )


def _rule(
    number: int,
    severity: Severity,
    title: str,
    check: Callable[[Resources, DeploymentPlan], Iterable[Finding]],
    checkov: str | None = None,
    hint: str = "",  # pragma: no mutate (read at import, as the body below)
) -> Rule:
    # Runs while the module is imported, before mutmut switches a mutant on: no test could see
    # a change here. The rule-table tests check what it builds (ids, clouds, Checkov ids).
    # pragma: no mutate block
    return Rule(f"SVAI_AWS_{number:03d}", severity, title, check, checkov, hint, ("aws",))


def _private_network(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    if plan.private_network and not any(
        f.inputs.get("vpcConfig") for f in by_type(resources, FUNCTION)
    ):
        yield fail(
            "security.network.private is set, but the AWS backend does not put functions or "
            "endpoints in a VPC yet: they reach S3, DynamoDB, SQS, KMS and Secrets Manager "
            "over AWS's public endpoints (IAM-authenticated, TLS only)"
        )


def _egress(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    # Built: every function in a VPC with no NAT gateway, its security groups sending nowhere
    # but the VPC and its endpoints, and the S3 endpoint there (the model fetch's path).
    open_egress = any(
        "0.0.0.0/0" in (rule.get("cidrBlocks") or [])
        for group in by_type(resources, SECURITY_GROUP)
        for rule in group.inputs.get("egress", []) or []
    )
    s3 = any(
        str(e.inputs.get("serviceName", "")).endswith(".s3")
        for e in by_type(resources, VPC_ENDPOINT)
    )
    built = (
        all(f.inputs.get("vpcConfig") for f in by_type(resources, FUNCTION))
        and s3
        and not open_egress
        and not by_type(resources, NAT_GATEWAY)
    )
    if not built:
        yield from egress_not_built(
            plan,
            False,
            "the Lambda functions are not all in a VPC with no NAT gateway, HTTPS only to VPC "
            "endpoints and an S3 gateway endpoint",
        )
    elif _serverless(resources):
        yield from egress_not_built(
            plan,
            False,
            "SageMaker Serverless Inference takes no VPC configuration (nor network isolation), "
            "so a serverless endpoint's container keeps its internet access; a real-time "
            "endpoint (aws.sagemaker.realtime) runs in the VPC",
        )
    elif not all(m.inputs.get("vpcConfig") for m in by_type(resources, SAGEMAKER_MODEL)):
        yield from egress_not_built(
            plan, False, "the SageMaker models are not all in the VPC (no vpcConfig)"
        )


def _serverless(resources: Resources) -> list[RecordedResource]:
    return [
        c
        for c in by_type(resources, ENDPOINT_CONFIG)
        if any(v.get("serverlessConfig") for v in c.inputs.get("productionVariants", []) or [])
    ]


def _job_size(resources: Resources, plan: DeploymentPlan) -> Iterator[Finding]:
    # Built: a lifecycle rule expires the stored bodies, and the front knows the bucket and
    # SQS's limit (without the limit it never claim-checks).
    expiring = any(
        get_path(rule, "filter.prefix") == PREFIX
        for config in by_type(resources, LIFECYCLE)
        for rule in config.inputs.get("rules", [])
    )
    fronts = [
        f
        for f in by_type(resources, FUNCTION)
        if {PAYLOAD_BUCKET_ENV, MESSAGE_BYTES_ENV}
        <= set(get_path(f.inputs, "environment.variables") or {})
    ]
    if not (expiring and fronts):
        yield from oversized_jobs(plan, message_limit("aws"), "SQS")


RULES: tuple[Rule, ...] = (
    _rule(1, "high", "SQS queues are encrypted", _encrypted_queues, "CKV_AWS_27"),
    _rule(2, "high", "S3 buckets default to SSE-KMS", _bucket_encryption, "CKV_AWS_145"),
    _rule(3, "high", "DynamoDB tables are encrypted with KMS", _table_encryption, "CKV_AWS_119"),
    _rule(4, "medium", "log groups are encrypted with KMS", _log_encryption, "CKV_AWS_158"),
    _rule(5, "medium", "log groups have a retention", _log_retention, "CKV_AWS_66"),
    _rule(6, "high", "queues redrive to a dead-letter queue", _dlq_redrive, None),
    _rule(
        7,
        "high",
        "queue visibility timeout >= 6x the consumer's timeout",
        _visibility,
        None,
        "raise visibility_timeout_seconds or lower the worker timeout",
    ),
    _rule(8, "medium", "maxReceiveCount >= 5", _receive_count, None),
    _rule(9, "high", "no wildcard IAM actions", _wildcard_actions, "CKV_AWS_63"),
    _rule(
        10,
        "high",
        'no Resource "*" except for actions without resource-level permissions',
        _wildcard_resources,
        "CKV_AWS_355",
    ),
    _rule(11, "high", "no administrator managed policies", _admin_policies, "CKV_AWS_274"),
    _rule(
        12,
        "high",
        "no unauthenticated invoke unless the spec says auth: none",
        _public_invoke,
        "CKV_AWS_309",
        "set api.auth to iam or jwt",
    ),
    _rule(13, "medium", "alarms on p99 latency, errors and (async) DLQ depth", _alarms, None),
    _rule(14, "medium", "functions have a concurrency guard", _concurrency_guard, "CKV_AWS_115"),
    _rule(15, "high", "buckets block all public access", _public_access_block, "CKV2_AWS_6"),
    _rule(16, "medium", "bucket versioning is enabled", _versioning, "CKV_AWS_21"),
    _rule(17, "medium", "KMS keys rotate", _key_rotation, "CKV_AWS_7"),
    _rule(18, "medium", "buckets deny requests without TLS", _tls_only, None),
    _rule(19, "medium", "SNS topics are encrypted", _topic_encryption, "CKV_AWS_26"),
    _rule(
        20,
        "high",
        "secret values never in code, config or state",
        _secret_values,
        "CKV_AWS_45",
        "reference the secret (security.secrets) and read it at run time",
    ),
    _rule(21, "medium", "function environments are KMS-encrypted", _env_encryption, "CKV_AWS_173"),
    _rule(22, "low", "tables have point-in-time recovery", _pitr, "CKV_AWS_28"),
    _rule(23, "medium", "SQS triggers report partial batch failures", _batch_failures, None),
    _rule(24, "low", "image tags are immutable", _repo_immutable, "CKV_AWS_51"),
    _rule(25, "low", "images are scanned on push", _repo_scan, "CKV_AWS_163"),
    _rule(26, "medium", "image repositories are KMS-encrypted", _repo_kms, "CKV_AWS_136"),
    _rule(27, "medium", "endpoint volumes are KMS-encrypted", _endpoint_kms, "CKV_AWS_98"),
    _rule(28, "medium", "API stages write access logs", _access_logs, "CKV_AWS_76"),
    _rule(29, "medium", "API stages throttle", _throttling, None),
    _rule(30, "low", "a budget with notifications exists", _budget, None),
    _rule(31, "low", "functions trace with X-Ray", _tracing, "CKV_AWS_50"),
    _rule(32, "low", "taggable resources carry the model version tag", _tags, None),
    _rule(33, "medium", "recommended warm pools are provisioned", _warm_pool, None),
    _rule(
        34,
        "medium",
        "the private networking the spec asks for is in place",
        _private_network,
        "CKV_AWS_117",
        "deploy this target without security.network.private, or attach the functions to "
        "your VPC (with endpoints for S3, DynamoDB, SQS, KMS, Secrets Manager) yourself",
    ),
    _rule(
        35,
        "high",
        "the outbound restriction the spec declares is built",
        _egress,
        "CKV_AWS_117",
        "deploy this target with security.network.egress: all, or pin a real-time endpoint "
        "(overrides.offering: aws.sagemaker.realtime) instead of a serverless one, or deploy "
        "to a cloud that builds it",
    ),
    _rule(
        36,
        "high",
        "async payloads fit the queue's message limit",
        _job_size,
        None,
        "lower api.max_payload to the queue's limit",
    ),
)
"""Every AWS rule, in id order."""
