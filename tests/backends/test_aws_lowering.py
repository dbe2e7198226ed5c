"""Pure AWS lowering: plan -> argument dicts and IAM statements, without Pulumi."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from svai.backends.aws import arguments as args
from svai.backends.aws.policy import ACTIONS, RESOURCE_FREE_ACTIONS, statements
from svai.errors import UsageError
from svai.ir import Identity, Permission
from tests.backends.plans import SECRET_REFS, async_plan, sync_plan


def test_lowering_modules_do_not_import_pulumi() -> None:
    code = (
        "import sys, svai.backends.aws.lowering, svai.backends.aws.arguments, "
        "svai.backends.aws.policy; "
        "print(any(m == 'pulumi' or m.startswith('pulumi.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_neutral_action_maps_to_narrow_iam_actions() -> None:
    for action, iam in ACTIONS.items():
        assert iam, action
        assert all("*" not in a and ":" in a for a in iam), action
        assert list(iam) == sorted(iam)


def test_statements_grant_each_permission_on_its_own_arn() -> None:
    identity = Identity(
        "worker",
        (
            Permission("queue.consume", "queue"),
            Permission("store.write", "store:results"),
            Permission("secret.read", "secret:HF_TOKEN"),
            Permission("metrics.write", "metrics"),
            Permission("logs.write", "logs:worker"),
            Permission("queue.consume", "queue"),
        ),
    )
    arns = {
        "queue": "arn:q",
        "store:results": "arn:t",
        "secret:HF_TOKEN": "arn:s",
        "logs:worker": ["arn:l", "arn:l:*"],
    }
    result = statements(identity, arns, namespace="svai/x")
    assert [s["Sid"] for s in result] == [
        "QueueConsumeQueue",
        "StoreWriteStoreResults",
        "SecretReadSecretHfToken",
        "MetricsWriteMetrics",
        "LogsWriteLogsWorker",
    ]
    assert result[0]["Resource"] == "arn:q"
    assert result[2] == {
        "Sid": "SecretReadSecretHfToken",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": "arn:s",
    }
    assert result[3]["Resource"] == "*"
    assert set(result[3]["Action"]) <= RESOURCE_FREE_ACTIONS
    assert result[3]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "svai/x"}}
    assert result[4]["Resource"] == ["arn:l", "arn:l:*"]


def test_statements_refuse_a_resource_without_an_arn() -> None:
    with pytest.raises(KeyError):
        statements(Identity("api", (Permission("queue.send", "queue"),)), {}, namespace="n")


def test_function_args_zip_with_guard_and_secret_reference() -> None:
    plan = sync_plan("aws", max_instances=7)
    api = plan.service("api")
    fn = args.function_args(
        plan,
        api,
        role_arn="arn:role",
        key_arn="arn:key",
        log_group="/aws/lambda/sentiment-api",
        code_bucket="bucket",
        code_key="k.zip",
        environment={"SVAI_SECRET_HF_TOKEN": SECRET_REFS["aws"]},
    )
    assert fn["reserved_concurrent_executions"] == 7
    assert fn["package_type"] == "Zip" and fn["handler"] == "svai_handler.handler"
    assert fn["s3_bucket"] == "bucket" and fn["s3_key"] == "k.zip"
    assert fn["environment"]["variables"]["SVAI_SECRET_HF_TOKEN"] == SECRET_REFS["aws"]
    assert list(fn["environment"]["variables"]) == sorted(fn["environment"]["variables"])
    assert fn["tags"]["svai-model-version"] == plan.model_version
    assert fn["tracing_config"] == {"mode": "Active"}


def test_function_args_refuse_timeouts_beyond_lambda() -> None:
    plan = async_plan("aws", worker_timeout_s=1200)
    with pytest.raises(UsageError, match="900"):
        args.function_args(plan, plan.service("worker"), role_arn="r", key_arn="k", log_group="g")


def test_queue_args_and_redrive() -> None:
    plan = async_plan("aws", worker_timeout_s=100, max_receive_count=7)
    dlq, main = args.queue_args(plan, key_arn="arn:key")
    assert main["visibility_timeout_seconds"] == 600
    assert dlq["message_retention_seconds"] == 14 * 86400
    assert main["kms_master_key_id"] == dlq["kms_master_key_id"] == "arn:key"
    assert json.loads(args.redrive_policy("arn:dlq", 7)) == {
        "deadLetterTargetArn": "arn:dlq",
        "maxReceiveCount": 7,
    }
    with pytest.raises(UsageError):
        args.queue_args(sync_plan("aws"), key_arn="k")


def test_event_source_args_bound_concurrency_and_report_item_failures() -> None:
    plan = async_plan("aws", max_instances=1)
    esm = args.event_source_args(plan, plan.service("worker"), queue_arn="q", function="f")
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["scaling_config"] == {"maximum_concurrency": 2}  # SQS's minimum
    assert esm["maximum_batching_window_in_seconds"] == 1


def test_route_auth_mapping() -> None:
    assert args.route_auth(sync_plan("aws", auth="iam")) == "AWS_IAM"
    assert args.route_auth(sync_plan("aws", auth="jwt")) == "JWT"
    assert args.route_auth(sync_plan("aws", auth="none")) == "NONE"
    with pytest.raises(UsageError, match="api-key"):
        args.route_auth(sync_plan("aws", auth="api-key"))


def test_traffic_weights_follow_the_rollout_split() -> None:
    canary = sync_plan("aws", canary=True)
    assert args.traffic_weights(canary, "3") == {"3": 0.9}
    assert args.traffic_weights(canary, None) is None
    assert args.traffic_weights(sync_plan("aws"), "3") is None


def test_serverless_memory_rounds_up_to_an_allowed_size() -> None:
    plan = sync_plan("aws", "aws.sagemaker.serverless", min_instances=0, max_instances=500)
    api = dataclasses.replace(
        plan.service("api"),
        compute=dataclasses.replace(plan.service("api").compute, memory_mb=2500),
    )
    config = args.endpoint_config_args(plan, api, model_name="m", key_arn="k")
    assert config["production_variants"][0]["serverless_config"] == {
        "memory_size_in_mb": 3072,
        "max_concurrency": 200,
    }
    assert "kms_key_arn" not in config
    assert args.scaling_args(api) is None


def test_alarm_args_convert_units_per_metric() -> None:
    plan = async_plan("aws")
    by_name = {a.name: a for a in plan.alarms}
    dims = {"FunctionName": "f", "Resource": "f:live"}
    p95 = args.alarm_args(
        plan, by_name["latency-p95"], dimensions=dims, endpoint=False, topic_arn="t"
    )
    assert (p95["namespace"], p95["metric_name"], p95["threshold"]) == (
        "AWS/Lambda",
        "Duration",
        500,
    )
    sm = args.alarm_args(
        plan, by_name["latency-p95"], dimensions=dims, endpoint=True, topic_arn="t"
    )
    assert (sm["namespace"], sm["threshold"]) == ("AWS/SageMaker", 500_000)
    age = args.alarm_args(
        plan, by_name["queue-age"], dimensions={"QueueName": "q"}, endpoint=False, topic_arn="t"
    )
    assert age["metric_name"] == "ApproximateAgeOfOldestMessage" and age["threshold"] == 300
    assert age["alarm_actions"] == ["t"]


def test_budget_args_follow_the_plan() -> None:
    plan = sync_plan("aws")
    budget = args.budget_args(plan, topic_arn="t")
    assert budget is not None
    assert budget["limit_amount"] == "200.00"
    assert [n["notification_type"] for n in budget["notifications"]] == ["FORECASTED", "ACTUAL"]
    assert args.budget_args(dataclasses.replace(plan, budget=None), topic_arn="t") is None


def test_wire_renames_argument_keys_but_not_user_maps() -> None:
    from svai.backends.aws.provider import wire

    assert wire(
        {
            "memory_size": 1,
            "routing_config": {"additional_version_weights": {"7": 0.9}},
            "environment": {"variables": {"SVAI_MODEL_VERSION": "v", "lower_case": "x"}},
            "tags": {"svai-model-version": "v", "cost_center": "c"},
            "metric_queries": [
                {"return_data": True, "metric": {"dimensions": {"Queue_Name": "q"}}}
            ],
            "kms_key_arn": None,
        }
    ) == {
        "memorySize": 1,
        "routingConfig": {"additionalVersionWeights": {"7": 0.9}},
        "environment": {"variables": {"SVAI_MODEL_VERSION": "v", "lower_case": "x"}},
        "tags": {"svai-model-version": "v", "cost_center": "c"},
        "metricQueries": [{"returnData": True, "metric": {"dimensions": {"Queue_Name": "q"}}}],
    }


def test_plugin_version_is_the_installed_pulumi_aws() -> None:
    from importlib.metadata import version

    from svai.backends.aws.provider import plugin_version

    assert plugin_version() == version("pulumi_aws")
