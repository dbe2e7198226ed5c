"""The AWS backend under Pulumi mocks: what each deployment shape records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from svai.backends.aws import AwsBackend
from svai.backends.base import RecordedResource
from svai.backends.preview import record
from svai.backends.rules import by_type, evaluate, high_findings, iter_statements
from svai.ir import DeploymentPlan
from tests.backends.plans import (
    CANARY_SECRET,
    PREVIOUS_VERSION,
    SECRET_REFS,
    VERSION,
    async_plan,
    sync_plan,
)

Recorded = tuple[RecordedResource, ...]

PLANS: dict[str, DeploymentPlan] = {
    "sync-zip": sync_plan("aws", "aws.lambda.zip"),
    "sync-image": sync_plan("aws", "aws.lambda.image", min_instances=0),
    "sync-serverless": sync_plan("aws", "aws.sagemaker.serverless", min_instances=0),
    "sync-realtime": sync_plan("aws", "aws.sagemaker.realtime"),
    "async-zip": async_plan("aws", "aws.lambda.zip"),
    "async-realtime": async_plan("aws", "aws.sagemaker.realtime", min_instances=1),
}


def _record(plan: DeploymentPlan, backend: AwsBackend | None = None) -> Recorded:
    chosen = backend or AwsBackend()
    return record(lambda: chosen.program(plan))


@pytest.fixture(scope="module")
def recorded() -> dict[str, Recorded]:
    return {key: _record(plan) for key, plan in PLANS.items()}


def one(
    resources: Sequence[RecordedResource], token: str, name: str | None = None
) -> RecordedResource:
    found = [r for r in by_type(resources, token) if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def statements_of(resources: Sequence[RecordedResource], policy_name: str) -> list[dict[str, Any]]:
    policy = one(resources, "aws:iam/rolePolicy:RolePolicy", policy_name)
    return list(iter_statements(policy.inputs["policy"]))


@pytest.mark.parametrize("key", sorted(PLANS))
def test_defaults_give_no_high_findings(recorded: dict[str, Recorded], key: str) -> None:
    findings = evaluate(AwsBackend().rules(), recorded[key], PLANS[key])
    assert high_findings(findings) == []
    assert findings == []


def test_sync_zip_lambda_behind_an_http_api(recorded: dict[str, Recorded]) -> None:
    resources = recorded["sync-zip"]
    fn = one(resources, "aws:lambda/function:Function")
    assert fn.name == "sentiment-api-fn" and fn.parent == "sentiment-api"
    assert fn.component == "sentiment-api"
    assert fn.inputs["packageType"] == "Zip" and fn.inputs["runtime"] == "python3.12"
    assert fn.inputs["s3Key"] == f"sentiment/{VERSION}/lambda/api.zip"
    assert fn.inputs["reservedConcurrentExecutions"] == 20
    assert fn.inputs["publish"] is True
    assert fn.inputs["timeout"] == 30 and fn.inputs["memorySize"] == 3072
    alias = one(resources, "aws:lambda/alias:Alias")
    assert alias.inputs["name"] == "live" and alias.inputs["functionVersion"] == "1"
    assert "routingConfig" not in alias.inputs
    warm = one(resources, "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
    assert warm.inputs == {
        "functionName": "sentiment-api",
        "provisionedConcurrentExecutions": 1,
        "qualifier": "live",
    }
    route = one(resources, "aws:apigatewayv2/route:Route")
    assert route.inputs["routeKey"] == "POST /predict"
    assert route.inputs["authorizationType"] == "AWS_IAM"
    integration = one(resources, "aws:apigatewayv2/integration:Integration")
    assert integration.inputs["integrationUri"].endswith("function:sentiment-api:live/invocations")
    stage = one(resources, "aws:apigatewayv2/stage:Stage")
    assert stage.inputs["defaultRouteSettings"]["throttlingRateLimit"] == 50
    assert stage.inputs["defaultRouteSettings"]["throttlingBurstLimit"] == 100
    permission = one(resources, "aws:lambda/permission:Permission")
    assert permission.inputs["principal"] == "apigateway.amazonaws.com"
    assert permission.inputs["qualifier"] == "live"
    assert permission.inputs["function"] == "sentiment-api"


def test_no_warm_pool_when_min_instances_is_zero(recorded: dict[str, Recorded]) -> None:
    token = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
    assert by_type(recorded["sync-image"], token) == []


def test_image_lambda_pulls_the_versioned_image(recorded: dict[str, Recorded]) -> None:
    resources = recorded["sync-image"]
    fn = one(resources, "aws:lambda/function:Function")
    assert fn.inputs["packageType"] == "Image"
    assert (
        fn.inputs["imageUri"]
        == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/svai/sentiment:{VERSION}"
    )
    assert "runtime" not in fn.inputs and "handler" not in fn.inputs
    repo = one(resources, "aws:ecr/repository:Repository")
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    assert (
        by_type(resources, "aws:s3/bucketObjectv2:BucketObjectv2")[0]
        .inputs["key"]
        .endswith("model.tar.gz")
    )


def test_artifact_bucket_is_locked_down(recorded: dict[str, Recorded]) -> None:
    resources = recorded["sync-zip"]
    bucket = one(resources, "aws:s3/bucket:Bucket")
    bucket_id = f"{bucket.name}-id"
    pab = one(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert pab.inputs == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "bucket": bucket_id,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    versioning = one(resources, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    sse = one(
        resources,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"
    assert default["kmsMasterKeyId"] == "arn:aws:kms:us-east-1:123456789012:sentiment-key"
    policy = one(resources, "aws:s3/bucketPolicy:BucketPolicy")
    (deny,) = iter_statements(policy.inputs["policy"])
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    key = one(resources, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True


def test_customer_key_replaces_the_created_key() -> None:
    cmk = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    resources = _record(sync_plan("aws", customer_key=cmk))
    assert by_type(resources, "aws:kms/key:Key") == []
    fn = one(resources, "aws:lambda/function:Function")
    assert fn.inputs["kmsKeyArn"] == cmk
    assert all(
        g.inputs["kmsKeyId"] == cmk for g in by_type(resources, "aws:cloudwatch/logGroup:LogGroup")
    )


def test_each_role_gets_only_its_own_narrow_permissions(recorded: dict[str, Recorded]) -> None:
    resources = recorded["async-zip"]
    roles = by_type(resources, "aws:iam/role:Role")
    assert sorted(r.name for r in roles) == [
        "summarize-status-role",
        "summarize-submit-role",
        "summarize-worker-role",
    ]
    submit = {s["Sid"]: s for s in statements_of(resources, "summarize-submit-policy")}
    assert submit["QueueSendQueue"] == {
        "Sid": "QueueSendQueue",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": "arn:aws:sqs:us-east-1:123456789012:summarize-jobs",
    }
    assert "SecretReadSecretHfToken" not in submit  # only api/worker read the secret
    status = {s["Sid"]: s for s in statements_of(resources, "summarize-status-policy")}
    assert status["StoreReadStoreResults"]["Action"] == ["dynamodb:GetItem", "dynamodb:Query"]
    assert "StoreWriteStoreResults" not in status
    worker = {s["Sid"]: s for s in statements_of(resources, "summarize-worker-policy")}
    assert worker["SecretReadSecretHfToken"]["Resource"] == SECRET_REFS["aws"]
    assert worker["SecretReadSecretHfToken"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert worker["ArtifactReadArtifact"]["Resource"] == (
        f"arn:aws:s3:::summarize-artifacts/summarize/{VERSION}/model.tar.gz"
    )
    metrics = worker["MetricsWriteMetrics"]
    assert metrics["Resource"] == "*"
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "svai/summarize"}}
    logs = worker["LogsWriteLogsWorker"]["Resource"]
    assert logs == [
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/summarize-worker",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/summarize-worker:*",
    ]
    for policy in by_type(resources, "aws:iam/rolePolicy:RolePolicy"):
        for statement in iter_statements(policy.inputs["policy"]):
            assert all("*" not in action for action in statement["Action"])


def test_secret_is_a_reference_in_env_and_never_a_value(recorded: dict[str, Recorded]) -> None:
    for key, resources in recorded.items():
        dumped = json.dumps([dict(r.inputs) for r in resources], sort_keys=True)
        assert CANARY_SECRET not in dumped, key
        assert by_type(resources, "aws:secretsmanager/secretVersion:SecretVersion") == []
    fn = one(recorded["sync-zip"], "aws:lambda/function:Function")
    assert fn.inputs["environment"]["variables"]["SVAI_SECRET_HF_TOKEN"] == SECRET_REFS["aws"]


def test_secret_given_by_name_is_granted_on_its_arn_pattern() -> None:
    import dataclasses

    from svai.ir import SecretRef

    plan = dataclasses.replace(sync_plan("aws"), secrets=(SecretRef("HF_TOKEN", "svai/hf-token"),))
    resources = _record(plan)
    statements = {s["Sid"]: s for s in statements_of(resources, "sentiment-api-policy")}
    assert statements["SecretReadSecretHfToken"]["Resource"] == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:svai/hf-token-??????"
    )


def test_async_queue_dlq_worker_and_results(recorded: dict[str, Recorded]) -> None:
    resources = recorded["async-zip"]
    dlq = one(resources, "aws:sqs/queue:Queue", "summarize-dlq")
    jobs = one(resources, "aws:sqs/queue:Queue", "summarize-jobs")
    worker = one(resources, "aws:lambda/function:Function", "summarize-worker-fn")
    assert jobs.inputs["visibilityTimeoutSeconds"] >= 6 * worker.inputs["timeout"]
    redrive = json.loads(jobs.inputs["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:summarize-dlq",
        "maxReceiveCount": 5,
    }
    assert dlq.inputs["kmsMasterKeyId"] and jobs.inputs["kmsMasterKeyId"]
    trigger = one(resources, "aws:lambda/eventSourceMapping:EventSourceMapping")
    assert trigger.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (
        trigger.inputs["functionName"]
        == "arn:aws:lambda:us-east-1:123456789012:function:summarize-worker:live"
    )
    assert trigger.inputs["eventSourceArn"] == "arn:aws:sqs:us-east-1:123456789012:summarize-jobs"
    assert trigger.inputs["batchSize"] == 10
    table = one(resources, "aws:dynamodb/table:Table")
    assert table.inputs["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert table.inputs["serverSideEncryption"]["enabled"] is True
    routes = sorted(
        r.inputs["routeKey"] for r in by_type(resources, "aws:apigatewayv2/route:Route")
    )
    assert routes == ["GET /jobs/{id}", "POST /jobs"]
    submit = one(resources, "aws:lambda/function:Function", "summarize-submit-fn")
    env = submit.inputs["environment"]["variables"]
    assert (
        env["SVAI_QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/summarize-jobs"
    )
    assert env["SVAI_RESULTS_TABLE"] == "summarize-results"


def test_async_alarms_watch_the_dlq_and_queue_age(recorded: dict[str, Recorded]) -> None:
    alarms = {
        a.name: a for a in by_type(recorded["async-zip"], "aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert sorted(alarms) == [
        "summarize-cold-start-rate",
        "summarize-dlq-depth",
        "summarize-error-rate",
        "summarize-latency-p95",
        "summarize-latency-p99",
        "summarize-queue-age",
        "summarize-throttles",
    ]
    dlq = alarms["summarize-dlq-depth"].inputs
    assert dlq["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["dimensions"] == {"QueueName": "summarize-dlq"}
    age = alarms["summarize-queue-age"].inputs
    assert age["metricName"] == "ApproximateAgeOfOldestMessage" and age["threshold"] == 300
    p99 = alarms["summarize-latency-p99"].inputs
    assert p99["extendedStatistic"] == "p99" and p99["threshold"] == 1000
    assert p99["dimensions"] == {
        "FunctionName": "summarize-worker",
        "Resource": "summarize-worker:live",
    }
    errors = alarms["summarize-error-rate"].inputs
    assert [q["id"] for q in errors["metricQueries"]] == ["errors", "calls", "rate"]
    assert errors["threshold"] == 0.01


def test_monitoring_dashboard_and_budget(recorded: dict[str, Recorded]) -> None:
    resources = recorded["sync-zip"]
    dashboard = one(resources, "aws:cloudwatch/dashboard:Dashboard")
    widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
    alarms = by_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    assert widgets[0]["type"] == "alarm" and len(widgets[0]["properties"]["alarms"]) == len(alarms)
    assert len(widgets) == 1 + len(alarms)
    budget = one(resources, "aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "200.00" and budget.inputs["timeUnit"] == "MONTHLY"
    kinds = [(n["threshold"], n["notificationType"]) for n in budget.inputs["notifications"]]
    assert kinds == [(80, "FORECASTED"), (100, "ACTUAL")]
    assert budget.inputs["notifications"][0]["subscriberEmailAddresses"] == ["ops@example.com"]
    topic = one(resources, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"]


def test_every_taggable_resource_carries_the_model_version(recorded: dict[str, Recorded]) -> None:
    from svai.backends.aws.rules import TAGGABLE

    for resources in recorded.values():
        tagged = [r for r in resources if r.type in TAGGABLE]
        assert len(tagged) > 10
        assert all(r.inputs["tags"]["svai-model-version"] == VERSION for r in tagged)


def test_log_groups_have_retention_and_kms(recorded: dict[str, Recorded]) -> None:
    for resources in recorded.values():
        groups = by_type(resources, "aws:cloudwatch/logGroup:LogGroup")
        assert groups
        assert all(g.inputs["retentionInDays"] == 30 and g.inputs["kmsKeyId"] for g in groups)


def test_sagemaker_serverless_endpoint(recorded: dict[str, Recorded]) -> None:
    resources = recorded["sync-serverless"]
    config = one(resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    (variant,) = config.inputs["productionVariants"]
    assert variant["serverlessConfig"] == {"maxConcurrency": 20, "memorySizeInMb": 4096}
    assert "kmsKeyArn" not in config.inputs
    model = one(resources, "aws:sagemaker/model:Model")
    assert model.inputs["primaryContainer"]["modelDataUrl"] == (
        f"s3://sentiment-artifacts/sentiment/{VERSION}/model.tar.gz"
    )
    assert by_type(resources, "aws:appautoscaling/target:Target") == []
    # The route reaches the endpoint through a proxy function allowed to invoke only it.
    proxy = {s["Sid"]: s for s in statements_of(resources, "sentiment-api-proxy-policy")}
    assert proxy["ModelInvokeServiceApi"] == {
        "Sid": "ModelInvokeServiceApi",
        "Effect": "Allow",
        "Action": ["sagemaker:InvokeEndpoint"],
        "Resource": "arn:aws:sagemaker:us-east-1:123456789012:sentiment-api",
    }
    assert "SecretReadSecretHfToken" not in proxy
    endpoint_role = {s["Sid"] for s in statements_of(resources, "sentiment-api-policy")}
    assert "SecretReadSecretHfToken" in endpoint_role and "ArtifactReadArtifact" in endpoint_role


def test_sagemaker_serverless_with_warm_pool_scales_provisioned_concurrency() -> None:
    resources = _record(sync_plan("aws", "aws.sagemaker.serverless", min_instances=2))
    config = one(resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    assert config.inputs["productionVariants"][0]["serverlessConfig"]["provisionedConcurrency"] == 2
    target = one(resources, "aws:appautoscaling/target:Target")
    assert target.inputs["scalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"


def test_sagemaker_realtime_endpoint_autoscales(recorded: dict[str, Recorded]) -> None:
    resources = recorded["sync-realtime"]
    config = one(resources, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    (variant,) = config.inputs["productionVariants"]
    assert variant["instanceType"] == "ml.c6i.large" and variant["initialInstanceCount"] == 1
    assert config.inputs["kmsKeyArn"]
    target = one(resources, "aws:appautoscaling/target:Target")
    assert target.inputs["resourceId"] == "endpoint/sentiment-api/variant/live"
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 20)
    policy = one(resources, "aws:appautoscaling/policy:Policy")
    spec = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert spec["predefinedMetricSpecification"]["predefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )
    p99 = one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "sentiment-latency-p99")
    assert p99.inputs["metricName"] == "ModelLatency" and p99.inputs["threshold"] == 1_000_000


def test_async_realtime_worker_proxy_consumes_the_queue(recorded: dict[str, Recorded]) -> None:
    resources = recorded["async-realtime"]
    trigger = one(resources, "aws:lambda/eventSourceMapping:EventSourceMapping")
    assert trigger.inputs["functionName"].endswith("function:summarize-worker-proxy:live")
    proxy = {s["Sid"] for s in statements_of(resources, "summarize-worker-proxy-policy")}
    assert {"QueueConsumeQueue", "ModelInvokeServiceWorker", "StoreWriteStoreResults"} <= proxy
    assert "QueueConsumeQueue" not in {
        s["Sid"] for s in statements_of(resources, "summarize-worker-policy")
    }


def test_canary_split_routes_weighted_traffic_on_the_alias() -> None:
    plan = sync_plan("aws", canary=True)
    resources = _record(plan, AwsBackend(previous_lambda_versions={"api": "7"}))
    alias = one(resources, "aws:lambda/alias:Alias")
    assert alias.inputs["routingConfig"] == {"additionalVersionWeights": {"7": 0.9}}
    assert plan.rollout.split[0].version == PREVIOUS_VERSION


def test_jwt_auth_uses_a_jwt_authorizer() -> None:
    resources = _record(sync_plan("aws", auth="jwt"))
    authorizer = one(resources, "aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer.inputs["jwtConfiguration"] == {
        "audiences": ["svai-clients"],
        "issuer": "https://issuer.example.com/",
    }
    route = one(resources, "aws:apigatewayv2/route:Route")
    assert route.inputs["authorizationType"] == "JWT"
    assert route.inputs["authorizerId"] == "sentiment-http-jwt-id"


def test_api_key_auth_is_refused_with_a_clear_message() -> None:
    from svai.errors import UsageError

    with pytest.raises(UsageError, match="api-key"):
        _record(sync_plan("aws", auth="api-key"))


def test_recording_twice_gives_identical_resources() -> None:
    plan = async_plan("aws")
    assert _record(plan) == _record(plan)


def test_every_resource_belongs_to_a_component(recorded: dict[str, Recorded]) -> None:
    for resources in recorded.values():
        assert all(r.component is not None for r in resources)
        components = {r.name: r.type for r in resources if r.parent is None}
        assert all(t.startswith("svai:aws:") for t in components.values())


@pytest.mark.parametrize("key", ["sync-zip", "async-realtime", "sync-serverless"])
def test_registration_by_token_matches_the_typed_pulumi_aws_classes(
    recorded: dict[str, Recorded], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend registers resources by type token (no pulumi-aws class imports); the engine
    must receive exactly what pulumi-aws's own classes would send for the same arguments."""
    import warnings

    from svai.backends.aws import components
    from svai.backends.tokens import create_with_sdk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        monkeypatch.setattr(components, "create", create_with_sdk)
        typed = _record(PLANS[key])
    assert typed == recorded[key]


def test_recording_an_aws_plan_imports_no_pulumi_aws_classes() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from svai.backends.preview import record\n"
        "from svai.backends.registry import get_backend\n"
        "from tests.backends.plans import async_plan\n"
        "b = get_backend('aws'); p = async_plan('aws')\n"
        "assert len(record(lambda: b.program(p))) > 50\n"
        "print(sorted(m for m in sys.modules if m.startswith('pulumi_aws')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_recording_is_identical_across_processes_and_hash_seeds() -> None:
    import os
    import subprocess
    import sys

    code = (
        "import json\n"
        "from svai.backends.preview import record\n"
        "from svai.backends.registry import get_backend\n"
        "from tests.backends.plans import async_plan\n"
        "b = get_backend('aws'); p = async_plan('aws')\n"
        "print(json.dumps([[r.type, r.name, r.parent, r.component, r.inputs]"
        " for r in record(lambda: b.program(p))]))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert len(json.loads(outputs.pop())) > 50


def test_container_offerings_are_refused_with_a_clear_message() -> None:
    from svai.errors import UsageError

    plan = sync_plan("aws", "aws.ecs.fargate", "container")
    with pytest.raises(UsageError, match=r"aws\.ecs\.fargate"):
        _record(plan)
