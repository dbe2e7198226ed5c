"""The oldest queued job's age of an async deployment, per cloud, and in ``svai status``.

AWS: SQS publishes ``ApproximateAgeOfOldestMessage`` to CloudWatch (here put into moto as SQS
would); GCP: Cloud Monitoring's Pub/Sub ``oldest_unacked_message_age`` (the loopback fake);
Azure: the worker's own ``queue_age_s`` job lines in Log Analytics (the loopback fake). The names
read are the ones the backends create and alarm on: the plans are checked against them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from signal_fakes import (
    SERVICE,
    TOKEN,
    LogAnalytics,
    Monitoring,
    moto_env,  # noqa: F401 - the fixture, used by name
    request_lines,
    serving,
)
from test_promote_live import SPEC, canary, svai

from svai import api, signals
from svai.runtime.core.telemetry import Telemetry
from svai.signals import aws, azure, gcp
from svai.spec.names import cold_start_metric, metrics_namespace

ASYNC = SPEC.replace("api: {mode: sync, timeout: 30s}", "api: {mode: async, timeout: 30s}")


def sqs_reports(queue: str, ages: list[float]) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    now = time.time()
    cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": queue}],
                "Value": age,
                "Unit": "Seconds",
                "Timestamp": now - 60 + n,
            }
            for n, age in enumerate(ages)
        ],
    )


@pytest.mark.usefixtures("moto_env")
def test_aws_reads_the_queues_oldest_message_age() -> None:
    window = signals.window_ending(900)
    assert signals.queue_age("aws", "us-east-1", SERVICE, window) is None
    sqs_reports(f"{SERVICE}-jobs", [3.0, 41.0, 12.0])
    sqs_reports(f"{SERVICE}-dlq", [500.0])  # the dead letters are not the queue
    sqs_reports("other-jobs", [900.0])
    assert signals.queue_age("aws", "us-east-1", SERVICE, window) == 41.0


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Monitoring, LogAnalytics]]:
    monitoring, workspace = Monitoring(), LogAnalytics()
    with ExitStack() as stack:
        monkeypatch.setenv(gcp.ENDPOINT_VAR, stack.enter_context(serving(monitoring)))
        monkeypatch.setenv(azure.ENDPOINT_VAR, stack.enter_context(serving(workspace)))
        monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", monitoring.project)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_TOKEN", TOKEN)
        monkeypatch.setenv("AZURE_LOG_ANALYTICS_WORKSPACE_ID", workspace.workspace)
        yield monitoring, workspace


def test_gcp_reads_the_push_subscriptions_oldest_unacked_age(
    fakes: tuple[Monitoring, LogAnalytics],
) -> None:
    monitoring, _ = fakes
    window = signals.window_ending(900)
    assert signals.queue_age("gcp", "us-central1", SERVICE, window) is None
    monitoring.oldest_unacked = {f"{SERVICE}-jobs-push": [5, 33], "other-jobs-push": [900]}
    assert signals.queue_age("gcp", "us-central1", SERVICE, window) == 33.0


def job_line(service: str, age: float | None) -> str:
    lines: list[str] = []
    telemetry = Telemetry(metrics_namespace(service), service, "v1", sink=lines.append)
    telemetry.event("job", request_id="r", queue_age_s=age, outcome="done")
    return lines[0]


def test_azure_reads_the_oldest_age_the_workers_logged(
    fakes: tuple[Monitoring, LogAnalytics],
) -> None:
    _, workspace = fakes
    window = signals.window_ending(900)
    assert signals.queue_age("azure", "eastus", SERVICE, window) is None
    stamp = datetime.now(UTC).isoformat()
    workspace.tables["ContainerAppConsoleLogs"] = [
        (stamp, job_line(SERVICE, 2.5)),
        (stamp, job_line(SERVICE, 17.0)),
        (stamp, job_line(SERVICE, None)),
        (stamp, job_line("other", 900.0)),
    ]
    assert signals.queue_age("azure", "eastus", SERVICE, window) == 17.0


def test_the_readers_watch_the_queues_the_backends_create_and_alarm_on(tmp_path: Path) -> None:
    spec = tmp_path / "svai.yaml"
    spec.write_text(
        ASYNC.replace(
            "  - {cloud: aws, region: us-east-1, runtime: faas}",
            "  - {cloud: aws, region: us-east-1, runtime: faas}\n"
            "  - {cloud: gcp, region: us-central1, runtime: container}",
        )
    )
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07model")
    _, result = api.plan(spec)
    planned = {t.recommendation.cloud: t.resources for t in result.targets}
    queues = [r for r in planned["aws"] if r.type == "aws:sqs/queue:Queue"]
    assert aws.queue_name(SERVICE) in {q.inputs["name"] for q in queues}
    (alarm,) = [
        r
        for r in planned["aws"]
        if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"
        and r.inputs.get("metricName") == "ApproximateAgeOfOldestMessage"
    ]
    assert alarm.inputs["dimensions"] == {"QueueName": aws.queue_name(SERVICE)}
    subscriptions = [r for r in planned["gcp"] if r.type == "gcp:pubsub/subscription:Subscription"]
    assert gcp.subscription_id(SERVICE) in {s.inputs["name"] for s in subscriptions}
    policies = json.dumps(
        [r.inputs for r in planned["gcp"] if r.type == "gcp:monitoring/alertPolicy:AlertPolicy"]
    )
    assert f'subscription_id = \\"{gcp.subscription_id(SERVICE)}\\"' in policies


@pytest.mark.usefixtures("moto_env")
def test_status_shows_an_async_targets_oldest_job(tmp_path: Path) -> None:
    spec, _ = canary(tmp_path)
    spec.write_text(ASYNC)
    sqs_reports(f"{SERVICE}-jobs", [7.0, 21.0])
    code, out = svai("status", str(spec), "--format", "json")
    assert code == 0, out
    assert json.loads(out)["targets"][0]["queue_age_s"] == 21.0
    code, out = svai("status", str(spec))
    assert "    oldest queued job: 21s" in out
    spec.write_text(SPEC)  # a synchronous target has no queue to read
    code, out = svai("status", str(spec), "--format", "json")
    assert code == 0, out
    assert "queue_age_s" not in json.loads(out)["targets"][0]


def test_the_gcp_cold_start_metric_counts_the_runtimes_cold_start_lines(tmp_path: Path) -> None:
    spec = tmp_path / "svai.yaml"
    spec.write_text(
        SPEC.replace(
            "  - {cloud: aws, region: us-east-1, runtime: faas}",
            "  - {cloud: gcp, region: us-central1, runtime: container}",
        )
    )
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07model")
    _, result = api.plan(spec)
    (metric,) = [
        r for t in result.targets for r in t.resources if r.type == "gcp:logging/metric:Metric"
    ]
    assert metric.inputs["name"] == cold_start_metric(SERVICE)
    cold, warm = request_lines("v1", [(200, 5.0, True), (200, 5.0, False)])

    def counted(line: dict[str, object]) -> bool:
        # The filter: ANDed equality terms, one of them an OR over the message.
        flt = metric.inputs["filter"]
        terms = re.findall(r'jsonPayload\.(\w+) = ("[^"]*"|true)', flt)
        required = [t for t in terms if t[0] != "message"]
        messages = {json.loads(v) for k, v in terms if k == "message"}
        return line["message"] in messages and all(
            line.get(k) == json.loads(v) for k, v in required
        )

    assert counted(cold) and not counted(warm)
    assert not counted({**cold, "service": "other"})
    # The label the reader filters on is extracted from the line's model version.
    (label,) = metric.inputs["metricDescriptor"]["labels"]
    extract = metric.inputs["labelExtractors"][label["key"]]
    assert extract == "EXTRACT(jsonPayload.model_version)" and cold["model_version"] == "v1"
